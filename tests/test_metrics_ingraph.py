"""Every metric's in-graph statistics against their NumPy reference, over uneven batches;
and fit reading metrics from the graph's statistics, not from fetched predictions.

Each case runs a metric option on batches of 5, 1, 8 and 3 samples: every batch's
statistics must equal the NumPy reference's, and the epoch's value from their totals the
value from the reference's totals, at float32 tolerance.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest

from specc.metrics import METRICS
from specc.onnx_model import to_model_proto
from specc.pipeline import compile_spec
from specc.train.graph import TOTAL_LOSS, build_training_graph
from specc.train.run import TrainOptions, train_spec
from specc.train.standard import StandardSession
from tests.metric_harness import MetricGraph, batch_arrays, reference_statistics, tensor_type
from tests.test_metrics import make_metric

SIZES = (5, 1, 8, 3)
Data = Callable[[np.random.Generator, int], tuple[np.ndarray, np.ndarray]]


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


DATA: dict[str, Data] = {
    # 0/1 labels against probabilities, three per sample.
    "binary": lambda r, n: (r.integers(0, 2, (n, 3)).astype(np.float32), r.uniform(size=(n, 3))),
    "binary1": lambda r, n: (r.integers(0, 2, (n, 1)).astype(np.float32), r.uniform(size=(n, 1))),
    "flat": lambda r, n: (r.integers(0, 2, n).astype(np.float32), r.uniform(size=n)),
    "logits": lambda r, n: (r.integers(0, 2, (n, 3)).astype(np.float32), r.normal(size=(n, 3))),
    "onehot": lambda r, n: (np.eye(4)[r.integers(0, 4, n)], _softmax(r.normal(size=(n, 4)))),
    "onehot_logits": lambda r, n: (np.eye(4)[r.integers(0, 4, n)], r.normal(size=(n, 4)) * 2),
    "sparse": lambda r, n: (r.integers(0, 4, n), _softmax(r.normal(size=(n, 4)))),
    "sparse1": lambda r, n: (r.integers(0, 4, (n, 1)), _softmax(r.normal(size=(n, 4)))),
    "sparse_logits": lambda r, n: (r.integers(0, 4, n), r.normal(size=(n, 4)) * 2),
    # (batch, steps, classes): per-step labels.
    "seq_onehot": lambda r, n: (
        np.eye(4)[r.integers(0, 4, (n, 2))],
        _softmax(r.normal(size=(n, 2, 4))),
    ),
    "seq_sparse": lambda r, n: (r.integers(0, 4, (n, 2)), _softmax(r.normal(size=(n, 2, 4)))),
    # (batch, classes, steps): classes on axis 1.
    "sparse_axis1": lambda r, n: (
        r.integers(0, 4, (n, 2)),
        _softmax(r.normal(size=(n, 2, 4))).transpose(0, 2, 1),
    ),
    "real": lambda r, n: (r.normal(size=(n, 3)), r.normal(size=(n, 3))),
    "real_rank3": lambda r, n: (r.normal(size=(n, 2, 3)), r.normal(size=(n, 2, 3))),
    "positive": lambda r, n: (r.uniform(0.1, 2, (n, 3)), r.uniform(0.1, 2, (n, 3))),
    "distribution": lambda r, n: (_softmax(r.normal(size=(n, 3))), _softmax(r.normal(size=(n, 3)))),
    "pm1": lambda r, n: (r.choice([-1.0, 1.0], (n, 3)), r.normal(size=(n, 3))),
    "labels2": lambda r, n: (r.integers(0, 2, (n, 2)).astype(np.float32), r.uniform(size=(n, 2))),
}

# (metric config, data); every metric and option.
CASES: list[tuple[Any, str]] = [
    ("accuracy", "binary1"),
    ("accuracy", "sparse"),
    ("acc", "sparse1"),
    ("accuracy", "onehot"),
    ("binary_accuracy", "binary"),
    ({"type": "BinaryAccuracy", "threshold": 0.3}, "binary"),
    ("binary_accuracy", "flat"),
    ("categorical_accuracy", "onehot"),
    ("categorical_accuracy", "seq_onehot"),
    ("sparse_categorical_accuracy", "sparse"),
    ("sparse_categorical_accuracy", "sparse1"),
    ("sparse_categorical_accuracy", "seq_sparse"),
    ({"type": "top_k_categorical_accuracy", "k": 2}, "onehot"),
    ({"type": "TopKCategoricalAccuracy", "k": 1}, "seq_onehot"),
    ({"type": "sparse_top_k_categorical_accuracy", "k": 2}, "sparse"),
    ({"type": "sparse_top_k_categorical_accuracy", "k": 3}, "sparse1"),
    ("mse", "real"),
    ("mse", "real_rank3"),
    ("mse", "flat"),
    ("mae", "real"),
    ("mape", "positive"),
    ("msle", "positive"),
    ("root_mean_squared_error", "real"),
    ("root_mean_squared_error", "real_rank3"),
    ("log_cosh_error", "real"),
    ("binary_crossentropy", "binary"),
    ({"type": "binary_crossentropy", "from_logits": True, "label_smoothing": 0.2}, "logits"),
    ("categorical_crossentropy", "onehot"),
    ({"type": "categorical_crossentropy", "from_logits": True}, "onehot_logits"),
    ({"type": "CategoricalCrossentropy", "label_smoothing": 0.1, "axis": -1}, "onehot"),
    ("sparse_categorical_crossentropy", "sparse"),
    ({"type": "sparse_categorical_crossentropy", "from_logits": True}, "sparse_logits"),
    ({"type": "sparse_categorical_crossentropy", "axis": 1}, "sparse_axis1"),
    ("kl_divergence", "distribution"),
    ("poisson", "positive"),
    ("cosine_similarity", "real"),
    ({"type": "cosine_similarity", "axis": 1}, "real_rank3"),
    ("hinge", "pm1"),
    ("squared_hinge", "pm1"),
    ("categorical_hinge", "onehot"),
    ("AUC", "binary"),
    ({"type": "AUC", "num_thresholds": 7}, "flat"),
    ({"type": "AUC", "curve": "PR"}, "binary"),
    ({"type": "AUC", "curve": "PR", "summation_method": "majoring"}, "binary"),
    ({"type": "AUC", "curve": "PRGAIN", "summation_method": "minoring"}, "binary"),
    ({"type": "AUC", "thresholds": [0.7, 0.2, 0.45]}, "binary"),
    ({"type": "AUC", "thresholds": [0.25, 0.5, 0.75]}, "binary"),
    ({"type": "AUC", "multi_label": True, "num_labels": 3}, "binary"),
    ({"type": "AUC", "multi_label": True, "label_weights": [0.2, 0.5, 0.3]}, "binary"),
    ({"type": "AUC", "label_weights": [0.2, 0.5, 0.3]}, "binary"),
    ({"type": "AUC", "from_logits": True}, "logits"),
    ("precision", "binary"),
    ({"type": "Precision", "thresholds": 0.3}, "binary"),
    ({"type": "Precision", "top_k": 2}, "binary"),
    ({"type": "Precision", "top_k": 2}, "flat"),
    ({"type": "Precision", "class_id": 1, "thresholds": 0.4}, "binary"),
    ({"type": "Precision", "top_k": 1, "class_id": 2}, "binary"),
    ("recall", "binary1"),
    ({"type": "Recall", "thresholds": 0.7}, "binary"),
    ({"type": "Recall", "top_k": 1}, "binary"),
    ({"type": "Recall", "class_id": 0}, "labels2"),
    ("f1_score", "onehot"),
    ({"type": "F1Score", "threshold": 0.5}, "binary"),
    ({"type": "F1Score", "average": "micro"}, "onehot"),
    ({"type": "F1Score", "average": "macro", "threshold": 0.3}, "binary"),
    ({"type": "F1Score", "average": "weighted"}, "binary"),
]


def _id(case: tuple[Any, str]) -> str:
    config, data = case
    if isinstance(config, str):
        return f"{config}-{data}"
    return "-".join(str(v) for v in config.values()) + f"-{data}"


def test_every_metric_has_a_case() -> None:
    covered = {type(make_metric(config)) for config, _ in CASES}
    assert covered == set(METRICS)


@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
def test_statistics_match_the_reference_over_uneven_batches(case: tuple[Any, str]) -> None:
    config, data = case
    metric = make_metric(config)
    rng = np.random.default_rng(len(_id(case)))
    batches = [batch_arrays(DATA[data](rng, n)) for n in SIZES]
    graph = MetricGraph(metric, tensor_type(batches[0][0]), tensor_type(batches[0][1]))
    got_totals: list[np.ndarray] | None = None
    want_totals: list[np.ndarray] | None = None
    for y_true, y_pred in batches:
        got = graph.statistics(y_true, y_pred)
        want = reference_statistics(graph.metric, (y_true, y_pred))
        assert [g.shape for g in got] == graph.shapes
        for g, w in zip(got, want, strict=True):
            np.testing.assert_allclose(g, np.broadcast_to(w, g.shape), rtol=2e-6, atol=1e-5)
        got_totals = (
            [np.float64(g) for g in got]
            if got_totals is None
            else [t + g for t, g in zip(got_totals, got, strict=True)]
        )
        want_totals = (
            want if want_totals is None else [t + w for t, w in zip(want_totals, want, strict=True)]
        )
    assert got_totals is not None and want_totals is not None
    np.testing.assert_allclose(
        graph.metric.result(got_totals), graph.metric.result(want_totals), rtol=1e-5, atol=1e-6
    )


# --- the training graph and fit ---------------------------------------------------------------

TWO_OUTPUTS = """
specc: 1
inputs: {x: {shape: [6]}}
layers:
  - {name: h, type: Dense, units: 8, activation: relu, inputs: x}
  - {name: score, type: Dense, units: 1, activation: sigmoid, inputs: h}
  - {name: category, type: Dense, units: 4, activation: softmax, inputs: h}
