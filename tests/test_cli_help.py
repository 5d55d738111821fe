"""``specc --help`` lists each command with its one-line summary, and each command's help
shows its paragraphs as paragraphs: no line break of the docstring's source layout."""

from __future__ import annotations

import inspect

import pytest
import typer.rich_utils
from typer.testing import CliRunner

from specc.cli.app import app
from specc.cli.base_app import unwrapped

runner = CliRunner()
COMMANDS = {command.name: command.callback for command in app.registered_commands}
# Wide enough that the terminal wraps nothing: every line break left is in the text.
WIDE = 400


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(typer.rich_utils, "MAX_WIDTH", WIDE)


def _paragraphs(name: str) -> list[str]:
    doc = inspect.getdoc(COMMANDS[name]) or ""
    return [" ".join(line.strip() for line in p.splitlines()) for p in doc.split("\n\n")]


def test_each_command_is_listed_on_one_line_with_its_summary() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    start = next(k for k, line in enumerate(lines) if "Commands" in line)
    end = next(k for k in range(start + 1, len(lines)) if lines[k].startswith("╰"))
    rows = [line.strip("│ ").split(maxsplit=1) for line in lines[start + 1 : end]]
    assert [name for name, _ in rows] == list(COMMANDS)
    for name, summary in rows:
        assert summary.rstrip() == _paragraphs(name)[0], name
        # A summary, not a page: it fits a terminal beside the command's name.
        assert len(summary.rstrip()) <= 88, name


@pytest.mark.parametrize("name", list(COMMANDS))
def test_a_command_help_keeps_no_source_line_break(name: str) -> None:
    result = runner.invoke(app, [name, "--help"])
    assert result.exit_code == 0, result.output
    shown = [line.strip() for line in result.output.splitlines()]
    for paragraph in _paragraphs(name):
        assert paragraph in shown, paragraph


def test_unwrapped_joins_the_lines_of_each_paragraph() -> None:
    text = "One\n  summary.\n\nA body\nin two lines.\n"
    assert unwrapped(text) == "One summary.\n\nA body in two lines."
