"""specc.autodiff's pooling rules against central differences, and where max pooling sends
the gradient of a tie."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from specc.autodiff import DEFAULT_FORMS, GradientForms, differentiate
from specc.autodiff.core import RULES
from specc.autodiff.rules import pool
from specc.graph import GraphBuilder
from specc.types import TensorType
from tests.autodiff_harness import _run_any_shape, check_graph_gradients, check_op


def _normal(*shape: int, seed: int = 0) -> np.ndarray:
    return np.asarray(np.random.default_rng(seed).normal(size=shape), np.float32)


def _distinct(*shape: int, seed: int = 0) -> np.ndarray:
    """Values 0.1 apart in random order: no central-difference step crosses a tie."""
    order = np.random.default_rng(seed).permutation(int(np.prod(shape)))
    return (0.1 * order - 0.05 * order.size).reshape(shape).astype(np.float32)


# Every form specc's pooling lowerings emit (kernel, strides, explicit pads; global max
# pooling as one window over the input) and the general ones.
MAX_POOL_CASES: list[tuple[tuple[int, ...], dict[str, Any]]] = [
    ((2, 3, 8), {"kernel_shape": [2], "strides": [2]}),
    ((2, 3, 7), {"kernel_shape": [3], "strides": [1], "pads": [1, 1]}),
    ((2, 2, 6, 7), {"kernel_shape": [2, 2], "strides": [2, 2]}),
    ((2, 2, 6, 7), {"kernel_shape": [3, 3], "strides": [2, 1], "pads": [1, 0, 1, 1]}),
    ((2, 2, 5, 6), {"kernel_shape": [5, 6]}),
    ((1, 2, 4, 5, 6), {"kernel_shape": [2, 2, 3], "strides": [2, 1, 3]}),
    ((2, 2, 7, 7), {"kernel_shape": [3, 2], "strides": [2, 2], "ceil_mode": 1}),
    ((2, 2, 7, 8), {"kernel_shape": [2, 2], "dilations": [2, 3]}),
    ((2, 2, 7, 6), {"kernel_shape": [3, 3], "strides": [2, 2], "auto_pad": "SAME_UPPER"}),
    ((2, 2, 6, 6), {"kernel_shape": [2, 2], "storage_order": 1}),
]


# The gradient that finds each window's first maximum by ArgMax, without MaxPool's Indices.
ARGMAX = GradientForms(max_pool_indices=False)


@pytest.mark.parametrize(("x", "attrs"), MAX_POOL_CASES)
@pytest.mark.parametrize("forms", [GradientForms(), ARGMAX], ids=["indices", "argmax"])
def test_max_pool(x: tuple[int, ...], attrs: dict[str, Any], forms: GradientForms) -> None:
    assert check_op("MaxPool", [_distinct(*x)], attrs, forms=forms) == []


@pytest.mark.parametrize(("x", "attrs"), MAX_POOL_CASES)
def test_max_pool_without_indices_sends_ties_where_the_indices_do(
    x: tuple[int, ...], attrs: dict[str, Any]
) -> None:
    """Both forms, on values with many ties (and -inf in some windows), give the same
    gradient, bit for bit; the ArgMax form reads no Indices output."""
    values = np.random.default_rng(4).integers(0, 3, x).astype(np.float32)
    values.reshape(-1)[::7] = -np.inf
    with_indices = _max_pool_gradient(values, attrs, x)
    without = _max_pool_gradient(values, attrs, x, ARGMAX)
    np.testing.assert_array_equal(without, with_indices)
    assert not _pool_index_readers(x, attrs, ARGMAX)


@pytest.mark.parametrize("storage_order", [0, 1])
def test_max_pool_with_its_indices_declared(storage_order: int) -> None:
    """The forward Indices are used where they are row-major, else MaxPool runs again."""
    b = GraphBuilder("g")
    x = b.input("x", TensorType("float32", (3, 6, 6)))
    attrs = {"kernel_shape": [3, 2], "strides": [1, 2], "storage_order": storage_order}
    y, _ = b.op("MaxPool", x, outputs=2, **attrs)
    b.output(y, "y", TensorType("float32", (3, 4, 3)))
    assert check_graph_gradients(b.graph, ["x"], {"x": _distinct(2, 3, 6, 6)}) == []


@pytest.mark.parametrize(("storage_order", "pools"), [(0, 1), (1, 2)])
def test_the_forward_max_pool_gives_the_indices(storage_order: int, pools: int) -> None:
    """The pooling runs once, its Indices declared on the forward node; column-major
    Indices (storage_order 1) need a second, row-major pooling."""
    attrs = {"kernel_shape": [2, 2], "strides": [2, 2], "storage_order": storage_order}
    b, loss = _max_pool_loss((2, 2, 6, 6), attrs)
    graph = differentiate(b.graph, loss, ["x"]).graph
    found = [n for n in graph.nodes if n.op_type == "MaxPool"]
    assert len(found) == pools
    # The forward node gives them, or the second pooling does.
    assert len(found[-1].outputs) == 2
    assert check_op("MaxPool", [_distinct(2, 2, 6, 6)], attrs) == []


def _max_pool_loss(shape: tuple[int, ...], attrs: dict[str, Any]) -> tuple[GraphBuilder, str]:
    """sum(MaxPool(x)) for x of ``shape``."""
    b = GraphBuilder("g")
    xv = b.input("x", TensorType("float32", shape[1:]))
    loss = b.op("ReduceSum", b.op("MaxPool", xv, **attrs), keepdims=0)
    b.output(loss, "loss", TensorType("float32", (), batched=False))
    return b, loss.name


def _max_pool_gradient(
    x: np.ndarray,
    attrs: dict[str, Any],
    shape: tuple[int, ...],
    forms: GradientForms = DEFAULT_FORMS,
) -> Any:
    """d sum(MaxPool(x)) / dx."""
    b, loss = _max_pool_loss(shape, attrs)
    grads = differentiate(b.graph, loss, ["x"], forms=forms)
    (found,) = _run_any_shape(grads.graph, {"x": x}, [grads.of["x"]], 17)
    return found


def _pool_index_readers(
    shape: tuple[int, ...], attrs: dict[str, Any], forms: GradientForms
) -> list[str]:
    """The gradient graph's MaxPool nodes that give their Indices output."""
    b, loss = _max_pool_loss(shape, attrs)
    graph = differentiate(b.graph, loss, ["x"], forms=forms).graph
    return [n.name for n in graph.nodes if n.op_type == "MaxPool" and len(n.outputs) > 1]