outputs: [score, category]
compile:
  optimizer: {type: Adam, learning_rate: 0.01}
  loss: {score: binary_crossentropy, category: sparse_categorical_crossentropy}
  metrics:
    score: [accuracy, {type: AUC, num_thresholds: 50}, precision]
    category:
      - acc
      - {type: sparse_top_k_categorical_accuracy, k: 2}
      - sparse_categorical_crossentropy
"""


def _two_outputs_data(path: Path, n: int, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 6)).astype(np.float32)
    score = (x[:, 0] + 0.3 * rng.normal(size=n) > 0).astype(np.float32)[:, None]
    category = np.clip(np.floor(x[:, 1] + 2), 0, 3).astype(np.int64)
    np.savez(path, x=x, score=score, category=category)
    return path


def test_the_training_graph_outputs_statistics_not_predictions(tmp_path: Path) -> None:
    spec = tmp_path / "s.yaml"
    spec.write_text(TWO_OUTPUTS)
    compiled = compile_spec(spec, seed=0, for_training=True)
    assert compiled.compile is not None
    training = build_training_graph(compiled, compiled.compile)
    names = [name for name, _ in training.graph.outputs]
    assert "score" not in names and "category" not in names
    keys = [m.key for m in training.metrics]
    assert keys == [
        "score_accuracy",
        "score_auc",
        "score_precision",
        "category_acc",
        "category_sparse_top_k_categorical_accuracy",
        "category_sparse_categorical_crossentropy",
    ]
    # accuracy resolved from the types: binary on the (batch, 1) output, sparse on the other.
    kinds = [type(m.metric).__name__ for m in training.metrics]
    assert kinds[0] == "BinaryAccuracy" and kinds[3] == "SparseCategoricalAccuracy"
    statistics = [name for m in training.metrics for name in m.statistics]
    assert names == [TOTAL_LOSS, "score_loss", "category_loss", *statistics]
    assert statistics[:2] == ["metrics/score_accuracy/0", "metrics/score_accuracy/1"]
    types = dict(training.graph.outputs)
    assert types["metrics/score_auc/0"].full_shape == (50,)
    # With the predictions (for an app that computes its metrics), no statistics.
    with_predictions = build_training_graph(compiled, compiled.compile, predictions=True)
    assert with_predictions.metrics == []
    assert [n for n, _ in with_predictions.graph.outputs][-2:] == ["score", "category"]


def test_fit_fetches_no_predictions_on_the_standard_backend(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = tmp_path / "s.yaml"
    spec.write_text(TWO_OUTPUTS)
    fetched: list[set[str]] = []
    bound: list[list[str]] = []
    step, evaluation = StandardSession.train_step, StandardSession.eval_step

    def train_step(self: StandardSession, feeds: dict) -> dict:
        assert self.graphs is not None
        bound.append([*self.graphs.step_outputs, *self.graphs.evaluation_outputs])
        out = step(self, feeds)
        fetched.append(set(out))
        return out

    def eval_step(self: StandardSession, feeds: dict) -> dict:
        out = evaluation(self, feeds)
        fetched.append(set(out))
        return out

    monkeypatch.setattr(StandardSession, "train_step", train_step)
    monkeypatch.setattr(StandardSession, "eval_step", eval_step)
    data = _two_outputs_data(tmp_path / "d.npz", 40, 0)
    options = TrainOptions(epochs=2, batch_size=16, validation_split=0.25, seed=0)
    result = train_spec(spec, data, options)
    assert fetched and bound
    for names in [*fetched, *map(set, bound)]:
        assert not {"score", "category"} & names
        assert "metrics/score_auc/0" in names
    assert len(result.history["val_category_acc"]) == 2


def test_validation_metrics_equal_the_reference_on_the_trained_model(tmp_path: Path) -> None:
    """``val_`` metrics are computed after the epoch with its final weights: the same as
    the NumPy reference over the trained model's predictions, batch by batch."""
    spec = tmp_path / "s.yaml"
    spec.write_text(TWO_OUTPUTS)
    train = _two_outputs_data(tmp_path / "t.npz", 48, 0)
    validation = _two_outputs_data(tmp_path / "v.npz", 27, 1)
    options = TrainOptions(epochs=2, batch_size=10, seed=0)
    result = train_spec(spec, train, options, validation_data=validation)
    session = ort.InferenceSession(
        to_model_proto(result.graph).SerializeToString(), providers=["CPUExecutionProvider"]
    )
    with np.load(validation) as arrays:
        x, labels = arrays["x"], {"score": arrays["score"], "category": arrays["category"]}
    score, category = session.run(["score", "category"], {"x": x})
    predictions = {"score": score, "category": category}
    compiled = compile_spec(spec, seed=0, for_training=True)
    assert compiled.compile is not None
    for m in build_training_graph(compiled, compiled.compile).metrics:
        totals = None
        for start in range(0, len(x), 10):
            part = slice(start, start + 10)
            batch = (labels[m.output][part], predictions[m.output][part])
            stats = reference_statistics(m.metric, batch)
            totals = (
                stats if totals is None else [t + s for t, s in zip(totals, stats, strict=True)]
            )
        assert totals is not None
        expected = m.metric.result(totals)
        got = result.history[f"val_{m.key}"][-1]
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6, err_msg=m.key)


