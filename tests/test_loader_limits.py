"""Reading a spec file within limits; number literals; names; what messages quote."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from specc.diagnostics import Position, SpecError, format_path
from specc.limits import DEFAULT_LIMITS, Limits
from specc.passes.resolve import _Hints
from specc.spec.loader import load_spec, load_text, read_spec_text
from specc.spec.model import validate_spec
from specc.spec.source import LineIndex, integer, number, quote

LAYER = "{type: Dense, units: 2, input_shape: [2]}"
SPEC = f"specc: 1\nlayers:\n  - {LAYER}\n"


def only_error(run: object) -> tuple[str, str, Position | None]:
    """Code, message and position of the one diagnostic ``run()`` raises."""
    with pytest.raises(SpecError) as caught:
        run()  # type: ignore[operator]
    (diagnostic,) = caught.value.diagnostics
    return diagnostic.code, diagnostic.message, diagnostic.position


# ----------------------------------------------------------------------------- the file


def test_a_file_over_the_size_limit_is_refused_before_it_is_read(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    with path.open("wb") as stream:
        stream.truncate(10**11)  # 100 GB, sparse: reading it would take minutes
    code, message, position = only_error(lambda: load_spec(path))
    assert code == "SPC110-limit"
    assert message == (
        "the spec file is too large (100,000,000,000 bytes); the limit is 67,108,864; "
        "raise it with --limit file_size=100000000000"
    )
    assert position == Position(1, 1)


def test_the_size_limit_can_be_raised(tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(SPEC)
    small = Limits(file_size=len(SPEC) - 1)
    assert only_error(lambda: load_spec(path, small))[0] == "SPC110-limit"
    assert load_spec(path, Limits(file_size=len(SPEC))).data["specc"] == 1


def test_a_pipe_is_read_up_to_the_limit_and_no_further(tmp_path: Path) -> None:
    path = tmp_path / "pipe.yaml"
    os.mkfifo(path)
    # Opened for reading and writing, the pipe has a writer without waiting for a reader;
    # it is never closed while specc reads, so specc must stop at the limit by itself.
    held = os.open(path, os.O_RDWR)
    try:
        os.write(held, b"# " + b"x" * 7997 + b"\n")
        code, message, _ = only_error(lambda: read_spec_text(path, Limits(file_size=5000)))
    finally:
        os.close(held)
    assert code == "SPC110-limit"
    assert message.startswith("the spec file is too large (more than 5,000 bytes)")


def test_a_pipe_with_a_writer_is_read_to_its_end(tmp_path: Path) -> None:
    path = tmp_path / "pipe.yaml"
    os.mkfifo(path)
    held = os.open(path, os.O_RDWR)
    os.write(held, SPEC.encode())
    # The writer finishes a moment after specc has started reading.
    closer = threading.Timer(0.3, os.close, [held])
    closer.start()
    assert load_spec(path).data["layers"][0]["units"] == 2
    closer.join()


def test_a_named_pipe_without_a_writer_reads_as_empty_at_once(tmp_path: Path) -> None:
    path = tmp_path / "pipe.yaml"
    os.mkfifo(path)
    start = time.perf_counter()
    assert only_error(lambda: load_spec(path))[1] == "the spec is empty"
    assert time.perf_counter() - start < 2


@pytest.mark.parametrize(
    ("path", "kind"),
    [("/dev/zero", "a device"), ("/dev/urandom", "a device"), (".", "a directory")],
)
def test_what_is_not_a_file_is_refused_without_reading(path: str, kind: str) -> None:
    code, message, position = only_error(lambda: load_spec(path))
    assert (code, message, position) == (
        "SPC105-file",
        f"the spec path is {kind}, not a spec file",
        Position(1, 1),
    )


def test_a_missing_file(tmp_path: Path) -> None:
    code, message, _ = only_error(lambda: load_spec(tmp_path / "nope.yaml"))
    assert (code, message) == ("SPC105-file", f"no such file: '{tmp_path / 'nope.yaml'}'")
    message = only_error(lambda: load_spec(tmp_path / "a\x1b[2Jb.yaml"))[1]
    assert message.endswith("a\\x1b[2Jb.yaml'")


@pytest.mark.parametrize(
    ("data", "line", "column", "byte"),
    [
        (b"specc: 1\nname: caf\xe9\n", 2, 10, 0xE9),
        (b"a: \xe6\x97\xa5\xe6\x9c\xac\xff\n", 1, 6, 0xFF),  # columns count characters
        (b"a: 1\nb: \xe6\x97", 2, 4, 0xE6),  # cut off in the middle of a character
    ],
)
def test_bytes_that_are_not_utf8_are_located(
    tmp_path: Path, data: bytes, line: int, column: int, byte: int
) -> None:
    path = tmp_path / "spec.yaml"
    path.write_bytes(data)
    code, message, position = only_error(lambda: load_spec(path))
    assert code == "SPC105-file"
    assert (
        message
        == f"the spec is not UTF-8 text (byte 0x{byte:02x} cannot start or continue a character)"
    )
    assert position == Position(line, column)


def test_a_json_byte_order_mark_is_skipped_and_positions_stay_right(tmp_path: Path) -> None:
    path = tmp_path / "spec.json"
    path.write_bytes(b'\xef\xbb\xbf{"specc": 1,\n "layers": []}')
    loaded = load_spec(path)
    assert loaded.data == {"specc": 1, "layers": []}
    assert loaded.positions.keys[("specc",)] == Position(1, 2)
    assert loaded.positions.values[("layers",)] == Position(2, 12)


# ----------------------------------------------------------------------------- layers


def test_layers_are_counted_with_the_layers_they_wrap() -> None:
    inner = "{type: LSTM, units: 2}"
    wrapped = f"  - {{type: Bidirectional, layer: {inner}, backward_layer: {inner}}}\n"
    text = "specc: 1\nlayers:\n" + wrapped * 3
    assert load_text(text, limits=Limits(layers=9)).data["specc"] == 1
    with pytest.raises(SpecError) as caught:
        load_text(text, "spec.yaml", limits=Limits(layers=8))
    (diagnostic,) = caught.value.diagnostics
    assert diagnostic.code == "SPC110-limit"
    assert diagnostic.message == (
        "the spec has 9 layers; the limit is 8; raise it with --limit layers=16"
    )
    assert diagnostic.position == Position(2, 1)


def test_the_default_layer_limit_is_far_above_any_spec() -> None:
    assert DEFAULT_LIMITS.layers >= 1_000_000


# ----------------------------------------------------------------------------- numbers


@pytest.mark.parametrize(
    ("literal", "value"),
    [
        ("9223372036854775807", 2**63 - 1),
        ("-9223372036854775808", -(2**63)),
        ("0x7fffffffffffffff", 2**63 - 1),
        ("0o777777777777777777777", 2**63 - 1),
        ("0" * 5000 + "12", 12),  # leading zeros do not count towards Python's 4,300 digits
        ("-0", 0),
    ],
)
def test_integers_within_64_bits(literal: str, value: int) -> None:
    assert integer(literal) == value


@pytest.mark.parametrize(
    ("literal", "shown"),
    [
        ("9223372036854775808", "9223372036854775808"),
        ("-9223372036854775809", "-9223372036854775809"),
        ("0x8000000000000000", "0x8000000000000000"),
        ("1" * 5000, "1" * 24 + "... (5,000 characters)"),
    ],
)
def test_integers_beyond_64_bits_are_refused(literal: str, shown: str) -> None:
    assert integer(literal) == (
        f"integer {shown} is out of range; a spec's integers must fit in 64 bits "
        "(-9223372036854775808 to 9223372036854775807)"
    )


def test_a_million_digits_are_refused_at_once() -> None:
    start = time.perf_counter()
    assert isinstance(integer("7" * 10**6), str)
    assert time.perf_counter() - start < 0.1


@pytest.mark.parametrize("literal", ["1e308", "1e-999", "1" * 300 + ".5"])
def test_floats_that_fit(literal: str) -> None:
    assert number(literal) == float(literal)


@pytest.mark.parametrize("literal", ["1e309", "-1e999", "1" * 400 + ".0"])
def test_floats_that_overflow_are_refused(literal: str) -> None:
    message = number(literal)
    assert isinstance(message, str)
    assert "is too large for a 64-bit float" in message


@pytest.mark.parametrize(
    ("text", "is_json", "position"),
    [
        ("v: 0x" + "f" * 5000 + "\n", False, Position(1, 4)),
        ("v: [1, -99999999999999999999]\n", False, Position(1, 8)),
        ('{"v": [1, 99999999999999999999]}', True, Position(1, 11)),
        ('{"v": 1e999}', True, Position(1, 7)),
        ("v: 1e999\n", False, Position(1, 4)),
    ],
)
def test_numbers_out_of_range_are_located(text: str, is_json: bool, position: Position) -> None:
    code, _, where = only_error(lambda: load_text(text, "spec", is_json=is_json))
    assert (code, where) == ("SPC106-number", position)


def test_yaml_infinity_is_still_written_inf() -> None:
    assert load_text("v: -.inf\n").data["v"] == -float("inf")


# ----------------------------------------------------------------------------- names


def name_errors(text: str) -> list[str]:
    with pytest.raises(SpecError) as caught:
        validate_spec(load_text(text, "spec.yaml"))
    return [d.as_text() for d in caught.value.diagnostics]


def test_names_may_have_128_characters_and_no_more() -> None:
    ok = f"specc: 1\nlayers:\n  - {{type: Dense, units: 2, input_shape: [2], name: {'a' * 128}}}\n"
    validate_spec(load_text(ok))
    assert name_errors(ok.replace("a" * 128, "a" * 129)) == [
        "spec.yaml:3:53: error: name must be at most 128 characters; got 129 "
        "(at layers[0].name) [SPC101-schema]"
    ]


@pytest.mark.parametrize("name", ['"a/b"', '"a\\0b"', '"1st"', '"a b"', '"\\u202eab"'])
def test_input_names_follow_the_layer_name_pattern(name: str) -> None:
    text = f"specc: 1\ninputs:\n  {name}: {{shape: [2]}}\nlayers:\n  - {{type: Dense, units: 2}}\n"
    (line,) = name_errors(text)
    assert line.startswith("spec.yaml:3:3: error: input name must start with a letter or _ ")
    assert line.endswith("[SPC101-schema]")


def test_a_shared_entry_names_a_valid_name() -> None:
    text = f'specc: 1\nlayers:\n  - {LAYER}\n  - {{name: twin, shares: "dense\\n"}}\n'
    (line,) = name_errors(text)
    assert "shares must start with a letter or _" in line
    assert "got 'dense\\n' (a string)" in line


# ----------------------------------------------------------------------------- quoting


def test_quote_escapes_and_shortens() -> None:
    assert quote("unit") == "'unit'"
    assert quote("a\nb\x1b]0;t\x07\u202e") == "'a\\nb\\x1b]0;t\\x07\\u202e'"
    assert quote("k" * 1000) == "'" + "k" * 77 + "'... (1,000 characters)"


def test_paths_show_odd_keys_quoted_and_short() -> None:
    assert format_path(("layers", 0, "units")) == "layers[0].units"
    assert format_path(("inputs", "a\x00b")) == "inputs['a\\x00b']"
    assert format_path(("layers", 1, "k" * 10**6)) == "layers[1]['" + "k" * 37 + "'...]"


def test_line_index_matches_counting() -> None:
    text = "ab\n\ncdé\nf"
    index = LineIndex(text)
    for i in range(len(text) + 1):
        line = text.count("\n", 0, i) + 1
        column = i - (text.rfind("\n", 0, i) + 1) + 1
        assert index.position(i) == Position(line, column)


# ----------------------------------------------------------------------------- hints


def test_hints_search_every_name_until_the_budget_is_spent() -> None:
    names = [f"layer_{i}" for i in range(50_000)]
    hints = _Hints(names)
    assert hints.hint("layer_1x") == "; did you mean 'layer_1'?"
    start = time.perf_counter()
    tails = [hints.hint(f"LAYER_{i}") for i in range(1000)] + [hints.hint("nothing_like")]
    assert time.perf_counter() - start < 5
    # Past the budget, a name that differs only in case is still found.
    assert tails[500] == "; did you mean 'layer_500'?"
    assert tails[-1] == ""
