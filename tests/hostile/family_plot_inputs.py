"""specc plot: history files that are not histories (deep nesting, huge numbers, huge
files, wrong types), keys that try to drive a terminal or matplotlib, and names that try
to break out of the SVG; each is one message and exit 1, or a picture that parses."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

from tests.hostile.case import Case, Outcome

FAMILY = "plot inputs"


def _big_history(path: Path) -> None:
    # 70 MB, past the 64 MiB file_size limit: refused before it is read.
    with path.open("w") as handle:
        handle.write('{"loss": [')
        handle.write("1.0, " * 14_000_000)
        handle.write("1.0]}")


def _parses(name: str, *absent: str) -> Callable[[Outcome], str | None]:
    def check(outcome: Outcome) -> str | None:
        text = (outcome.folder / name).read_text(encoding="utf-8")
        try:
            ET.fromstring(text.encode("utf-8"))
        except ET.ParseError as exc:
            return f"{name} is not well-formed XML: {exc}"
        found = [part for part in absent if part in text]
        return f"{name} holds {found}" if found else None

    return check


def _history_case(name: str, text: str | bytes, *output_has: str) -> Case:
    return Case(
        FAMILY,
        name,
        ["plot", "history.json"],
        {"history.json": text},
        output_has=("history.json", *output_has),
    )


CASES = [
    _history_case("not JSON", '{"loss": [1.0,', r"history\.json:1:15: error: not valid JSON"),
    _history_case("nested 100k deep", "[" * 100_000, "not valid JSON: nested too deeply"),
    _history_case("a 5000-digit integer", '{"loss": [' + "7" * 5000 + "]}", "not valid JSON"),
    _history_case("a list, not an object", "[1, 2, 3]", "a history is a JSON object"),
    _history_case("a string per epoch", '{"loss": ["0.5"]}', r'"loss"\[0\] must be a number'),
    _history_case("ragged classes", '{"f1": [[1, 2], [3]]}', r'"f1"\[1\] must be a list of 2'),
    _history_case(
        "a key with escapes",
        json.dumps({"\x1b]0;pwned\x07loss": "x"}),
        r"must be a list with a value per epoch",
    ),
    _history_case(
        "5001 keys", json.dumps({f"k{n}": [1] for n in range(5001)}), "at most 1,000 are drawn"
    ),
    _history_case("not UTF-8", b"\xff\xfe{}", "not UTF-8 text"),
    Case(
        FAMILY,
        "a 70 MB history",
        ["plot", "history.json"],
        {"history.json": _big_history},
        output_has=("raise it with --limit file_size=",),
        seconds=10,
    ),
    Case(
        FAMILY,
        "keys as mathtext, markup and terminal escapes",
        ["plot", "history.json", "--out", "curves.svg"],
        {
            "history.json": json.dumps(
                {
                    "$\\frac{1}{$": [1.0, None, 2.0],
                    "val_$\\frac{1}{$": [[1.0, 2.0], [None, 1.0], [0.5, 0.5]],
                    "</svg><script>alert(1)</script>\x1b[31m": [0.0, 1.0, 2.0],
                    "\ud800": [1.0, 2.0, 3.0],
                }
            )
        },
        exit_code=0,
        output_has=("wrote curves.svg",),
        check=_parses("curves.svg", "<script>"),
    ),
    Case(
        FAMILY,
        "a model name with markup",
        ["plot", "model.json", "--out", "model.svg"],
        {
            "model.json": json.dumps(
                {
                    "specc": 1,
                    "name": '</title></svg><script>alert("x")</script>&amp;',
                    "layers": [{"type": "Dense", "units": 2, "input_shape": [3]}],
                }
            ).replace("/", "")  # a model name may not hold "/" (as Keras's)
        },
        exit_code=0,
        output_has=("wrote model.svg",),
        check=_parses("model.svg", "<script>", "<svg><script>"),
    ),
    Case(
        FAMILY,
        "an output name with another extension",
        ["plot", "history.json", "--out", "curves.svg\n.html"],
        {"history.json": '{"loss": [1.0]}'},
        output_has=(r"cannot tell the picture's format from curves\.svg\\x0a\.html",),
    ),
]