@pytest.mark.parametrize("forms", [GradientForms(), ARGMAX], ids=["indices", "argmax"])
def test_a_tie_sends_the_gradient_to_the_first_maximum(forms: GradientForms) -> None:
    """As onnxruntime's MaxPool picks, and its training MaxPoolGrad sends: to the first
    entry of the window holding the maximum; overlapping windows add up."""
    x = np.array([[[[0, 3, 3, 1]]]], np.float32)
    found = _max_pool_gradient(x, {"kernel_shape": [1, 2]}, x.shape, forms)
    # Windows (0, 1), (1, 2) (a tie: the first) and (2, 3).
    np.testing.assert_array_equal(found, [[[[0, 2, 1, 0]]]])


@pytest.mark.parametrize("forms", [GradientForms(), ARGMAX], ids=["indices", "argmax"])
def test_max_pool_with_spatial_sizes_known_only_at_run_time(forms: GradientForms) -> None:
    """Without static sizes the ArgMax form has no tables: the Indices form is used."""
    b = GraphBuilder("g")
    x = b.input("x", TensorType("float32", (2, None, None)))
    w = b.parameter("w", _normal(3, 2, 1, 1, seed=1))
    y = b.op("MaxPool", b.op("Conv", x, w), kernel_shape=[2, 3], strides=[2, 2], pads=[1, 0, 0, 1])
    b.output(y, "y", TensorType("float32", (3, None, None)))
    feeds = {"x": _distinct(2, 2, 7, 6, seed=2)}
    assert check_graph_gradients(b.graph, ["w"], feeds, forms=forms) == []


