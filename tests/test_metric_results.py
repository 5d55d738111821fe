"""Every registered metric's ``lower_result`` (its result in ONNX ops) against its NumPy
``result``, run in onnxruntime on random and edge-case statistics (zero counts, zero
denominators: Keras's ``divide_no_nan``), so that a metric added later cannot lack one."""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from specc.metrics import METRICS, Metric
from specc.metrics.result_graph import ResultEntry, build_result_graph, result_shape, value_name
from specc.onnx_model import to_model_proto

# The statistics' shapes of one metric, from its lowering's statistics for these types.
Shapes = list[tuple[int, ...]]

# Variants whose result formula differs from the default's (AUC's curves and sums, F1's
# averages, the confusion filters), beside every metric's defaults.
VARIANTS: list[dict[str, Any]] = [
    {"type": "AUC", "num_thresholds": 7},
    {"type": "AUC", "curve": "PR", "num_thresholds": 9},
    {"type": "AUC", "curve": "PR", "summation_method": "majoring", "num_thresholds": 5},
    {"type": "AUC", "curve": "PR", "summation_method": "minoring", "num_thresholds": 5},
    {"type": "AUC", "curve": "PRGAIN", "num_thresholds": 6},
    {"type": "AUC", "curve": "ROC", "summation_method": "minoring", "thresholds": [0.3, 0.6]},
    {"type": "AUC", "multi_label": True, "num_labels": 3, "num_thresholds": 5},
    {
        "type": "AUC",
        "multi_label": True,
        "num_labels": 3,
        "label_weights": [0.5, 0.0, 2.0],
        "curve": "PR",
    },
    {"type": "AUC", "multi_label": True, "label_weights": [0.0, 0.0], "num_thresholds": 4},
    {"type": "F1Score", "average": "micro"},
    {"type": "F1Score", "average": "macro"},
    {"type": "F1Score", "average": "weighted"},
    {"type": "Precision", "top_k": 2},
    {"type": "Recall", "thresholds": 0.3},
]
CLASSES = 4


def _configs() -> list[dict[str, Any]]:
    # Every registered metric by its defaults, read from the registry: a metric added
    # later is in the matrix with no list to update (and fails it without a lowering).
    METRICS.load_all()
    defaults = [{"type": METRICS.canonical_name(model)} for model in METRICS]
    return defaults + VARIANTS


def statistic_shapes(metric: Metric) -> Shapes:
    """The shapes of the statistics ``metric`` emits for (batch, classes) predictions."""
    y_true = np.eye(CLASSES, dtype=np.float32)[[0, 1, 2, 3, 1]]
    y_pred = np.full((5, CLASSES), 0.25, np.float32)
    weights = getattr(metric, "label_weights", None) or []
    labels = getattr(metric, "num_labels", None) or len(weights) or CLASSES
    y_true, y_pred = y_true[:, :labels], y_pred[:, :labels]
    if type(metric).__name__.startswith("Sparse"):
        y_true = np.argmax(y_true, axis=-1)
    return [np.shape(s) for s in metric.reference_statistics(y_true, y_pred)]


def edge_cases(shapes: Shapes, rng: np.random.Generator) -> list[list[np.ndarray]]:
    """Statistics that take every branch of a result: all zero, random counts, counts with
    zeros scattered in, one statistic zero at a time, and sums no batch could give
    (a result must still be finite where its NumPy reference is)."""

    def counts(shape: tuple[int, ...]) -> np.ndarray:
        return rng.integers(0, 40, shape).astype(np.float64)

    cases = [[np.zeros(s) for s in shapes], [counts(s) for s in shapes]]
    cases.append([np.where(rng.random(s) < 0.4, 0.0, counts(s)) for s in shapes])
    cases.append([rng.random(s) * 10 for s in shapes])
    for k in range(len(shapes)):
        case = [counts(s) for s in shapes]
        case[k] = np.zeros(shapes[k])
        cases.append(case)
    # Confusion counts as a run gives them: decreasing over the thresholds.
    cases.append([-np.sort(-counts(s), axis=0) if s else counts(s) for s in shapes])
    return cases


def _run(metric: Metric, shapes: Shapes, cases: list[list[np.ndarray]]) -> list[np.ndarray]:
    names = [f"metrics/m/{k}" for k in range(len(shapes))]
    entry = ResultEntry("m", metric, list(zip(names, shapes, strict=True)))
    model = to_model_proto(build_result_graph([entry]), 17)
    onnx.checker.check_model(model, full_check=True)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return [
        session.run(
            [value_name("m")],
            {n: np.asarray(s, np.float32) for n, s in zip(names, case, strict=True)},
        )[0]
        for case in cases
    ]


@pytest.mark.parametrize("config", _configs(), ids=lambda c: "-".join(map(str, c.values())))
def test_result_graph_gives_result(config: dict[str, Any]) -> None:
    metric = METRICS.get(config["type"]).model_validate(config)
    shapes = statistic_shapes(metric)
    cases = edge_cases(shapes, np.random.default_rng(len(str(config))))
    for case, got in zip(cases, _run(metric, shapes, cases), strict=True):
        # The reference on the float32 sums the graph is given.
        expected = metric.result([np.asarray(s, np.float32).astype(np.float64) for s in case])
        assert got.shape == result_shape(metric, shapes)
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6, err_msg=str(case))
