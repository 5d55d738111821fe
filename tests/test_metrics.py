"""Every metric against Keras 3's stateful metrics.

Each value is computed twice, from the in-graph statistics run on onnxruntime and from
their NumPy reference, summed over the batches and turned into the metric's value
(``tests/metric_harness.py``); the two must agree, and both the expected value. Expected
values are the examples in Keras 3's metric docstrings and tests (``keras/src/metrics/*.py``,
``confusion_metrics_test.py``) or worked out by hand in the comments, never computed by
specc's own code. Several batches must give what Keras's ``update_state`` calls give: means
weigh samples, not batches; RMSE is the root of the epoch's mean; confusion counts add up.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from pydantic import TypeAdapter

from specc.graph import GraphBuilder
from specc.losses import LOSSES
from specc.metrics import (
    METRICS,
    LossMetric,
    Metric,
    MetricField,
    MetricInputs,
    MetricValue,
    Totals,
)
from specc.types import TensorType
from tests.metric_harness import graph_result, reference_result

_METRIC = TypeAdapter(MetricField)


def make_metric(value: Any) -> Metric:
    """A metric as a spec gives it: a name or a mapping with ``type``."""
    return _METRIC.validate_python(value)


def both_results(metric: Any, *batches: tuple[Any, Any]) -> MetricValue:
    """The metric's value over ``batches`` from its in-graph statistics, checked against
    the value from the NumPy reference statistics (float32 tolerance)."""
    model = make_metric(metric)
    got = graph_result(model, batches)
    expected = reference_result(model, batches)
    np.testing.assert_allclose(got, expected, rtol=2e-6, atol=1e-6)
    return got


def result(metric: Any, *batches: tuple[Any, Any]) -> float:
    """The metric's value over ``batches``, one number."""
    value = both_results(metric, *batches)
    assert isinstance(value, float)
    return value


T2 = [[0, 1], [0, 0]]
P2 = [[0.6, 0.4], [0.4, 0.6]]
ONES = [[1, 1], [0, 0]]
CCE_TRUE, CCE_PRED = [[0, 1, 0], [0, 0, 1]], [[0.05, 0.95, 0], [0.1, 0.8, 0.1]]
TOPK_TRUE, TOPK_PRED = [[0, 0, 1], [0, 1, 0]], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]]

F1_TRUE, F1_PRED = [[0, 0, 1], [1, 1, 0], [1, 1, 1]], [[0.7, 0.7, 0.7], [1, 0, 0], [0.9, 0.8, 0]]

# (metric, y_true, y_pred, Keras's documented result, tolerance of the quoted digits)
KERAS_EXAMPLES: list[tuple[Any, Any, Any, float, float]] = [
    ("binary_accuracy", [[1], [1], [0], [0]], [[0.98], [1], [0], [0.6]], 0.75, 0),
    ("categorical_accuracy", [[0, 0, 1], [0, 1, 0]], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]], 0.5, 0),
    ("sparse_categorical_accuracy", [[2], [1]], [[0.1, 0.6, 0.3], [0.05, 0.95, 0]], 0.5, 0),
    ({"type": "top_k_categorical_accuracy", "k": 1}, TOPK_TRUE, TOPK_PRED, 0.5, 0),
    ({"type": "sparse_top_k_categorical_accuracy", "k": 1}, [2, 1], TOPK_PRED, 0.5, 0),
    ("mse", T2, ONES, 0.25, 1e-7),
    ("mae", T2, ONES, 0.25, 1e-7),
    ("mape", T2, ONES, 250000000.0, 10.0),
    ("msle", T2, ONES, 0.12011322, 1e-7),
    ("root_mean_squared_error", T2, ONES, 0.5, 1e-7),
    ("log_cosh_error", T2, ONES, 0.10844523, 1e-7),
    ("binary_crossentropy", T2, P2, 0.81492424, 1e-7),
    ("categorical_crossentropy", CCE_TRUE, CCE_PRED, 1.1769392, 1e-6),
    ("sparse_categorical_crossentropy", [1, 2], CCE_PRED, 1.1769392, 1e-6),
    ("kl_divergence", T2, P2, 0.45814306, 1e-7),
    ("poisson", T2, ONES, 0.49999997, 1e-7),
    ({"type": "cosine_similarity", "axis": 1}, [[0.0, 1], [1, 1]], [[1.0, 0], [1, 1]], 0.5, 1e-7),
    ("hinge", T2, P2, 1.3, 1e-6),
    ("squared_hinge", T2, P2, 1.86, 1e-6),
    ("categorical_hinge", T2, P2, 1.4000001, 1e-6),
    ({"type": "AUC", "num_thresholds": 3}, [0, 0, 1, 1], [0, 0.5, 0.3, 0.9], 0.75, 1e-6),
    ("precision", [0, 1, 1, 1], [1, 0, 1, 1], 0.6666667, 1e-7),
    ({"type": "Precision", "top_k": 2}, [0, 0, 1, 1], [1, 1, 1, 1], 0.0, 0),
    ({"type": "Precision", "top_k": 4}, [0, 0, 1, 1], [1, 1, 1, 1], 0.5, 0),
    ("recall", [0, 1, 1, 1], [1, 0, 1, 1], 0.6666667, 1e-7),
    # f_score_metrics_test.py test_fbeta_random_score, beta 1.
    ({"type": "F1Score", "average": "micro", "threshold": 0.66}, F1_TRUE, F1_PRED, 0.6666667, 1e-6),
]


