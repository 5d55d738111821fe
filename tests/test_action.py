"""The GitHub Action (action.yml): its shell steps run outside GitHub with
``tests.action_runner``, pip replaced by a stand-in that records what it would install."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

from tests.action_runner import run_action
from tests.spec_helpers import ROOT

ACTION = ROOT / "action.yml"
BAD = "specc: 1\nlayers:\n  - {type: Dense, units: 0, input_shape: [3]}\n"

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    # `python -m pip ...` is recorded, not run (specc is installed already); anything
    # else goes to this interpreter, whose folder also gives `specc`.
    shims = tmp_path / "shims"
    shims.mkdir()
    python = shims / "python"
    log = tmp_path / "pip.log"
    python.write_text(
        "#!/bin/sh\n"
        f'if [ "$1" = "-m" ] && [ "$2" = "pip" ]; then echo "$@" >> "{log}"; exit 0; fi\n'
        f'exec "{sys.executable}" "$@"\n'
    )
    python.chmod(0o755)
    path = os.pathsep.join([str(shims), str(Path(sys.executable).parent), os.environ["PATH"]])
    return {"PATH": path}


def _workdir(tmp_path: Path) -> Path:
    work = tmp_path / "repo"
    (work / "models" / "sub").mkdir(parents=True)
    (work / "models" / "good.specc.yaml").write_text(
        (ROOT / "models" / "mnist_mlp.yaml").read_text()
    )
    (work / "models" / "sub" / "bad.specc.yaml").write_text(BAD)
    return work


def test_action_annotates_problems_and_fails(tmp_path: Path, env: dict[str, str]) -> None:
    work = _workdir(tmp_path)
    run = run_action(ACTION, work, {"specs": "models"}, env)
    assert run.exit_code == 1
    assert [name for name, _ in run.steps] == [
        "Install specc",
        "Validate specs",
        "Fail on problems",
    ]
    assert run.outputs["validate"]["exit-code"] == "1"
    assert (
        "::error file=models/sub/bad.specc.yaml,line=3,col=26,title=SPC101-schema::"
        "units must be greater than 0; got 0 (an integer) (at layers[0].units)"
    ) in run.output.splitlines()
    # With no specc-package, the action installs itself: its own checkout.
    assert (tmp_path / "pip.log").read_text().split()[-1] == str(ROOT)


def test_action_passes_on_valid_specs_and_writes_sarif(tmp_path: Path, env: dict[str, str]) -> None:
    work = _workdir(tmp_path)
    (work / "models" / "sub" / "bad.specc.yaml").unlink()
    inputs = {"specs": "models/**/*.yaml", "sarif-file": "specc.sarif", "specc-package": "specc==9"}
    run = run_action(ACTION, work, inputs, env)
    assert run.exit_code == 0, run.output
    assert "::error" not in run.output
    assert '"results": []' in (work / "specc.sarif").read_text()
    assert (tmp_path / "pip.log").read_text().split()[-1] == "specc==9"


def test_action_reports_specs_that_match_nothing(tmp_path: Path, env: dict[str, str]) -> None:
    run = run_action(ACTION, _workdir(tmp_path), {"specs": "nothing/*.yaml"}, env)
    assert run.exit_code == 2
    assert "::error title=specc::no spec files match: nothing/*.yaml" in run.output


def test_input_values_cannot_inject_shell_code(tmp_path: Path, env: dict[str, str]) -> None:
    work = _workdir(tmp_path)
    run = run_action(ACTION, work, {"specs": "models", "format": "text; touch pwned"}, env)
    assert not (work / "pwned").exists()
    assert run.exit_code == 2  # specc refuses the format: a usage error
