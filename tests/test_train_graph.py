"""The training graph: targets, folded heads, penalties, the training flag."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from specc.pipeline import compile_spec
from specc.train.graph import TOTAL_LOSS, build_training_graph
from tests.ort_training import HAVE_ORT_TRAINING
from tests.spec_helpers import write_spec

if HAVE_ORT_TRAINING:  # else the tests marked ort_training are skipped
    from specc.train.session import TrainingSession


def _spec(loss: object, activation: str = "softmax", dropout: float = 0.0) -> dict:
    layers = [{"name": "h", "type": "Dense", "units": 8, "input_shape": [4], "activation": "relu"}]
    if dropout:
        layers.append({"name": "drop", "type": "Dropout", "rate": dropout})
    layers.append({"name": "out", "type": "Dense", "units": 3, "activation": activation})
    return {"specc": 1, "layers": layers, "compile": {"optimizer": "sgd", "loss": loss}}


def _training(tmp_path: Path, spec: dict):
    # With the predictions as outputs, which these tests read.
    compiled = compile_spec(write_spec(tmp_path, spec), seed=0, for_training=True)
    return compiled, build_training_graph(compiled, compiled.compile, predictions=True)


def test_softmax_head_is_folded_into_crossentropy(tmp_path: Path) -> None:
    _, training = _training(tmp_path, _spec("categorical_crossentropy"))
    ops = [node.op_type for node in training.graph.nodes]
    assert "LogSoftmax" in ops
    # The loss reads the logits, not the probabilities: nothing consumes the softmax output
    # except the graph output itself.
    softmax = next(n for n in training.graph.nodes if n.op_type == "Softmax")
    consumers = [n.op_type for n in training.graph.nodes if softmax.outputs[0] in n.inputs]
    assert consumers == ["Identity"]


def test_mse_on_a_softmax_head_is_not_folded(tmp_path: Path) -> None:
    _, training = _training(tmp_path, _spec("mse"))
    assert "LogSoftmax" not in [node.op_type for node in training.graph.nodes]


@pytest.mark.ort_training
def test_folded_loss_equals_the_loss_on_probabilities(tmp_path: Path) -> None:
    _, training = _training(tmp_path, _spec("categorical_crossentropy"))
    session = TrainingSession(training)
    try:
        rng = np.random.default_rng(0)
        x = rng.normal(size=(5, 4)).astype(np.float32)
        y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 5)]
        out = session.eval_step({"input_layer": x, "out.target": y})
        probs = out["out"].astype(np.float64)
        expected = -np.mean(np.sum(y * np.log(np.clip(probs, 1e-7, 1 - 1e-7)), axis=1))
        np.testing.assert_allclose(out[TOTAL_LOSS], expected, rtol=1e-5)
    finally:
        session.close()


@pytest.mark.ort_training
def test_training_flag_switches_dropout(tmp_path: Path) -> None:
    _, training = _training(tmp_path, _spec("mse", activation="linear", dropout=0.5))
    assert training.flag == "specc.training"
    session = TrainingSession(training)
    try:
        x = np.ones((64, 4), np.float32)
        feeds = {"input_layer": x, "out.target": np.zeros((64, 3), np.float32)}
        eval_a = session.eval_step(feeds)["out"]
        eval_b = session.eval_step(feeds)["out"]
        np.testing.assert_array_equal(eval_a, eval_b)  # no dropout when evaluating
        train = session.train_step(feeds)["out"]
        session.reset_gradients()
        assert not np.allclose(train, eval_a)  # dropout when training
    finally:
        session.close()


@pytest.mark.ort_training
def test_penalties_are_part_of_the_loss(tmp_path: Path) -> None:
    spec = _spec("mse", activation="linear")
    spec["layers"][0]["kernel_regularizer"] = {"type": "L1L2", "l1": 0.01, "l2": 0.1}
    spec["layers"][0]["activity_regularizer"] = {"type": "L2", "l2": 0.05}
    compiled, training = _training(tmp_path, spec)
    session = TrainingSession(training)
    try:
        rng = np.random.default_rng(1)
        x = rng.normal(size=(6, 4)).astype(np.float32)
        y = rng.normal(size=(6, 3)).astype(np.float32)
        out = session.eval_step({"input_layer": x, "out.target": y})
        w = {k: v.astype(np.float64) for k, v in compiled.weights.items()}
        h = np.maximum(x @ w["h/kernel"] + w["h/bias"], 0)
        pred = h @ w["out/kernel"] + w["out/bias"]
        mse = np.mean((pred - y) ** 2)
        kernel = w["h/kernel"]
        # Keras divides an activity penalty by the batch size (Layer.__call__, since 3.14).
        activity = 0.05 * (h**2).sum() / len(x)
        penalty = 0.01 * np.abs(kernel).sum() + 0.1 * (kernel**2).sum() + activity
        np.testing.assert_allclose(out[TOTAL_LOSS], mse + penalty, rtol=1e-5)
    finally:
        session.close()


BN_SPEC = """
specc: 1
inputs: {x: {shape: [5]}}
layers:
  - {name: h, type: Dense, units: 4, inputs: x}
  - {name: bn, type: BatchNormalization, momentum: 0.9}
  - {name: y, type: Dense, units: 1}
