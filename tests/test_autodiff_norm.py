"""specc.autodiff's normalization and dropout rules against central differences."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from specc.autodiff import differentiate
from specc.autodiff.core import RULES
from specc.graph import GraphBuilder, Value
from specc.types import TensorType
from tests.autodiff_harness import _run_any_shape, check_graph_gradients, check_op


def _normal(*shape: int, seed: int = 0) -> np.ndarray:
    return np.asarray(np.random.default_rng(seed).normal(size=shape), np.float32)


# (input shape, axis, scale/bias shape, epsilon): the forms specc's LayerNormalization
# emits (the trailing axes from ``axis`` on, scale and bias always given) and the others.
LAYER_NORM_CASES: list[tuple[tuple[int, ...], int, tuple[int, ...], float]] = [
    ((4, 6), -1, (6,), 1e-3),
    ((2, 3, 5), -1, (5,), 1e-5),
    ((2, 3, 5), 1, (3, 5), 1e-3),
    ((2, 3, 4, 5), -2, (4, 5), 1e-3),
    ((2, 3, 4), 0, (2, 3, 4), 1e-3),
]


@pytest.mark.parametrize(("x", "axis", "weights", "epsilon"), LAYER_NORM_CASES)
@pytest.mark.parametrize("outputs", [1, 3])
def test_layer_normalization(
    x: tuple[int, ...], axis: int, weights: tuple[int, ...], epsilon: float, outputs: int
) -> None:
    """With Mean and InvStdDev declared (as specc emits it) they are reused; with only Y,
    the statistics come from LayerNormalization run again."""
    b = GraphBuilder("g")
    xv = b.input("x", TensorType("float32", x[1:]))
    scale = b.parameter("scale", 1 + 0.3 * _normal(*weights, seed=1))
    bias = b.parameter("bias", _normal(*weights, seed=2))
    found = b.op("LayerNormalization", xv, scale, bias, axis=axis, epsilon=epsilon, outputs=outputs)
    y = found if outputs == 1 else found[0]
    b.output(y, "y", TensorType("float32", x[1:]))
    feeds = {"x": _normal(*x, seed=3)}
    assert check_graph_gradients(b.graph, ["x", "scale", "bias"], feeds) == []


def test_layer_normalization_without_bias() -> None:
    inputs = [_normal(3, 4, 5), 1 + _normal(5, seed=1)]
    assert check_op("LayerNormalization", inputs, {"axis": -1}) == []


def test_layer_normalization_statistics_outputs() -> None:
    """Gradients reaching Mean and InvStdDev themselves flow back to x."""
    b = GraphBuilder("g")
    x = b.input("x", TensorType("float32", (3, 5)))
    scale = b.parameter("scale", _normal(5, seed=1))
    y, mean, inv_std = b.op("LayerNormalization", x, scale, axis=-1, outputs=3)
    b.output(y, "y", TensorType("float32", (3, 5)))
    b.output(mean, "mean", TensorType("float32", (3, 1)))
    b.output(inv_std, "inv_std", TensorType("float32", (3, 1)))
    feeds = {"x": _normal(2, 3, 5, seed=2)}
    assert check_graph_gradients(b.graph, ["x", "scale"], feeds) == []
    # The statistics alone, without Y on the path.
    b.graph.outputs = b.graph.outputs[1:]
    assert check_graph_gradients(b.graph, ["x"], feeds) == []


@pytest.mark.parametrize("x", [(2, 3, 5), (2, 3, 4, 3), (1, 2, 3, 2, 2)])
def test_instance_normalization(x: tuple[int, ...]) -> None:
    inputs = [_normal(*x), 1 + _normal(x[1], seed=1), _normal(x[1], seed=2)]
    assert check_op("InstanceNormalization", inputs, {"epsilon": 1e-3}) == []


def test_instance_normalization_with_sizes_known_only_at_run_time() -> None:
    """The number of entries per statistic is found at run time."""
    b = GraphBuilder("g")
    x = b.input("x", TensorType("float32", (3, None)))
    scale = b.parameter("scale", 1 + _normal(3, seed=1))
    bias = b.parameter("bias", _normal(3, seed=2))
    y = b.op("InstanceNormalization", x, scale, bias)
    b.output(y, "y", TensorType("float32", (3, None)))
    feeds = {"x": _normal(2, 3, 7, seed=3)}
    assert check_graph_gradients(b.graph, ["x", "scale", "bias"], feeds) == []


def test_a_wrong_layer_normalization_rule_fails_its_check(monkeypatch: pytest.MonkeyPatch) -> None:
    """dx without the component along x_hat removed (treating the variance as constant)."""
    right = RULES["LayerNormalization"]

    def wrong(d, g):  # type: ignore[no-untyped-def]
        _, gs, gb = right(d, g)
        scaled = d.op("Mul", g[0], d.x(1))
        mean = d.op("ReduceSum", scaled, d.ints([-1]), keepdims=1)
        centred = d.op("Sub", scaled, d.op("Mul", mean, d.const(1.0 / d.shape(d.x(0))[-1])))
        return [d.op("Mul", centred, d.y(2)), gs, gb]

    monkeypatch.setitem(RULES, "LayerNormalization", wrong)
    b = GraphBuilder("g")
    x = b.input("x", TensorType("float32", (6,)))
    y, _, _ = b.op("LayerNormalization", x, b.parameter("s", _normal(6, seed=1)), outputs=3)
    b.output(y, "y", TensorType("float32", (6,)))
    assert check_graph_gradients(b.graph, ["x"], {"x": _normal(3, 6, seed=2)}) != []


def _dropout_gradient(
    x: np.ndarray, ratio: float, training: bool | None, fed: bool = False
) -> dict[str, Any]:
    """y = Dropout(x * w) for w = 1: the mask, y, and dy/dw of sum(y * probe). The
    training flag is a constant, or with ``fed`` a graph input."""
    b = GraphBuilder("g")
    xv = b.input("x", TensorType("float32", x.shape[1:]))
    w = b.parameter("w", np.ones(x.shape[1:], np.float32))
    inputs: list[Value | None] = [b.op("Mul", xv, w), b.constant(ratio, np.float32)]
    feeds = {"x": x}
    if fed:
        inputs.append(b.input("training", TensorType("bool", (), batched=False)))
        feeds["training"] = np.array(training)
    elif training is not None:
        inputs.append(b.constant(training, np.bool_))
    y, mask = b.op("Dropout", *inputs, outputs=2, seed=3)
    probe = b.constant(np.arange(x.size, dtype=np.float32).reshape(x.shape))
    loss = b.op("ReduceSum", b.op("Mul", y, probe), keepdims=0)
    grads = differentiate(b.graph, loss.name, ["w"])
    gw, m, yv = _run_any_shape(grads.graph, feeds, [grads.of["w"], mask.name, y.name], 17)
    return {"gw": gw, "mask": m, "y": yv, "probe": np.arange(x.size).reshape(x.shape)}


@pytest.mark.parametrize("ratio", [0.0, 0.3, 0.5, 0.9])
@pytest.mark.parametrize("fed", [False, True])
def test_dropout_in_training_scales_the_kept_entries(ratio: float, fed: bool) -> None:
    x = 1 + np.abs(_normal(4, 50))
    found = _dropout_gradient(x, ratio, True, fed)
    scale = 1 / (1 - ratio)
    np.testing.assert_allclose(found["y"], x * found["mask"] * scale, rtol=1e-6)
    # d/dw of sum(x * w * mask * scale * probe), w of shape (50,): summed over the batch.
    expected = np.sum(x * found["mask"] * scale * found["probe"], axis=0)
    np.testing.assert_allclose(found["gw"], expected, rtol=1e-5)


@pytest.mark.parametrize(("training", "fed"), [(False, False), (None, False), (False, True)])
def test_dropout_outside_training_is_the_identity(training: bool | None, fed: bool) -> None:
    """Unscaled, unlike onnxruntime-training's DropoutGrad."""
    x = _normal(4, 6)
    found = _dropout_gradient(x, 0.5, training, fed)
    np.testing.assert_allclose(found["gw"], np.sum(x * found["probe"], axis=0), rtol=1e-5)


