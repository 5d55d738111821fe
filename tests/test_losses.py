"""Every loss, lowered to ONNX and run in onnxruntime, against Keras 3's formulas.

Three derivations meet here: each loss's ONNX lowering (``Loss.lower``), its NumPy float64
``reference``, and numbers written by hand or copied from Keras 3's docstrings (the loss and
metric examples in ``keras/src/losses/losses.py`` and ``keras/src/metrics/*.py``; a metric
over one batch is the mean of the loss function's per-sample values, which is the loss's
default reduction). Gradients of the lowering in onnxruntime-training are checked against
float64 central differences of the reference.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from pydantic import TypeAdapter

from specc.autodiff import differentiate
from specc.graph import Graph, GraphBuilder
from specc.losses import LOSSES, Loss, LossExample, LossField
from specc.onnx_model import to_model_proto
from specc.types import TensorType
from tests.autodiff_harness import _run_any_shape
from tests.ort_training import HAVE_ORT_TRAINING
from tests.spec_helpers import quiet_session

if HAVE_ORT_TRAINING:  # else the tests marked ort_training are skipped
    from specc.train.engine import CheckpointState, Module, artifacts, quiet_stderr

BATCH = 4
OPSETS = (17, 21)
_LOSS = TypeAdapter(LossField)


def make_loss(value: Any) -> Loss:
    """A loss as a spec gives it: a name or a mapping with ``type``."""
    return _LOSS.validate_python(value)


def _scalar_output(model: onnx.ModelProto) -> onnx.ModelProto:
    # The emitter gives every graph output a batch axis; the loss is a scalar.
    model.graph.output[0].type.tensor_type.shape.ClearField("dim")
    return model


def loss_model(
    loss: Loss, prediction: TensorType, opset: int = 17, with_logits: bool = False
) -> onnx.ModelProto:
    """A model (y_pred, y_true[, logits]) -> loss that passes the full ONNX check."""
    b = GraphBuilder("loss")
    y_pred = b.input("y_pred", prediction)
    y_true = b.input("y_true", loss.label_type(prediction))
    logits = b.input("logits", prediction) if with_logits else None
    value = loss.lower(b, y_pred, y_true, prediction, logits)
    b.output(value, "loss", TensorType("float32", ()))
    model = _scalar_output(to_model_proto(b.graph, opset))
    onnx.checker.check_model(model, full_check=True)
    return model


def onnx_loss(
    loss: Loss,
    y_pred: np.ndarray,
    y_true: np.ndarray,
    logits: np.ndarray | None = None,
    opset: int = 17,
    prediction: TensorType | None = None,
) -> float:
    """onnxruntime's value of ``loss`` on one batch."""
    y_pred = np.asarray(y_pred, np.float32)
    prediction = prediction or TensorType("float32", y_pred.shape[1:])
    model = loss_model(loss, prediction, opset, with_logits=logits is not None)
    label_dtype = np.int64 if loss.expects_sparse_labels else np.float32
    feeds = {"y_pred": y_pred.astype(prediction.dtype), "y_true": np.asarray(y_true, label_dtype)}
    if logits is not None:
        feeds["logits"] = np.asarray(logits, np.float32)
    (value,) = quiet_session(model).run(None, feeds)
    assert value.shape == () and value.dtype == np.float32
    return float(value)


def _softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


# --- the cases: every loss and every option ----------------------------------------------

# How y_pred is made from a standard normal z (in the data and in the gradient model).
ACTIVATIONS = {
    "real": lambda z, axis: z,
    "positive": lambda z, axis: np.exp(z),
    "sigmoid": lambda z, axis: _sigmoid(z),
    "softmax": lambda z, axis: _softmax(z, axis),
}
ONNX_ACTIVATIONS = {"positive": "Exp", "sigmoid": "Sigmoid", "softmax": "Softmax"}