def _id(entry: tuple[Any, ...]) -> str:
    config = entry[0]
    return config if isinstance(config, str) else "-".join(str(v) for v in config.values())


def test_every_metric_has_an_example() -> None:
    covered = {type(make_metric(entry[0])) for entry in KERAS_EXAMPLES}
    assert covered | {METRICS.get("accuracy")} == set(METRICS)


@pytest.mark.parametrize("entry", KERAS_EXAMPLES, ids=[_id(e) for e in KERAS_EXAMPLES])
def test_keras_documented_results(entry: tuple[Any, Any, Any, float, float]) -> None:
    metric, y_true, y_pred, expected, tolerance = entry
    assert result(metric, (y_true, y_pred)) == pytest.approx(expected, rel=1e-6, abs=tolerance)


def test_no_batches_give_zero() -> None:
    for model in METRICS:
        assert Totals(model(type=METRICS.canonical_name(model))).result() == 0.0


@pytest.mark.parametrize("entry", KERAS_EXAMPLES, ids=[_id(e) for e in KERAS_EXAMPLES])
def test_all_zero_totals_give_zero(entry: tuple[Any, Any, Any, float, float]) -> None:
    # Keras's divide_no_nan: a value read when every count is 0 is 0, never NaN.
    metric = make_metric(entry[0])
    batch = metric.reference_statistics(np.asarray(entry[1]), np.asarray(entry[2], np.float32))
    value = metric.result([np.zeros_like(s) for s in batch])
    assert np.all(np.asarray(value) == 0.0), value


# --- several batches ---------------------------------------------------------------------


def test_means_weigh_samples_not_batches() -> None:
    # Per-sample squared errors 1, 1 | 4: Keras's Mean gives 6/3, not (1 + 4)/2.
    batches = ([[0.0], [0.0]], [[1.0], [-1.0]]), ([[0.0]], [[2.0]])
    assert result("mse", *batches) == pytest.approx(2.0)
    # RMSE is the root of the epoch's mean, not the mean of the batch roots.
    assert result("root_mean_squared_error", *batches) == pytest.approx(np.sqrt(2.0))


def test_per_sample_means_cover_every_axis_but_the_batch() -> None:
    # Two samples of shape (2, 2): sample means 1/4 and 0, then the mean over samples.
    y_true = np.zeros((2, 2, 2))
    y_pred = np.zeros((2, 2, 2))
    y_pred[0, 0, 0] = 1.0
    assert result("mae", (y_true, y_pred)) == pytest.approx(0.125)
    assert result("binary_accuracy", (y_true, y_pred)) == pytest.approx(7 / 8)


def test_a_rank_one_output_counts_each_batch_once() -> None:
    # Keras's mean over axis -1 of a (batch,) output is one number per batch, which its
    # Mean then counts as one sample: batches of 2 and 1 weigh the same.
    batches = ([0.0, 0.0], [1.0, 1.0]), ([0.0], [3.0])
    assert result("mse", *batches) == pytest.approx((1.0 + 9.0) / 2)


