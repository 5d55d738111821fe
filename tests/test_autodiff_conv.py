"""specc.autodiff's Conv, ConvTranspose, MatMul and Gemm rules against central differences."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from specc.autodiff.core import RULES
from specc.autodiff.rules import conv_weight
from specc.graph import GraphBuilder
from specc.types import TensorType
from tests.autodiff_harness import check_graph_gradients, check_op


def _normal(*shape: int, seed: int = 0) -> np.ndarray:
    return np.asarray(np.random.default_rng(seed).normal(size=shape), np.float32)


# (input shape, weight shape, attributes): every form specc's conv lowerings emit
# (explicit pads, strides, dilations, groups, depthwise) and the general ones.
CONV_CASES: list[tuple[tuple[int, ...], tuple[int, ...], dict[str, Any]]] = [
    ((2, 3, 7), (4, 3, 3), {"pads": [0, 0]}),
    ((2, 3, 8), (4, 3, 3), {"pads": [1, 1], "strides": [2]}),
    ((2, 2, 9), (3, 2, 2), {"pads": [0, 1], "strides": [3], "dilations": [2]}),
    ((2, 3, 6, 5), (4, 3, 3, 2), {"pads": [1, 0, 1, 1]}),
    ((2, 3, 7, 8), (2, 3, 3, 3), {"pads": [1, 1, 0, 1], "strides": [2, 3]}),
    ((1, 2, 9, 9), (3, 2, 3, 2), {"pads": [2, 1, 2, 0], "dilations": [2, 3]}),
    ((2, 4, 6, 6), (6, 2, 3, 3), {"pads": [1, 1, 1, 1], "group": 2}),
    ((2, 3, 7, 7), (6, 1, 3, 3), {"pads": [1, 1, 1, 1], "strides": [2, 2], "group": 3}),
    ((2, 4, 5, 6), (4, 1, 2, 3), {"group": 4, "dilations": [2, 1]}),
    ((1, 2, 4, 5, 4), (3, 2, 2, 3, 2), {"pads": [1, 0, 1, 0, 1, 0], "strides": [1, 2, 2]}),
    ((2, 3, 7, 6), (4, 3, 3, 3), {"auto_pad": "SAME_UPPER", "strides": [2, 2]}),
    ((2, 3, 7, 6), (4, 3, 2, 2), {"auto_pad": "SAME_LOWER"}),
    ((2, 3, 7, 6), (4, 3, 3, 3), {"auto_pad": "VALID", "kernel_shape": [3, 3]}),
    # Window entries copied out by strided, dilated, padded one-hot Convs, per group.
    ((2, 4, 9), (4, 1, 3), {"group": 4, "dilations": [2], "strides": [2], "pads": [2, 1]}),
    ((3, 2, 8, 7), (5, 2, 2, 3), {"strides": [3, 2], "dilations": [2, 1], "pads": [0, 2, 1, 0]}),
    ((1, 4, 5, 4, 5), (2, 2, 2, 2, 3), {"group": 2, "dilations": [1, 2, 1], "pads": [0, 1, 1] * 2}),
]


@pytest.mark.parametrize(("x", "w", "attrs"), CONV_CASES)
@pytest.mark.parametrize("bias", [True, False])
def test_conv(x: tuple[int, ...], w: tuple[int, ...], attrs: dict[str, Any], bias: bool) -> None:
    inputs = [_normal(*x), _normal(*w, seed=1)]
    if bias:
        inputs.append(_normal(w[0], seed=2))
    assert check_op("Conv", inputs, attrs) == []


def test_conv_with_spatial_sizes_known_only_at_run_time() -> None:
    """The input gradient is padded to the input's size at run time."""
    b = GraphBuilder("g")
    x = b.input("x", TensorType("float32", (3, None, None)))
    w = b.parameter("w", _normal(4, 3, 3, 2, seed=1))
    y = b.op("Conv", x, w, pads=[1, 0, 0, 1], strides=[2, 3])
    b.output(y, "y", TensorType("float32", (4, None, None)))
    k = b.parameter("k", _normal(2, 4, 1, 1, seed=2))
    z = b.op("Conv", b.op("Conv", x, w, pads=[1, 0, 0, 1], strides=[2, 3]), k)
    b.output(z, "z", TensorType("float32", (2, None, None)))
    feeds = {"x": _normal(2, 3, 8, 7, seed=3)}
    assert check_graph_gradients(b.graph, ["w", "k"], feeds) == []
    # The input's own gradient through the run-time pad: x as the differentiated value.
    assert check_graph_gradients(b.graph, ["x"], feeds) == []