@dataclass(frozen=True)
class Case(LossExample):
    """A loss's example, with the loss, the output's type and its data made from it."""

    @property
    def concrete(self) -> tuple[int, ...]:
        """The shape with 3 for each variable dimension."""
        return tuple(3 if d is None else d for d in self.shape)

    def loss(self) -> Loss:
        return make_loss(self.config)

    def prediction(self) -> TensorType:
        return TensorType("float32", self.shape)

    def data(self, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(z, y_pred, y_true) in float64: y_pred is the activation of z."""
        rng = np.random.default_rng(seed)
        shape = (BATCH, *self.concrete)
        z = rng.normal(size=shape)
        y_pred = ACTIVATIONS[self.pred](z, self.softmax_axis)
        return z, y_pred, self._labels(rng, shape)

    def _labels(self, rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
        kind = self.labels
        if kind == "real":
            return rng.normal(size=shape)
        if kind == "positive":
            return rng.uniform(0.2, 3.0, size=shape)
        if kind == "nonzero":
            return rng.uniform(0.5, 2.0, size=shape) * rng.choice([-1.0, 1.0], size=shape)
        if kind == "binary":
            return rng.integers(0, 2, size=shape).astype(np.float64)
        if kind == "pm1":
            return rng.choice([-1.0, 1.0], size=shape)
        if kind == "mixed":
            # Not all 0/1: Keras keeps such hinge labels as they are.
            return rng.choice([0.0, 1.0, 0.5], size=shape)
        if kind == "distribution":
            return _softmax(rng.normal(size=shape))
        if kind == "onehot":
            axis = self.softmax_axis % len(shape)
            index = rng.integers(0, shape[axis], size=shape[:axis] + shape[axis + 1 :])
            return np.moveaxis(np.eye(shape[axis])[index], -1, axis)
        if kind.startswith("sparse"):
            labels = rng.integers(0, shape[-1], size=shape[:-1])
            if kind == "sparse_ignored":
                ignored = self.loss().ignore_class  # type: ignore[attr-defined]
                labels[rng.random(size=labels.shape) < 0.4] = ignored
                labels.reshape(-1)[0] = 1  # at least one label counts
            return labels
        raise ValueError(kind)


def _case(example: LossExample) -> Any:
    config = example.config
    name = config if isinstance(config, str) else "-".join(f"{v}" for v in config.values())
    case = Case(config, example.shape, example.pred, example.labels, example.softmax_axis)
    return pytest.param(case, id=name if example.shape == (4,) else f"{name}-{example.shape}")


CASES = [_case(example) for loss in LOSSES for example in loss.examples()]


def test_every_loss_has_examples_and_a_lowering() -> None:
    assert [loss.__name__ for loss in LOSSES if not loss.examples()] == []
    # Each example is a configuration of the loss that declares it.
    assert all(type(make_loss(e.config)) is loss for loss in LOSSES for e in loss.examples())
    # Each loss lowers itself: no loss falls back to the base class's missing lowering.
    assert [loss.__name__ for loss in LOSSES if loss.lower_values is Loss.lower_values] == []


@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize("case", CASES)
def test_lowering_matches_reference(case: Case, opset: int) -> None:
    loss = case.loss()
    _, y_pred, y_true = case.data(seed=1)
    got = onnx_loss(loss, y_pred, y_true, opset=opset, prediction=case.prediction())
    np.testing.assert_allclose(got, loss.reference(y_pred, y_true), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("case", CASES)
def test_values_rank_matches_reference(case: Case) -> None:
    """The rank the lowering's reduction assumes is the rank of the reference's values."""
    loss = case.loss()
    _, y_pred, y_true = case.data(seed=1)
    rank = 1 + len(case.shape)
    assert loss.per_sample(y_pred, np.asarray(y_true)).ndim == loss.values_rank(rank)


# --- numbers from Keras's docstrings and by hand -----------------------------------------

P2 = [[0.6, 0.4], [0.4, 0.6]]
T2 = [[0.0, 1.0], [0.0, 0.0]]
LOGITS4 = [-18.6, 0.51, 2.94, -12.8]
CCE_PRED = [[0.05, 0.95, 0.0], [0.1, 0.8, 0.1]]
LOG = np.log

TVERSKY_0208 = {"type": "Tversky", "alpha": 0.2, "beta": 0.8}
SEG_TRUE = [[1, 0, 1, 0], [0, 1, 0, 1], [1, 0, 1, 0], [0, 1, 0, 1]]
SEG_PRED = [[0, 1, 0, 1], [1, 0, 1, 1], [0, 1, 0, 1], [1, 0, 1, 1]]
MASK_TRUE = [[[[1.0], [1.0]], [[0.0], [0.0]]], [[[1.0], [1.0]], [[0.0], [0.0]]]]
MASK_PRED = [[[[0.0], [1.0]], [[0.0], [1.0]]], [[[0.4], [0.0]], [[0.0], [0.9]]]]

# (loss, y_true, y_pred, expected, absolute tolerance of the quoted digits)
KERAS_VALUES: list[tuple[Any, Any, Any, float, float]] = [
    # keras.metrics.MeanSquaredError / MeanAbsoluteError docstrings.
    ("mse", T2, [[1, 1], [0, 0]], 0.25, 1e-7),
    ("mse", T2, P2, (0.36 + 0.36 + 0.16 + 0.36) / 4, 1e-7),
    ("mae", T2, [[1, 1], [0, 0]], 0.25, 1e-7),
    ("mae", T2, P2, (0.6 + 0.6 + 0.4 + 0.6) / 4, 1e-7),
    # MeanAbsolutePercentageError: |0 - 1| / epsilon dominates.
    ("mape", T2, [[1, 1], [0, 0]], 250000000.0, 10.0),
    ("mape", [[2, 1], [2, 3]], [[1, 1], [1, 0]], 100 * (0.5 + 0 + 0.5 + 1) / 4, 1e-5),
    ("msle", T2, [[1, 1], [0, 0]], 0.12011322, 1e-7),
    ("msle", [[1.0, 3.0]], [[3.0, 1.0]], (LOG(4 / 2) ** 2 + LOG(2 / 4) ** 2) / 2, 1e-7),
    # keras.losses.huber docstring, and by hand with delta 0.5 (|error| 0.6 is linear).
    ("huber", T2, P2, 0.155, 5e-4),
    ({"type": "huber", "delta": 0.5}, [[0.0, 1.0]], [[0.6, 0.9]], (0.3 - 0.125 + 0.005) / 2, 1e-7),
    # keras.losses.log_cosh and keras.metrics.LogCoshError docstrings.
    ("log_cosh", T2, [[1, 1], [0, 0]], 0.10844523, 1e-7),
    ("kld", T2, P2, 0.45814306, 1e-7),
    ("poisson", T2, [[1, 1], [0, 0]], 0.49999997, 1e-7),
    # keras.losses.BinaryCrossentropy docstring: batch of one (rank 1) and of two.
    # (Keras prints these truncated to the digits shown.)
    ({"type": "bce", "from_logits": True}, [0, 1, 0, 0], LOGITS4, 0.8654, 1e-4),
    (
        {"type": "bce", "from_logits": True},
        [[0, 1], [0, 0]],
        [LOGITS4[:2], LOGITS4[2:]],
        0.8654,
        1e-4,
    ),
    (
        {"type": "bce", "from_logits": True, "reduction": "sum"},
        [[0, 1], [0, 0]],
        [LOGITS4[:2], LOGITS4[2:]],
        1.730,
        1e-3,
    ),
    # keras.metrics.BinaryCrossentropy docstring; label smoothing 0.2 by hand (z 0.1, 0.9).
    ("bce", T2, P2, 0.81492424, 1e-7),
    (
        {"type": "bce", "label_smoothing": 0.2},
        [[0, 1]],
        [[0.6, 0.4]],
        -(0.1 * LOG(0.6) + 0.9 * LOG(0.4)),
        1e-6,
    ),
    # keras.losses.CategoricalCrossentropy docstring (the 0 is clipped to epsilon).
    ("categorical_crossentropy", [[0, 1, 0], [0, 0, 1]], CCE_PRED, 1.177, 5e-4),
    (
        {"type": "CategoricalCrossentropy", "reduction": "sum"},
        [[0, 1, 0], [0, 0, 1]],
        CCE_PRED,
        2.354,
        5e-4,
    ),
    (
        {"type": "CategoricalCrossentropy", "label_smoothing": 0.1},
        [[0, 1, 0]],
        [[0.2, 0.7, 0.1]],
        -(0.1 / 3 * LOG(0.2) + (0.9 + 0.1 / 3) * LOG(0.7) + 0.1 / 3 * LOG(0.1)),
        1e-6,
    ),
    # keras.losses.SparseCategoricalCrossentropy docstring; ignore_class by hand.
    ("sparse_categorical_crossentropy", [1, 2], CCE_PRED, 1.177, 5e-4),
    ({"type": "SparseCategoricalCrossentropy", "reduction": "sum"}, [1, 2], CCE_PRED, 2.354, 5e-4),
    (
        {"type": "SparseCategoricalCrossentropy", "ignore_class": -1},
        [1, -1, 2],
        [CCE_PRED[0], [0.3, 0.3, 0.4], CCE_PRED[1]],
        -(LOG(0.95) + LOG(0.1)) / 2,
        1e-6,
    ),
    (
        {"type": "SparseCategoricalCrossentropy", "ignore_class": -1},
        [-1, -1],
        [[0.2, 0.8], [0.5, 0.5]],
        0.0,
        0.0,
    ),
    # keras.metrics.Hinge / SquaredHinge / CategoricalHinge docstrings.
    ("hinge", T2, P2, 1.3, 1e-6),
    ("squared_hinge", T2, P2, 1.86, 1e-6),
    ("categorical_hinge", T2, P2, 1.4, 1e-6),
    # keras.metrics.CosineSimilarity(axis=1) docstring (the loss is its negative), and
    # keras.losses.cosine_similarity's per-sample [-0, -1, 1].
    (
        {"type": "cosine_similarity", "axis": 1},
        [[0.0, 1.0], [1.0, 1.0]],
        [[1.0, 0.0], [1.0, 1.0]],
        -0.5,
        1e-6,
    ),
    ("cosine_similarity", [[0, 1], [1, 1], [1, 1]], [[1, 0], [1, 1], [-1, -1]], 0.0, 1e-6),
    # keras/src/losses/losses_test.py TverskyTest (Keras 3.15.1). Without axis the loss is
    # one number for the batch; with axis (1, 2, 3) Keras's unreduced [0.5, 0.75757575]
    # and [0.5, 0.7222222], here averaged by the default reduction.
    ("tversky", [[1, 2], [1, 2]], [[4, 1], [6, 1]], -0.55555546, 1e-6),
    (TVERSKY_0208, [[1, 2], [1, 2]], [[4, 1], [6, 1]], -0.29629636, 1e-6),
    ("tversky", SEG_TRUE, SEG_PRED, 0.77777773, 1e-6),
    (TVERSKY_0208, SEG_TRUE, SEG_PRED, 0.7916667, 1e-6),
    ({"type": "Tversky", "axis": [1, 2, 3]}, MASK_TRUE, MASK_PRED, (0.5 + 0.75757575) / 2, 1e-6),
    ({**TVERSKY_0208, "axis": [1, 2, 3]}, MASK_TRUE, MASK_PRED, (0.5 + 0.7222222) / 2, 1e-6),
    (
        {**TVERSKY_0208, "axis": [1, 2, 3], "reduction": "sum"},
        MASK_TRUE,
        MASK_PRED,
        1.2222222,
        1e-6,
    ),
]


def _value_id(entry: tuple[Any, ...]) -> str:
    config = entry[0]
    return config if isinstance(config, str) else "-".join(str(v) for v in config.values())


def test_keras_values_cover_every_loss() -> None:
    assert {type(make_loss(entry[0])) for entry in KERAS_VALUES} == set(LOSSES)


@pytest.mark.parametrize("entry", KERAS_VALUES, ids=[_value_id(e) for e in KERAS_VALUES])
def test_keras_documented_values(entry: tuple[Any, Any, Any, float, float]) -> None:
    config, y_true, y_pred, expected, atol = entry
    loss = make_loss(config)
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred, np.float64)
    assert loss.reference(y_pred, y_true) == pytest.approx(expected, rel=1e-6, abs=atol)
    assert onnx_loss(loss, y_pred, y_true) == pytest.approx(expected, rel=1e-6, abs=atol)


def test_cosine_similarity_per_sample_matches_keras_docstring() -> None:
    loss = make_loss("cosine_similarity")
    values = loss.per_sample(
        np.array([[1.0, 0], [1, 1], [-1, -1]]), np.array([[0.0, 1], [1, 1], [1, 1]])
    )
    np.testing.assert_allclose(values, [0.0, -1.0, 1.0], atol=1e-7)


def test_hinge_converts_labels_only_when_all_are_binary() -> None:
    loss = make_loss("hinge")
    y_pred = np.array([[0.3, -0.2]])
    # 0/1 labels become -1/1; with a 0.5 in the batch, Keras keeps all labels as given.
    assert onnx_loss(loss, y_pred, [[0.0, 1.0]]) == pytest.approx((1.3 + 1.2) / 2, rel=1e-6)
    assert onnx_loss(loss, y_pred, [[0.0, 0.5]]) == pytest.approx((1.0 + 1.1) / 2, rel=1e-6)


def test_float16_predictions_are_computed_in_float32() -> None:
    loss = make_loss("mse")
    y_pred = np.array([[0.5, -1.25]], np.float16)
    got = onnx_loss(loss, y_pred, [[0.0, 1.0]], prediction=TensorType("float16", (2,)))
    assert got == pytest.approx((0.25 + 5.0625) / 2, rel=1e-6)


# --- logits: folding softmax/sigmoid into the loss ---------------------------------------

FOLDED = [
    pytest.param("bce", "sigmoid", "binary", id="bce"),
    pytest.param({"type": "bce", "label_smoothing": 0.1}, "sigmoid", "binary", id="bce-smooth"),
    pytest.param("categorical_crossentropy", "softmax", "onehot", id="cce"),
    pytest.param(
        {"type": "categorical_crossentropy", "label_smoothing": 0.2},
        "softmax",
        "onehot",
        id="cce-smooth",
    ),
    pytest.param("sparse_categorical_crossentropy", "softmax", "sparse", id="scce"),
    pytest.param(
        {"type": "sparse_categorical_crossentropy", "ignore_class": 1},
        "softmax",
        "sparse_ignored",
        id="scce-ignore",
    ),
]


@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize(("config", "activation", "labels"), FOLDED)
def test_loss_from_logits_equals_loss_from_probabilities(
    config: Any, activation: str, labels: str, opset: int
) -> None:
    """Away from Keras's clipping, the loss on logits is the loss on their activation."""
    case = Case(config, shape=(2, 5), pred=activation, labels=labels)
    loss = case.loss()
    assert loss.logits_activation(case.prediction()) == activation
    z, y_pred, y_true = case.data(seed=3)
    got = onnx_loss(loss, y_pred, y_true, logits=z, opset=opset)
    np.testing.assert_allclose(got, loss.reference(y_pred, y_true), rtol=1e-5)


def test_logits_differ_from_clipped_probabilities_where_keras_clips() -> None:
    """Documented regime: confident, wrong predictions.

    From probabilities, Keras clips to [1e-7, 1 - 1e-7] (in float32), so no element costs
    more than -log(1e-7) = 16.12 for a probability that should be 1, or -log(1.19e-7) =
    15.94 for one that should be 0. From logits (an output that is sigmoid/softmax of them,
    or ``from_logits``) nothing is clipped: the loss is the exact cross-entropy, here about
    20 and 30.
    """
    bce = make_loss("bce")
    z, y_true = np.array([[20.0, -20.0]]), np.array([[0.0, 1.0]])
    exact = float(np.mean(np.logaddexp(0.0, z) - z * y_true))
    assert onnx_loss(bce, _sigmoid(z), y_true, logits=z) == pytest.approx(exact, rel=1e-6)
    assert exact == pytest.approx(20.0, rel=1e-6)
    clipped = bce.reference(_sigmoid(z), y_true)
    low, high = float(np.float32(1e-7)), float(np.float32(1 - 1e-7))
    assert clipped == pytest.approx(-(np.log(1.0 - high) + np.log(low)) / 2, rel=1e-6)
    assert onnx_loss(bce, _sigmoid(z), y_true) == pytest.approx(clipped, rel=1e-5)
    assert make_loss({"type": "bce", "from_logits": True}).reference(z, y_true) == pytest.approx(
        exact
    )

    cce = make_loss("categorical_crossentropy")
    z, y_true = np.array([[30.0, 0.0, 0.0]]), np.array([[0.0, 1.0, 0.0]])
    assert onnx_loss(cce, _softmax(z), y_true, logits=z) == pytest.approx(30.0, rel=1e-6)
    clipped = cce.reference(_softmax(z), y_true)
    assert clipped == pytest.approx(-np.log(1e-7), rel=1e-6)
    assert onnx_loss(cce, _softmax(z), y_true) == pytest.approx(clipped, rel=1e-5)


def test_logits_activation() -> None:
    last, other = TensorType("float32", (2, 3)), TensorType("float32", (3,))
    assert make_loss("bce").logits_activation(last) == "sigmoid"
    assert make_loss("categorical_crossentropy").logits_activation(last) == "softmax"
    assert (
        make_loss({"type": "categorical_crossentropy", "axis": 2}).logits_activation(last)
        == "softmax"
    )
    # The class axis is not the softmax's (last) axis: the logits cannot be used.
    assert (
        make_loss({"type": "categorical_crossentropy", "axis": 1}).logits_activation(last) is None
    )
    assert make_loss("sparse_categorical_crossentropy").logits_activation(other) == "softmax"
    for config in ({"type": "bce", "from_logits": True}, "mse", "kld", "hinge"):
        assert make_loss(config).logits_activation(other) is None


def test_losses_without_logits_ignore_them() -> None:
    loss = make_loss("mse")
    y_pred, y_true = np.array([[0.2, 0.7]]), np.array([[0.0, 1.0]])
    got = onnx_loss(loss, y_pred, y_true, logits=np.array([[5.0, -5.0]]))
    assert got == pytest.approx(loss.reference(y_pred, y_true), rel=1e-6)


def test_label_types() -> None:
    prediction = TensorType("float32", (5, 3))
    assert make_loss("mse").label_type(prediction) == TensorType("float32", (5, 3))
    assert make_loss("bce").label_type(TensorType("float16", ())) == TensorType("float32", ())
    scce = make_loss("sparse_categorical_crossentropy")
    assert scce.label_type(prediction) == TensorType("int64", (5,))
    assert scce.label_type(TensorType("float32", (3,))) == TensorType("int64", ())
    with pytest.raises(ValueError, match="class axis"):
        scce.label_type(TensorType("float32", ()))


def test_tversky_refuses_a_repeated_axis() -> None:
    with pytest.raises(ValueError, match=r"axis lists an axis twice; got axis=\[1, 1\]"):
        make_loss({"type": "Tversky", "axis": [1, 1]})
    with pytest.raises(ValueError):
        make_loss({"type": "Tversky", "axis": []})


def test_out_of_range_axis_is_an_error() -> None:
    loss = make_loss({"type": "cosine_similarity", "axis": 3})
    b = GraphBuilder("loss")
    prediction = TensorType("float32", (3,))
    with pytest.raises(ValueError, match="axis 3 is out of range"):
        loss.lower(b, b.input("p", prediction), b.input("t", prediction), prediction)


# --- gradients in onnxruntime-training ---------------------------------------------------


def _gradient_graph(case: Case, loss: Loss, fold: bool) -> Graph:
    """y_pred = activation(x * W), W trainable, feeding the loss: the model's only output.

    With ``fold``, the loss also gets x * W as the logits of its activation.
    """
    b = GraphBuilder("grad")
    prediction = case.prediction()
    x = b.input("x", prediction)
    y_true = b.input("y_true", loss.label_type(prediction))
    z = b.op("Mul", x, b.parameter("W", np.ones(case.concrete, np.float32)))
    op_type = ONNX_ACTIVATIONS.get(case.pred)
    axis = {"axis": case.softmax_axis} if op_type == "Softmax" else {}
    y_pred = z if op_type is None else b.op(op_type, z, **axis)
    logits = None
    if fold:
        assert loss.logits_activation(prediction) == case.pred
        logits = z
    b.output(loss.lower(b, y_pred, y_true, prediction, logits), "loss", TensorType("float32", ()))
    return b.graph


def _autodiff_gradient(
    graph: Graph, w: np.ndarray, feeds: dict[str, np.ndarray]
) -> tuple[float, np.ndarray]:
    """The loss and dLoss/dW by specc's own differentiation, run in onnxruntime."""
    graph = dataclasses.replace(graph, initializers={**graph.initializers, "W": w})
    grads = differentiate(graph, "loss", ["W"])
    value, grad = _run_any_shape(grads.graph, feeds, ["loss", grads.of["W"]], 17)
    return float(value), grad.astype(np.float64)


def _engine_model(graph: Graph) -> onnx.ModelProto:
    return _scalar_output(to_model_proto(graph, 17))


def _engine_gradient(
    model: onnx.ModelProto, directory: Path, w: np.ndarray, feeds: dict[str, np.ndarray]
) -> tuple[float, np.ndarray]:
    with quiet_stderr():
        artifacts.generate_artifacts(
            model, requires_grad=["W"], loss=None, optimizer=None, artifact_directory=str(directory)
        )
    state = CheckpointState.load_checkpoint(str(directory / "checkpoint"))
    module = Module(
        str(directory / "training_model.onnx"), state, str(directory / "eval_model.onnx")
    )
    # The checkpoint holds a scalar parameter with shape [1].
    state.parameters["W"].data = w.reshape(state.parameters["W"].data.shape)
    module.train()
    module.lazy_reset_grad()
    value = module(*[feeds[name] for name in module.input_names()])
    return float(np.asarray(value)), np.asarray(state.parameters["W"].grad, np.float64)


def _folded_cases() -> list[Any]:
    return [
        pytest.param(Case(config, shape=(2, 5), pred=activation, labels=labels), id=p.id)
        for p in FOLDED
        for config, activation, labels in [p.values]
    ]


GRADIENTS = ["autodiff", pytest.param("engine", marks=pytest.mark.ort_training)]


@pytest.mark.parametrize("gradients", GRADIENTS)
@pytest.mark.parametrize("case", CASES)
def test_gradient_matches_finite_differences(tmp_path: Path, case: Case, gradients: str) -> None:
    """dLoss/dW (specc's own, and the engine's) against float64 central differences of
    Keras's formula."""
    check_gradient(tmp_path, case, fold=False, gradients=gradients)


@pytest.mark.parametrize("gradients", GRADIENTS)
@pytest.mark.parametrize("case", _folded_cases())
def test_gradient_from_logits_matches_finite_differences(
    tmp_path: Path, case: Case, gradients: str
) -> None:
    """The same with the softmax/sigmoid folded into the loss."""
    check_gradient(tmp_path, case, fold=True, gradients=gradients)


def check_gradient(tmp_path: Path, case: Case, fold: bool, gradients: str) -> None:
    """dLoss/dW from one training step against central differences of the reference."""
    loss = case.loss()
    graph = _gradient_graph(case, loss, fold)
    x, _, y_true = case.data(seed=2)
    w = np.random.default_rng(5).uniform(0.5, 1.5, size=case.concrete)
    label_dtype = np.int64 if loss.expects_sparse_labels else np.float32
    feeds = {"x": x.astype(np.float32), "y_true": y_true.astype(label_dtype)}
    x = feeds["x"].astype(np.float64)
    w32 = w.astype(np.float32)

    def reference(weights: np.ndarray) -> float:
        y_pred = ACTIVATIONS[case.pred](x * weights, case.softmax_axis)
        return loss.reference(y_pred, y_true)

    if gradients == "autodiff":
        value, grad = _autodiff_gradient(graph, w32, feeds)
    else:
        value, grad = _engine_gradient(_engine_model(graph), tmp_path, w32, feeds)
    base = w32.astype(np.float64)
    np.testing.assert_allclose(value, reference(base), rtol=1e-5, atol=1e-6)
    h = 1e-6
    expected = np.zeros_like(base)
    for index in np.ndindex(base.shape):
        step = np.zeros_like(base)
        step[index] = h
        expected[index] = (reference(base + step) - reference(base - step)) / (2 * h)
    scale = float(np.max(np.abs(expected)))
    assert scale > 0, "the loss does not depend on W"
    np.testing.assert_allclose(grad, expected, rtol=1e-3, atol=1e-4 * scale)
