"""Ray on a two-node local cluster (tests/ray_cluster.py), as on two machines: a
``specc tune`` sweep and a data-parallel ``specc train --workers 2`` run, one after the
other on the same cluster (starting the two nodes takes longer than either run).

Each command runs in a process of its own with the cluster's address, as a user runs it.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.ray_cluster import two_node_cluster
from tests.test_train_parallel import DATA, _assert_same_run, _train
from tests.test_train_parallel import SPEC as PARALLEL_SPEC
from tests.test_tune_sweep import SEARCH, read_rows, specc, sweep_files, tune_args

pytestmark = [
    pytest.mark.slow,
    pytest.mark.ray,
    pytest.mark.skipif(
        any(importlib.util.find_spec(name) is None for name in ("ray", "torch")),
        reason='needs Ray Tune and torch (the gloo collective): pip install "specc[ray]"',
    ),
]

__all__ = ["sweep_files"]  # the fixture, shared with tests/test_tune_sweep.py


def test_a_sweep_and_data_parallel_training_run_on_a_two_node_cluster(
    tmp_path: Path, sweep_files: tuple[Path, Path]
) -> None:
    data, search = sweep_files
    search.write_text(SEARCH.replace("trials: 4", "trials: 2"))
    one_process = _train(1)
    sweep, trained = tmp_path / "sweep", tmp_path / "run"
    with two_node_cluster() as (address, env):
        tuned = specc(*tune_args(data, search, sweep, "--address", address, "--quiet"), env=env)
        parallel = subprocess.run(
            [sys.executable, "-m", "specc.cli", "train", str(PARALLEL_SPEC), "--data", str(DATA),
             "--epochs", "3", "--batch-size", "50", "--validation-split", "0.2", "--seed", "0",
             "--workers", "2", "--address", address, "--out", str(trained), "--quiet"],
            capture_output=True, text=True, timeout=300, env=env,
        )  # fmt: skip

    assert tuned.returncode == 0, tuned.stderr
    assert tuned.stdout == ""
    assert "trial " not in tuned.stderr  # --quiet: no progress
    rows = read_rows(sweep)
    assert len(rows) == 2
    assert {row["status"] for row in rows} <= {"completed", "stopped early"}
    assert (sweep / "best.yaml").exists()

    # Two workers on two nodes train to one process's history and weights.
    assert parallel.returncode == 0, parallel.stderr
    history = json.loads((trained / "history.json").read_text())
    _assert_same_run(history, dict(np.load(trained / "weights.npz")), one_process)