# (input shape, weight shape, attributes) for ConvTranspose: weight (C, M / group, *k).
CONV_TRANSPOSE_CASES: list[tuple[tuple[int, ...], tuple[int, ...], dict[str, Any]]] = [
    ((2, 3, 5), (3, 4, 3), {}),
    ((2, 3, 5), (3, 2, 3), {"strides": [2], "pads": [1, 0], "output_padding": [1]}),
    ((2, 2, 4, 5), (2, 3, 3, 2), {"strides": [2, 3], "pads": [1, 1, 0, 1]}),
    (
        (1, 2, 4, 4),
        (2, 2, 2, 3),
        {"dilations": [2, 1], "strides": [2, 2], "output_padding": [1, 0]},
    ),
    ((2, 4, 3, 4), (4, 3, 3, 3), {"group": 2, "strides": [2, 1], "pads": [1, 1, 1, 1]}),
    (
        (2, 4, 3, 3),
        (4, 1, 3, 3),
        {"group": 4, "dilations": [1, 2], "output_padding": [0, 1], "strides": [1, 3]},
    ),
]


@pytest.mark.parametrize(("x", "w", "attrs"), CONV_TRANSPOSE_CASES)
def test_conv_transpose(x: tuple[int, ...], w: tuple[int, ...], attrs: dict[str, Any]) -> None:
    group = attrs.get("group", 1)
    inputs = [_normal(*x), _normal(*w, seed=1), _normal(w[1] * group, seed=2)]
    assert check_op("ConvTranspose", inputs, attrs) == []


# (input shape, weight shape, attributes, the weight gradient's form) around the choice.
FORM_CASES: list[tuple[tuple[int, ...], tuple[int, ...], dict[str, Any], str]] = [
    ((2, 3, 20, 19), (4, 3, 3, 3), {"pads": [1, 0, 1, 0], "dilations": [1, 2]}, "by_matmul"),
    ((2, 3, 17, 17), (4, 3, 2, 2), {"pads": [0, 0, 0, 0]}, "by_conv"),  # 256 positions
    ((2, 1, 20, 20), (4, 1, 3, 3), {"pads": [1, 1, 1, 1]}, "by_conv"),  # one channel
    ((2, 3, 9, 8), (4, 3, 3, 3), {"strides": [2, 1]}, "by_matmul"),
    ((2, 4, 7, 7), (4, 2, 3, 3), {"group": 2}, "by_matmul"),
    ((2, 1, 12), (3, 1, 4), {"pads": [2, 1], "dilations": [2]}, "by_matmul"),
    ((1, 2, 4, 5, 4), (3, 2, 2, 3, 2), {"strides": [1, 2, 2]}, "by_conv"),
]


