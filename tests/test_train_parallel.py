"""Data-parallel training (``specc train --workers``): the step graph cut into a gradient
and an update graph, shards summed by share equal to the fused step on the whole batch
(Dropout included), and Ray workers that train to one process's history and weights (on a
two-node cluster: tests/test_ray_two_nodes.py)."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnxruntime
import pytest

from specc.onnx_model import to_model_proto
from specc.optimizers import Adam
from specc.train.backend import EngineError
from specc.train.parallel import ParallelSession, shard_bounds
from specc.train.run import TrainOptions, TrainResult, prepare, train_spec
from specc.train.step_graph import build_step_graphs, next_name
from tests.spec_helpers import ROOT

SPEC = ROOT / "models" / "digits_mlp.yaml"
DATA = ROOT / "models" / "data" / "digits.npz"

needs_ray = pytest.mark.skipif(
    any(importlib.util.find_spec(name) is None for name in ("ray", "torch")),
    reason='needs Ray and torch (the gloo collective): pip install "specc[ray]"',
)


def test_shards_cover_the_batch_in_order_the_first_ones_longer() -> None:
    assert shard_bounds(10, 3) == [(0, 4), (4, 7), (7, 10)]
    assert shard_bounds(1, 2) == [(0, 1), (1, 1)]
    assert shard_bounds(8, 2) == [(0, 4), (4, 8)]


def _session(model: object) -> onnxruntime.InferenceSession:
    return onnxruntime.InferenceSession(
        model.SerializeToString(),
        providers=["CPUExecutionProvider"],  # type: ignore[attr-defined]
    )


def _inputs(session: onnxruntime.InferenceSession, values: dict) -> dict:
    return {i.name: values[i.name] for i in session.get_inputs()}


@pytest.mark.parametrize("rows", [32, 13])  # an uneven batch: shards of 7 and 6
def test_shards_summed_by_share_give_the_fused_step(rows: int) -> None:
    _, training = prepare(SPEC, None, 0)
    optimizer = Adam(learning_rate=0.01)
    graphs = build_step_graphs(training, optimizer, {}, split=True)
    split = graphs.split
    assert split is not None and split.row_input is not None  # digits_mlp has Dropout
    digits = np.load(DATA)
    target = training.targets["digit"][0]
    batch = {"pixels": digits["pixels"][:rows], target: digits["digit"][:rows]}
    # A later step: Dropout's masks and Adam's bias correction depend on it.
    state = {**graphs.state, "optimizer.iterations": np.array(5, np.int64)}

    fused = _session(to_model_proto(graphs.step))
    names = [o.name for o in fused.get_outputs()]
    expected = dict(zip(names, fused.run(names, _inputs(fused, {**state, **batch})), strict=True))

    gradient = _session(to_model_proto(split.gradient))
    update = _session(to_model_proto(split.update))
    passed = [*split.gradients.values(), *split.batch_statistics]
    summed = {name: 0.0 for name in passed}
    loss = 0.0
    for start, stop in shard_bounds(rows, 2):
        shard = {name: array[start:stop] for name, array in batch.items()}
        feeds = {**state, **shard, split.row_input: np.array(start, np.int64)}
        wanted = ["loss", *passed]
        out = dict(zip(wanted, gradient.run(wanted, _inputs(gradient, feeds)), strict=True))
        share = np.float32((stop - start) / rows)
        loss += out["loss"] * share
        for name in passed:
            summed[name] = summed[name] + out[name] * share
    np.testing.assert_allclose(loss, expected["loss"], rtol=1e-6)
    nexts = [next_name(name) for name in graphs.state]
    values = update.run(nexts, _inputs(update, {**state, **summed}))
    for name, value in zip(nexts, values, strict=True):
        np.testing.assert_allclose(value, expected[name], rtol=1e-5, atol=1e-7, err_msg=name)
    # The row offset matters: both shards drawing from row 0 give another step.
    feeds = {**state, **batch, split.row_input: np.array(1, np.int64)}
    moved = gradient.run(["loss"], _inputs(gradient, feeds))[0]
    assert not np.isclose(moved, expected["loss"], rtol=1e-6)


def test_the_fused_step_takes_no_row_offset() -> None:
    _, training = prepare(SPEC, None, 0)
    graphs = build_step_graphs(training, Adam(), {})
    assert graphs.split is None
    # Nor any op of it: one process pays nothing for the workers' offset.
    for graph in (graphs.step, graphs.evaluation):
        assert "specc.random_row" not in dict(graph.inputs)
        assert not any("specc.random_row" in node.inputs for node in graph.nodes)
    assert any("specc.random_row" in node.inputs for node in training.graph.nodes)


def _train(workers: int, **more: object) -> TrainResult:
    options = TrainOptions(epochs=3, batch_size=50, validation_split=0.2, seed=0, **more)
    options.workers = workers
    return train_spec(SPEC, DATA, options)


def _assert_same_run(history: dict, weights: dict, one: TrainResult) -> None:
    assert history.keys() == one.history.keys()
    for key, values in one.history.items():
        np.testing.assert_allclose(history[key], values, rtol=1e-5, err_msg=key)
    assert weights.keys() == one.weights.keys()
    for key, array in one.weights.items():
        np.testing.assert_allclose(weights[key], array, rtol=1e-5, atol=1e-7, err_msg=key)


@pytest.fixture(scope="module")
def one_process() -> TrainResult:
    """digits_mlp (Dropout included) trained in one process, 3 epochs of batches of 50
    (the last one of 33 rows: uneven shards)."""
    return _train(1)


@pytest.fixture(scope="module")
def ray_of_this_process() -> Iterator[None]:
    """An embedded Ray that this process starts, as a notebook would: the runs here use it
    and leave it running (``ray_started``), which spares each its own start of Ray."""
    import ray

    from specc.distributed.ray_start import ray_started

    with ray_started(None, cpus=2):
        yield
    assert not ray.is_initialized()


@pytest.mark.ray
@needs_ray
def test_two_ray_workers_train_as_one_process(
    ray_of_this_process: None, one_process: TrainResult
) -> None:
    import ray

    two = _train(2)
    _assert_same_run(two.history, two.weights, one_process)
    assert ray.is_initialized()  # the process's own Ray, used and left running


@pytest.mark.ray
@needs_ray
def test_a_worker_that_dies_stops_the_run_with_a_message(ray_of_this_process: None) -> None:
    import ray

    _, training = prepare(SPEC, None, 0)
    session = ParallelSession(training, 2)
    try:
        session.use_optimizer(Adam())
        ray.kill(session._actors[1])
        digits = np.load(DATA)
        target = training.targets["digit"][0]
        with pytest.raises(EngineError, match=r"worker 1 of 2 stopped.*--resume"):
            session.train_step({"pixels": digits["pixels"][:8], target: digits["digit"][:8]})
    finally:
        session.close()


def test_workers_need_the_standard_backend(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from specc.cli.app import app

    args = ["train", str(SPEC), "--data", str(DATA), "--out", str(tmp_path / "run")]
    result = CliRunner().invoke(app, [*args, "--workers", "2", "--backend", "ort-training"])
    assert result.exit_code == 2
    assert "--backend standard" in result.output or "specc[ray]" in result.output


@needs_ray
@pytest.mark.ray
@pytest.mark.slow
def test_a_data_parallel_checkpoint_resumes_in_one_process(
    tmp_path: Path, ray_of_this_process: None, one_process: TrainResult
) -> None:
    from typer.testing import CliRunner

    from specc.cli.app import app

    out = tmp_path / "run"
    args = ["train", str(SPEC), "--data", str(DATA), "--batch-size", "50", "--seed", "0"]
    args += ["--validation-split", "0.2", "--out", str(out), "--quiet"]
    first = CliRunner().invoke(app, [*args, "--epochs", "2", "--workers", "2"])
    assert first.exit_code == 0, first.output
    resumed = CliRunner().invoke(app, [*args, "--epochs", "3", "--resume", str(out)])
    assert resumed.exit_code == 0, resumed.output
    history = json.loads((out / "history.json").read_text())
    _assert_same_run(history, dict(np.load(out / "weights.npz")), one_process)