def test_accuracies_over_batches() -> None:
    first = ([[1], [0]], [[0.7], [0.2]])  # both right
    second = ([[1], [1], [0]], [[0.4], [0.9], [0.51]])  # one right of three
    assert result("binary_accuracy", first, second) == pytest.approx(3 / 5)
    # At 0.3, 0.4 counts as 1 (right) and 0.51 still wrongly as 1: 4 of 5.
    at_03 = {"type": "binary_accuracy", "threshold": 0.3}
    assert result(at_03, first, second) == pytest.approx(4 / 5)
    # At 0.95 everything is 0: right for the two zeros only.
    at_095 = {"type": "binary_accuracy", "threshold": 0.95}
    assert result(at_095, first, second) == pytest.approx(2 / 5)
    sparse = ([2, 0], [[0.1, 0.2, 0.7], [0.3, 0.6, 0.1]]), ([1], [[0.2, 0.5, 0.3]])
    assert result("sparse_categorical_accuracy", *sparse) == pytest.approx(2 / 3)


def test_accuracy_picks_keras_accuracy_by_shapes() -> None:
    binary = ([[1], [0]], [[0.8], [0.6]])
    assert result("accuracy", binary) == pytest.approx(0.5)
    sparse = ([1, 2], [[0.1, 0.8, 0.1], [0.6, 0.3, 0.1]])
    assert result("acc", sparse) == pytest.approx(0.5)
    categorical = ([[0, 1, 0], [0, 0, 1]], [[0.1, 0.8, 0.1], [0.2, 0.3, 0.5]])
    assert result("accuracy", categorical) == pytest.approx(1.0)
    # Two classes are categorical (argmax), not binary (threshold 0.5): these differ.
    assert result("accuracy", ([[1, 0]], [[0.4, 0.3]])) == 1.0
    assert result("binary_accuracy", ([[1, 0]], [[0.4, 0.3]])) == 0.5
    assert result("accuracy", ([[0, 1]], [[0.4, 0.3]])) == 0.0


def test_top_k_counts_ties_as_in() -> None:
    # in_top_k: fewer than k predictions strictly above the label's.
    assert (
        result({"type": "sparse_top_k_categorical_accuracy", "k": 1}, ([1], [[0.5, 0.5, 0]])) == 1
    )
    assert (
        result({"type": "sparse_top_k_categorical_accuracy", "k": 2}, ([2], [[0.5, 0.4, 0.1]])) == 0
    )
    # Rank-3 outputs are flattened to (samples, classes).
    y_true = [[[0, 1], [1, 0]], [[1, 0], [1, 0]]]
    y_pred = [[[0.3, 0.7], [0.6, 0.4]], [[0.2, 0.8], [0.9, 0.1]]]
    assert result({"type": "top_k_categorical_accuracy", "k": 1}, (y_true, y_pred)) == 0.75


def test_loss_metrics_equal_their_loss_on_one_batch() -> None:
    """A mean metric over one (batch, n) batch is its loss with the default reduction
    (float32 in the graph)."""
    rng = np.random.default_rng(0)
    y_true = rng.uniform(0.1, 0.9, size=(5, 3))
    y_pred = rng.uniform(0.1, 0.9, size=(5, 3)).astype(np.float32)
    pairs = [(n, n) for n in ("mse", "mae", "mape", "msle", "bce", "poisson", "hinge")]
    pairs += [("log_cosh", "log_cosh_error"), ("kld", "kl_divergence")]
    for name, metric in pairs:
        loss = LOSSES.get(name)(type=name)
        expected = loss.reference(y_pred, y_true)
        assert result(metric, (y_true, y_pred)) == pytest.approx(expected, rel=1e-6), name