@pytest.mark.parametrize(("x", "w", "attrs", "form"), FORM_CASES)
def test_conv_weight_gradient_takes_the_faster_form(
    x: tuple[int, ...],
    w: tuple[int, ...],
    attrs: dict[str, Any],
    form: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    other = "by_conv" if form == "by_matmul" else "by_matmul"

    def refuse(*args: object) -> None:
        raise AssertionError(f"{other} was not expected here")

    monkeypatch.setattr(conv_weight, other, refuse)
    assert check_op("Conv", [_normal(*x), _normal(*w, seed=1)], attrs) == []


def test_conv_weight_gradient_without_the_weights_shape(monkeypatch: pytest.MonkeyPatch) -> None:
    """A weight of unknown shape takes the weight-gradient Conv instead of the MatMul."""

    def refuse(*args: object) -> None:
        raise AssertionError("the MatMul form needs the weight's shape")

    monkeypatch.setattr(conv_weight, "by_matmul", refuse)
    b = GraphBuilder("g")
    x = b.input("x", TensorType("float32", (3, 6, 5)))
    w = b.input("w", TensorType("float32", (None, 3, 3, 2), batched=False))
    y = b.op("Conv", x, w, pads=[1, 0, 0, 1], strides=[2, 1], dilations=[1, 2])
    b.output(y, "y", TensorType("float32", (None, None, None)))
    feeds = {"x": _normal(2, 3, 6, 5), "w": _normal(4, 3, 3, 2, seed=1)}
    assert check_graph_gradients(b.graph, ["w"], feeds) == []


def test_conv_transpose_refuses_output_shape() -> None:
    inputs = [_normal(1, 2, 3), _normal(2, 2, 3, seed=1)]
    with pytest.raises(NotImplementedError, match="output_shape"):
        check_op("ConvTranspose", inputs, {"output_shape": [6], "strides": [2]})


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ((3, 4), (4, 5)),
        ((2, 3, 4), (4, 5)),
        ((3, 4), (2, 4, 5)),
        ((2, 1, 3, 4), (3, 4, 2)),
        ((3, 1), (1, 4)),
        ((4,), (4, 5)),
        ((4,), (2, 3, 4, 5)),
        ((3, 4), (4,)),
        ((2, 3, 4), (4,)),
        ((4,), (4,)),
    ],
)
def test_matmul(a: tuple[int, ...], b: tuple[int, ...]) -> None:
    assert check_op("MatMul", [_normal(*a), _normal(*b, seed=1)]) == []


def test_matmul_with_a_batch_known_only_at_run_time() -> None:
    b = GraphBuilder("g")
    x = b.input("x", TensorType("float32", (3, 4)))
    w = b.parameter("w", _normal(4, 2, seed=1))
    b.output(b.op("MatMul", x, w), "y", TensorType("float32", (3, 2)))
    assert check_graph_gradients(b.graph, ["w", "x"], {"x": _normal(5, 3, 4, seed=2)}) == []


@pytest.mark.parametrize(
    ("attrs", "c"),
    [
        ({}, (3, 5)),
        ({"transA": 1}, (5,)),
        ({"transB": 1, "alpha": 0.5}, (1, 5)),
        ({"transA": 1, "transB": 1, "alpha": 2.0, "beta": -1.5}, (3, 1)),
        ({"beta": 0.25}, (1,)),
        ({"alpha": 1.5}, None),
    ],
)
def test_gemm(attrs: dict[str, Any], c: tuple[int, ...] | None) -> None:
    a = _normal(*((4, 3) if attrs.get("transA") else (3, 4)))
    b = _normal(*((5, 4) if attrs.get("transB") else (4, 5)), seed=1)
    inputs = [a, b] if c is None else [a, b, np.asarray(_normal(*c, seed=2), np.float32).reshape(c)]
    assert check_op("Gemm", inputs, attrs) == []


def test_a_wrong_conv_rule_fails_its_check(monkeypatch: pytest.MonkeyPatch) -> None:
    right = RULES["Conv"]

    def wrong(d, g):  # type: ignore[no-untyped-def]
        gx, gw, gb = right(d, g)
        return [gx, d.op("Mul", gw, d.const(1.05)), gb]

    monkeypatch.setitem(RULES, "Conv", wrong)
    x, w, attrs = CONV_CASES[7]
    assert check_op("Conv", [_normal(*x), _normal(*w, seed=1)], attrs) != []


@pytest.mark.parametrize("opset", [18, 21])
def test_gradients_are_valid_at_later_opsets(opset: int) -> None:
    """The ops the rules emit keep their signatures up to opset 21."""
    x, w, attrs = CONV_CASES[7]
    assert check_op("Conv", [_normal(*x), _normal(*w, seed=1)], attrs, opset=opset) == []
    x, w, attrs = CONV_TRANSPOSE_CASES[4]
    inputs = [_normal(*x), _normal(*w, seed=1)]
    assert check_op("ConvTranspose", inputs, attrs, opset=opset) == []
    assert check_op("Gemm", [_normal(3, 4), _normal(5, 4)], {"transB": 1}, opset=opset) == []
