"""What an editor gets from the JSON Schema: hover text, completion, and precise problems.

Read as an editor's YAML extension reads it (jsonschema, draft-07), over specs parsed by
PyYAML: a YAML 1.1 reader, as some tools still are, so the README's examples must keep to
spellings both YAML versions read alike (``1.0e-3``, not ``1e-3``; docs/editors.md).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from typer.testing import CliRunner

from specc.activations import ACTIVATIONS
from specc.cli.app import app
from specc.initializers import INITIALIZERS
from specc.layers import LAYERS
from specc.schema import SCHEMA_PATH, render_schema
from tests.spec_helpers import ROOT

runner = CliRunner()
SCHEMA = json.loads(SCHEMA_PATH.read_text())
VALIDATOR = jsonschema.Draft7Validator(SCHEMA)
README_SPECS = [
    b
    for b in re.findall(r"```yaml\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    if "specc: 1" in b
]


def _problems(text: str) -> list[tuple[list[Any], str]]:
    errors = VALIDATOR.iter_errors(yaml.safe_load(text))
    return sorted((list(e.absolute_path), e.message) for e in errors)


def test_every_field_has_a_description() -> None:
    # The unions of tagged entries (LayerEntry, AnyInitializer, ...) leave their ``type``
    # undescribed on purpose: an editor then shows the chosen entry's own summary.
    missing = [
        f"{name}.{field}"
        for name, definition in SCHEMA["definitions"].items()
        for field, prop in definition.get("properties", {}).items()
        if not prop.get("description") and not (field == "type" and "enumDescriptions" in prop)
    ]
    missing += [f"spec.{f}" for f, p in SCHEMA["properties"].items() if not p.get("description")]
    assert missing == [], "describe these in specc/schema_docs.py (or Field(description=...))"


def test_hover_text_says_the_default() -> None:
    units = SCHEMA["definitions"]["Dense"]["properties"]
    assert units["units"]["description"] == "Dimensionality of the output space."
    assert units["use_bias"]["default"] is True
    assert units["use_bias"]["description"].endswith("Default: true.")
    assert units["kernel_initializer"]["description"].endswith('Default: "glorot_uniform".')
    assert units["type"]["description"].startswith("Dense: y = activation(x @ kernel + bias)")


def _names_branch(prop: dict[str, Any]) -> dict[str, Any]:
    branch = next(b for b in prop["anyOf"] if b.get("type") != "object" and b.get("type") != "null")
    return SCHEMA["definitions"][branch["$ref"].rsplit("/", 1)[-1]] if "$ref" in branch else branch


def _names(prop: dict[str, Any]) -> list[str]:
    return _names_branch(prop)["enum"]


def test_names_are_enums_for_completion() -> None:
    typed = SCHEMA["definitions"]["LayerEntry"]
    while "else" in typed:  # past the forms picked by a key (``shares``, ``model``)
        typed = typed["else"]
    layer_type = typed["properties"]["type"]
    # Besides the layers, a nested model written in place is a Keras model class.
    assert set(layer_type["enum"]) == set(LAYERS.names()) | {"Sequential", "Functional"}
    dense = dict(zip(layer_type["enum"], layer_type["enumDescriptions"], strict=True))["Dense"]
    assert dense.startswith("Dense: y = activation(x @ kernel + bias)")
    fields = SCHEMA["definitions"]["Dense"]["properties"]
    assert set(_names(fields["activation"])) == set(ACTIVATIONS.names())
    assert set(_names(fields["kernel_initializer"])) == set(INITIALIZERS.names())
    relu = _names_branch(fields["activation"])
    described = dict(zip(relu["enum"], relu["enumDescriptions"], strict=True))
    assert described["relu"].startswith("relu(x) = ")


@pytest.mark.parametrize(
    ("text", "problems"),
    [
        (
            "specc: 1\nlayers: [{type: Dens, units: 3, input_shape: [3]}]",
            [(["layers", 0, "type"], "'Dens' is not one of ")],
        ),
        (
            "specc: 1\nlayers: [{type: Dense, unitz: 3, input_shape: [3]}]",
            [
                (["layers", 0], "'units' is a required property"),
                (["layers", 0], "Additional properties are not allowed ('unitz' was unexpected)"),
            ],
        ),
        (
            "specc: 1\nlayers: [{type: Dense, units: 3, kernel_initializer: {type: HeUniform, "
            "sed: 1}}]",
            [(["layers", 0, "kernel_initializer"], "Additional properties are not allowed")],
        ),
        (
            "specc: 1\nlayers: [{type: Dense, units: 3}]\ncompile: {optimizer: {type: Adam, "
            "learning_rate: {type: ExponentialDecay, initial_learning_rate: 0.1, "
            "decay_step: 4, decay_rate: 0.5}}}",
            [
                (["compile", "optimizer", "learning_rate"], "'decay_steps' is a required"),
                (["compile", "optimizer", "learning_rate"], "Additional properties are not"),
            ],
        ),
        (
            "specc: 1\nlayers: [{name: a, type: Dense, units: 3}, {name: b, shares: a, input: a}]",
            [(["layers", 1], "Additional properties are not allowed ('input' was unexpected)")],
        ),
    ],
)
def test_problems_are_reported_where_they_are(
    text: str, problems: list[tuple[list[Any], str]]
) -> None:
    found = _problems(text)
    assert len(found) == len(problems), found
    for (path, message), (want_path, want_start) in zip(found, problems, strict=True):
        assert path == want_path
        assert message.startswith(want_start), message
        assert "is not valid under any of the given schemas" not in message


@pytest.mark.parametrize("text", README_SPECS, ids=lambda t: t.split("\n")[2][:30])
def test_readme_examples_validate_as_yaml_1_1(text: str) -> None:
    assert _problems(text) == []


def test_yaml_1_1_reads_a_float_without_a_dot_as_a_string() -> None:
    # Why the docs and the formatter write 1.0e-3: the schema takes numbers, not strings.
    spec = "specc: 1\nlayers: [{type: Dense, units: 3}]\ncompile:\n  optimizer:\n"
    spec += "    type: Adam\n    learning_rate: %s\n"
    assert _problems(spec % "1.0e-3") == []
    assert yaml.safe_load("x: 1e-3") == {"x": "1e-3"}
    [(path, message)] = _problems(spec % "1e-3")
    assert path == ["compile", "optimizer", "learning_rate"]
    assert message == "'1e-3' is not of type 'number', 'object'"


def test_schema_command_prints_the_checked_in_schema(tmp_path: Path) -> None:
    result = runner.invoke(app, ["schema"])
    assert result.exit_code == 0
    assert result.stdout == render_schema() == SCHEMA_PATH.read_text()
    out = tmp_path / "schema.json"
    result = runner.invoke(app, ["schema", "--out", str(out)])
    assert result.exit_code == 0
    assert out.read_text() == SCHEMA_PATH.read_text()


def test_schema_command_says_why_it_cannot_write(tmp_path: Path) -> None:
    target = tmp_path / "missing" / "schema.json"
    result = runner.invoke(app, ["schema", "--out", str(target)])
    assert result.exit_code == 2
    assert f"error: cannot write {target}: No such file or directory" in result.output
