"""The loader: YAML 1.2 scalars, positions, refused constructs, and JSON with positions."""

from __future__ import annotations

import contextlib
import math
import time
from pathlib import Path
from typing import Any

import pytest

from specc.diagnostics import Position, SpecError
from specc.pipeline import check_spec
from specc.spec.loader import LoadedSpec, load_text
from specc.spec.model import validate_spec
from specc.spec.yaml_aliases import ALIAS_ALLOWANCE


def load_yaml(text: str) -> LoadedSpec:
    return load_text(text, "spec.yaml")


def load_json(text: str) -> LoadedSpec:
    return load_text(text, "spec.json", is_json=True)


def value_of(text: str) -> Any:
    """The value of key ``v`` in the one-line YAML document ``v: <text>``."""
    return load_yaml(f"v: {text}\n").data["v"]


def syntax_error(
    text: str, is_json: bool = False, code: str = "SPC100-syntax"
) -> tuple[str, int, int]:
    """Load ``text``, which must fail with one located diagnostic of ``code``; its message
    and place."""
    with pytest.raises(SpecError) as caught:
        load_text(text, "spec.json" if is_json else "spec.yaml", is_json=is_json)
    (diagnostic,) = caught.value.diagnostics
    assert diagnostic.code == code
    assert diagnostic.position is not None
    return diagnostic.message, diagnostic.position.line, diagnostic.position.column


# ----------------------------------------------------------------------------- YAML 1.2 scalars


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1e-3", 0.001),
        ("1E5", 100000.0),
        ("1e5", 100000.0),
        ("-2.5e-2", -0.025),
        ("+1.5E+2", 150.0),
        ("1.", 1.0),
        (".5", 0.5),
        ("3.0", 3.0),
    ],
)
def test_yaml_floats_follow_yaml_1_2(text: str, expected: float) -> None:
    value = value_of(text)
    assert type(value) is float
    assert value == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0x10", 16),
        ("0xff", 255),
        ("0o17", 15),
        ("012", 12),  # decimal in YAML 1.2 (octal 10 in YAML 1.1)
        ("+5", 5),
        ("-7", -7),
        ("0", 0),
    ],
)
def test_yaml_integers_follow_yaml_1_2(text: str, expected: int) -> None:
    value = value_of(text)
    assert type(value) is int
    assert value == expected


@pytest.mark.parametrize(
    "text",
    [
        "yes",
        "no",
        "on",
        "off",
        "y",
        "n",
        "Yes",
        "NO",
        "On",
        "1_000",
        "0b101",
        "-0x10",
        "2024-01-01",
        "12:30",
        "nULL",
        "tRUE",
        "=",
        "'1'",
        '"true"',
        "'null'",
    ],
)
def test_yaml_1_1_only_scalars_stay_strings(text: str) -> None:
    value = value_of(text)
    assert isinstance(value, str)
    assert value == text.strip("'\"")


@pytest.mark.parametrize(
    ("text", "expected"),
    [("true", True), ("True", True), ("TRUE", True), ("false", False), ("False", False)],
)
def test_yaml_booleans(text: str, expected: bool) -> None:
    assert value_of(text) is expected


@pytest.mark.parametrize(
    ("text", "sign"),
    [(".inf", 1), (".Inf", 1), (".INF", 1), ("+.inf", 1), ("-.inf", -1), ("-.Inf", -1)],
)
def test_yaml_infinities(text: str, sign: int) -> None:
    value = value_of(text)
    assert math.isinf(value)
    assert math.copysign(1, value) == sign


@pytest.mark.parametrize("text", [".nan", ".NaN", ".NAN"])
def test_yaml_nan(text: str) -> None:
    assert math.isnan(value_of(text))


@pytest.mark.parametrize("text", ["~", "null", "Null", "NULL", ""])
def test_yaml_null_forms(text: str) -> None:
    assert value_of(text) is None


def test_yaml_null_in_lists_and_flow_mappings() -> None:
    data = load_yaml("shape: [null, ~, 3]\nm: {a: , b: null}\n").data
    assert data == {"shape": [None, None, 3], "m": {"a": None, "b": None}}


def test_yaml_core_tags_are_allowed() -> None:
    data = load_yaml("a: !!str 3\nb: !!float 1\nc: !!int '7'\nd: !!null ''\n").data
    assert data == {"a": "3", "b": 1.0, "c": 7, "d": None}
    assert type(data["b"]) is float


