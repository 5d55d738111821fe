"""``specc evaluate`` runs the evaluation graph alone: no gradients, no optimizer, and the
numbers of the training session's own evaluation graph."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

import specc.train.step_graph as step_graph
from specc.spec.compile import losses_by_output
from specc.train.data import load_dataset
from specc.train.data_targets import targets_for
from specc.train.evaluate import evaluate_spec
from specc.train.evaluation_graph import build_evaluation_graph
from specc.train.fit import evaluate
from specc.train.run import prepare
from specc.train.standard import StandardSession

# Batch statistics, a random layer and a penalty: what inference mode changes.
SPEC = {
    "specc": 1,
    "name": "evaluated",
    "inputs": {"x": {"shape": [5]}},
    "layers": [
        {"name": "hidden", "type": "Dense", "units": 8, "activation": "relu", "inputs": "x",
         "kernel_regularizer": {"type": "L2", "l2": 0.01}},
        {"name": "norm", "type": "BatchNormalization", "inputs": "hidden"},
        {"name": "drop", "type": "Dropout", "rate": 0.5, "inputs": "norm"},
        {"name": "kind", "type": "Dense", "units": 3, "activation": "softmax", "inputs": "drop"},
    ],
    "outputs": ["kind"],
    "compile": {
        "optimizer": "adam",
        "loss": "sparse_categorical_crossentropy",
        "metrics": ["sparse_categorical_accuracy"],
    },
}  # fmt: skip


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    spec = tmp_path / "model.yaml"
    spec.write_text(yaml.safe_dump(SPEC))
    rng = np.random.default_rng(0)
    x = rng.normal(size=(21, 5)).astype(np.float32)
    data = tmp_path / "data.npz"
    np.savez(data, x=x, kind=rng.integers(0, 3, size=21))
    return spec, data


def test_evaluate_builds_no_gradient_graph(
    files: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    spec, data = files
    differentiated: list[object] = []

    def differentiate(*args: object, **options: object) -> object:
        differentiated.append(args)
        raise AssertionError("evaluation differentiated the model")

    monkeypatch.setattr(step_graph, "differentiate", differentiate)
    result = evaluate_spec(spec, data, seed=4, batch_size=8)
    assert differentiated == []
    assert set(result.values) == {"loss", "sparse_categorical_accuracy"}
    assert result.samples == 21


def test_evaluate_gives_the_numbers_of_the_training_session(files: tuple[Path, Path]) -> None:
    spec, data = files
    result = evaluate_spec(spec, data, seed=4, batch_size=8)
    # What evaluate computed before it had a session of its own: the step session's
    # evaluation graph on the same weights.
    compiled, training = prepare(spec, None, 4, fused_recurrence=True)
    assert compiled.compile is not None
    session = StandardSession(training)
    session.use_optimizer(compiled.compile.optimizer)
    outputs = dict(compiled.graph.outputs)
    targets = targets_for(losses_by_output(compiled.compile, list(outputs)), outputs)
    dataset = load_dataset(data, dict(compiled.typed.resolved.inputs), targets)
    expected = evaluate(training, session, dataset, 8, prefix="")
    assert result.values == expected


def test_the_evaluation_graph_is_the_forward_pass_in_inference_mode(
    files: tuple[Path, Path],
) -> None:
    spec, _ = files
    _, training = prepare(spec, None, 4)
    graph = build_evaluation_graph(training)
    inputs = dict(graph.inputs)
    assert training.flag is not None and training.flag not in inputs
    assert bool(graph.initializers[training.flag]) is False
    # The weights are fed, as the step graph's state is; no gradient is computed.
    assert set(training.graph.parameters) <= set(inputs)
    assert not any("grad" in node.name.lower() for node in graph.nodes)
    assert [name for name, _ in graph.outputs] == [name for name, _ in training.graph.outputs]