def test_a_wrong_first_maximum_fails_its_check(monkeypatch: pytest.MonkeyPatch) -> None:
    """The ArgMax form's positions are checked: each one entry off is caught."""
    right = pool._first_maxima

    def wrong(d, x):  # type: ignore[no-untyped-def]
        one = d.b.constant(1, np.int64)
        return d.op("Clip", d.op("Sub", right(d, x), one), d.b.constant(0, np.int64), None)

    monkeypatch.setattr(pool, "_first_maxima", wrong)
    x, attrs = MAX_POOL_CASES[2]
    assert check_op("MaxPool", [_distinct(*x)], attrs, forms=ARGMAX) != []


@pytest.mark.parametrize("x", [(2, 3, 5), (2, 3, 4, 5), (1, 2, 3, 2, 4)])
def test_global_max_pool(x: tuple[int, ...]) -> None:
    assert check_op("GlobalMaxPool", [_distinct(*x)]) == []


@pytest.mark.parametrize("x", [(2, 3, 5), (2, 3, 4, 5), (1, 2, 3, 2, 4)])
def test_global_average_pool(x: tuple[int, ...]) -> None:
    assert check_op("GlobalAveragePool", [_normal(*x)]) == []


@pytest.mark.parametrize("op", ["GlobalAveragePool", "GlobalMaxPool"])
def test_global_pool_with_spatial_sizes_known_only_at_run_time(op: str) -> None:
    b = GraphBuilder("g")
    x = b.input("x", TensorType("float32", (2, None, None)))
    w = b.parameter("w", _normal(3, 2, 1, 1, seed=1))
    b.output(b.op(op, b.op("Conv", x, w)), "y", TensorType("float32", (3, 1, 1)))
    assert check_graph_gradients(b.graph, ["w"], {"x": _normal(2, 2, 5, 4, seed=2)}) == []


# ceil_mode windows run past the (padded) end: 8 - 3 and 6 - 2 (+ 1) are odd.
AVERAGE_POOL_CASES: list[tuple[tuple[int, ...], dict[str, Any]]] = [
    ((2, 3, 8), {"kernel_shape": [2], "strides": [2]}),
    ((2, 3, 7), {"kernel_shape": [3], "pads": [1, 1]}),
    ((2, 3, 7), {"kernel_shape": [3], "pads": [1, 1], "count_include_pad": 1}),
    ((2, 2, 6, 7), {"kernel_shape": [3, 2], "strides": [2, 3], "pads": [1, 0, 1, 1]}),
    ((2, 2, 8, 7), {"kernel_shape": [3, 3], "strides": [2, 2], "ceil_mode": 1}),
    (
        (2, 2, 8, 6),
        {"kernel_shape": [3, 2], "strides": [2, 2], "ceil_mode": 1, "pads": [1, 1, 0, 0]},
    ),
    ((2, 2, 7, 6), {"kernel_shape": [3, 3], "strides": [2, 2], "auto_pad": "SAME_UPPER"}),
    (
        (1, 2, 4, 5, 6),
        {"kernel_shape": [2, 2, 3], "strides": [2, 1, 3], "pads": [0, 1, 1, 1, 0, 1]},
    ),
]


@pytest.mark.parametrize(("x", "attrs"), AVERAGE_POOL_CASES)
def test_average_pool(x: tuple[int, ...], attrs: dict[str, Any]) -> None:
    assert check_op("AveragePool", [_normal(*x)], attrs) == []


def test_average_pool_under_ceil_mode_counting_padding_is_refused() -> None:
    attrs = {"kernel_shape": [3], "strides": [2], "ceil_mode": 1, "count_include_pad": 1}
    with pytest.raises(NotImplementedError, match="count_include_pad"):
        check_op("AveragePool", [_normal(2, 2, 8)], attrs)


@pytest.mark.parametrize("count_include_pad", [0, 1])
def test_average_pool_with_spatial_sizes_known_only_at_run_time(count_include_pad: int) -> None:
    b = GraphBuilder("g")
    x = b.input("x", TensorType("float32", (2, None, None)))
    w = b.parameter("w", _normal(3, 2, 1, 1, seed=1))
    pads = [0, 0, 0, 0] if not count_include_pad else [1, 0, 0, 1]
    y = b.op(
        "AveragePool",
        b.op("Conv", x, w),
        kernel_shape=[2, 3],
        strides=[2, 2],
        pads=pads,
        count_include_pad=count_include_pad,
    )
    b.output(y, "y", TensorType("float32", (3, None, None)))
    assert check_graph_gradients(b.graph, ["w"], {"x": _normal(2, 2, 7, 6, seed=2)}) == []