def test_learning_rate_written_as_1e_3_validates_as_a_float() -> None:
    text = (
        "specc: 1\nlayers:\n  - {type: Dense, units: 1, input_shape: [4]}\n"
        "compile:\n  optimizer: {type: Adam, learning_rate: 1e-3}\n  loss: mse\n"
    )
    spec = validate_spec(load_yaml(text))
    assert spec.compile is not None
    assert spec.compile.optimizer.learning_rate == pytest.approx(0.001)


# ----------------------------------------------------------------------------- YAML positions


def test_yaml_positions_of_values_and_keys() -> None:
    text = "specc: 1\nlayers:\n  - type: Dense\n    units: 4\n    input_shape: [16, 8]\n"
    positions = load_yaml(text).positions
    assert positions.values[()] == Position(1, 1)
    assert positions.values[("specc",)] == Position(1, 8)
    assert positions.keys[("layers",)] == Position(2, 1)
    assert positions.values[("layers", 0)] == Position(3, 5)
    assert positions.keys[("layers", 0, "units")] == Position(4, 5)
    assert positions.values[("layers", 0, "units")] == Position(4, 12)
    assert positions.values[("layers", 0, "input_shape", 1)] == Position(5, 23)


def test_locate_falls_back_to_the_nearest_enclosing_node() -> None:
    positions = load_yaml("a:\n  b: {c: 1}\n").positions
    assert positions.locate(("a", "b", "missing", 3)) == Position(2, 6)
    assert positions.locate(("a", "b", "c"), at_key=True) == Position(2, 7)
    assert positions.locate(("nothing",)) == Position(1, 1)


def test_yaml_duplicate_key_is_reported_at_the_second_key() -> None:
    text = "specc: 1\nlayers:\n  - type: Dense\n    units: 4\n    units: 8\n"
    message, line, col = syntax_error(text)
    assert message == "duplicate key 'units' (first defined at line 4)"
    assert (line, col) == (5, 5)


def test_yaml_duplicate_key_in_a_flow_mapping() -> None:
    message, line, col = syntax_error("a: {x: 1, y: 2, x: 3}\n")
    assert message == "duplicate key 'x' (first defined at line 1)"
    assert (line, col) == (1, 17)


def test_same_key_in_different_mappings_is_fine() -> None:
    data = load_yaml("a: {units: 1}\nb: {units: 2}\n").data
    assert data == {"a": {"units": 1}, "b": {"units": 2}}


@pytest.mark.parametrize(
    ("text", "col"),
    [("1: a\n", 1), ("null: a\n", 1), ("true: a\n", 1), ("? [a, b]\n: c\n", 3)],
)
def test_non_string_keys_are_refused(text: str, col: int) -> None:
    message, line, column = syntax_error(text)
    assert message == "mapping keys must be plain strings"
    assert (line, column) == (1, col)


def test_yaml_syntax_error_has_a_position() -> None:
    message, line, col = syntax_error("specc: 1\nlayers:\n\t- type: Dense\n")
    assert message.startswith("invalid YAML: ")
    assert "'\\t'" in message
    assert (line, col) == (3, 1)


# ----------------------------------------------------------------------------- YAML tags


@pytest.mark.parametrize(
    ("text", "tag", "col"),
    [
        ("name: !!python/name:os.system ''\n", "tag:yaml.org,2002:python/name:os.system", 7),
        ("name: !!binary aGVsbG8=\n", "tag:yaml.org,2002:binary", 7),
        ("when: !!timestamp 2001-12-14\n", "tag:yaml.org,2002:timestamp", 7),
        ("name: !custom value\n", "!custom", 7),
        (
            "a:\n  - !!python/object/new:os.getcwd x\n",
            "tag:yaml.org,2002:python/object/new:os.getcwd",
            5,
        ),
    ],
)
def test_tags_on_scalars_are_refused(text: str, tag: str, col: int) -> None:
    message, _line, column = syntax_error(text)
    assert message == f"YAML tag '{tag}' is not allowed in a spec"
    assert column == col


@pytest.mark.parametrize(
    "text",
    [
        "name: !!python/object/apply:os.system ['echo hi']\n",
        "metadata: !!python/object:collections.OrderedDict {a: 1}\n",
        "metadata: !!set {a, b}\n",
        "metadata: !!omap [a: 1, b: 2]\n",
        "layers: !custom\n  - {type: Dense}\n",
    ],
)
def test_tags_on_collections_are_refused(text: str) -> None:
    message, line, _col = syntax_error(text)
    assert message.startswith("YAML tag '")
    assert message.endswith("' is not allowed in a spec")
    assert line == 1


