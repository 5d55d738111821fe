"""Losses and metrics against the outputs' types, as Keras 3.15.1 reads them.

``KERAS_FAILS`` was recorded by running each metric's ``update_state`` in Keras 3.15.1
(JAX backend) on labels of each form, in batches of 8: every combination listed raised
there (and fails mid-training in specc without this check). ``STRICTER`` lists the
combinations Keras runs but computes nonsense for, which specc refuses too: class
indices read as one value per prediction (``argmax`` over the batch, ``y_true[..., k]``
picking the k-th sample's label), one value per prediction read as a class index of a
single class, and a ``class_id`` past the class count (JAX clamps the index, TensorFlow
raises).
"""

from __future__ import annotations

from typing import Any

import pytest

from specc.limits import DEFAULT_LIMITS, Limits
from specc.spec.compile import CompileConfig
from specc.spec.compile_outputs import check_compile_against_types, metric_entries
from specc.types import TensorType

SPARSE = "sparse_categorical_crossentropy"
# Label forms: the output's type and its loss.
SCENARIOS: dict[str, tuple[tuple[int, ...], str]] = {
    "sparse": ((3,), SPARSE),
    "sparse_seq": ((5, 3), SPARSE),
    "onehot": ((3,), "categorical_crossentropy"),
    "binary": ((1,), "binary_crossentropy"),
    "multilabel": ((3,), "binary_crossentropy"),
    "regression": ((3,), "mse"),
    "regression1": ((1,), "mse"),
    "sparse_c1": ((1,), SPARSE),
    "seq_values": ((5, 3), "categorical_crossentropy"),
}
METRICS: dict[str, Any] = {
    "accuracy": "accuracy",
    "acc": "acc",
    "mse": "mse",
    **{
        name: name
        for name in [
            "BinaryAccuracy",
            "CategoricalAccuracy",
            "SparseCategoricalAccuracy",
            "TopKCategoricalAccuracy",
            "SparseTopKCategoricalAccuracy",
            "MeanSquaredError",
            "MeanAbsoluteError",
            "MeanAbsolutePercentageError",
            "MeanSquaredLogarithmicError",
            "RootMeanSquaredError",
            "LogCoshError",
            "BinaryCrossentropy",
            "CategoricalCrossentropy",
            "SparseCategoricalCrossentropy",
            "KLDivergence",
            "Poisson",
            "CosineSimilarity",
            "Hinge",
            "SquaredHinge",
            "CategoricalHinge",
            "AUC",
            "Precision",
            "Recall",
        ]
    },
    "AUC(multi_label)": {"type": "AUC", "multi_label": True},
    "AUC(logits)": {"type": "AUC", "from_logits": True},
    "AUC(PR)": {"type": "AUC", "curve": "PR"},
    "Precision(top_k=1)": {"type": "Precision", "top_k": 1},
    "Precision(top_k=2)": {"type": "Precision", "top_k": 2},
    "Precision(class_id=1)": {"type": "Precision", "class_id": 1},
    "Recall(class_id=2)": {"type": "Recall", "class_id": 2},
    "Recall(class_id=5)": {"type": "Recall", "class_id": 5},
    "TopK(k=1)": {"type": "TopKCategoricalAccuracy", "k": 1},
    "SparseTopK(k=1)": {"type": "SparseTopKCategoricalAccuracy", "k": 1},
    "Precision(thr=0.3)": {"type": "Precision", "thresholds": 0.3},
}
_SPARSE_METRICS = [
    "SparseCategoricalAccuracy",
    "SparseTopKCategoricalAccuracy",
    "SparseCategoricalCrossentropy",
    "SparseTopK(k=1)",
]
# Every metric but accuracy compares values one by one: all fail on class indices.
_VALUE_METRICS = [m for m in METRICS if m not in ("accuracy", "acc", *_SPARSE_METRICS)]
KERAS_FAILS: dict[str, set[str]] = {
    "sparse": set(_VALUE_METRICS)
    - {"CategoricalAccuracy", "Precision(class_id=1)", "Recall(class_id=2)", "Recall(class_id=5)"},
    "sparse_seq": set(_VALUE_METRICS),
    "onehot": set(_SPARSE_METRICS),
    "binary": {"Precision(top_k=2)"},
    "multilabel": set(_SPARSE_METRICS),
    "regression": set(_SPARSE_METRICS),
    "regression1": {"Precision(top_k=2)"},
    "sparse_c1": {
        "TopKCategoricalAccuracy",
        "BinaryCrossentropy",
        "CategoricalCrossentropy",
        "Precision(top_k=2)",
        "TopK(k=1)",
    },
    "seq_values": {*_SPARSE_METRICS, "AUC(multi_label)"},
}
_CLASS_ID_PAST = {"Precision(class_id=1)", "Recall(class_id=2)", "Recall(class_id=5)"}
STRICTER: dict[str, set[str]] = {
    "sparse": {"CategoricalAccuracy", *_CLASS_ID_PAST},
    "onehot": {"Recall(class_id=5)"},
    "binary": {*_SPARSE_METRICS, *_CLASS_ID_PAST},
    "multilabel": {"Recall(class_id=5)"},
    "regression": {"Recall(class_id=5)"},
    "regression1": {*_SPARSE_METRICS, *_CLASS_ID_PAST},
    "sparse_c1": set(_VALUE_METRICS),
    "seq_values": {"Recall(class_id=5)"},
}


