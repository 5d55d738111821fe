"""The JSON Schema in a real editor engine: yaml-language-server, run headless over LSP.

``tests/editor/lsp_check.mjs`` drives the language server behind VS Code's YAML extension
over stdio, with the schema mapped to ``*.specc.yaml`` as docs/editors.md maps it, and
reports the diagnostics it publishes and its answers to hover and completion requests;
``tests/editor/validate_yaml.mjs`` parses specs with the ``yaml`` package (YAML 1.2) and
validates them with Ajv, strict about the schema's own keywords. Both need node and
``npm ci --prefix tests/editor``; without them these skip.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from specc.schema import SCHEMA_PATH
from tests.spec_helpers import ROOT

EDITOR = ROOT / "tests" / "editor"
MODELS = sorted((ROOT / "models").glob("*.yaml"))
NODE = shutil.which("node")

pytestmark = pytest.mark.skipif(
    NODE is None or not (EDITOR / "node_modules" / "yaml-language-server").is_dir(),
    reason="needs node and `npm ci --prefix tests/editor` (yaml-language-server, yaml, ajv)",
)

BAD_TYPE = "specc: 1\nlayers:\n  - type: Dens\n    units: 3\n    input_shape: [3]\n"
BAD_KEY = "specc: 1\nlayers:\n  - type: Dense\n    unitz: 3\n    input_shape: [3]\n"
# Hover over `units`, over the `Dense` of `type: Dense`; complete an empty `type:` and an
# empty `activation:` (LSP positions count from 0).
PROBED = "specc: 1\nlayers:\n  - type: Dense\n    units: 3\n    activation: \n  - type: \n"
PROBES = {
    "units": ("hover", 3, 5),
    "type": ("hover", 2, 12),
    "layer types": ("completion", 5, 10),
    "activations": ("completion", 4, 16),
}
BAD_INITIALIZER = (
    "specc: 1\nlayers:\n  - type: Dense\n    units: 3\n    input_shape: [3]\n"
    "    kernel_initializer: {type: HeUniform, sed: 1}\n"
)


def _node(script: str, *args: str) -> Any:
    assert NODE is not None
    done = subprocess.run(
        [NODE, str(EDITOR / script), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _range(line: int, start: int, end: int) -> dict[str, Any]:
    return {"start": {"line": line, "character": start}, "end": {"line": line, "character": end}}


@pytest.fixture(scope="module")
def editor(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """What the language server said: ``diagnostics`` by spec file name, and ``probes``
    (the answer to each of ``PROBES``, by its name)."""
    folder = tmp_path_factory.mktemp("editor")
    written = {"type": BAD_TYPE, "key": BAD_KEY, "initializer": BAD_INITIALIZER, "probe": PROBED}
    for name, text in written.items():
        (folder / f"{name}.specc.yaml").write_text(text)
    probed = folder / "probe.specc.yaml"
    probes = [f"--probe={kind}:{probed}:{line}:{column}" for kind, line, column in PROBES.values()]
    specs = [*map(str, MODELS), *(str(folder / f"{name}.specc.yaml") for name in written)]
    found = _node("lsp_check.mjs", str(SCHEMA_PATH), "**/*.specc.yaml", *probes, *specs)
    answers = [answer.get("hover", answer.get("completion")) for answer in found["probes"]]
    return {
        "diagnostics": {
            Path(spec).name: problems for spec, problems in found["diagnostics"].items()
        },
        "probes": dict(zip(PROBES, answers, strict=True)),
    }


@pytest.fixture(scope="module")
def diagnostics(editor: dict[str, Any]) -> dict[str, Any]:
    return editor["diagnostics"]


@pytest.mark.parametrize("path", MODELS, ids=lambda p: p.name)
def test_models_have_no_problem_in_the_editor(diagnostics: dict[str, Any], path: Path) -> None:
    assert diagnostics[path.name] == []


def test_misspelt_layer_type_is_reported_at_the_type(diagnostics: dict[str, Any]) -> None:
    [problem] = diagnostics["type.specc.yaml"]
    column = BAD_TYPE.splitlines()[2].index("Dens")
    assert problem["range"] == _range(2, column, column + 4)
    assert problem["message"].startswith("Value is not accepted. Valid values: ")
    assert '"Dense"' in problem["message"]
    assert problem["severity"] == 1


def test_misspelt_key_is_reported_at_the_key(diagnostics: dict[str, Any]) -> None:
    problems = {p["message"]: p["range"] for p in diagnostics["key.specc.yaml"]}
    column = BAD_KEY.splitlines()[3].index("unitz")
    assert problems["Property unitz is not allowed."] == _range(3, column, column + 5)
    assert 'Missing property "units".' in problems
    assert not [m for m in problems if "any of the given schemas" in m or "oneOf" in m]


def test_misspelt_initializer_key_is_reported_at_the_key(diagnostics: dict[str, Any]) -> None:
    [problem] = diagnostics["initializer.specc.yaml"]
    assert problem["message"] == "Property sed is not allowed."
    column = BAD_INITIALIZER.splitlines()[5].index("sed")
    assert problem["range"] == _range(5, column, column + 3)


def test_hover_shows_the_field_and_the_entry(editor: dict[str, Any]) -> None:
    assert "Dimensionality of the output space." in editor["probes"]["units"]
    assert "Dense: y = activation(x @ kernel \\+ bias)" in editor["probes"]["type"]


def test_completion_offers_the_names(editor: dict[str, Any]) -> None:
    assert {"Dense", "LSTM", "Conv2D", "Bidirectional"} <= set(editor["probes"]["layer types"])
    assert {"relu", "softmax", "gelu"} <= set(editor["probes"]["activations"])


def test_models_validate_as_yaml_1_2_with_ajv(tmp_path: Path) -> None:
    bad = tmp_path / "bad.specc.yaml"
    bad.write_text(BAD_KEY)
    found = _node("validate_yaml.mjs", str(SCHEMA_PATH), *map(str, MODELS), str(bad))
    assert {Path(spec).name: problems for spec, problems in found.items() if spec != str(bad)} == {
        path.name: [] for path in MODELS
    }
    assert "/layers/0 must NOT have additional properties" in found[str(bad)]