def test_a_python_tag_is_never_executed(tmp_path: Path) -> None:
    marker = tmp_path / "created"
    text = f"specc: 1\nname: !!python/object/apply:os.mkdir ['{marker}']\nlayers: []\n"
    with contextlib.suppress(SpecError):
        load_yaml(text)
    assert not marker.exists()


@pytest.mark.parametrize("text", ["v: !!int abc\n", "v: !!float abc\n", "v: !!int 1e3\n"])
def test_core_tag_on_a_wrong_value_is_a_syntax_error(text: str) -> None:
    _message, line, col = syntax_error(text)
    assert (line, col) == (1, 4)


@pytest.mark.parametrize("text", ["v: !!bool yes\n", "v: !!null foo\n"])
def test_core_bool_and_null_tags_check_their_value(text: str) -> None:
    syntax_error(text)


# ----------------------------------------------------------------------------- anchors, aliases


def test_anchors_and_aliases_are_expanded() -> None:
    text = (
        "specc: 1\n"
        "layers:\n"
        "  - {type: Dense, units: 4, input_shape: [3], kernel_initializer: &init "
        "{type: HeUniform, seed: 1}}\n"
        "  - {type: Dense, units: 2, kernel_initializer: *init}\n"
    )
    loaded = load_yaml(text)
    layers = loaded.data["layers"]
    assert layers[1]["kernel_initializer"] == {"type": "HeUniform", "seed": 1}
    assert layers[0]["kernel_initializer"] == layers[1]["kernel_initializer"]
    # Each use is its own value; changing one must not change the other.
    assert layers[0]["kernel_initializer"] is not layers[1]["kernel_initializer"]
    validate_spec(loaded)


def test_alias_bomb_is_rejected_fast() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 10):  # 10**10 scalars once expanded
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    start = time.perf_counter()
    message, line, col = syntax_error("\n".join(lines) + "\n", code="SPC108-alias")
    assert time.perf_counter() - start < 1
    assert message == (
        "YAML aliases expand this spec from 31 nodes to 12,345,679,021 (this node appears "
        "11 times); aliases may add at most 1,000,000 nodes"
    )
    assert (line, col) == (9, 5)  # the anchor whose repeats add the most: a8


def test_moderate_alias_use_is_expanded() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 4):  # 10**4 scalars: a big spec, not a bomb
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    data = load_yaml("\n".join(lines) + "\n").data
    assert len(data["a3"]) == 10
    assert data["a3"][9][9][9] == ["x"] * 10


@pytest.mark.slow
def test_aliases_may_add_as_many_nodes_as_allowed_and_no_more() -> None:
    # One anchored list of 1,000 items, aliased: each alias adds 1,001 nodes.
    def spec(uses: int) -> str:
        return "a: &a [" + ", ".join(["x"] * 1000) + "]\nb: [" + ", ".join(["*a"] * uses) + "]\n"

    uses = ALIAS_ALLOWANCE // 1001
    assert len(load_yaml(spec(uses)).data["b"]) == uses
    assert syntax_error(spec(uses + 1), code="SPC108-alias")[0].startswith("YAML aliases expand")


def test_recursive_alias_is_an_error() -> None:
    message, line, col = syntax_error("a: &a [*a]\n", code="SPC108-alias")
    assert message == "a YAML alias refers to a node that contains it (an endless spec)"
    assert (line, col) == (1, 4)


def test_merge_keys_are_refused_at_the_merge_key() -> None:
    text = "base: &b {type: Dense, units: 3}\nlayers:\n  - <<: *b\n    input_shape: [4]\n"
    message, line, col = syntax_error(text, code="SPC107-merge-key")
    assert message.startswith("YAML merge keys ('<<') are not supported in a spec")
    assert (line, col) == (3, 5)


def test_a_quoted_merge_key_is_an_ordinary_key() -> None:
    assert load_yaml('"<<": 1\n').data == {"<<": 1}


# ----------------------------------------------------------------------------- empty, top level


@pytest.mark.parametrize(
    ("text", "is_json"),
    [("", False), ("   \n\n", False), ("", True), ("   \n\n", True), ("\t\r\n", True)],
)
def test_empty_file(text: str, is_json: bool) -> None:
    message, line, col = syntax_error(text, is_json=is_json)
    assert message == "the spec is empty"
    assert (line, col) == (1, 1)