def test_crossentropy_metric_options() -> None:
    logits = np.array([[2.0, -1.0, 0.5]])
    y_true = np.array([[0.0, 0.0, 1.0]])
    log_softmax = logits - np.log(np.sum(np.exp(logits)))
    config = {"type": "categorical_crossentropy", "from_logits": True}
    assert result(config, (y_true, logits)) == pytest.approx(-log_softmax[0, 2], rel=1e-6)
    smoothed = y_true * 0.7 + 0.1  # label_smoothing 0.3 over 3 classes
    config = {"type": "categorical_crossentropy", "from_logits": True, "label_smoothing": 0.3}
    assert result(config, (y_true, logits)) == pytest.approx(
        -np.sum(smoothed * log_softmax), rel=1e-6
    )
    # Sparse labels against classes on axis 1 of a (batch, classes, steps) output.
    y_pred = np.array([[[0.2, 0.5], [0.8, 0.5]]])
    config = {"type": "sparse_categorical_crossentropy", "axis": 1}
    assert result(config, ([[1, 0]], y_pred)) == pytest.approx(-(np.log(0.8) + np.log(0.5)) / 2)
    config = {"type": "binary_crossentropy", "from_logits": True, "label_smoothing": 1.0}
    # Labels all smoothed to 0.5: per element log(1 + e^x) - x/2 = log(2 cosh(x/2)).
    x = np.array([[1.0, -3.0]])
    expected = np.mean(np.log(2 * np.cosh(x / 2)))
    assert result(config, ([[0.0, 1.0]], x)) == pytest.approx(expected, rel=1e-6)


# --- precision, recall, AUC --------------------------------------------------------------


def test_precision_and_recall_with_thresholds_and_class_id() -> None:
    y_true = [[0, 1], [1, 0], [1, 1]]
    y_pred = [[0.2, 0.7], [0.6, 0.4], [0.3, 0.9]]
    # Flattened at 0.5: predicted 0.7, 0.6, 0.9, all true -> precision 1; recall 3/4.
    assert result("precision", (y_true, y_pred)) == 1.0
    assert result("recall", (y_true, y_pred)) == 0.75
    # Class 1 at 0.8: only 0.9 is predicted; of the two true, one found.
    config = {"type": "Recall", "class_id": 1, "thresholds": 0.8}
    assert result(config, (y_true, y_pred)) == 0.5
    assert result({**config, "type": "Precision"}, (y_true, y_pred)) == 1.0
    # top_k=1 per row keeps 0.7, 0.6, 0.9 (all true): recall 3 of 4.
    assert result({"type": "Recall", "top_k": 1}, (y_true, y_pred)) == 0.75
    # Counts add up over batches.
    split = (y_true[:1], y_pred[:1]), (y_true[1:], y_pred[1:])
    assert result("recall", *split) == 0.75


ROC_TRUE, ROC_PRED = [0, 0, 1, 1], [0, 0.5, 0.3, 0.9]
# Keras's MultiAUCTest data: two labels, four samples.
MULTI_PRED = np.array([[0, 0.5, 0.3, 0.9], [0.1, 0.2, 0.3, 0.4]]).T
MULTI_GOOD = np.array([[0, 0, 1, 1], [0, 0, 1, 1]]).T


