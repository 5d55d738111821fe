"""Spec names: layer and input names are ONNX names and weights-file keys, so they follow
one pattern (no NUL, no ``/``, no control characters) and are at most 128 characters; a
user's key or value quoted in a message is escaped and cut short."""

from __future__ import annotations

import json
from pathlib import Path

from tests.hostile.case import Case, Outcome

FAMILY = "spec names"
DENSE = "  - {type: Dense, units: 2, input_shape: [2]}\n"
RULE = r"must start with a letter or _ and hold only letters, digits, _ \. and -"


def _layer_spec(extra: str) -> str:
    return f"specc: 1\nlayers:\n  - {{type: Dense, units: 2, input_shape: [2], {extra}}}\n"


def _inputs_spec(name: str) -> str:
    return f"specc: 1\ninputs:\n  {name}: {{shape: [2]}}\nlayers:\n  - {{type: Dense, units: 2}}\n"


def _short_output(outcome: Outcome) -> str | None:
    """A 1 MB key or value must not make a 1 MB message."""
    if len(outcome.output) > 2_000:
        return f"printed {len(outcome.output):,} characters"
    return None


def _megabyte_key(path: Path) -> None:
    layer = {"type": "Dense", "units": 2, "input_shape": [2], "k" * 2**20: 1}
    path.write_text(json.dumps({"specc": 1, "layers": [layer]}))


def _megabyte_type(path: Path) -> None:
    layer = {"type": "\x1b]0;x\x07" + "D" * 2**20, "units": 2, "input_shape": [2]}
    path.write_text(json.dumps({"specc": 1, "layers": [layer]}))


CASES = [
    Case(
        FAMILY,
        "layer name of 300 characters",
        ["validate", "spec.yaml"],
        {"spec.yaml": _layer_spec(f"name: {'a' * 300}")},
        output_has=(
            r"spec\.yaml:3:53: error: name must be at most 128 characters; got 300 "
            r"\(at layers\[0\]\.name\) \[SPC101-schema\]",
        ),
    ),
    Case(
        FAMILY,
        "layer name of 128 characters",
        ["validate", "spec.yaml"],
        {"spec.yaml": _layer_spec(f"name: {'a' * 128}")},
        exit_code=0,
        output_has=(r"ok \(1 layers",),
    ),
    Case(
        FAMILY,
        "layer name with a slash",
        ["validate", "spec.yaml"],
        {"spec.yaml": _layer_spec("name: a/b")},
        output_has=(rf"spec\.yaml:3:53: error: name {RULE}; got 'a/b' \(a string\)",),
    ),
    Case(
        FAMILY,
        "input name with NUL",
        ["validate", "spec.yaml"],
        {"spec.yaml": _inputs_spec('"a\\0b"')},
        output_has=(
            rf"spec\.yaml:3:3: error: input name {RULE}; got 'a\\x00b' \(a string\) "
            r"\(at inputs\['a\\x00b'\]\) \[SPC101-schema\]",
        ),
    ),
    Case(
        FAMILY,
        "input name with a slash",
        ["validate", "spec.yaml"],
        {"spec.yaml": _inputs_spec("a/b")},
        output_has=(rf"spec\.yaml:3:3: error: input name {RULE}; got 'a/b'",),
    ),
    Case(
        FAMILY,
        "input name of 300 characters",
        ["validate", "spec.yaml"],
        {"spec.yaml": _inputs_spec("x" * 300)},
        output_has=(r"spec\.yaml:3:3: error: input name must be at most 128 characters; got 300",),
        check=_short_output,
    ),
    Case(
        FAMILY,
        "input name with an escape sequence",
        ["validate", "spec.yaml"],
        {"spec.yaml": _inputs_spec('"x\\e]0;owned\\a"')},
        output_has=(rf"input name {RULE}; got 'x\\x1b\]0;owned\\x07'",),
    ),
    Case(
        FAMILY,
        "shared entry naming 300 characters",
        ["validate", "spec.yaml"],
        {"spec.yaml": f"specc: 1\nlayers:\n{DENSE}  - {{name: twin, shares: {'d' * 300}}}\n"},
        output_has=(r"spec\.yaml:4:26: error: shares must be at most 128 characters; got 300",),
    ),
    Case(
        FAMILY,
        "unknown key with an escape sequence and a newline",
        ["validate", "spec.yaml"],
        {
            "spec.yaml": (
                "specc: 1\nlayers:\n  - {type: Dense, units: 2, input_shape: [2], "
                '"k\\e]0;owned\\a\\nx": 1}\n'
            )
        },
        output_has=(
            r"spec\.yaml:3:47: error: unknown key 'k\\x1b\]0;owned\\x07\\nx' "
            r"\(at layers\[0\]\['k\\x1b\]0;owned\\x07\\nx'\]\) \[SPC103-unknown-key\]",
        ),
    ),
    Case(
        FAMILY,
        "layer type with a newline",
        ["validate", "spec.yaml"],
        {"spec.yaml": 'specc: 1\nlayers:\n  - {type: "Dense\\nerror: forged", units: 2}\n'},
        output_has=(r"spec\.yaml:3:12: error: unknown layer type 'Dense\\nerror: forged'",),
    ),
    Case(
        FAMILY,
        "duplicate key with control characters",
        ["validate", "spec.yaml"],
        {"spec.yaml": 'specc: 1\n"a\\tb\\u202e": 1\n"a\\tb\\u202e": 2\n'},
        output_has=(
            r"spec\.yaml:3:1: error: duplicate key 'a\\tb\\u202e' \(first defined at line 2\)",
        ),
    ),
    Case(
        FAMILY,
        "1 MB unknown key",
        ["validate", "spec.json"],
        {"spec.json": _megabyte_key},
        output_has=(r"unknown key 'k{77}'\.\.\. \(1,048,576 characters\)",),
        check=_short_output,
    ),
    Case(
        FAMILY,
        "1 MB layer type with an escape sequence",
        ["validate", "spec.json"],
        {"spec.json": _megabyte_type},
        output_has=(r"unknown layer type '\\x1b\]0;x\\x07D+'\.\.\. \(1,048,582 characters\)",),
        check=_short_output,
    ),
]