def test_dropout_without_its_mask_is_refused_where_it_may_train() -> None:
    b = GraphBuilder("g")
    x = b.input("x", TensorType("float32", (5,)))
    flag = b.input("training", TensorType("bool", (), batched=False))
    w = b.parameter("w", _normal(5, seed=1))
    y = b.op("Dropout", b.op("Mul", x, w), b.constant(0.4, np.float32), flag)
    loss = b.op("ReduceSum", y, keepdims=0)
    with pytest.raises(NotImplementedError, match="mask"):
        differentiate(b.graph, loss.name, ["w"])


def test_specc_dropout_mask_takes_no_gradient() -> None:
    """specc multiplies x by Dropout applied to ones: nothing reaches the Dropout."""
    b = GraphBuilder("g")
    x = b.input("x", TensorType("float32", (5,)))
    w = b.parameter("w", _normal(5, seed=1))
    h = b.op("Mul", x, w)
    ones = b.op("Expand", b.constant(1.0, np.float32), b.op("Shape", h))
    flag = b.constant(True, np.bool_)
    mask, _ = b.op("Dropout", ones, b.constant(0.5, np.float32), flag, outputs=2)
    loss = b.op("ReduceSum", b.op("Mul", h, mask), keepdims=0)
    before = len(b.graph.nodes)
    grads = differentiate(b.graph, loss.name, ["w"])
    assert not any(n.op_type == "Where" for n in grads.graph.nodes[before:])


@pytest.mark.parametrize("opset", [18, 21])
def test_gradients_are_valid_at_later_opsets(opset: int) -> None:
    """The ops the rules emit keep their signatures up to opset 21."""
    inputs = [_normal(3, 4, 5), 1 + _normal(4, 5, seed=1), _normal(4, 5, seed=2)]
    assert check_op("LayerNormalization", inputs, {"axis": 1}, opset=opset) == []
    inputs = [_normal(2, 3, 5), 1 + _normal(3, seed=1), _normal(3, seed=2)]
    assert check_op("InstanceNormalization", inputs, opset=opset) == []
