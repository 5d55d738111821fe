"""The generators' command line: write the file, or ``--check`` it without writing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from specc.generated_file import generator_main


def _run(path: Path, *options: str) -> int:
    return generator_main(
        "specc.example", path, lambda target: "generated\n", [str(path), *options]
    )


def test_writes_the_file_then_check_finds_it_current(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "out.txt"
    assert _run(target, "--check") == 1  # missing
    assert not target.exists()
    assert _run(target) == 0
    assert target.read_text(encoding="utf-8") == "generated\n"
    assert _run(target, "--check") == 0
    assert "is current" in capsys.readouterr().out


def test_check_reports_a_stale_file_and_leaves_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "out.txt"
    target.write_text("old\n", encoding="utf-8")
    assert _run(target, "--check") == 1
    assert target.read_text(encoding="utf-8") == "old\n"
    assert capsys.readouterr().err == f"{target} is stale: run `python -m specc.example`\n"


def test_an_unreadable_target_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def render(path: Path) -> str:
        return path.read_text(encoding="utf-8")

    assert generator_main("specc.example", tmp_path / "none", render, []) == 1
    assert capsys.readouterr().err.startswith(f"error: {tmp_path / 'none'}: ")


def test_the_checked_in_catalog_is_current_and_check_writes_nothing(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "specc.catalog", "--check"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.endswith("docs/catalog.md is current\n")
    assert list(tmp_path.iterdir()) == []