def test_a_wrong_max_pool_rule_fails_its_check(monkeypatch: pytest.MonkeyPatch) -> None:
    """Overlapping windows that pick one entry must add up: a scatter that keeps only one
    of them is caught."""
    right = RULES["MaxPool"]

    def wrong(d, g):  # type: ignore[no-untyped-def]
        (gx,) = right(d, g)
        for node in d.b.graph.nodes:
            if node.op_type == "ScatterElements" and node.name.startswith("grad/"):
                node.attributes["reduction"] = "none"
        return [gx]

    monkeypatch.setitem(RULES, "MaxPool", wrong)
    x, attrs = MAX_POOL_CASES[1]
    assert check_op("MaxPool", [_distinct(*x)], attrs) != []


def test_indices_reaching_the_output_carry_nothing() -> None:
    b = GraphBuilder("g")
    x = b.input("x", TensorType("float32", (1, 4, 4)))
    w = b.parameter("w", _normal(1, 1, 1, 1))
    y, indices = b.op("MaxPool", b.op("Conv", x, w), kernel_shape=[2, 2], outputs=2)
    b.output(b.op("Add", b.op("Cast", indices, to=1), y), "z", TensorType("float32", (1, 3, 3)))
    assert check_graph_gradients(b.graph, ["w"], {"x": _distinct(2, 1, 4, 4)}) == []


@pytest.mark.parametrize("opset", [18, 21])
def test_gradients_are_valid_at_later_opsets(opset: int) -> None:
    """The ops the rules emit keep their signatures up to opset 21."""
    for op, (x, attrs) in [("MaxPool", MAX_POOL_CASES[3]), ("AveragePool", AVERAGE_POOL_CASES[5])]:
        assert check_op(op, [_distinct(*x)], attrs, opset=opset) == []
    for op in ("GlobalMaxPool", "GlobalAveragePool"):
        assert check_op(op, [_distinct(2, 3, 4)], opset=opset) == []


def _placements(x: tuple[int, ...], attrs: dict[str, Any]) -> list[str]:
    """How MaxPool's gradient graph puts the gradients in place: each MaxUnpool, and each
    ScatterElements with its reduction."""
    b = GraphBuilder("g")
    xv = b.input("x", TensorType("float32", x[1:]))
    loss = b.op("ReduceSum", b.op("MaxPool", xv, **attrs), keepdims=0)
    b.output(loss, "loss", TensorType("float32", (), batched=False))
    graph = differentiate(b.graph, loss.name, ["x"]).graph
    return [
        n.op_type
        if n.op_type == "MaxUnpool"
        else f"ScatterElements {n.attributes.get('reduction', 'none')}"
        for n in graph.nodes
        if n.op_type in ("MaxUnpool", "ScatterElements")
    ]


@pytest.mark.parametrize(
    ("attrs", "placement"),
    [
        ({"kernel_shape": [2, 2], "strides": [2, 2]}, "MaxUnpool"),
        ({"kernel_shape": [3, 2], "strides": [3, 2], "pads": [1, 0, 1, 1]}, "MaxUnpool"),
        ({"kernel_shape": [2, 2], "strides": [3, 3], "ceil_mode": 1}, "MaxUnpool"),
        ({"kernel_shape": [2, 2], "strides": [4, 3], "dilations": [2, 1]}, "MaxUnpool"),
        ({"kernel_shape": [2, 2], "strides": [2, 2], "dilations": [2, 1]}, "ScatterElements add"),
        ({"kernel_shape": [2, 2], "strides": [2, 1]}, "ScatterElements add"),
        ({"kernel_shape": [2, 2]}, "ScatterElements add"),
    ],
)
def test_only_overlapping_windows_add_their_gradients(
    attrs: dict[str, Any], placement: str
) -> None:
    """Disjoint windows send each entry at most one gradient: MaxUnpool writes them where
    the Indices say (M2's step ~7% faster than a ScatterElements on two threads); where
    windows overlap, ScatterElements adds them up."""
    assert _placements((2, 2, 7, 8), attrs) == [placement]
    assert check_op("MaxPool", [_distinct(2, 2, 7, 8)], attrs) == []