@pytest.mark.parametrize(
    ("config", "y_true", "y_pred", "expected"),
    [
        # At thresholds [-1e-7, 0.5, 1+1e-7]: tp [2,1,0], fp [2,0,0], fn [0,1,2], tn [0,2,2].
        # ROC majoring: heights max(recall) [1, 0.5] over fp-rate widths [1, 0].
        ({"summation_method": "majoring"}, ROC_TRUE, ROC_PRED, 1.0),
        ({"summation_method": "minoring"}, ROC_TRUE, ROC_PRED, 0.5),
        # PR majoring: precision [0.5, 1, 0] over recall widths [0.5, 0.5].
        ({"curve": "PR", "summation_method": "majoring"}, ROC_TRUE, ROC_PRED, 1.0),
        ({"curve": "PR", "summation_method": "minoring"}, ROC_TRUE, ROC_PRED, 0.25),
        # PR interpolation (Davis & Goadrich): P = [4, 1, 0], slopes [1/3, 1], intercepts
        # [2/3, 0]; (1/3 * (1 + 2/3 * log 4) + 1 * 1) / 2.
        ({"curve": "PR"}, ROC_TRUE, ROC_PRED, (1 / 3 * (1 + 2 / 3 * np.log(4)) + 1) / 2),
        # PR gain: recall gain [1, 0, 0], precision gain [0, 1, 1]: 1 * (0 + 1) / 2.
        ({"curve": "PRGAIN"}, ROC_TRUE, ROC_PRED, 0.5),
        # Keras's MultiAUCTest, five thresholds.
        ({"num_thresholds": 5, "multi_label": True}, MULTI_GOOD, MULTI_PRED, (0.875 + 1) / 2),
        ({"num_thresholds": 5}, MULTI_GOOD, MULTI_PRED, 1 - 3 / 32),
        (
            {"num_thresholds": 5, "multi_label": True, "label_weights": [0.75, 0.25]},
            MULTI_GOOD,
            MULTI_PRED,
            0.875 * 0.75 + 1.0 * 0.25,
        ),
        (
            {"num_thresholds": 5, "label_weights": [0.75, 0.25]},
            MULTI_GOOD,
            MULTI_PRED,
            1 - (1 - 0.375) * 0.375 / 2,
        ),
        ({"thresholds": [0.5], "multi_label": True}, MULTI_GOOD, MULTI_PRED, (0.75 + 0.5) / 2),
        # Uneven thresholds [-1e-7, 0.3, 0.5, 1+1e-7] (y_pred > t, 0.3 is not above 0.3):
        # recall [1, .5, .5, 0], precision [.5, .5, 1, 0]; majoring: .5*.5 + 0 + 1*.5.
        (
            {"thresholds": [0.5, 0.3], "curve": "PR", "summation_method": "majoring"},
            ROC_TRUE,
            ROC_PRED,
            0.75,
        ),
        ({}, MULTI_GOOD, MULTI_GOOD, 1.0),
    ],
)
def test_auc(config: dict[str, Any], y_true: Any, y_pred: Any, expected: float) -> None:
    config = {"type": "AUC", "num_thresholds": 3, **config}
    assert result(config, (y_true, y_pred)) == pytest.approx(expected, abs=1e-6)


def test_auc_from_logits_and_over_batches() -> None:
    logits = -np.log(1.0 / (np.array(ROC_PRED) + 1e-12) - 1.0)
    config = {"type": "AUC", "num_thresholds": 3, "from_logits": True}
    assert result(config, (ROC_TRUE, logits)) == pytest.approx(0.75, abs=1e-6)
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 2, size=(40, 3))
    y_pred = rng.uniform(size=(40, 3))
    for extra in ({}, {"curve": "PR"}, {"multi_label": True}, {"thresholds": [0.2, 0.7]}):
        config = {"type": "AUC", **extra}
        whole = result(config, (y_true, y_pred))
        parts = result(config, (y_true[:15], y_pred[:15]), (y_true[15:], y_pred[15:]))
        assert parts == pytest.approx(whole, abs=1e-12), extra


def test_auc_against_the_exact_roc_auc() -> None:
    # With 1000 thresholds the Riemann sum is close to the rank statistic.
    rng = np.random.default_rng(1)
    y_true = rng.integers(0, 2, size=500)
    y_pred = np.clip(y_true * 0.2 + rng.uniform(size=500) * 0.8, 0, 1)
    positives, negatives = y_pred[y_true == 1], y_pred[y_true == 0]
    exact = np.mean(positives[:, None] > negatives[None, :])
    got = result({"type": "AUC", "num_thresholds": 1000}, (y_true, y_pred))
    assert got == pytest.approx(exact, abs=2e-3)


def test_auc_multi_label_needs_rank_two() -> None:
    # check_compile_types refuses it first; the lowering refuses it too.
    auc = make_metric({"type": "AUC", "multi_label": True})
    b = GraphBuilder("auc")
    tensor = TensorType("float32", (2, 2))
    y_true, y_pred = b.input("t", tensor), b.input("p", tensor)
    with pytest.raises(ValueError, match=r"shape \(batch, labels\)"):
        auc.lower(b, MetricInputs(y_true, y_pred, tensor, tensor))


# --- where the metrics come from ---------------------------------------------------------


