"""``specc tune`` end to end on Ray Tune: an embedded sweep with ASHA whose best spec trains
again to the same numbers, an interrupted sweep resumed, a failing trial, and a trial Tune
sets up on one actor and then gives to another. A sweep on a two-node local cluster is in
tests/test_ray_two_nodes.py.

Each sweep runs in a process of its own (``python -m specc.cli``), as a user runs it: Ray
keeps state in the process that starts it. The refusals that come before Ray starts run in
this process.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import math
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from specc.cli.app import app
from tests.spec_helpers import ROOT

pytestmark = [
    pytest.mark.slow,
    pytest.mark.ray,
    pytest.mark.skipif(
        importlib.util.find_spec("ray") is None,
        reason='needs Ray Tune: pip install "specc[ray]"',
    ),
]

SPEC = ROOT / "models" / "digits_mlp.yaml"
# Four trials of three epochs: rungs at epochs 1 and 2 (grace 1, factor 2) where ASHA can
# stop the later trials that fall behind the earlier ones.
SEARCH = """\
metric: val_accuracy
mode: max
trials: 4
space:
  layers[0].units: {choice: [16, 32, 64]}
  compile.optimizer.learning_rate: {loguniform: [3.0e-4, 1.0e-2]}
scheduler: {type: ASHA, grace_period: 1, reduction_factor: 2}
"""
EPOCHS = 3


def specc(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "specc.cli", *args],
        capture_output=True,
        text=True,
        timeout=300,
        **kwargs,
    )


@pytest.fixture
def sweep_files(tmp_path: Path) -> tuple[Path, Path]:
    """A small slice of the digits (quick trials) and the search file."""
    digits = np.load(ROOT / "models" / "data" / "digits.npz")
    data = tmp_path / "small.npz"
    np.savez(data, pixels=digits["pixels"][:240], digit=digits["digit"][:240])
    search = tmp_path / "search.yaml"
    search.write_text(SEARCH)
    return data, search


def tune_args(data: Path, search: Path, out: Path, *more: str, epochs: int = EPOCHS) -> list[str]:
    return [
        "tune", str(SPEC), "--search", str(search), "--data", str(data), "--out", str(out),
        "--epochs", str(epochs), *more,
    ]  # fmt: skip


def read_rows(out: Path) -> list[dict[str, str]]:
    with (out / "results.csv").open(newline="") as stream:
        return list(csv.DictReader(stream))


def history(folder: Path) -> dict[str, list[float]]:
    return json.loads((folder / "history.json").read_text())


def test_a_sweep_with_asha_writes_results_and_a_best_spec_that_trains_the_same(
    tmp_path: Path, sweep_files: tuple[Path, Path]
) -> None:
    data, search = sweep_files
    out = tmp_path / "sweep"
    run = specc(*tune_args(data, search, out))
    assert run.returncode == 0, run.stderr
    rows = read_rows(out)
    assert len(rows) == 4
    assert {row["status"] for row in rows} <= {"completed", "stopped early"}
    assert any(row["status"] == "completed" for row in rows)
    for row in rows:
        folder = out / "trials" / row["trial"]
        # Each trial is a specc train run, its sampled values written into its spec.
        assert {"spec.yaml", "model.onnx", "weights.npz", "history.json", "run.json"} <= {
            p.name for p in folder.iterdir()
        }
        spec = (folder / "spec.yaml").read_text()
        assert f"units: {row['layers[0].units']}," in spec
        assert f"learning_rate: {row['compile.optimizer.learning_rate']}" in spec
        values = history(folder)["val_accuracy"]
        # A trial stopped early keeps the epochs it trained, as many as Tune saw.
        assert len(values) == int(row["epochs"])
        assert (int(row["epochs"]) == EPOCHS) == (row["status"] == "completed")
        assert float(row["last_val_accuracy"]) == values[-1]
        assert float(row["best_val_accuracy"]) == max(values)
        record = json.loads((folder / "run.json").read_text())
        assert record["epochs_completed"] == len(values)
    # Progress: one line per trial result.
    lines = [line for line in run.stderr.splitlines() if re.search(r" epoch \d+/\d+: ", line)]
    assert len(lines) == sum(int(row["epochs"]) for row in rows)
    best = max(rows, key=lambda row: float(row["last_val_accuracy"]))
    best_spec = (out / "best.yaml").read_text()
    assert best_spec == (out / "trials" / best["trial"] / "spec.yaml").read_text()
    assert "# A small MLP for the 8x8 handwritten digits" in best_spec  # comments kept
    assert (out / "trials.png").read_bytes().startswith(b"\x89PNG")

    retrained = tmp_path / "re"
    again = specc("train", str(out / "best.yaml"), "--data", str(data), "--out", str(retrained))
    assert again.returncode == 0, again.stderr
    trained = history(retrained)["val_accuracy"]
    # Same spec, same seed, same data: the very same numbers, epoch by epoch.
    assert trained == history(out / "trials" / best["trial"])["val_accuracy"]


def test_an_interrupted_sweep_resumes_where_it_stopped(
    tmp_path: Path, sweep_files: tuple[Path, Path]
) -> None:
    data, search = sweep_files
    out = tmp_path / "sweep"
    # No scheduler: every trial runs to its end, so the trials left over are known. Three
    # trials: with a trial per CPU, on two CPUs the third begins when the first ends (in
    # its actor) and is still training when the interrupt comes (30 epochs: seconds).
    search.write_text(
        SEARCH.replace("scheduler:", "# scheduler:").replace("trials: 4", "trials: 3")
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "specc.cli", *tune_args(data, search, out, epochs=30)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        for line in process.stderr:
            if line.rstrip().endswith(" completed"):
                process.send_signal(signal.SIGINT)
                break
        _, rest = process.communicate(timeout=240)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 130, rest
    assert "--resume" in rest
    rows = read_rows(out)
    done = {row["trial"] for row in rows if row["status"] == "completed"}
    assert 1 <= len(done) < 3
    before = {trial: history(out / "trials" / trial) for trial in done}

    run = specc(*tune_args(data, search, out, "--resume", epochs=30))
    assert run.returncode == 0, run.stderr
    rows = read_rows(out)
    assert len(rows) == 3
    assert {row["status"] for row in rows} == {"completed"}
    # The trials that had finished were not run again.
    assert {trial: history(out / "trials" / trial) for trial in done} == before
    assert not any(f"trial {trial} epoch" in run.stderr for trial in done)


def test_resume_needs_a_sweep_to_continue(tmp_path: Path, sweep_files) -> None:
    data, search = sweep_files
    run = CliRunner().invoke(app, tune_args(data, search, tmp_path / "none", "--resume"))
    assert run.exit_code == 2
    assert "holds no sweep" in run.stderr


def test_a_failing_trial_is_an_error_and_the_others_go_on(
    tmp_path: Path, sweep_files: tuple[Path, Path]
) -> None:
    data, search = sweep_files
    # A learning rate this large makes the loss infinite: specc train stops that run. The
    # median rule, with a trial waiting for a CPU, would pause a trial (which cannot save
    # its state) unless told not to.
    search.write_text(
        "metric: loss\nmode: min\nsearch: grid\nspace:\n"
        "  compile.optimizer.learning_rate: {grid: [1.0e-3, 3.0e-3, 1.0e+30]}\n"
        "scheduler: {type: MedianStopping, min_samples_required: 1}\n"
    )
    out = tmp_path / "sweep"
    run = specc(*tune_args(data, search, out))
    assert run.returncode == 0, run.stderr
    rows = {row["compile.optimizer.learning_rate"]: row for row in read_rows(out)}
    assert rows["1e+30"]["status"] == "error"
    assert {rows[lr]["status"] for lr in ("0.001", "0.003")} <= {"completed", "stopped early"}
    failed = out / "trials" / rows["1e+30"]["trial"]
    assert "SPC540-non-finite-loss" in (failed / "error.txt").read_text()
    assert "learning_rate: 1.0e+30" in (failed / "spec.yaml").read_text()
    assert "1 of 3 trials failed" in run.stderr
    best = min((rows["0.001"], rows["0.003"]), key=lambda row: float(row["last_loss"]))
    assert (out / "best.yaml").read_text() == (
        out / "trials" / best["trial"] / "spec.yaml"
    ).read_text()


def _trial_on_an_actor(context: Any, config: dict[str, Any]) -> Any:
    """A trial as an actor holds it once Tune has set it up (Tune's own set-up left out:
    the trial's id is then ``default``)."""
    from specc.tune.trial import SpeccTrial

    trial = SpeccTrial.__new__(SpeccTrial)
    trial._trial_info = None
    trial.setup(config, context)
    return trial


def test_a_trial_set_up_on_an_actor_that_tune_then_stops_leaves_its_folder_alone(
    tmp_path: Path, sweep_files: tuple[Path, Path]
) -> None:
    # Tune may set up a new actor for a trial, then give the trial to an actor it kept for
    # reuse and stop the new one (TuneController._maybe_reuse_cached_actor): only the
    # actor that steps the trial may write the trial's folder.
    from ray.tune.result import DONE

    from specc.tune.plan import EPOCH, TRIALS_FOLDER, plan_sweep

    data, search = sweep_files
    out = tmp_path / "sweep"
    sweep = plan_sweep(SPEC, search, data, None, out, None, "standard", epochs=2)
    config = {"layers[0].units": 16, "compile.optimizer.learning_rate": 1.0e-3}
    folder = out / TRIALS_FOLDER / "default"
    new, kept = _trial_on_an_actor(sweep.context, config), _trial_on_an_actor(sweep.context, config)
    assert not folder.exists()  # set up: nothing written, nothing training
    assert kept.step()[EPOCH] == 1
    new.cleanup()
    last = kept.step()
    assert last[EPOCH] == 2 and last[DONE]
    kept.cleanup()
    assert json.loads((folder / "run.json").read_text())["status"] == "completed"
    assert len(history(folder)["val_accuracy"]) == 2


def test_schedulers_count_epochs() -> None:
    from ray.tune.schedulers import ASHAScheduler, MedianStoppingRule

    from specc.tune.search_file import SearchFile
    from specc.tune.sweep import scheduler

    def made(entry: dict):
        search = SearchFile.model_validate(
            {"metric": "loss", "mode": "min", "space": {"x": {"choice": [1]}}, "scheduler": entry}
        )
        return scheduler(search, 7)

    asha = made({"type": "ASHA", "grace_period": 2})
    assert isinstance(asha, ASHAScheduler)
    assert (asha._time_attr, asha._max_t) == ("training_iteration", 7)
    median = made({"type": "MedianStopping", "min_samples_required": 2})
    assert isinstance(median, MedianStoppingRule)
    assert (median._time_attr, median._min_samples_required) == ("training_iteration", 2)
    assert median._hard_stop  # stops, never pauses: a trial cannot save mid-training
    assert median._min_time_slice == math.inf


def test_an_address_where_no_cluster_listens_is_a_usage_error(
    tmp_path: Path, sweep_files: tuple[Path, Path]
) -> None:
    data, search = sweep_files
    with socket.socket() as unused:  # a port nothing listens on once closed
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    out = tmp_path / "sweep"
    run = CliRunner().invoke(app, tune_args(data, search, out, "--address", f"127.0.0.1:{port}"))
    assert run.exit_code == 2
    assert f"cannot reach the Ray cluster at 127.0.0.1:{port}" in run.stderr
    assert not out.exists()