def problems(
    shape: tuple[int | None, ...], loss: Any, metrics: Any = None, limits: Limits = DEFAULT_LIMITS
) -> list[Any]:
    config = CompileConfig.model_validate({"loss": loss, "metrics": metrics})
    return check_compile_against_types(config, {"out": TensorType("float32", shape)}, limits)


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_metrics_are_refused_exactly_where_keras_fails_or_misreads(scenario: str) -> None:
    shape, loss = SCENARIOS[scenario]
    refused = {label for label, metric in METRICS.items() if problems(shape, loss, [metric])}
    expected = KERAS_FAILS[scenario] | STRICTER.get(scenario, set())
    assert refused == expected


def test_a_metric_on_class_indices_says_what_to_use() -> None:
    (problem,) = problems((3,), SPARSE, ["AUC"])
    assert problem.code == "SPC215-metric-labels"
    assert problem.path == ("compile", "metrics", 0)
    assert "class indices (None,)" in problem.message
    assert "against predictions (None, 3)" in problem.message
    assert "sparse_categorical_accuracy" in problem.message
    assert "one-hot labels (categorical_crossentropy)" in problem.message


def test_a_sparse_metric_on_one_hot_labels_names_its_dense_twin() -> None:
    (problem,) = problems((3,), "categorical_crossentropy", ["sparse_top_k_categorical_accuracy"])
    assert "use top_k_categorical_accuracy" in problem.message


@pytest.mark.parametrize(
    ("metric", "words"),
    [
        ({"type": "Precision", "class_id": 3}, "class_id=3, but output (None, 3) has 3 class(es)"),
        ({"type": "Recall", "top_k": 4}, "top_k=4, more than the 3 prediction(s)"),
        ({"type": "AUC", "multi_label": True, "num_labels": 2}, "num_labels=2"),
        ({"type": "AUC", "label_weights": [1.0, 2.0]}, "2 label_weights"),
        ({"type": "CategoricalCrossentropy", "axis": 2}, "axis 2 is out of range"),
        ({"type": "CosineSimilarity", "axis": -3}, "axis -3 is out of range"),
    ],
)
def test_metric_arguments_must_fit_the_output(metric: dict[str, Any], words: str) -> None:
    (problem,) = problems((3,), "categorical_crossentropy", [metric])
    assert problem.code == "SPC216-metric-argument"
    assert words in problem.message


def test_f1_score_needs_batch_by_classes_predictions() -> None:
    (problem,) = problems((2, 3), "categorical_crossentropy", ["f1_score"])
    assert problem.code == "SPC216-metric-argument"
    assert "metric 'f1_score' needs predictions of shape (batch, classes); got (None, 2, 3)" in (
        problem.message
    )
    assert (
        problems((3,), "categorical_crossentropy", [{"type": "F1Score", "average": "macro"}]) == []
    )


def test_metric_arguments_that_fit_pass() -> None:
    fitting = [
        {"type": "Precision", "class_id": 2},
        {"type": "Recall", "top_k": 3},
        {"type": "AUC", "multi_label": True, "num_labels": 3, "label_weights": [1, 2, 3]},
        {"type": "AUC", "label_weights": [0.5]},
        {"type": "CategoricalCrossentropy", "axis": 0},  # the batch axis: Keras runs it
        {"type": "TopKCategoricalAccuracy", "k": 1000},  # always 1.0, as in Keras
    ]
    assert problems((3,), "categorical_crossentropy", fitting) == []


def test_auc_confusion_counts_are_held_to_the_activation_limit() -> None:
    metric = {"type": "AUC", "num_thresholds": 10**9}
    (problem,) = problems((3,), "categorical_crossentropy", [metric])
    assert "raise it with --limit activation_elements=" in problem.message
    assert (
        problems((3,), "categorical_crossentropy", [metric], Limits(activation_elements=10**10))
        == []
    )


@pytest.mark.parametrize(
    ("shape", "loss", "words"),
    [
        (
            (3,),
            {"type": "CategoricalCrossentropy", "axis": 5},
            "axis 5 is out of range for output (None, 3)",
        ),
        ((3,), {"type": "BinaryCrossentropy", "axis": 2}, "axis 2 is out of range"),
        ((2, 3), {"type": "CosineSimilarity", "axis": -4}, "(rank 3: use -3..2)"),
        ((3,), {"type": "Tversky", "axis": [1, 2]}, "axis 2 is out of range"),
        ((2, 3), {"type": "Tversky", "axis": [-1, 2]}, "names one axis twice"),
        ((), SPARSE, "needs a class axis"),
    ],
)
def test_losses_must_fit_the_output(shape: tuple[int, ...], loss: Any, words: str) -> None:
    (problem,) = problems(shape, loss, ["accuracy"])  # the output's metrics are skipped
    assert problem.code == "SPC217-loss-output"
    assert problem.path == ("compile", "loss")
    assert words in problem.message


def test_a_metric_on_an_output_without_a_loss_has_no_labels() -> None:
    config = CompileConfig.model_validate(
        {"loss": {"a": "mse", "b": None}, "metrics": {"b": ["mae"]}}
    )
    outputs = {"a": TensorType("float32", (2,)), "b": TensorType("float32", (3,))}
    (problem,) = check_compile_against_types(config, outputs, DEFAULT_LIMITS)
    assert problem.path == ("compile", "metrics", "b", 0)
    assert "loss_weights entry of 0" in problem.message


def test_metric_entries_carry_their_paths() -> None:
    config = CompileConfig.model_validate({"loss": "mse", "metrics": [["mae", "mse"], "mape"]})
    entries = [(o, path) for o, _, path in metric_entries(config, ["a", "b"])]
    assert entries == [
        ("a", ("compile", "metrics", 0, 0)),
        ("a", ("compile", "metrics", 0, 1)),
        ("b", ("compile", "metrics", 1)),
    ]
