"""Reading .csv data files that are big, odd or hostile: limits, encodings, indices, and
memory that grows with the numbers kept, not the text around them."""

from __future__ import annotations

import csv
import time
import tracemalloc
from pathlib import Path

import pytest

from specc.diagnostics import SpecError
from specc.limits import DEFAULT_LIMITS, Limits
from specc.train import data_csv_values
from specc.train.data import load_dataset
from specc.types import TensorType

F32 = TensorType("float32", ())
I64 = TensorType("int64", ())
AS_UTF8 = "; save the file as UTF-8"


def f32(*shape: int | None) -> TensorType:
    return TensorType("float32", tuple(shape))


def write(tmp_path: Path, content: str | bytes) -> Path:
    path = tmp_path / "d.csv"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return path


def problems(path: Path, inputs: dict, limits: Limits = DEFAULT_LIMITS) -> list[tuple[str, str]]:
    with pytest.raises(SpecError) as info:
        load_dataset(path, inputs, {}, limits)
    return [(d.code, d.message) for d in info.value.diagnostics]


def test_a_huge_index_is_refused_at_once(tmp_path: Path) -> None:
    path = write(tmp_path, "x[0],x[1],x[99999999999999999999]\n1,2,3\n")
    start = time.perf_counter()
    assert problems(path, {"x": f32(3)}) == [
        (
            "SPC524-data-shape",
            "column 'x[99999999999999999999]' is past the 3 values of input 'x' (shape "
            "(None, 3)); its columns are 'x[0]' to 'x[2]'",
        )
    ]
    assert time.perf_counter() - start < 1


def test_a_5000_digit_index(tmp_path: Path) -> None:
    path = write(tmp_path, f"x[0],x[{'7' * 5000}]\n1,2\n")
    [(code, message)] = problems(path, {"x": f32(2)})
    assert code == "SPC524-data-shape"
    assert message.startswith("column 'x[77777777") and len(message) < 300


def test_a_huge_index_with_a_variable_shape_is_a_gap(tmp_path: Path) -> None:
    path = write(tmp_path, "x[0],x[99999999999999999999]\n1,2\n")
    assert problems(path, {"x": f32(None)}) == [
        (
            "SPC524-data-shape",
            "columns 'x[0]' to 'x[99999999999999999999]' for input 'x' must be numbered "
            "without gaps; got no column 'x[1]'",
        )
    ]


@pytest.mark.parametrize("heading", ["x[\u0661]", "x[ 1]", "x[1.0]", "x[-1]"])
def test_only_plain_indices_count(tmp_path: Path, heading: str) -> None:
    path = write(tmp_path, f"x[0],{heading}\n1,2\n")
    data = load_dataset(path, {"x": f32(1)}, {})
    assert data.inputs["x"].tolist() == [[1.0]]
    assert data.unused == (heading,)


def test_leading_zeros_are_the_same_index(tmp_path: Path) -> None:
    path = write(tmp_path, "x[00],x[001]\n1,2\n")
    assert load_dataset(path, {"x": f32(2)}, {}).inputs["x"].tolist() == [[1.0, 2.0]]
    twice = write(tmp_path, "x[0],x[1],x[01]\n1,2,3\n")
    assert problems(twice, {"x": f32(2)}) == [
        (
            "SPC521-data-file",
            "columns 'x[1]' and 'x[01]' give the same value of input 'x'; keep one of them",
        )
    ]


def test_unused_columns_are_never_parsed_or_kept(tmp_path: Path) -> None:
    note = "n" * 130_000
    lines = ["x,note", f"1,{note}", *(f"{k},text {k}" for k in range(5000))]
    path = write(tmp_path, "\n".join(lines) + "\n")
    tracemalloc.start()
    try:
        data = load_dataset(path, {"x": I64}, {})
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert data.inputs["x"].tolist() == [1, *range(5000)]
    assert data.unused == ("note",)
    assert peak < 8 * 2**20