def test_a_tie_in_disjoint_windows_goes_to_the_first_maximum_only() -> None:
    x = np.array([[[[0, 3, 3, 1, 2, 2]]]], np.float32)
    found = _max_pool_gradient(x, {"kernel_shape": [1, 2], "strides": [1, 2]}, x.shape)
    # Windows (0, 1), (2, 3) and (4, 5), the last a tie.
    np.testing.assert_array_equal(found, [[[[0, 1, 1, 0, 1, 0]]]])


def test_overlapping_windows_taken_for_disjoint_fail_their_check(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The write without adding is exact only for disjoint windows: its check can fail."""
    monkeypatch.setattr(pool, "windows_are_disjoint", lambda d: True)
    x, attrs = MAX_POOL_CASES[1]
    assert check_op("MaxPool", [_distinct(*x)], attrs) != []


def _relu_pool_graph(attrs: dict[str, Any], second_reader: bool = False) -> Any:
    """Conv -> Relu -> MaxPool; with ``second_reader`` the Relu's output is also read by a
    Mul by zero added to the output (no change to any value or gradient)."""
    b = GraphBuilder("g")
    x = b.input("x", TensorType("float32", (2, 6, 7)))
    w = b.parameter("w", _normal(3, 2, 1, 1, seed=5))
    relu = b.op("Relu", b.op("Conv", x, w))
    y = b.op("MaxPool", relu, **attrs)
    if second_reader:
        zero = b.op("ReduceSum", b.op("Mul", relu, b.constant(0.0)), keepdims=1)
        y = b.op("Add", y, zero)
    return b, y


@pytest.mark.parametrize(
    "attrs",
    [{"kernel_shape": [2, 2], "strides": [2, 2]}, {"kernel_shape": [3, 2], "strides": [1, 2]}],
)
def test_max_pool_over_a_relu_masks_the_pooled_gradient(attrs: dict[str, Any]) -> None:
    """A Relu read by the MaxPool alone: its mask is applied to the pooled gradient, the
    Relu passes the gradient on, and the weights' gradient is what the Relu's own mask
    gives (bit for bit) and what central differences measure."""
    feeds = {"x": _distinct(2, 2, 6, 7, seed=6)}  # half of the Conv's outputs negative
    grads = []
    for second in (False, True):
        b, y = _relu_pool_graph(attrs, second)
        shape = (3, 5, 3) if attrs["strides"] == [2, 2] else (3, 4, 3)
        b.output(y, "y", TensorType("float32", shape))
        assert check_graph_gradients(b.graph, ["w"], feeds) == []
        loss = b.op("ReduceSum", y, keepdims=0)
        found = differentiate(b.graph, loss.name, ["w"])
        masks = [
            n for n in found.graph.nodes if n.op_type == "Greater" and n.name.startswith("grad/")
        ]
        # One mask: on the pooled side, or (with a second reader) the Relu's own.
        assert len(masks) == 1
        assert masks[0].inputs[0] == (relu_output(found.graph) if second else y.name)
        (value,) = _run_any_shape(found.graph, feeds, [found.of["w"]], 17)
        grads.append(value)
    np.testing.assert_array_equal(grads[0], grads[1])


def relu_output(graph: Any) -> str:
    return next(n.outputs[0] for n in graph.nodes if n.op_type == "Relu")


def test_a_pooled_gradient_marked_but_not_masked_fails_its_check(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The Relu trusts the MaxPool's mark: a mark without the mask is caught."""

    def unmasked(d, x, gy):  # type: ignore[no-untyped-def]
        d.forward.positive_only.add(x.name)
        return gy

    monkeypatch.setattr(pool, "_masked_for_relu", unmasked)
    b, y = _relu_pool_graph({"kernel_shape": [2, 2], "strides": [2, 2]})
    b.output(y, "y", TensorType("float32", (3, 5, 3)))
    assert check_graph_gradients(b.graph, ["w"], {"x": _distinct(2, 2, 6, 7, seed=6)}) != []