EVERY_KIND = """
specc: 1
inputs: {x: {shape: [6]}}
layers:
  - {name: h, type: Dense, units: 8, activation: relu, inputs: x}
  - {name: y, type: Dense, units: 4, activation: softmax, inputs: h}
compile:
  optimizer: {type: Adam, learning_rate: 0.01}
  loss: categorical_crossentropy
  metrics:
    - accuracy
    - {type: top_k_categorical_accuracy, k: 2}
    - {type: AUC, multi_label: true}
    - {type: Precision, top_k: 1}
    - {type: Recall, class_id: 2, thresholds: 0.3}
    - f1_score
    - {type: F1Score, average: macro, threshold: 0.4}
    - mse
    - root_mean_squared_error
    - cosine_similarity
"""


@pytest.mark.ort_training
def test_both_backends_give_the_same_metrics(tmp_path: Path) -> None:
    spec = tmp_path / "s.yaml"
    spec.write_text(EVERY_KIND)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 6)).astype(np.float32)
    y = np.eye(4, dtype=np.float32)[np.clip(np.floor(x[:, 0] + 2), 0, 3).astype(np.int64)]
    np.savez(tmp_path / "d.npz", x=x, y=y)
    histories = {}
    for backend in ("standard", "ort-training"):
        options = TrainOptions(
            epochs=2, batch_size=16, seed=0, validation_split=0.2, backend=backend
        )
        histories[backend] = train_spec(spec, tmp_path / "d.npz", options).history
    standard, engine = histories["standard"], histories["ort-training"]
    assert standard.keys() == engine.keys()
    assert {"f1_score", "f1_score_1", "val_auc", "val_cosine_similarity"} <= standard.keys()
    for key, values in standard.items():
        np.testing.assert_allclose(values, engine[key], rtol=1e-4, atol=1e-6, err_msg=key)