def test_values_are_converted_a_block_at_a_time(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(data_csv_values, "_BLOCK_CELLS", 4)
    rows = [f"{k},{k * 2}" for k in range(10)]
    path = write(tmp_path, "x[0],x[1]\n" + "\n".join(rows) + "\n")
    assert load_dataset(path, {"x": f32(2)}, {}).inputs["x"][:, 1].tolist() == list(range(0, 20, 2))
    rows[7] = "7,oops"
    path = write(tmp_path, "x[0],x[1]\n" + "\n".join(rows) + "\n")
    assert problems(path, {"x": f32(2)}) == [
        ("SPC521-data-file", "column 'x[1]' must hold numbers; got 'oops' at line 9")
    ]


def test_integer_blocks_become_floats_when_a_later_block_has_fractions(
    tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setattr(data_csv_values, "_BLOCK_CELLS", 2)
    path = write(tmp_path, "x\n9007199254740993\n1\n2\n2.5\n")
    data = load_dataset(path, {"x": F32}, {})
    assert data.inputs["x"].tolist() == [
        2.0**53,
        1.0,
        2.0,
        2.5,
    ]


def test_field_line_and_column_limits(tmp_path: Path) -> None:
    long_cell = write(tmp_path, "x,note\n1," + "n" * 101 + "\n")
    assert problems(long_cell, {"x": F32}, Limits(csv_field=100)) == [
        (
            "SPC530-data-limit",
            "line 2 has a field longer than the limit on one field; the limit is 100; raise it "
            "with --limit csv_field=200",
        )
    ]
    assert problems(long_cell, {"x": F32}, Limits(csv_line=50)) == [
        (
            "SPC530-data-limit",
            "line 2 is longer than the limit on one line; the limit is 50; raise it with "
            "--limit csv_line=100",
        )
    ]
    wide = write(tmp_path, "a,b,c,d\n1,2,3,4\n")
    assert problems(wide, {"a": F32}, Limits(csv_columns=3)) == [
        (
            "SPC530-data-limit",
            "line 1 has more columns than the limit; the limit is 3; raise it with --limit "
            "csv_columns=6",
        )
    ]
    quoted = write(tmp_path, '"a,1","b,2",c,d\n1,2,3,4\n')
    assert problems(quoted, {"a": F32}, Limits(csv_columns=3))[0][1].startswith(
        "line 1 has 4 columns; the limit is 3"
    )
    assert len(load_dataset(quoted, {"c": F32}, {}, Limits(csv_columns=4))) == 1


def test_the_csv_field_limit_is_restored(tmp_path: Path) -> None:
    before = csv.field_size_limit()
    load_dataset(write(tmp_path, "x\n1\n"), {"x": F32}, {}, Limits(csv_field=77))
    assert csv.field_size_limit() == before


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            b"x,y\n1,2\n3,\xe9\n",
            "line 3 is not UTF-8 text (byte 0xe9 at column 3); save the file as UTF-8",
        ),
        (b"x,y\n1,2\n3,4\x00\n", "line 3 holds a NUL byte; a .csv data file is text"),
        (
            b"x\xff,y\n1,2\n",
            "line 1 is not UTF-8 text (byte 0xff at column 2); save the file as UTF-8",
        ),
    ],
)
def test_bytes_that_are_not_text(tmp_path: Path, content: bytes, message: str) -> None:
    assert problems(write(tmp_path, content), {"x": F32}) == [("SPC521-data-file", message)]


def test_a_byte_order_mark_crlf_and_quoted_newlines(tmp_path: Path) -> None:
    content = '\ufeffx,note\r\n1,"two\r\nlines"\r\n2,plain\r\nbad,plain\r\n'
    path = write(tmp_path, content.encode())
    assert problems(path, {"x": F32}) == [
        ("SPC521-data-file", "column 'x' must hold numbers; got 'bad' at line 5")
    ]
    good = write(tmp_path, content.replace("bad", "3").encode())
    assert load_dataset(good, {"x": F32}, {}).inputs["x"].tolist() == [1.0, 2.0, 3.0]


def test_header_problems_are_capped(tmp_path: Path) -> None:
    path = write(tmp_path, ",".join(["a"] * 30) + "\n" + ",".join(["1"] * 30) + "\n")
    found = problems(path, {"a": F32})
    assert len(found) == 11
    assert found[-1] == ("SPC521-data-file", "and 19 more problems with the header")
