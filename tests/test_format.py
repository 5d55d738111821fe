"""``specc format``: one canonical layout, every comment kept, the meaning never changed.

Every spec the project holds (models/, the README's and the docs' examples, the parseable
specs of tests/invalid/, every layer's examples in sorted-key YAML and JSON) is formatted
and checked: formatting again changes nothing, the comments are the same, and the spec
builds the very same ONNX bytes as before.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from specc.cli.app import app
from specc.diagnostics import SpecError
from specc.format_comments import comment_texts
from specc.format_scalars import float_text, scalar
from specc.formatting import format_text
from specc.layers import LAYERS
from specc.onnx_model import DEFAULT_OPSET, to_model_proto
from specc.pipeline import compile_text
from specc.spec.loader import load_text
from tests.spec_helpers import ROOT, single_layer_spec

runner = CliRunner()
MODELS = sorted((ROOT / "models").glob("*.yaml"))


def _doc_specs() -> list[tuple[str, str]]:
    found = []
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        blocks = re.findall(r"```yaml\n(.*?)```", doc.read_text(), re.S)
        found += [(f"{doc.name}[{k}]", b) for k, b in enumerate(blocks) if "specc: 1" in b]
    return found


def _parseable_invalid_specs() -> list[Path]:
    specs = []
    for path in sorted((ROOT / "tests" / "invalid").glob("*.yaml")):
        try:
            format_text(path.read_text(), str(path))
        except SpecError:
            continue  # a syntax error: test_spec_that_does_not_parse covers those
        specs.append(path)
    return specs


def _inline_test_specs() -> list[tuple[str, str]]:
    """The YAML specs written out in the tests' own source (string literals with
    ``specc: 1``) that parse; the others are examples of broken files."""
    found = []
    for source in sorted((ROOT / "tests").glob("*.py")):
        if source.name.startswith("test_format"):
            continue  # the formatter's own cases, some refused on purpose
        for node in ast.walk(ast.parse(source.read_text())):
            text = node.value if isinstance(node, ast.Constant) else None
            if isinstance(text, str) and "specc: 1" in text and "layers" in text:
                try:
                    load_text(text)
                except SpecError:
                    continue
                found.append((f"{source.name}:{node.lineno}", text))
    return found


def _layer_example_specs() -> list[tuple[str, dict]]:
    return [
        (f"{model.type_name()}-{k}", single_layer_spec(model.type_name(), config, types))
        for model in LAYERS
        for k, (config, types) in enumerate(model.examples())
    ]


def _onnx_bytes(text: str, is_json: bool = False) -> bytes:
    compiled = compile_text(text, is_json=is_json, seed=0)
    return to_model_proto(compiled.graph, DEFAULT_OPSET, compiled.metadata).SerializeToString()


def _assert_canonical(text: str, is_json: bool = False) -> str:
    formatted = format_text(text, is_json=is_json)
    assert format_text(formatted, is_json=is_json) == formatted
    assert sorted(comment_texts(formatted)) == sorted(comment_texts(text))
    return formatted


@pytest.mark.parametrize("path", MODELS, ids=lambda p: p.name)
def test_models_are_formatted_and_build_the_same_model_in_any_layout(
    path: Path, tmp_path: Path
) -> None:
    text = path.read_text()
    assert _assert_canonical(text) == text, f"specc format {path} changes it"
    assert comment_texts(text), "every example spec carries comments to keep"
    # The same spec all in block style, and all in flow style as far as the frame allows:
    # each builds the very same model, and formats back to the text as it is.
    block, wide = format_text(text, line_length=1), format_text(text, line_length=10_000)
    assert block != text and len(block.splitlines()) > len(text.splitlines())
    assert format_text(block) == text and format_text(wide) == text
    specs = {"text": text, "block": block, "wide": wide}
    for name, spec_text in specs.items():
        spec = tmp_path / f"{name}.yaml"
        spec.write_text(spec_text)
        result = runner.invoke(app, ["build", str(spec), "--seed", "0", "--quiet"])
        assert result.exit_code == 0, result.output
    built = {(tmp_path / f"{name}.onnx").read_bytes() for name in specs}
    assert len(built) == 1


def test_models_folder_passes_the_check() -> None:
    result = runner.invoke(app, ["format", "--check", str(ROOT / "models")])
    assert result.exit_code == 0, result.output
    assert "would reformat" not in result.output


@pytest.mark.parametrize(("name", "text"), _doc_specs(), ids=lambda v: str(v)[:30])
def test_documented_specs_format_to_the_same_model(name: str, text: str) -> None:
    formatted = _assert_canonical(text)
    try:
        before = _onnx_bytes(text)
    except SpecError as exc:  # an example of a mistake: formatted, the same mistake
        with pytest.raises(SpecError) as again:
            _onnx_bytes(formatted)
        assert [d.message for d in again.value.diagnostics] == [d.message for d in exc.diagnostics]
        return
    assert _onnx_bytes(formatted) == before


@pytest.mark.parametrize("path", _parseable_invalid_specs(), ids=lambda p: p.name)
def test_invalid_specs_format_idempotently(path: Path) -> None:
    _assert_canonical(path.read_text())


@pytest.mark.parametrize(("name", "text"), _inline_test_specs(), ids=lambda v: str(v)[:40])
def test_specs_in_the_tests_format_to_the_same_model(name: str, text: str) -> None:
    formatted = _assert_canonical(text)
    try:
        before = _onnx_bytes(text)
    except SpecError:
        return  # a spec that exists to fail later: formatted, it still reads the same
    assert _onnx_bytes(formatted) == before


@pytest.mark.parametrize(("name", "spec"), _layer_example_specs(), ids=lambda v: str(v)[:40])
def test_layer_examples_format_to_the_same_model(name: str, spec: dict) -> None:
    # Sorted keys and flow style: as far from the canonical layout as PyYAML writes.
    text = yaml.safe_dump(spec, sort_keys=True, default_flow_style=True, width=60)
    formatted = _assert_canonical(text)
    assert _onnx_bytes(formatted) == _onnx_bytes(text)
    as_json = json.dumps(spec, sort_keys=True)
    formatted_json = _assert_canonical(as_json, is_json=True)
    assert _onnx_bytes(formatted_json, is_json=True) == _onnx_bytes(as_json, is_json=True)


def test_canonical_layout() -> None:
    text = (
        "# yaml-language-server: $schema=./schemas/specc.schema.json\n"
        "layers:\n"
        "  # the head\n"
        "  - {units: 2, inputs: x, type: Dense, name: out, kernel_initializer: "
        "{seed: 3, type: GlorotUniform}}  # two classes\n"
        "inputs: {x: {dtype: float32, shape: [4]}, a: {shape: [1]}}\n"
        "compile: {optimizer: {type: adam, learning_rate: 1e-5}, loss: mse}\n"
        "specc: 1\n"
        "name: 'on'\n"
    )
    assert format_text(text) == (
        "# yaml-language-server: $schema=./schemas/specc.schema.json\n"
        "specc: 1\n"
        'name: "on"\n'
        "inputs:\n"
        "  x: {shape: [4], dtype: float32}\n"
        "  a: {shape: [1]}\n"
        "layers:\n"
        "  # the head\n"
        "  - {name: out, type: Dense, units: 2, "
        "kernel_initializer: {type: GlorotUniform, seed: 3}, inputs: x}  # two classes\n"
        "compile:\n"
        "  optimizer: {type: adam, learning_rate: 1.0e-5}\n"
        "  loss: mse\n"
    )


def test_an_entry_too_wide_for_the_line_length_is_block_with_flow_children() -> None:
    entry = "{type: Dense, units: 8, kernel_initializer: {type: HeUniform, seed: 1}, inputs: x}"
    text = f"specc: 1\ninputs:\n  x: {{shape: [4]}}\nlayers:\n  - {entry}\n"
    width = len(f"  - {entry}")
    assert format_text(text, line_length=width) == text
    assert format_text(text, line_length=width - 1) == (
        "specc: 1\n"
        "inputs:\n"
        "  x: {shape: [4]}\n"
        "layers:\n"
        "  - type: Dense\n"
        "    units: 8\n"
        "    kernel_initializer: {type: HeUniform, seed: 1}\n"
        "    inputs: x\n"
    )
    assert "    kernel_initializer:\n      type: HeUniform\n" in format_text(text, line_length=40)


def test_a_comment_inside_an_entry_keeps_it_block() -> None:
    text = (
        "specc: 1\n"
        "layers:\n"
        "  - {type: Dense, units: 8,\n"
        "     activation: relu,  # as in the paper\n"
        "     input_shape: [4]}\n"
        "  - type: Dense  # the head\n"
        "    units: 1\n"
        "compile:\n"
        "  optimizer:\n"
        "    # the default rate\n"
        "    type: adam\n"
        "  loss: mse\n"
    )
    assert format_text(text) == (
        "specc: 1\n"
        "layers:\n"
        "  - type: Dense\n"
        "    units: 8\n"
        "    activation: relu  # as in the paper\n"
        "    input_shape: [4]\n"
        "  - {type: Dense, units: 1}  # the head\n"
        "compile:\n"
        "  optimizer:\n"
        "    # the default rate\n"
        "    type: adam\n"
        "  loss: mse\n"
    )


def test_sections_stay_block_at_any_line_length() -> None:
    # The spec and each model under `models` are lists of sections, one per line.
    text = (
        "{specc: 1, models: {enc: {inputs: {x: {shape: [2]}}, layers: [{type: Flatten}]}},"
        " inputs: {a: {shape: [2]}}, layers: [{model: enc, inputs: a}], outputs: [enc],"
        " train: {epochs: 1}}\n"
    )
    assert format_text(text, line_length=10_000) == (
        "specc: 1\n"
        "inputs:\n"
        "  a: {shape: [2]}\n"
        "models:\n"
        "  enc:\n"
        "    inputs:\n"
        "      x: {shape: [2]}\n"
        "    layers:\n"
        "      - {type: Flatten}\n"
        "layers:\n"
        "  - {model: enc, inputs: a}\n"
        "outputs: [enc]\n"
        "train:\n"
        "  epochs: 1\n"
    )


def test_flow_strings_are_quoted_where_a_comma_or_bracket_would_end_them() -> None:
    text = (
        "specc: 1\n"
        "layers:\n"
        "  - type: Lambda\n"
        "    expression: max(x, y)\n"
        "    inputs: [a, b]\n"
        "  - type: Lambda\n"
        "    expression: abs(x)\n"
        "  - type: Lambda\n"
        "    expression: |\n"
        "      x\n"
        "      + 1\n"
    )
    formatted = format_text(text)
    assert '  - {type: Lambda, expression: "max(x, y)", inputs: [a, b]}\n' in formatted
    assert "  - {type: Lambda, expression: abs(x)}\n" in formatted
    assert formatted.endswith("  - type: Lambda\n    expression: |\n      x\n      + 1\n")
    assert yaml.safe_load(formatted) == load_text(text).data


def test_comment_before_a_moved_key_moves_with_it() -> None:
    text = (
        "specc: 1\n"
        "layers:\n"
        "  - type: Dense\n"
        "    units: 2\n"
        "    # the output's name\n"
        "    name: out\n"
        "    inputs: x\n"
        "inputs:\n"
        "  x: {shape: [3]}\n"
    )
    formatted = format_text(text)
    assert "  # the output's name\n  - {name: out, type: Dense, units: 2, inputs: x}\n" in formatted


def test_a_list_with_comments_stays_in_block_style() -> None:
    text = "specc: 1\ninputs:\n  x:\n    shape:\n      - 28  # height\n      - 28\n"
    assert "shape:\n      - 28  # height\n      - 28\n" in format_text(text)


@pytest.mark.parametrize(
    ("value", "written"),
    [
        (1e-3, "0.001"),
        (1e-5, "1.0e-5"),
        (2.5e20, "2.5e+20"),
        (1.0, "1.0"),
        ("yes", '"yes"'),
        ("1e-3", '"1e-3"'),
        ("relu", "relu"),
        ("a: b", '"a: b"'),
        ("x #y", '"x #y"'),
        ("tab\there", '"tab\\there"'),
        ("", '""'),
        (None, "null"),
        (True, "true"),
    ],
)
def test_scalars_read_back_the_same_in_yaml_1_1_and_1_2(value: object, written: str) -> None:
    assert scalar(value) == written
    assert yaml.safe_load(f"k: {written}") == {"k": value}


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("relu", "relu"),
        ("abs(x - y)", "abs(x - y)"),
        ("max(x, y)", '"max(x, y)"'),
        ("a]", '"a]"'),
        ("{a}", '"{a}"'),
        ("a:b", "a:b"),
        ("a: b", '"a: b"'),
        ("-x", "-x"),
        ("yes", '"yes"'),
    ],
)
def test_flow_scalars_read_back_the_same(value: str, written: str) -> None:
    assert scalar(value, flow=True) == written
    document = f"k: {{{written}: [{written}, {written}]}}\n"
    for read in (yaml.safe_load, lambda text: load_text(text).data):
        assert read(document) == {"k": {value: [value, value]}}


def test_floats_are_floats_to_yaml_1_1_readers() -> None:
    for value in (1e-3, 1e-7, 3e-12, 1e300, -4.5e-9, 0.1, 7.0):
        assert yaml.safe_load(float_text(value)) == value


def test_json_stays_json() -> None:
    text = '{"layers": [{"units": 2, "type": "Dense"}], "specc": 1, "inputs": null}'
    formatted = format_text(text, is_json=True)
    assert json.loads(formatted) == json.loads(text)
    assert formatted.startswith('{\n  "specc": 1,\n  "inputs": null,\n  "layers": [\n')


def test_check_lists_files_that_would_change_and_writes_nothing(tmp_path: Path) -> None:
    messy = tmp_path / "messy.yaml"
    messy.write_text("layers: [{type: Dense, units: 2}]\nspecc: 1\n")
    clean = tmp_path / "clean.yaml"
    clean.write_text(format_text(messy.read_text()))
    result = runner.invoke(app, ["format", "--check", str(messy), str(clean)])
    assert result.exit_code == 1
    assert f"would reformat {messy}" in result.output
    assert str(clean) not in result.output
    assert messy.read_text().startswith("layers:")
    assert runner.invoke(app, ["format", "--check", str(clean)]).exit_code == 0


def test_format_rewrites_and_diff_shows(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text("layers: [{type: Dense, units: 2}]  # one layer\nspecc: 1\n")
    shown = runner.invoke(app, ["format", "--diff", str(spec)])
    assert shown.exit_code == 1
    assert "+layers:  # one layer" in shown.output
    assert spec.read_text().startswith("layers:")
    result = runner.invoke(app, ["format", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert spec.read_text() == "specc: 1\nlayers:  # one layer\n  - {type: Dense, units: 2}\n"


def test_line_length_option(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text("specc: 1\nlayers:\n  - {type: Dense, units: 2}\n")
    result = runner.invoke(app, ["format", "--line-length", "20", str(spec)])
    assert result.exit_code == 0, result.output
    assert spec.read_text() == "specc: 1\nlayers:\n  - type: Dense\n    units: 2\n"
    assert runner.invoke(app, ["format", "--check", str(spec)]).exit_code == 1
    refused = runner.invoke(app, ["format", "--line-length", "0", str(spec)])
    assert refused.exit_code == 2
    assert "Traceback" not in refused.output


def test_folders_are_searched_for_specs_only(tmp_path: Path) -> None:
    (tmp_path / "ci.yaml").write_text("jobs: {a: 1}\n")
    (tmp_path / "history.json").write_text('{"loss": [1]}')
    result = runner.invoke(app, ["format", "--check", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "ci.yaml").read_text() == "jobs: {a: 1}\n"


def test_spec_that_does_not_parse(tmp_path: Path) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text("specc: 1\nlayers: [\n")
    result = runner.invoke(app, ["format", str(spec)])
    assert result.exit_code == 1
    assert f"{spec}:3:1: error: invalid YAML" in result.output
    assert "Traceback" not in result.output


def test_anchors_go_where_the_part_first_comes() -> None:
    # Reordered keys put kernel_initializer before bias_initializer: the anchor moves to it.
    text = (
        "specc: 1\n"
        "layers:\n"
        "  - {type: Dense, units: 2, bias_initializer: &z zeros, kernel_initializer: *z,\n"
        "     input_shape: [2], activation: &act relu}\n"
        "  - {type: Dense, units: 1, activation: *act}  # the same activation\n"
    )
    assert format_text(text) == (
        "specc: 1\n"
        "layers:\n"
        "  - type: Dense\n"
        "    units: 2\n"
        "    activation: &act relu\n"
        "    kernel_initializer: &z zeros\n"
        "    bias_initializer: *z\n"
        "    input_shape: [2]\n"
        "  - type: Dense  # the same activation\n"
        "    units: 1\n"
        "    activation: *act\n"
    )


def test_anchored_collections_in_sequences() -> None:
    text = "specc: 1\ninputs:\n  a: &in {shape: [3]}\n  b: *in\n"
    text += "layers:\n  - &d {type: Flatten}\n  - *d\n"
    formatted = format_text(text)
    expected = "  a: &in {shape: [3]}\n  b: *in\nlayers:\n  - &d {type: Flatten}\n  - *d\n"
    assert formatted.endswith(expected)
    assert format_text(formatted) == formatted


def test_anchors_inside_anchors_are_refused_where_they_are(tmp_path: Path) -> None:
    spec = tmp_path / "anchors.yaml"
    text = "specc: 1\nlayers:\n  - &a {type: Dense, units: 1, activation: &b relu}\n  - *a\n"
    spec.write_text(text)
    result = runner.invoke(app, ["format", str(spec)])
    assert result.exit_code == 1
    assert f"{spec}:3:44: error: specc format keeps anchors only on parts" in result.output
    assert spec.read_text() == text


def test_nested_lists_start_on_the_dash_line() -> None:
    text = "specc: 1\nx:\n  -\n    - 1\n    - 2  # second\n  - - 3\n"
    formatted = format_text(text)
    assert formatted == "specc: 1\nx:\n  - - 1\n    - 2  # second\n  - [3]\n"
    assert format_text(formatted) == formatted


def test_blank_lines_between_entries_are_kept_one_at_most() -> None:
    text = (
        "\n\n# head\n\n\nspecc: 1  # version\n\n\n\n# the layers\nlayers: [{type: Flatten}]\n\n\n"
    )
    expected = "# head\n\nspecc: 1  # version\n\n# the layers\nlayers:\n  - {type: Flatten}\n"
    assert format_text(text) == expected


def test_byte_order_mark_and_crlf() -> None:
    text = "\ufeff# bom\r\nspecc: 1\r\nlayers:\r\n  - {type: Dense, units: 2}  # two\r\n"
    expected = "# bom\nspecc: 1\nlayers:\n  - {type: Dense, units: 2}  # two\n"
    assert format_text(text) == expected
