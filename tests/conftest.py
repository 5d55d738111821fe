"""Fixtures shared by the test modules (helpers to import live in ``tests/spec_helpers.py``
and ``tests/layer_harness.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.spec_helpers import ROOT


@pytest.fixture
def at_repo_root(monkeypatch: pytest.MonkeyPatch) -> Path:
    """The repository root as the working directory, for paths given relative to it."""
    monkeypatch.chdir(ROOT)
    return ROOT


@pytest.fixture
def in_tmp_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``tmp_path`` as the working directory, for commands that write beside it."""
    monkeypatch.chdir(tmp_path)
    return tmp_path
