"""The run's seed is read before the spec is compiled, so the spec is compiled once."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import specc.train.run as run
from specc.train.run_seed import run_seed, spec_seed
from tests.hostile.train_inputs import TINY_SPEC


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY_SPEC, encoding="utf-8")  # train.seed: 1
    return path


def test_prepare_compiles_a_seeded_spec_once(spec: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seeds: list[int | None] = []
    compile_spec = run.compile_spec

    def counted(path: Path, weights: object, seed: int | None, **options: object) -> object:
        seeds.append(seed)
        return compile_spec(path, weights, seed, **options)  # type: ignore[arg-type]

    monkeypatch.setattr(run, "compile_spec", counted)
    compiled, _ = run.prepare(spec, None, None)
    assert seeds == [1]
    again, _ = run.prepare(spec, None, 1)
    for name, array in compiled.weights.items():
        np.testing.assert_array_equal(array, again.weights[name])


def test_the_seed_comes_from_the_flag_the_spec_or_a_fresh_draw(spec: Path, tmp_path: Path) -> None:
    assert spec_seed(spec) == 1
    assert run_seed(spec, 7, None) == 7
    assert run_seed(spec, None, None) == 1
    unseeded = tmp_path / "unseeded.yaml"
    unseeded.write_text(TINY_SPEC.replace("  seed: 1\n", ""), encoding="utf-8")
    assert spec_seed(unseeded) is None
    drawn = {run_seed(unseeded, None, None) for _ in range(3)}
    assert all(0 <= seed < 2**32 for seed in drawn) and len(drawn) > 1