def test_loss_metrics_are_built_from_their_loss() -> None:
    """Keras's MeanMetricWrapper metrics around a loss function wrap specc's loss class."""
    wrapped = {
        METRICS.canonical_name(m): LOSSES.canonical_name(m.wraps)
        for m in METRICS
        if issubclass(m, LossMetric)
    }
    same = ["MeanSquaredError", "MeanAbsoluteError", "MeanAbsolutePercentageError"]
    same += ["MeanSquaredLogarithmicError", "BinaryCrossentropy", "CategoricalCrossentropy"]
    same += ["SparseCategoricalCrossentropy", "KLDivergence", "Poisson", "CosineSimilarity"]
    same += ["Hinge", "SquaredHinge", "CategoricalHinge"]
    assert wrapped == {"LogCoshError": "LogCosh", **{name: name for name in same}}
    # A wrapped metric's arguments are its loss's (less reduction), bar the function-only
    # axis of the sparse cross-entropy.
    for model in METRICS:
        if issubclass(model, LossMetric):
            extra = set(model.model_fields) - set(model.wraps.model_fields) - {"name"}
            assert extra <= {"axis"} and (
                "axis" not in extra or model.wraps.__name__.startswith("Sparse")
            )


# --- F1Score ---------------------------------------------------------------------------

# Keras 3.15.1 f_score_metrics_test.py, beta 1: test_fbeta_random_score (threshold 0.66)
# and test_fbeta_random_score_none (no threshold: the row's largest counts).
ARGMAX_TRUE = [[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 0, 0], [1, 0, 0], [0, 0, 1]]
ARGMAX_PRED = [[0.9, 0.1, 0], [0.2, 0.6, 0.2], [0, 0, 1], [0.4, 0.3, 0.3], [0, 0.9, 0.1], [0, 0, 1]]
F1_KERAS = [
    (None, 0.66, F1_TRUE, F1_PRED, [0.8, 0.5, 0.6666667]),
    ("micro", 0.66, F1_TRUE, F1_PRED, 0.6666667),
    ("macro", 0.66, F1_TRUE, F1_PRED, 0.6555555),
    ("weighted", 0.66, F1_TRUE, F1_PRED, 0.6555555),
    (None, None, ARGMAX_TRUE, ARGMAX_PRED, [0.8, 0.6666667, 1.0]),
    ("micro", None, ARGMAX_TRUE, ARGMAX_PRED, 0.833334),
    ("macro", None, ARGMAX_TRUE, ARGMAX_PRED, 0.822222),
    ("weighted", None, ARGMAX_TRUE, ARGMAX_PRED, 0.844445),
    # The F1Score docstring.
    (
        None,
        0.5,
        [[1, 1, 1], [1, 0, 0], [1, 1, 0]],
        [[0.2, 0.6, 0.7], [0.2, 0.6, 0.6], [0.6, 0.8, 0.0]],
        [0.5, 0.8, 0.6666667],
    ),
]


def f1_result(config: dict[str, Any], *batches: tuple[Any, Any]) -> Any:
    return both_results({"type": "F1Score", **config}, *batches)


@pytest.mark.parametrize(("average", "threshold", "y_true", "y_pred", "expected"), F1_KERAS)
def test_f1_score_keras_results(
    average: str | None, threshold: float | None, y_true: Any, y_pred: Any, expected: Any
) -> None:
    got = f1_result({"average": average, "threshold": threshold}, (y_true, y_pred))
    # Without ``average``, one score per class: a list of floats.
    assert isinstance(got, list if average is None else float)
    np.testing.assert_allclose(got, expected, atol=1e-6)


def _f1_reference(
    y_true: np.ndarray, y_pred: np.ndarray, average: str | None, threshold: float | None
) -> Any:
    """F1 by its definition over the whole data at once (0 where a ratio is 0/0)."""
    if threshold is None:
        predicted = (y_pred == y_pred.max(axis=1, keepdims=True)) & (y_pred != 0)
    else:
        predicted = y_pred > threshold
    true = y_true == 1
    if average == "micro":
        predicted, true = predicted.reshape(-1, 1), true.reshape(-1, 1)
    tp = np.sum(predicted & true, axis=0)
    precision = np.divide(
        tp, predicted.sum(axis=0), out=np.zeros(tp.shape), where=predicted.sum(axis=0) > 0
    )
    recall = np.divide(tp, true.sum(axis=0), out=np.zeros(tp.shape), where=true.sum(axis=0) > 0)
    total = precision + recall
    f1 = np.divide(2 * precision * recall, total, out=np.zeros(tp.shape), where=total > 0)
    if average is None:
        return list(f1)
    if average == "weighted":
        return float(np.sum(f1 * true.sum(axis=0)) / true.sum())
    return float(np.mean(f1))