compile: {optimizer: {type: SGD, learning_rate: 1.0e-12}, loss: mse}
"""


def test_batch_normalization_moving_statistics_follow_keras(tmp_path: Path) -> None:
    from specc.train.run import TrainOptions, train_spec

    rng = np.random.default_rng(0)
    x = rng.normal(2.0, 3.0, size=(64, 5)).astype(np.float32)
    np.savez(tmp_path / "d.npz", x=x, y=rng.normal(size=(64, 1)).astype(np.float32))
    (tmp_path / "s.yaml").write_text(BN_SPEC)
    compiled = compile_spec(tmp_path / "s.yaml", seed=0)
    options = TrainOptions(epochs=3, batch_size=32, shuffle=False, seed=0)
    result = train_spec(tmp_path / "s.yaml", tmp_path / "d.npz", options)
    # The kernel barely moves (lr 1e-12), so each batch's statistics are those of x @ W + b.
    h = x.astype(np.float64) @ compiled.weights["h/kernel"] + compiled.weights["h/bias"]
    mean, variance = np.zeros(4), np.ones(4)
    for _ in range(3):
        for batch in (h[:32], h[32:]):
            mean = mean * 0.9 + batch.mean(axis=0) * 0.1
            variance = variance * 0.9 + batch.var(axis=0) * 0.1  # biased, as Keras
    np.testing.assert_allclose(result.weights["bn/moving_mean"], mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(result.weights["bn/moving_variance"], variance, rtol=1e-5)
    trained = dict(result.graph.initializers)
    np.testing.assert_array_equal(trained["bn.moving_mean"], result.weights["bn/moving_mean"])


LSTM_SPEC = """
specc: 1
inputs: {x: {shape: [6, 3]}}
layers:
  - {name: rnn, type: LSTM, units: 4, inputs: [x]}
  - {name: gru, type: GRU, units: 2, inputs: [x]}
  - {name: out, type: Concatenate, inputs: [rnn, gru]}
compile: {optimizer: sgd, loss: mse}
"""


def test_recurrent_layers_train_unrolled_and_write_the_fused_model(tmp_path: Path) -> None:
    """The training graph unrolls a fixed-length LSTM/GRU; model.onnx keeps the fused ops,
    with the trained weights, and computes what the trained unrolled graph computes."""
    from specc.onnx_model import to_model_proto
    from specc.train.run import TrainOptions, prepare, train_spec, write_outputs

    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 6, 3)).astype(np.float32)
    np.savez(tmp_path / "d.npz", x=x, out=rng.normal(size=(16, 6)).astype(np.float32))
    (tmp_path / "s.yaml").write_text(LSTM_SPEC)
    compiled, training = prepare(tmp_path / "s.yaml", None, 0)
    assert not {n.op_type for n in training.graph.nodes} & {"LSTM", "GRU"}
    options = TrainOptions(epochs=2, batch_size=8, seed=0)
    result = train_spec(tmp_path / "s.yaml", tmp_path / "d.npz", options)
    assert {"LSTM", "GRU"} <= {n.op_type for n in result.graph.nodes}
    assert result.graph.parameters == result.compiled.graph.parameters
    for name in result.graph.parameters:
        key = name.replace(".", "/", 1)
        np.testing.assert_array_equal(result.graph.initializers[name], result.weights[key])
    assert not np.array_equal(result.weights["rnn/kernel"], compiled.weights["rnn/kernel"])
    write_outputs(result, tmp_path / "out")
    fused = ort.InferenceSession(str(tmp_path / "out" / "model.onnx"))
    unrolled_graph = _with_trained(result.compiled.graph, result.graph)
    unrolled = ort.InferenceSession(to_model_proto(unrolled_graph).SerializeToString())
    (got,) = fused.run(None, {"x": x})
    (want,) = unrolled.run(None, {"x": x})
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def _with_trained(graph, trained):
    from specc.train.run import _with_weights

    return _with_weights(graph, {n: trained.initializers[n] for n in trained.parameters})
