"""``--format sarif`` against the official SARIF 2.1.0 schema, and the CI formats' escaping
of what a spec file can hold (its name, its keys and so the messages quoting them)."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from typer.testing import CliRunner

from specc.cli.app import app
from tests.spec_helpers import ROOT

# From the OASIS SARIF Technical Committee (github.com/oasis-tcs/sarif-spec,
# sarif-2.1/schema/sarif-schema-2.1.0.json: the 2.1.0 errata 01 schema).
SARIF_SCHEMA = ROOT / "tests" / "data" / "sarif-schema-2.1.0.json"
MLP = ROOT / "models" / "mnist_mlp.yaml"
BAD = "specc: 1\nlayers:\n  - {type: Dense, units: 4, input_shape: [3], activation: rleu}\n"
# An unknown key that tries to end the message and start a forged annotation.
HOSTILE_KEY = "x\\n::error file=forged.yaml,line=1::pwned %0A \\r\\u2028"
HOSTILE = (
    f'specc: 1\nlayers:\n  - {{type: Dense, units: 4, input_shape: [3], "{HOSTILE_KEY}": 1}}\n'
)

runner = CliRunner()


def _sarif(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *files: str) -> dict:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["validate", "--format", "sarif", *files])
    assert result.exit_code in (0, 1), result.output
    return json.loads(result.output)


def _validator() -> jsonschema.Draft4Validator:
    schema = json.loads(SARIF_SCHEMA.read_text(encoding="utf-8"))
    jsonschema.Draft4Validator.check_schema(schema)
    return jsonschema.Draft4Validator(schema, format_checker=jsonschema.FormatChecker())


def test_sarif_log_fits_the_official_schema(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "bad model.yaml").write_text(BAD)
    log = _sarif(tmp_path, monkeypatch, "specs/bad model.yaml", str(MLP))
    _validator().validate(log)
    assert log["version"] == "2.1.0"
    (run,) = log["runs"]
    driver = run["tool"]["driver"]
    assert driver["name"] == "specc"
    assert driver["version"] and driver["informationUri"].startswith("https://")
    rules = {rule["id"]: rule for rule in driver["rules"]}
    assert rules["SPC102-unknown-name"]["shortDescription"]["text"].startswith("an unknown")
    (result,) = run["results"]
    assert result["ruleId"] == "SPC102-unknown-name"
    assert driver["rules"][result["ruleIndex"]]["id"] == result["ruleId"]
    assert result["level"] == "error"
    assert result["message"]["text"] == (
        "unknown activation 'rleu'; did you mean 'relu'? (at layers[0].activation)"
    )
    location = result["locations"][0]["physicalLocation"]
    assert location["artifactLocation"] == {
        "uri": "specs/bad%20model.yaml",
        "uriBaseId": "%SRCROOT%",
    }
    assert location["region"] == {"startLine": 3, "startColumn": 59}
    assert run["originalUriBaseIds"]["%SRCROOT%"]["uri"] == tmp_path.resolve().as_uri() + "/"


def test_sarif_log_without_problems_is_valid(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = _sarif(tmp_path, monkeypatch, str(MLP))
    _validator().validate(log)
    assert log["runs"][0]["results"] == []


def test_sarif_location_outside_the_working_folder_is_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text(BAD)
    (tmp_path / "elsewhere").mkdir()
    log = _sarif(tmp_path / "elsewhere", monkeypatch, str(spec))
    _validator().validate(log)
    location = log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]
    assert location["artifactLocation"] == {"uri": spec.resolve().as_uri()}


def test_sarif_messages_from_hostile_specs_stay_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "h.yaml").write_text(HOSTILE)
    log = _sarif(tmp_path, monkeypatch, "h.yaml")
    _validator().validate(log)
    (result,) = log["runs"][0]["results"]
    text = result["message"]["text"]
    assert result["ruleId"] == "SPC103-unknown-key"
    assert not any(ch in text for ch in "\n\r\u2028")
    assert "\\n::error file=forged.yaml" in text  # shown, escaped, not acted on


def test_github_annotations_from_hostile_specs_cannot_forge_others(tmp_path: Path) -> None:
    # A file name with the characters that end a property or a command.
    spec = tmp_path / "a,b::c%d.yaml"
    spec.write_text(HOSTILE)
    result = runner.invoke(app, ["validate", "--format", "github", str(spec)])
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert len(lines) == 1  # one annotation, nothing after it
    (line,) = lines
    properties, _, message = line.removeprefix("::error ").partition("::")
    assert properties.startswith("file=")
    assert "a%2Cb%3A%3Ac%25d.yaml" in properties
    assert ",line=3,col=" in properties and "title=SPC103-unknown-key" in properties
    assert "\r" not in message
    # The key's line break is shown as an escape; its own "%0A" cannot become a line break
    # when GitHub unescapes the message.
    assert "unknown key 'x\\n::error file=forged.yaml,line=1::pwned %250A \\r\\u2028'" in message


def test_build_takes_sarif_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "bad.yaml").write_text(BAD)
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["build", "bad.yaml", "-o", "out.onnx", "--format", "sarif"])
    assert result.exit_code == 1
    log = json.loads(result.stderr if result.stderr_bytes else result.output)
    _validator().validate(log)
    assert log["runs"][0]["results"][0]["ruleId"] == "SPC102-unknown-name"