def test_yaml_with_only_comments_is_empty() -> None:
    assert syntax_error("# nothing here\n# at all\n")[0] == "the spec is empty"


@pytest.mark.parametrize(
    ("text", "is_json", "got"),
    [
        ("- a\n- b\n", False, "a list"),
        ("just text\n", False, "'just text' (a string)"),
        ("42\n", False, "42 (an integer)"),
        ("[1, 2]", True, "a list"),
        ('"x"', True, "'x' (a string)"),
        ("null", True, "null"),
    ],
)
def test_non_mapping_top_level(text: str, is_json: bool, got: str) -> None:
    loaded = load_text(text, "spec", is_json=is_json)
    with pytest.raises(SpecError) as caught:
        validate_spec(loaded)
    (diagnostic,) = caught.value.diagnostics
    assert diagnostic.message.endswith("; got " + got)
    assert diagnostic.position == Position(1, 1)


# ----------------------------------------------------------------------------- JSON positions

JSON_SPEC = """{
  "specc": 1,
  "name": "caf\\u00e9 \\"quoted\\" \\\\ back",
  "layers": [
    {"type": "Dense", "units": 4, "input_shape": [16]},
    {
      "type": "Dropout",
      "rate": 0.5
    }
  ]
}
"""


def test_json_values_and_keys() -> None:
    loaded = load_json(JSON_SPEC)
    assert loaded.data["name"] == 'café "quoted" \\ back'
    assert loaded.data["layers"][0] == {"type": "Dense", "units": 4, "input_shape": [16]}
    assert type(loaded.data["layers"][1]["rate"]) is float
    validate_spec(loaded)


def test_json_positions_of_nested_values_and_keys() -> None:
    positions = load_json(JSON_SPEC).positions
    assert positions.values[()] == Position(1, 1)
    assert positions.keys[("specc",)] == Position(2, 3)
    assert positions.values[("specc",)] == Position(2, 12)
    assert positions.values[("layers",)] == Position(4, 13)
    assert positions.values[("layers", 0)] == Position(5, 5)
    assert positions.keys[("layers", 0, "units")] == Position(5, 23)
    assert positions.values[("layers", 0, "units")] == Position(5, 32)
    assert positions.values[("layers", 0, "input_shape")] == Position(5, 50)
    assert positions.values[("layers", 0, "input_shape", 0)] == Position(5, 51)
    assert positions.values[("layers", 1)] == Position(6, 5)
    assert positions.keys[("layers", 1, "rate")] == Position(8, 7)
    assert positions.values[("layers", 1, "rate")] == Position(8, 15)


def test_json_columns_count_characters_not_bytes_after_unicode() -> None:
    text = '{"name": "日本語 é", "specc": 1}'
    loaded = load_json(text)
    assert loaded.data["name"] == "日本語 é"
    # '{"name": "日本語 é", ' is 18 characters, so "specc" starts at column 19.
    assert loaded.positions.keys[("specc",)] == Position(1, 19)
    assert loaded.positions.values[("specc",)] == Position(1, 28)


@pytest.mark.parametrize(
    ("escaped", "decoded"),
    [
        ('"a\\nb"', "a\nb"),
        ('"tab\\there"', "tab\there"),
        ('"\\/"', "/"),
        ('"\\b\\f\\r"', "\b\f\r"),
        ('"\\u0041\\u00df"', "Aß"),
        ('"\\u65e5"', "日"),
    ],
)
def test_json_escapes(escaped: str, decoded: str) -> None:
    assert load_json('{"v": ' + escaped + "}").data["v"] == decoded


def test_json_surrogate_pair_is_one_character() -> None:
    assert load_json('{"v": "\\ud83d\\ude00"}').data["v"] == "\U0001f600"