@pytest.mark.parametrize("threshold", [None, 0.5])
@pytest.mark.parametrize("average", [None, "micro", "macro", "weighted"])
def test_f1_score_over_batches_matches_the_whole_data(
    average: str | None, threshold: float | None
) -> None:
    rng = np.random.default_rng(7)
    y_true = (rng.uniform(size=(40, 4)) < 0.4).astype(np.float32)
    y_pred = rng.uniform(size=(40, 4)).astype(np.float32)
    y_pred[3] = 0.0  # an all-zero row: no class predicted without a threshold
    y_pred[5, :2] = y_pred[5].max()  # a tie: both count
    batches = [(y_true[a:b], y_pred[a:b]) for a, b in ((0, 5), (5, 8), (8, 30), (30, 40))]
    config = {"average": average, "threshold": threshold}
    expected = _f1_reference(y_true, y_pred, average, threshold)
    np.testing.assert_allclose(f1_result(config, *batches), expected, atol=1e-6)
    np.testing.assert_allclose(f1_result(config, (y_true, y_pred)), expected, atol=1e-6)


def test_f1_score_needs_batch_by_classes() -> None:
    f1 = make_metric("f1_score")
    assert f1.output_problem(TensorType("float32", (3,))) is None
    for shape in ((), (2, 3), (None,)):
        problem = f1.output_problem(TensorType("float32", shape))
        assert problem is not None and "needs predictions of shape (batch, classes)" in problem


def test_f1_score_arguments_follow_keras() -> None:
    # A metric given as a string is named by it, as Keras's compile names it.
    assert make_metric("F1Score").model_dump() == {
        "name": "F1Score",
        "type": "F1Score",
        "average": None,
        "threshold": None,
    }
    for bad in ({"average": "samples"}, {"threshold": 0.0}, {"threshold": 1.5}, {"beta": 2.0}):
        with pytest.raises(ValueError):
            make_metric({"type": "F1Score", **bad})


@pytest.mark.parametrize(
    ("entry", "logged"),
    [
        ("acc", "acc"),
        ("SparseTopKCategoricalAccuracy", "SparseTopKCategoricalAccuracy"),
        ({"type": "SparseTopKCategoricalAccuracy", "k": 3}, "sparse_top_k_categorical_accuracy"),
        ({"type": "sparse_top_k_categorical_accuracy"}, "sparse_top_k_categorical_accuracy"),
        ({"type": "AUC"}, "auc"),
        ({"type": "F1Score", "average": "macro"}, "f1_score"),
        ({"type": "LogCoshError"}, "logcosh"),
        ({"type": "KLDivergence"}, "kl_divergence"),
        ({"type": "RootMeanSquaredError", "name": "rmse"}, "rmse"),
    ],
)
def test_history_names_are_keras_logged_names(entry: object, logged: str) -> None:
    """Keras 3.15.1's compile names a metric given as a string by that string, and a metric
    object by its name (the class's default: ``logcosh`` for LogCoshError)."""
    assert make_metric(entry).history_name() == logged


def test_a_history_key_met_again_is_numbered_as_keras_does() -> None:
    """Keras 3.15.1's CompileMetrics.result: a repeated key takes _1, _2, ... in order,
    after the output's prefix (several outputs)."""
    from specc.spec.compile import CompileConfig, metric_history_keys

    one = CompileConfig.model_validate(
        {"loss": "mse", "metrics": ["f1_score", {"type": "F1Score", "average": "macro"}, "mae"]}
    )
    assert [key for _, _, key in metric_history_keys(one, ["y"])] == [
        "f1_score",
        "f1_score_1",
        "mae",
    ]
    two = CompileConfig.model_validate(
        {"loss": "mse", "metrics": {"a": ["mae", "mae"], "b": ["mae"]}}
    )
    assert [key for _, _, key in metric_history_keys(two, ["a", "b"])] == [
        "a_mae",
        "a_mae_1",
        "b_mae",
    ]
