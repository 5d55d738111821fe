"""Every spec in the README compiles, and its commands are the ones CI runs."""

from __future__ import annotations

import re
from pathlib import Path

from specc.pipeline import compile_spec
from tests.spec_helpers import ROOT

README = ROOT.joinpath("README.md").read_text()


def test_readme_specs_compile(tmp_path: Path) -> None:
    blocks = [b for b in re.findall(r"```yaml\n(.*?)```", README, re.S) if "specc: 1" in b]
    assert blocks
    for k, block in enumerate(blocks):
        path = tmp_path / f"readme_{k}.yaml"
        path.write_text(block)
        assert compile_spec(path, seed=0).graph.nodes


def test_readme_test_command_is_what_ci_runs() -> None:
    commands = re.findall(r"```bash\n(.*?)\n```", README, re.S)
    assert commands[1] == "python -m pytest"
    assert commands[1] in ROOT.joinpath(".ci/run").read_text().splitlines()


def test_readme_example_command_names_a_real_model() -> None:
    first = re.findall(r"```bash\n(.*?)\n```", README, re.S)[0]
    models = re.findall(r"models/[\w.]+\.yaml", first)
    assert models
    assert all(ROOT.joinpath(m).exists() for m in models)
