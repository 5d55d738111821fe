"""The search file of ``specc tune``: checked against the spec before any trial runs, every
problem pinned into the search file (these need no Ray)."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from specc.cli.app import app
from specc.diagnostics import Diagnostic, SpecError
from specc.tune.plan import DEFAULT_SEED, plan_sweep
from specc.tune.space import PathError, parse_path, resolve_path, with_values
from tests.spec_helpers import ROOT

SPEC = ROOT / "models" / "digits_mlp.yaml"
DATA = ROOT / "models" / "data" / "digits.npz"


def plan(tmp_path: Path, search: str, spec: Path = SPEC, validation: Path | None = None):
    path = tmp_path / "search.yaml"
    path.write_text(search)
    return plan_sweep(spec, path, DATA, validation, tmp_path / "out", None, "standard")


def problems(tmp_path: Path, search: str, spec: Path = SPEC) -> list[Diagnostic]:
    with pytest.raises(SpecError) as caught:
        plan(tmp_path, search, spec)
    return caught.value.diagnostics


def where(diagnostic: Diagnostic) -> tuple[int, int]:
    assert diagnostic.position is not None
    return diagnostic.position.line, diagnostic.position.column


HEAD = "metric: val_accuracy\nmode: max\n"


def test_a_valid_search_file_plans_the_sweep(tmp_path: Path) -> None:
    sweep = plan(
        tmp_path,
        HEAD + "trials: 6\nspace:\n"
        "  layers[0].units: {choice: [16, 32]}\n"
        "  compile.optimizer.learning_rate: {loguniform: [1.0e-4, 1.0e-2]}\n"
        "  layers[1].rate: {grid: [0.0, 0.2]}\n"
        "scheduler: {type: ASHA, grace_period: 1}\n",
    )
    assert sweep.trials == 6
    assert sweep.epochs == 40  # ASHA's max_t by default
    assert dict(sweep.context.paths) == {
        "layers[0].units": ("layers", 0, "units"),
        "compile.optimizer.learning_rate": ("compile", "optimizer", "learning_rate"),
        "layers[1].rate": ("layers", 1, "rate"),
    }
    assert sweep.seed == 0  # the spec's train.seed
    assert sweep.context.fixed == {}


def test_a_spec_without_a_seed_gets_one(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC.read_text().replace("  seed: 0\n", ""))
    sweep = plan(tmp_path, HEAD + "space:\n  layers[0].units: {choice: [8]}\n", spec)
    assert sweep.context.fixed == {("train", "seed"): DEFAULT_SEED}


def test_an_unknown_key_is_located_with_the_nearest_one(tmp_path: Path) -> None:
    [found] = problems(tmp_path, "metrc: val_accuracy\nmetric: loss\nmode: min\nspace: {}\n")
    assert found.code == "SPC103-unknown-key"
    assert "did you mean 'metric'" in found.message
    assert where(found) == (1, 1)
    assert found.file.endswith("search.yaml")


def test_a_path_through_a_missing_key_is_located(tmp_path: Path) -> None:
    [found] = problems(tmp_path, HEAD + "space:\n  layer[0].units: {choice: [8]}\n")
    assert found.code == "SPC161-search-path"
    assert "did you mean 'layers'" in found.message
    assert where(found) == (4, 3)


def test_a_path_past_the_last_layer_is_located(tmp_path: Path) -> None:
    [found] = problems(tmp_path, HEAD + "space:\n  layers[9].units: {choice: [8]}\n")
    assert found.code == "SPC161-search-path"
    assert "layers has 4 entries" in found.message


def test_a_last_key_the_layer_does_not_take_is_found_by_the_schema(tmp_path: Path) -> None:
    [found] = problems(tmp_path, HEAD + "space:\n  layers[2].unitz: {choice: [8, 16]}\n")
    assert found.code == "SPC103-unknown-key"
    assert "did you mean 'units'" in found.message
    assert where(found) == (4, 3)  # the search file's key


def test_a_range_the_field_forbids_is_found_at_its_bound(tmp_path: Path) -> None:
    found = problems(tmp_path, HEAD + "space:\n  layers[0].units: {uniform: [-3, 2]}\n")
    assert {d.code for d in found} == {"SPC101-schema"}
    messages = " ".join(d.message for d in found)
    assert "layers[0].units = -3, the lower bound" in messages
    assert "units must be greater than 0" in messages
    assert "units" in messages
    assert where(found[0]) == (4, 31)  # the -3


def test_a_sampled_float_for_an_integer_field_is_found(tmp_path: Path) -> None:
    found = problems(tmp_path, HEAD + "space:\n  layers[0].units: {uniform: [8, 64]}\n")
    assert found
    assert all(d.code == "SPC101-schema" for d in found)
    assert "must be an integer" in found[0].message


def test_every_choice_is_checked(tmp_path: Path) -> None:
    [found] = problems(tmp_path, HEAD + "space:\n  layers[1].rate: {choice: [0.1, 1.5]}\n")
    assert "choice value 2" in found.message
    assert where(found) == (4, 34)  # the 1.5


@pytest.mark.parametrize(
    ("range_", "words"),
    [
        ("{uniform: [2.0, 1.0]}", "needs the lower bound below the upper"),
        ("{loguniform: [0, 1.0e-2]}", "loguniform needs bounds above 0"),
        ("{randint: [4, 4]}", "the upper bound is excluded"),
    ],
)
def test_bad_bounds_are_located(tmp_path: Path, range_: str, words: str) -> None:
    [found] = problems(tmp_path, HEAD + f"space:\n  compile.optimizer.learning_rate: {range_}\n")
    assert found.code == "SPC163-search-range"
    assert words in found.message
    assert where(found)[0] == 4


def test_a_range_has_one_kind(tmp_path: Path) -> None:
    [found] = problems(tmp_path, HEAD + "space:\n  layers[0].units: {choice: [8], grid: [16]}\n")
    assert "a range has one kind" in found.message


def test_grid_search_takes_lists_only(tmp_path: Path) -> None:
    [found] = problems(
        tmp_path,
        HEAD + "search: grid\nspace:\n  layers[0].units: {grid: [8, 16]}\n"
        "  compile.optimizer.learning_rate: {uniform: [1.0e-4, 1.0e-2]}\n",
    )
    assert found.code == "SPC163-search-range"
    assert where(found)[0] == 6


def test_random_search_mixes_grid_and_sampled_ranges(tmp_path: Path) -> None:
    sweep = plan(
        tmp_path,
        HEAD + "space:\n  layers[0].units: {grid: [8, 16]}\n"
        "  compile.optimizer.learning_rate: {uniform: [1.0e-4, 1.0e-2]}\n",
    )
    assert [entry.kind for entry in sweep.space.values()] == ["grid", "uniform"]


def test_a_metric_the_history_lacks_is_located(tmp_path: Path) -> None:
    [found] = problems(
        tmp_path, "metric: val_acuracy\nmode: max\nspace:\n  layers[0].units: {choice: [8]}\n"
    )
    assert found.code == "SPC164-search-metric"
    assert "did you mean 'val_accuracy'" in found.message
    assert where(found) == (1, 9)


def test_a_validation_metric_needs_validation_data(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC.read_text().replace("validation_split: 0.2", "validation_split: 0.0"))
    search = HEAD + "space:\n  layers[0].units: {choice: [8]}\n"
    [found] = problems(tmp_path, search, spec)
    assert "only with validation data" in found.message
    assert plan(tmp_path, search, spec, validation=DATA).search.metric == "val_accuracy"


def test_an_unknown_scheduler_is_named(tmp_path: Path) -> None:
    [found] = problems(
        tmp_path, HEAD + "space:\n  layers[0].units: {choice: [8]}\nscheduler: {type: ASAH}\n"
    )
    assert "did you mean 'ASHA'" in found.message


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        "metric: nope\nmode: max\nspace:\n"
        "  layers[9].units: {choice: [8]}\n"
        "  compile.optimizer.learning_rate: {uniform: [2.0, 1.0]}\n",
    )
    assert {d.code for d in found} == {
        "SPC161-search-path",
        "SPC163-search-range",
        "SPC164-search-metric",
    }


def test_paths_parse_and_resolve() -> None:
    assert parse_path("layers[2].layer.units") == ("layers", 2, "layer", "units")
    for bad in ("layers[x].units", "a..b", "", "layers.[1]"):
        with pytest.raises(PathError):
            parse_path(bad)
    data = {"layers": [{"units": 3}], "train": {"epochs": 1}}
    resolve_path(data, ("layers", 0, "use_bias"))  # a key the spec leaves out
    with pytest.raises(PathError, match="not a mapping"):
        resolve_path(data, ("layers", 0, "units", "x"))
    assert with_values(data, {("compile", "seed"): 1})["compile"] == {"seed": 1}
    assert data == {"layers": [{"units": 3}], "train": {"epochs": 1}}  # not changed


def run_cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, search: str, ray: bool, *more: str
) -> Result:
    """``specc tune`` through Typer's runner, Ray's presence as ``ray`` says (the search
    file is checked before Ray is imported, so these runs need none)."""
    real = importlib.util.find_spec
    present = object() if ray else None
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: present if name == "ray" else real(name, *a)
    )
    path = tmp_path / "search.yaml"
    path.write_text(search)
    out = tmp_path / "o"
    args = ["tune", str(SPEC), "--search", str(path), "--data", str(DATA), "--out", str(out)]
    return CliRunner().invoke(app, [*args, *more])


def test_the_cli_prints_located_problems(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    search = HEAD + "space:\n  layers[9].units: {choice: [8]}\n"
    result = run_cli(tmp_path, monkeypatch, search, True)
    assert result.exit_code == 1, result.output
    assert re.search(
        r"search\.yaml:4:3: error: .*layers has 4 entries.*\[SPC161-search-path\]", result.output
    )
    assert not (tmp_path / "o").exists()
    result = run_cli(tmp_path, monkeypatch, search, True, "--format", "json")
    [found] = json.loads(result.stdout or result.output)
    assert (found["line"], found["column"], found["path"]) == (4, 3, "space['layers[9].units']")


def test_a_fresh_sweep_needs_a_new_or_empty_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "o").mkdir()
    (tmp_path / "o" / "notes.txt").write_text("mine")
    result = run_cli(
        tmp_path, monkeypatch, HEAD + "space:\n  layers[0].units: {choice: [8]}\n", True
    )
    assert result.exit_code == 2
    assert "--resume" in result.output
    assert (tmp_path / "o" / "notes.txt").read_text() == "mine"


def test_without_ray_the_cli_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = run_cli(
        tmp_path, monkeypatch, HEAD + "space:\n  layers[0].units: {choice: [8]}\n", False
    )
    assert result.exit_code == 1
    assert 'pip install "specc[ray]"' in result.output
