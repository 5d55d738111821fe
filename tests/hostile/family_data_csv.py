"""``.csv`` data files (``train --data``) that are hostile or clumsy: huge indices, huge
cells, too many columns, bytes that are not text. Each is refused at once with the line it
is on, or read using memory in proportion to the numbers kept."""

from __future__ import annotations

from pathlib import Path

from tests.hostile.case import Case, Content, Outcome
from tests.hostile.data_inputs import SPEC

FAMILY = "csv data"

HEADER = "x[0],x[1],x[2],x[3],dense"
# An escape sequence that retitles a terminal window.
TITLE = "\x1b]0;owned\x07"
ROWS = "".join(f"0.{k},0.5,1,-2,{k % 3}\n" for k in range(8))


def train(data: Content, *options: str, quiet: bool = True) -> dict:
    """The ``argv`` and ``files`` of a ``train --data`` case."""
    argv = ["train", "spec.yaml", "--data", "d.csv", "-o", "out", "--epochs", "1"]
    argv += ["-q"] if quiet else []
    return {"argv": [*argv, *options], "files": {"spec.yaml": SPEC, "d.csv": data}}


def trained(outcome: Outcome) -> str | None:
    """The run wrote its model."""
    return None if (outcome.folder / "out" / "model.onnx").exists() else "no model written"


def short_output(outcome: Outcome) -> str | None:
    """A huge cell is not echoed whole."""
    return f"printed {len(outcome.output):,} characters" if len(outcome.output) > 2000 else None


def _big_cell_in_unused_column(path: Path) -> None:
    # 20,000 rows and one 130 KB note: as one fixed-width text array, 41 GB.
    with path.open("w") as handle:
        handle.write(f"{HEADER},note\n")
        handle.write("0.1,0.2,0.3,0.4,1," + "n" * 130_000 + "\n")
        handle.writelines(f"0.1,0.2,0.3,0.4,{k % 3},ok\n" for k in range(20_000))


def _columns(count: int) -> Content:
    return lambda path: path.write_text(",".join(f"c{k}" for k in range(count)) + "\n")


CASES = [
    Case(
        FAMILY,
        "index 99999999999999999999",
        **train(f"x[0],x[1],x[2],x[99999999999999999999],dense\n{ROWS}"),
        output_has=(
            r"column 'x\[99999999999999999999\]' is past the 4 values of input 'x' "
            r"\(shape \(None, 4\)\); its columns are 'x\[0\]' to 'x\[3\]' \[SPC524",
        ),
        seconds=6,
    ),
    Case(
        FAMILY,
        "a 5000-digit index",
        **train(f"x[0],x[1],x[2],x[{'9' * 5000}],dense\n{ROWS}"),
        output_has=(r"is past the 4 values of input 'x'",),
        check=short_output,
        seconds=6,
    ),
    Case(
        FAMILY,
        "130 KB cell in an unused column",
        **train(_big_cell_in_unused_column, "--batch-size", "5000"),
        exit_code=0,
        check=trained,
        seconds=10,
    ),
    Case(
        FAMILY,
        "cell over csv_field",
        **train(f"{HEADER},note\n0.1,0.2,0.3,0.4,1,{'n' * (2**20 + 1)}\n"),
        output_has=(r"line 2 has a field longer than the limit on one field", r"csv_field=\d+"),
    ),
    Case(
        FAMILY,
        "huge text in a used cell",
        **train(f"{HEADER}\n0.1,0.2,{'z' * 100_000},0.4,1\n"),
        output_has=(r"column 'x\[2\]' must hold numbers; got 'zzz.*\.\.\.' at line 2",),
        check=short_output,
    ),
    Case(
        FAMILY,
        "more columns than csv_columns",
        **train(f"{HEADER}\n{ROWS}", "--limit", "csv_columns=3"),
        output_has=(r"line 1 has more columns than the limit", r"csv_columns=\d+", r"SPC530"),
    ),
    Case(
        FAMILY,
        "a million and one columns",
        **train(_columns(1_000_001)),
        output_has=(r"line 1 has more columns than the limit; the limit is 1,000,000",),
        seconds=8,
    ),
    Case(
        FAMILY,
        "quoted columns over csv_columns",
        **train(
            '"a,b",' + ",".join(f'"c{k}"' for k in range(10)) + "\n", "--limit", "csv_columns=5"
        ),
        output_has=(r"line 1 has 11 columns",),
    ),
    Case(
        FAMILY,
        "line over csv_line",
        **train(f"{HEADER},note\n0.1,0.2,0.3,0.4,1,{'n' * 5000}\n", "--limit", "csv_line=1000"),
        output_has=(r"line 2 is longer than the limit on one line", r"csv_line=\d+"),
    ),
    Case(
        FAMILY,
        "ragged row",
        **train(f"{HEADER}\n{ROWS}0.1,0.2\n"),
        output_has=(r"line 10 has 2 values; the header names 5 columns",),
    ),
    Case(
        FAMILY,
        "row of a hundred thousand values",
        **train(f"{HEADER}\n{ROWS}" + "1," * 100_000 + "\n"),
        output_has=(r"line 10 has 100,001 values",),
    ),
    Case(
        FAMILY,
        "bytes that are not UTF-8",
        **train(f"{HEADER}\n{ROWS}".encode() + b"0.1,0.2,\xff\xfe,0.4,1\n"),
        output_has=(r"line 10 is not UTF-8 text \(byte 0xff at column 9\)",),
    ),
    Case(
        FAMILY,
        "NUL bytes",
        **train(f"{HEADER}\n0.1,0.2,0\x00.3,0.4,1\n".encode()),
        output_has=(r"line 2 holds a NUL byte",),
    ),
    Case(
        FAMILY,
        "control characters in a column name",
        **train(
            f"{HEADER},\x1b]0;owned\x07,\x1b]0;owned\x07\n{ROWS.replace(chr(10), ',a,b' + chr(10))}"
        ),
        output_has=(r"appears twice",),
    ),
    Case(
        FAMILY,
        "control characters in an unused column",
        **train(f"{HEADER},{TITLE}\n" + ROWS.replace("\n", ",a\n"), quiet=False),
        exit_code=0,
        output_has=(r"also holds \\x1b\]0;owned\\x07, which no input",),
        check=trained,
    ),
    Case(
        FAMILY,
        "byte-order mark and CRLF",
        **train(("\ufeff" + f"{HEADER}\n{ROWS}").replace("\n", "\r\n").encode()),
        exit_code=0,
        check=trained,
    ),
    Case(
        FAMILY,
        "quoted newline in an unused column",
        **train(f'{HEADER},note\n{ROWS.replace(chr(10), ",n" + chr(10))}0,0,0,0,1,"two\nlines"\n'),
        exit_code=0,
        check=trained,
    ),
    Case(
        FAMILY,
        "header only",
        **train(f"{HEADER}\n"),
        output_has=(r"holds no samples",),
    ),
    Case(
        FAMILY,
        "empty file",
        **train(""),
        output_has=(r"the file is empty",),
    ),
    Case(
        FAMILY,
        "one index written twice",
        **train("x[0],x[1],x[2],x[3],x[03],dense\n" + ROWS.replace(",1,-2,", ",1,-2,-2,")),
        output_has=(r"columns 'x\[3\]' and 'x\[03\]' give the same value of input 'x'",),
    ),
]
