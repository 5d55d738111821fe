"""Fixtures and markers shared by the test modules (helpers to import live in
``tests/spec_helpers.py`` and ``tests/layer_harness.py``)."""

from __future__ import annotations

import compileall
import os
from pathlib import Path

import pytest

from tests.ort_training import HAVE_ORT_TRAINING, MARKER, PROBLEM, REQUIRE_ENV
from tests.spec_helpers import ROOT


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``ort_training`` marker; refuse to run without the training build where
    ``SPECC_REQUIRE_ORT_TRAINING`` says it is installed."""
    config.addinivalue_line(
        "markers",
        f"{MARKER}: needs onnxruntime-training (the ort-training extra); skipped, with the "
        "reason, where it is not installed (tests/ort_training.py)",
    )
    if os.environ.get(REQUIRE_ENV) == "1" and not HAVE_ORT_TRAINING:
        raise pytest.UsageError(f"{REQUIRE_ENV}=1 but {PROBLEM}")
    if not hasattr(config, "workerinput"):  # once, before any pytest-xdist worker starts
        _byte_compile_the_package()


def _byte_compile_the_package() -> None:
    """Write specc's bytecode once. The suite starts hundreds of ``python -m specc.cli``
    processes; where PYTHONDONTWRITEBYTECODE is set (as in many CI images) an editable
    install has no bytecode, and each of them would compile specc from source again."""
    for package in ("specc", "cli"):
        compileall.compile_dir(ROOT / package, quiet=1)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip the tests marked ``ort_training`` where onnxruntime-training does not import."""
    if HAVE_ORT_TRAINING:
        return
    # The first clause says what is wrong; the install recipe is in README.md.
    reason = f"needs onnxruntime-training, the ort-training extra: {str(PROBLEM).split(';')[0]}"
    skip = pytest.mark.skip(reason=reason)
    for item in items:
        if item.get_closest_marker(MARKER) is not None:
            item.add_marker(skip)


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
