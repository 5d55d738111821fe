"""specc without onnxruntime-training, as the base install has it (stock onnxruntime,
Python 3.13): every command works except the two that need the training build, which stop
with one line naming the ``ort-training`` extra, before any work.

Runs in every environment: the commands run in a child process whose imports of
``onnxruntime.training`` and torch fail, whatever is installed, and which must load
neither (onnxruntime-training's own package ``__init__`` would import torch).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.spec_helpers import ROOT

SPEC = ROOT / "models" / "digits_mlp.yaml"
DATA = ROOT / "models" / "data" / "digits.npz"

# Each command through Typer's runner in one process; the results as JSON on stdout.
CHILD = """
import importlib.abc, json, sys

def training(name):
    return name.startswith("onnxruntime.training")

class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if training(name):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, Refuse())
# No torch either, as in the base install (the ray extra brings it, and onnxruntime.tools
# imports it whenever importlib finds it); find_spec reports a None entry as absent.
sys.modules["torch"] = None
from typer.testing import CliRunner
from specc.cli.app import app

runner = CliRunner()
results = {}
for name, args in json.loads(sys.argv[1]).items():
    result = runner.invoke(app, args)
    error = result.exception
    unexpected = "" if error is None or isinstance(error, SystemExit) else repr(error)
    results[name] = [result.exit_code, result.output, unexpected]
loaded = [
    m for m, module in sys.modules.items()
    if module is not None and (training(m) or m.split(".")[0] == "torch")
]
print(json.dumps({"results": results, "loaded": loaded}))
"""


def test_commands_without_the_training_build(tmp_path: Path) -> None:
    trained, spec, data = str(tmp_path / "trained"), str(SPEC), str(DATA)
    train = ["train", spec, "--data", data, "--epochs", "1", "--quiet"]
    commands = {
        "validate": ["validate", spec],
        "build": ["build", spec, "-o", str(tmp_path / "model.onnx")],
        "train": [*train, "--out", trained],
        "export web": ["export", trained, "--target", "web", "-o", str(tmp_path / "web"), "-q"],
        "export mobile": ["export", trained, "--target", "mobile", "-o", str(tmp_path / "m"), "-q"],
        # The default training engine runs on the stock build.
        "export mobile standard training": [
            *["export", trained, "--target", "mobile", "--with-training", "--spec", spec],
            *["-o", str(tmp_path / "ms"), "-q"],
        ],
        "train ort-training": [*train, "--backend", "ort-training", "--out", str(tmp_path / "t")],
        "export mobile training": [
            *["export", spec, "--target", "mobile", "--with-training"],
            *["--training-engine", "ort-training"],
            *["-o", str(tmp_path / "mt"), "-q"],
        ],
    }
    argv = [sys.executable, "-c", CHILD, json.dumps(commands)]
    child = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert child.returncode == 0, child.stderr
    report = json.loads(child.stdout.strip().splitlines()[-1])
    results = report["results"]
    succeeding = ("validate", "build", "train", "export web", "export mobile")
    for name in (*succeeding, "export mobile standard training"):
        code, output, unexpected = results[name]
        assert code == 0, f"{name}: {output}{unexpected}"
    assert report["loaded"] == []

    # One line each (a diagnostic, exit 1; a usage error, exit 2), naming what to install.
    for name, code in (("train ort-training", 1), ("export mobile training", 2)):
        got, output, unexpected = results[name]
        assert got == code and not unexpected, f"{name}: {output}{unexpected}"
        [line] = output.strip().splitlines()
        assert "onnxruntime-training" in line and "ort-training" in line, line
        assert "onnxruntime-training-cpu==1.19.2" in line, line
        assert "Traceback" not in output
    assert "SPC505-backend" in results["train ort-training"][1]
    assert results["export mobile training"][1].startswith("error: --with-training needs")
    assert not (tmp_path / "t").exists() and not (tmp_path / "mt").exists()
