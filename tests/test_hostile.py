"""Every hostile case (tests/hostile/family_*.py) is handled cleanly, run in-process."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.hostile.case import problems
from tests.hostile.run import all_cases, run_in_process

CASES = all_cases()


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_hostile_input_is_handled_cleanly(case, tmp_path: Path) -> None:
    outcome = run_in_process(case, tmp_path)
    assert problems(case, outcome) == [], outcome.output
