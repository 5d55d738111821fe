"""The run's seed is read before the spec is compiled, from the spec loaded once: the spec
is parsed once and compiled once."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import specc.spec.loader as loader
import specc.train.run as run
from specc.cli.app import app
from specc.spec.loader import load_spec
from specc.train.run_seed import run_seed, spec_seed
from tests.hostile.train_inputs import TINY_SPEC, tiny_data


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY_SPEC, encoding="utf-8")  # train.seed: 1
    return path


def _count_parses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The files whose YAML text is parsed from now on, once per parse."""
    parsed: list[str] = []
    read_yaml = loader.read_yaml

    def counted(text: str, file: str, positions: loader.PositionMap) -> object:
        parsed.append(file)
        return read_yaml(text, file, positions)

    monkeypatch.setattr(loader, "read_yaml", counted)
    return parsed


def test_prepare_compiles_a_seeded_spec_once(spec: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seeds: list[int | None] = []
    compile_spec = run.compile_spec

    def counted(path: Path, weights: object, seed: int | None, **options: object) -> object:
        seeds.append(seed)
        return compile_spec(path, weights, seed, **options)  # type: ignore[arg-type]

    monkeypatch.setattr(run, "compile_spec", counted)
    parsed = _count_parses(monkeypatch)
    compiled, _ = run.prepare(spec, None, None)
    assert seeds == [1]
    assert parsed == [str(spec)]
    again, _ = run.prepare(spec, None, 1)
    for name, array in compiled.weights.items():
        np.testing.assert_array_equal(array, again.weights[name])


def test_specc_train_parses_the_spec_once(
    spec: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data.npz"
    data.write_bytes(tiny_data())
    parsed = _count_parses(monkeypatch)
    out = tmp_path / "trained"
    result = CliRunner().invoke(
        app, ["train", str(spec), "--data", str(data), "--out", str(out), "--quiet"]
    )
    assert result.exit_code == 0, result.output
    assert parsed == [str(spec)]
    assert (out / "model.onnx").is_file()


def test_the_seed_comes_from_the_flag_the_spec_or_a_fresh_draw(spec: Path, tmp_path: Path) -> None:
    loaded = load_spec(spec)
    assert spec_seed(loaded) == 1
    assert run_seed(loaded, 7, None) == 7
    assert run_seed(loaded, None, None) == 1
    unseeded = tmp_path / "unseeded.yaml"
    unseeded.write_text(TINY_SPEC.replace("  seed: 1\n", ""), encoding="utf-8")
    assert spec_seed(load_spec(unseeded)) is None
    drawn = {run_seed(load_spec(unseeded), None, None) for _ in range(3)}
    assert all(0 <= seed < 2**32 for seed in drawn) and len(drawn) > 1
