"""The checked-in JSON Schema is current, is valid draft-07, and agrees with the validator."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from specc.schema import SCHEMA_PATH, render_schema
from specc.spec.loader import load_spec, load_text

MODELS = sorted(Path(__file__).resolve().parent.parent.joinpath("models").glob("*.yaml"))


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft7Validator:
    schema = json.loads(SCHEMA_PATH.read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def test_checked_in_schema_is_current() -> None:
    assert SCHEMA_PATH.read_text() == render_schema(), (
        "schemas/specc.schema.json is stale: run `python -m specc.schema`"
    )


def test_schema_is_draft_07() -> None:
    schema = json.loads(SCHEMA_PATH.read_text())
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    assert "$defs" not in json.dumps(schema)


@pytest.mark.parametrize("path", MODELS, ids=lambda p: p.name)
def test_examples_satisfy_schema(validator: jsonschema.Draft7Validator, path: Path) -> None:
    errors = [e.message for e in validator.iter_errors(load_spec(path).data)]
    assert errors == []


@pytest.mark.parametrize(
    "text",
    [
        "specc: 1\nlayers: [{type: Dense, units: 0, input_shape: [3]}]",
        "specc: 1\nlayers: [{type: Dense, unit: 3, input_shape: [3]}]",
        "specc: 1\nlayers: [{type: Dens, units: 3, input_shape: [3]}]",
        "specc: 1\nlayers: [{type: Dense, units: 3, activation: rleu, input_shape: [3]}]",
        "specc: 2\nlayers: [{type: Dense, units: 3, input_shape: [3]}]",
        "layers: [{type: Dense, units: 3, input_shape: [3]}]",
    ],
)
def test_schema_rejects_what_the_validator_rejects(
    validator: jsonschema.Draft7Validator, text: str
) -> None:
    assert not validator.is_valid(load_text(text).data)


def test_schema_offers_names_for_completion() -> None:
    text = json.dumps(json.loads(SCHEMA_PATH.read_text()))
    for name in ("he_uniform", "GlorotUniform", "leaky_relu", "MaxNorm", "l1_l2", "RMSprop"):
        assert f'"{name}"' in text
