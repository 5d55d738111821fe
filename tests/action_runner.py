"""Run a composite GitHub Action's shell steps outside GitHub, as a runner would.

``uses:`` steps (setup-python, the SARIF upload) are skipped; every ``run:`` step runs
with ``bash --noprofile --norc -eo pipefail`` (GitHub's bash for composite steps) in a
working folder, its ``${{ ... }}`` expressions (``inputs.*``, ``github.action_path``,
``steps.<id>.outputs.*``) replaced first, ``GITHUB_OUTPUT`` read back after each step.
The run stops at the first step that fails, as GitHub's does.

    python -m tests.action_runner action.yml WORKDIR specs=models format=github
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

_EXPRESSION = re.compile(r"\$\{\{\s*([^}]*?)\s*\}\}")


@dataclass
class ActionRun:
    """What running the steps gave: each step's name and exit code, their output, and the
    outputs they set (by step id)."""

    steps: list[tuple[str, int]] = field(default_factory=list)
    output: str = ""
    outputs: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        """The action's result: the first failing step's code, else 0."""
        return next((code for _, code in self.steps if code != 0), 0)


def run_action(
    action: Path, workdir: Path, inputs: dict[str, str], env: dict[str, str] | None = None
) -> ActionRun:
    """Run ``action``'s shell steps in ``workdir`` with ``inputs`` (defaults filled in)."""
    spec = yaml.safe_load(action.read_text(encoding="utf-8"))
    values = {name: str(d.get("default", "")) for name, d in spec.get("inputs", {}).items()}
    unknown = set(inputs) - set(values)
    if unknown:
        raise ValueError(f"the action has no input {sorted(unknown)}")
    values.update(inputs)
    result = ActionRun()
    for k, step in enumerate(spec["runs"]["steps"]):
        name = step.get("name", step.get("uses", f"step {k}"))
        if "uses" in step:
            continue
        context = _Context(values, action.parent, result.outputs)
        step_env = {key: context.fill(str(value)) for key, value in step.get("env", {}).items()}
        code, output, set_outputs = _run_step(context.fill(step["run"]), workdir, step_env, env)
        result.steps.append((name, code))
        result.output += output
        if "id" in step:
            result.outputs[step["id"]] = set_outputs
        if code != 0:
            break
    return result


@dataclass
class _Context:
    inputs: dict[str, str]
    action_path: Path
    steps: dict[str, dict[str, str]]

    def fill(self, text: str) -> str:
        return _EXPRESSION.sub(lambda m: self.value(m.group(1)), text)

    def value(self, expression: str) -> str:
        parts = expression.split(".")
        if parts[0] == "inputs" and len(parts) == 2:
            return self.inputs[parts[1]]
        if parts == ["github", "action_path"]:
            return str(self.action_path)
        if parts[0] == "steps" and len(parts) == 4 and parts[2] == "outputs":
            return self.steps.get(parts[1], {}).get(parts[3], "")
        raise ValueError(f"cannot evaluate ${{{{ {expression} }}}} outside GitHub")


def _run_step(
    script: str, workdir: Path, step_env: dict[str, str], env: dict[str, str] | None
) -> tuple[int, str, dict[str, str]]:
    with tempfile.TemporaryDirectory() as scratch:
        output_file = Path(scratch, "output")
        output_file.touch()
        script_file = Path(scratch, "step.sh")
        script_file.write_text(script, encoding="utf-8")
        full_env = {**os.environ, **(env or {}), **step_env, "GITHUB_OUTPUT": str(output_file)}
        done = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script_file)],
            cwd=workdir,
            env=full_env,
            capture_output=True,
            text=True,
            check=False,
        )
        outputs = _read_outputs(output_file.read_text(encoding="utf-8"))
    return done.returncode, done.stdout + done.stderr, outputs


def _read_outputs(text: str) -> dict[str, str]:
    # name=value lines (the heredoc form name<<EOF is not used by the action).
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def main(argv: list[str]) -> int:
    """``action_runner ACTION WORKDIR [NAME=VALUE...]``: run and print the steps' output."""
    action, workdir, *assignments = argv
    inputs: dict[str, Any] = dict(a.split("=", 1) for a in assignments)
    run = run_action(Path(action).resolve(), Path(workdir), inputs)
    sys.stdout.write(run.output)
    for name, code in run.steps:
        sys.stderr.write(f"{name}: exit {code}\n")
    return run.exit_code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