def test_json_lone_surrogate_is_a_spec_error(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.write_text('{"specc": 1, "layers": [{"type": "\\ud800", "units": 1, "input_shape": [4]}]}')
    with pytest.raises(SpecError):
        check_spec(path)


def test_yaml_lone_surrogate_is_a_spec_error(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text('specc: 1\nlayers:\n  - {type: "D\\ud800", units: 1, input_shape: [4]}\n')
    with pytest.raises(SpecError):
        check_spec(path)


def test_json_numbers() -> None:
    data = load_json('{"a": 1, "b": -0, "c": 1.5, "d": 1e-3, "e": 2E+2, "f": -0.25e1}').data
    assert data == {"a": 1, "b": 0, "c": 1.5, "d": 0.001, "e": 200.0, "f": -2.5}
    assert [type(v) for v in data.values()] == [int, int, float, float, float, float]


def test_json_duplicate_key_at_the_second_key() -> None:
    text = '{\n  "specc": 1,\n  "layers": [],\n  "specc": 2\n}'
    message, line, col = syntax_error(text, is_json=True)
    assert message == "invalid JSON: duplicate key 'specc' (first defined at line 2)"
    assert (line, col) == (4, 3)


def test_json_duplicate_key_in_a_nested_object() -> None:
    text = '{"layers": [{"type": "Dense",\n "units": 1, "type": "Dropout"}]}'
    message, line, col = syntax_error(text, is_json=True)
    assert message == "invalid JSON: duplicate key 'type' (first defined at line 1)"
    assert (line, col) == (2, 14)


@pytest.mark.parametrize(
    ("text", "message", "line", "col"),
    [
        ('{"a": 1,}', "invalid JSON: expected a string key", 1, 9),
        ('{"a": [1, 2,]}', "invalid JSON: unexpected character ']'", 1, 13),
        ('{\n  "a": "abc', "invalid JSON: unterminated string", 2, 8),
        ('{"a": yes}', "invalid JSON: unexpected character 'y'", 1, 7),
        ('{"a": True}', "invalid JSON: unexpected character 'T'", 1, 7),
        ('{"a": NaN}', "invalid JSON: unexpected character 'N'", 1, 7),
        ("{a: 1}", "invalid JSON: expected a string key", 1, 2),
        ("{'a': 1}", "invalid JSON: expected a string key", 1, 2),
        ('{"a" 1}', "invalid JSON: expected ':', found '1'", 1, 6),
        ('{"a": 1', "invalid JSON: expected ',' or '}', found end of input", 1, 8),
        ('{"a": 1} {}', "invalid JSON: unexpected content after the document", 1, 10),
        ('{"a": 01}', "invalid JSON: expected ',' or '}', found '1'", 1, 8),
        ('{"a": "\\x"}', "invalid JSON: invalid escape '\\x'", 1, 8),
        ('{"a": "\\u12"}', "invalid JSON: invalid \\u escape", 1, 8),
        ('{"a": 1 // note\n}', "invalid JSON: expected ',' or '}', found '/'", 1, 9),
        ('{"a":\n\n   -}', "invalid JSON: unexpected character '-'", 3, 4),
    ],
)
def test_json_errors_with_positions(text: str, message: str, line: int, col: int) -> None:
    assert syntax_error(text, is_json=True) == (message, line, col)


DEPTH_MESSAGE = "the spec nests deeper than 100 levels, which no spec needs"


@pytest.mark.parametrize("depth", [101, 600, 100_000])
def test_deep_json_nesting_is_a_spec_error(depth: int) -> None:
    text = "[" * depth + "]" * depth
    assert syntax_error(text, is_json=True, code="SPC110-limit") == (DEPTH_MESSAGE, 1, 101)


@pytest.mark.parametrize(
    ("text", "line", "col"),
    [
        ("a: " + "[" * 100 + "]" * 100 + "\n", 1, 103),
        ("a: " + "[" * 3000 + "]" * 3000 + "\n", 1, 1003),  # libyaml stops at 1,000
        ("".join(" " * i + "a:\n" for i in range(101)) + " " * 101 + "1\n", 101, 101),
    ],
)
def test_deep_yaml_nesting_is_a_spec_error(text: str, line: int, col: int) -> None:
    assert syntax_error(text, code="SPC110-limit") == (DEPTH_MESSAGE, line, col)


def test_nesting_up_to_the_limit_is_fine() -> None:
    assert load_json("[" * 100 + "]" * 100).data is not None
    assert load_yaml("a: " + "[" * 99 + "]" * 99 + "\n").data is not None


# ----------------------------------------------------------------------------- through the pipeline


def test_errors_in_aliased_values_point_at_the_anchor(tmp_path: Path) -> None:
    path = tmp_path / "alias.yaml"
    path.write_text(
        "specc: 1\n"
        "layers:\n"
        "  - {type: Dense, units: 4, input_shape: [3], activation: &act rleu}\n"
        "  - {type: Dense, units: 2, activation: *act}\n"
    )
    with pytest.raises(SpecError) as caught:
        check_spec(path)
    lines = [d.as_text() for d in caught.value.diagnostics]
    assert len(lines) == 2
    assert all(":3:" in line and "unknown activation 'rleu'" in line for line in lines)
    assert "(at layers[1].activation)" in lines[1]
