"""The short fuzzing run: every target replays its checked-in corpus, then fuzzes briefly.

``SPECC_FUZZ_SECONDS`` is each target's fuzzing time (default 5: about a minute for the
six targets with their start-up). The inputs in ``tests/fuzz/crashes/<target>/`` still
fail; each is an expected failure here, and the fuzzing run tolerates failures with their
signatures (see docs/fuzzing.md). A new kind of failure fails the test, with its input.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.fuzz import runner
from tests.fuzz.targets import NAMES

SECONDS = float(os.environ.get("SPECC_FUZZ_SECONDS", "5"))
HAVE_ATHERIS = importlib.util.find_spec("atheris") is not None
KNOWN = [(name, path) for name in NAMES for path in runner.known_crashes(name)]


@pytest.fixture(scope="module")
def outcome(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], runner.Result]:
    """Each target's run, done once: fuzzing when atheris is installed, else only the
    replay of its known crashes."""
    done: dict[str, runner.Result] = {}

    def run(name: str) -> runner.Result:
        if name not in done:
            if HAVE_ATHERIS:
                crashes = tmp_path_factory.mktemp(f"crashes-{name}")
                done[name] = runner.fuzz(name, SECONDS, crashes=crashes)
            else:
                done[name] = runner.replay(name, runner.known_crashes(name))
        return done[name]

    return run


@pytest.mark.slow
@pytest.mark.skipif(not HAVE_ATHERIS, reason="atheris is not installed for this Python")
@pytest.mark.parametrize("name", NAMES)
def test_target_handles_every_input_cleanly(
    name: str, outcome: Callable[[str], runner.Result]
) -> None:
    result = outcome(name)
    assert result.executions > 0, f"the fuzzer did not run:\n{result.summary()}"
    new = result.new_failures
    details = "\n\n".join(f"{sig}\n{found.detail}" for sig, found in new.items())
    assert not new, f"{result.summary()}\n\n{details}"


@pytest.mark.slow
@pytest.mark.xfail(
    strict=False,
    reason="not fixed yet; once it passes, move it to tests/fuzz/corpus/<target>/",
)
@pytest.mark.parametrize(
    ("name", "path"), KNOWN, ids=[f"{name}/{path.name}" for name, path in KNOWN]
)
def test_known_crash_is_handled_cleanly(
    name: str, path: Path, outcome: Callable[[str], runner.Result]
) -> None:
    result = outcome(name)
    signature = result.replays.get(path.name, "the worker died on this input")
    assert signature is None, f"{signature}\n{result.replay_details.get(path.name, '')}"
