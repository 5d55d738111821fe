"""Gradients of the shape and indexing ops against central differences: every attribute
form specc's lowerings emit (and the general ones), static and run-time dimensions."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

import tests.autodiff_harness as harness
from specc.autodiff import GradientForms, differentiate
from specc.autodiff.core import RULES
from specc.graph import Graph, GraphBuilder, Value
from specc.onnx_model import to_model_proto, value_types
from specc.types import TensorType
from tests.autodiff_harness import check_graph_gradients, check_op, op_graph

INT64_MAX = np.iinfo(np.int64).max
I = np.int64  # noqa: E741  (index arrays read better short)


def normal(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


def ints(*values: int) -> np.ndarray:
    return np.array(values, np.int64)


@pytest.fixture
def at_opset() -> Iterator[Callable[[int], None]]:
    """Run the checks at a later opset (forms such as Pad's axes input exist from 18)."""
    patch = pytest.MonkeyPatch()
    run = harness._run_any_shape

    def use(opset: int) -> None:
        patch.setattr(harness, "_run_any_shape", lambda g, f, n, _: run(g, f, n, opset))
        patch.setattr(
            harness,
            "differentiate",
            lambda g, loss, wrt, forms: differentiate(g, loss, wrt, value_types(g, opset), forms),
        )

    yield use
    patch.undo()


def loosened(graph: Graph) -> Graph:
    """``graph`` with the first axis of every input and output known only at run time."""

    def loose(t: TensorType) -> TensorType:
        return TensorType(t.dtype, t.shape[1:], batched=True)

    graph.inputs = [(n, loose(t)) for n, t in graph.inputs]
    graph.outputs = [(n, loose(t)) for n, t in graph.outputs]
    return graph


def check_dynamic(op_type: str, inputs: list, attributes: dict | None = None, **kw) -> list[str]:  # type: ignore[type-arg]
    """``check_op`` with the first axis of every float input variable."""
    graph, wrt, feeds = op_graph(op_type, inputs, attributes, **kw)
    return check_graph_gradients(loosened(graph), wrt, feeds)


# -- reshapes and transposes ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("op", "inputs", "attributes"),
    [
        ("Reshape", [normal(2, 3, 4), ints(6, -1)], {}),
        ("Reshape", [normal(2, 3, 4), ints(0, 12)], {}),
        ("Flatten", [normal(2, 3, 4)], {"axis": 1}),
        ("Flatten", [normal(2, 3, 4)], {"axis": 0}),
        ("Flatten", [normal(2, 3, 4)], {"axis": -1}),
        ("Squeeze", [normal(2, 1, 3, 1), ints(1, -1)], {}),
        ("Squeeze", [normal(1, 3, 1)], {}),
        ("Unsqueeze", [normal(2, 3), ints(0, -1)], {}),
        ("Transpose", [normal(2, 3, 4)], {"perm": [1, 2, 0]}),
        ("Transpose", [normal(2, 3, 4)], {}),
        ("Transpose", [normal(2, 3, 4, 5)], {"perm": [0, 3, 1, 2]}),
    ],
)
def test_reshapes_and_transposes(op: str, inputs: list, attributes: dict) -> None:  # type: ignore[type-arg]
    assert check_op(op, inputs, attributes) == []
    if op != "Squeeze" or len(inputs) > 1:  # without axes a variable axis might squeeze
        assert check_dynamic(op, inputs, attributes) == []


# -- joins, splits, broadcasts ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("shapes", "axis"),
    [([(2, 3), (2, 4)], 1), ([(2, 3), (1, 3), (4, 3)], 0), ([(2, 3, 1), (2, 3, 2)], -1)],
)
def test_concat(shapes: list[tuple[int, ...]], axis: int) -> None:
    inputs = [normal(*s, seed=k) for k, s in enumerate(shapes)]
    assert check_op("Concat", inputs, {"axis": axis}) == []
    # Along the variable axis the lengths are read at run time.
    assert check_dynamic("Concat", inputs, {"axis": axis}) == []


def test_concat_of_one_input_and_of_a_constant() -> None:
    assert check_op("Concat", [normal(2, 3)], {"axis": 0}) == []
    x, c = normal(2, 3), normal(2, 2, seed=1)
    assert check_op("Concat", [x, c], {"axis": 1}, constant={1}) == []


@pytest.mark.parametrize(
    ("inputs", "attributes", "outputs"),
    [
        ([normal(2, 6), ints(1, 2, 3)], {"axis": 1}, 3),
        ([normal(6, 2), None], {"axis": 0}, 2),  # equal pieces (no split input)
        ([normal(2, 3, 4), ints(1, 3)], {"axis": -1}, 2),
    ],
)
def test_split(inputs: list, attributes: dict, outputs: int) -> None:  # type: ignore[type-arg]
    assert check_op("Split", inputs, attributes, outputs=outputs) == []


def test_split_with_pieces_no_gradient_reaches() -> None:
    graph, wrt, feeds = op_graph("Split", [normal(2, 6), ints(1, 2, 3)], {"axis": 1}, outputs=3)
    graph.outputs = [graph.outputs[1]]  # the first and last pieces reach no loss
    assert check_graph_gradients(graph, wrt, feeds) == []
    assert check_graph_gradients(loosened(graph), wrt, feeds) == []


@pytest.mark.parametrize(
    ("x", "shape"),
    [((3, 1), (2, 3, 4)), ((4,), (3, 4)), ((2, 1, 3), (2, 5, 3)), ((1, 3), (1, 1))],
)
def test_expand(x: tuple[int, ...], shape: tuple[int, ...]) -> None:
    assert check_op("Expand", [normal(*x), ints(*shape)]) == []


@pytest.mark.parametrize(("x", "repeats"), [((2, 1, 3), (1, 4, 1)), ((2, 3), (3, 2))])
def test_tile(x: tuple[int, ...], repeats: tuple[int, ...]) -> None:
    inputs = [normal(*x), ints(*repeats)]
    assert check_op("Tile", inputs) == []
    assert check_dynamic("Tile", inputs) == []


def test_tile_with_repeats_known_only_at_run_time() -> None:
    b = GraphBuilder("g")
    x = b.input("x", TensorType("float32", (3,), batched=False))
    # repeats = (2,) read off another input's shape.
    repeats = b.op("Shape", b.input("r", TensorType("float32", (2,), batched=False)))
    b.output(b.op("Tile", x, repeats), "y", TensorType("float32", (6,), batched=False))
    feeds = {"x": normal(3), "r": normal(2)}
    assert check_graph_gradients(b.graph, ["x"], feeds) == []


# -- padding --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "pads",
    [(0, 1, 0, 2), (1, 0, 2, 3), (0, -1, 0, -2), (1, -1, -1, 2)],
    ids=["ends", "both", "crop", "mixed"],
)
def test_pad(pads: tuple[int, ...]) -> None:
    inputs = [normal(3, 4), ints(*pads)]
    assert check_op("Pad", inputs, {"mode": "constant"}) == []
    assert check_dynamic("Pad", inputs) == []


def test_pad_value_and_run_time_pads() -> None:
    # The fill value takes the gradient of the padded cells.
    # One element, not 0-d: a perturbed 0-d feed is a NumPy scalar onnxruntime refuses.
    inputs = [normal(2, 3), ints(1, 0, 0, 2), normal(1)]
    assert check_op("Pad", inputs, {"mode": "constant"}) == []
    b = GraphBuilder("g")
    x = b.input("x", TensorType("float32", (3,)))
    pads = b.op("Concat", b.op("Shape", x, start=1), b.constant([0, 1, 2], np.int64), axis=0)
    b.output(b.op("Pad", x, pads), "y", TensorType("float32", (None,)))
    assert check_graph_gradients(b.graph, ["x"], {"x": normal(2, 3)}) == []


def test_pad_with_axes(at_opset: Callable[[int], None]) -> None:
    at_opset(18)
    inputs = [normal(2, 3, 4), ints(1, -1, 2, 0), None, ints(-1, 0)]
    assert check_op("Pad", inputs, {"mode": "constant"}) == []


def test_pad_reflect_is_refused() -> None:
    with pytest.raises(NotImplementedError, match="Pad 'Pad' with mode='reflect'"):
        check_op("Pad", [normal(3, 4), ints(0, 1, 0, 1)], {"mode": "reflect"})


@pytest.mark.parametrize(
    ("op", "shape", "attributes"),
    [
        ("DepthToSpace", (1, 8, 2, 3), {"blocksize": 2}),
        ("DepthToSpace", (2, 4, 2, 2), {"blocksize": 2, "mode": "DCR"}),
        ("SpaceToDepth", (1, 2, 4, 6), {"blocksize": 2}),
    ],
)
def test_depth_and_space(op: str, shape: tuple[int, ...], attributes: dict) -> None:  # type: ignore[type-arg]
    assert check_op(op, [normal(*shape)], attributes) == []


def test_depth_to_space_crd_is_refused() -> None:
    with pytest.raises(NotImplementedError, match="mode='CRD'"):
        check_op("DepthToSpace", [normal(1, 8, 2, 3)], {"blocksize": 2, "mode": "CRD"})


# -- slicing --------------------------------------------------------------------------------

SLICES = {
    "one axis": [ints(1), ints(3), ints(1)],
    "clamped": [ints(-3, 1), ints(INT64_MAX, 100), ints(1, 2)],
    "negative end": [ints(0, 1), ints(-1, -1), ints(0, 1)],
    "empty": [ints(3), ints(1), ints(1)],
    "default axes": [ints(1, 0), ints(3, 2)],
    "step 2": [ints(0, 1), ints(5, 4), ints(1, 2), ints(2, 2)],
    "negative step": [ints(-1), ints(-INT64_MAX - 1), ints(0), ints(-1)],
    "negative step clamped": [ints(10, 3), ints(0, -100), ints(0, 1), ints(-2, -3)],
    "negative axis": [ints(1), ints(3), ints(-1), ints(-2)],
}


@pytest.mark.parametrize("bounds", SLICES.values(), ids=SLICES.keys())
def test_slice(bounds: list[np.ndarray]) -> None:
    inputs = [normal(5, 4, 3), *bounds]
    assert check_op("Slice", inputs) == []
    assert check_dynamic("Slice", inputs) == []


def test_slice_with_bounds_known_only_at_run_time() -> None:
    for steps in ([1, 1], [2, -1]):
        b = GraphBuilder("g")
        x = b.input("x", TensorType("float32", (6, 4)))
        # ends = (batch - 1, -1) and starts = (batch // 2, 3): from the run-time shape.
        batch = b.op("Shape", x, end=1)
        ends = b.op("Concat", b.op("Sub", batch, b.constant([1], I)), b.constant([-1], I), axis=0)
        half = b.op("Div", batch, b.constant([2], I))
        starts = b.op("Concat", half, b.constant([3], I), axis=0)
        steps_value = b.constant(steps, I)
        y = b.op("Slice", x, starts, ends, b.constant([0, 2], I), steps_value)
        b.output(y, "y", TensorType("float32", (6, None)))
        assert check_graph_gradients(b.graph, ["x"], {"x": normal(7, 6, 4)}) == []


# -- gathering ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shape", "indices", "axis"),
    [
        ((5, 3), ints(0, 2, 2, 4), 0),  # repeated indices accumulate
        ((5, 3), np.array([[1, -1], [0, 1]], I), 0),  # negative, 2-D indices
        ((5, 3), np.array(-2, I), 0),  # a scalar index
        ((2, 5, 3), np.array([[4, 4, 0]], I), 1),
        ((2, 5, 3), ints(2, -3), -1),
    ],
)
def test_gather(shape: tuple[int, ...], indices: np.ndarray, axis: int) -> None:
    inputs = [normal(*shape), indices]
    assert check_op("Gather", inputs, {"axis": axis}) == []
    assert check_dynamic("Gather", inputs, {"axis": axis}) == []


@pytest.mark.parametrize(
    ("shape", "order", "axis"),
    [((4, 3), ints(2, 0, 3, 1), 0), ((2, 3, 2), ints(-1, 0, 1), 1)],
)
def test_gather_by_a_reordering(shape: tuple[int, ...], order: np.ndarray, axis: int) -> None:
    """Constant indices that read every position once (the LSTM lowering's gate order):
    the gradient is gathered back by the inverse order, with no zeros and no scatter."""
    inputs = [normal(*shape), order]
    assert check_op("Gather", inputs, {"axis": axis}) == []
    graph, wrt, _ = op_graph("Gather", inputs, {"axis": axis})
    b = GraphBuilder.extending(graph)
    loss = b.op("ReduceSum", Value("y0"), keepdims=0)
    added = differentiate(b.graph, loss.name, wrt).graph.nodes[len(b.graph.nodes) :]
    ops = {n.op_type for n in added}
    assert "Gather" in ops and not ops & {"ConstantOfShape", "ScatterND", "ScatterElements"}


def test_gather_as_an_embedding() -> None:
    """Embedding's form: a weight table gathered by a batch of integer ids."""
    b = GraphBuilder("g")
    ids = b.input("ids", TensorType("int64", (4,)))
    table = b.parameter("table", normal(6, 3))
    b.output(b.op("Gather", table, ids, axis=0), "y", TensorType("float32", (4, 3)))
    feeds = {"ids": np.array([[0, 5, 5, 2], [1, 1, 1, 0]], I)}
    assert check_graph_gradients(b.graph, ["table"], feeds) == []


def _gathered_by_a_batch(table: np.ndarray, axis: int) -> tuple[Graph, str]:
    """A weight gathered along ``axis`` by a batch of id pairs, summed into ``loss``."""
    b = GraphBuilder("g")
    ids = b.input("ids", TensorType("int64", (2,)))
    gathered = b.op("Gather", b.parameter("table", table), ids, axis=axis)
    loss = b.op("ReduceSum", b.op("Mul", gathered, gathered), keepdims=0)
    b.output(loss, "loss", TensorType("float32", (), batched=False))
    return b.graph, loss.name


@pytest.mark.parametrize("axis", [0, 1])
@pytest.mark.parametrize("foldable", [True, False])
def test_gather_of_a_weight_by_a_batch_of_ids(axis: int, foldable: bool, tmp_path: Path) -> None:
    """The zeros a weight's gradient is added into: shaped like the weight, onnxruntime's
    optimizer folds them into a constant (no fill a step, ``specc train``); without
    ``foldable_zeros`` they take their shape from the run-time gradient, and nothing
    weight-sized is folded (which an ORT-format file would store)."""
    table = normal(40, 5)
    graph, loss = _gathered_by_a_batch(table, axis)
    feeds = {"ids": np.array([[0, 4], [4, 4], [2, 1]], I)}
    forms = GradientForms(foldable_zeros=foldable)
    assert check_graph_gradients(graph, ["table"], feeds, forms=forms) == []

    grads = differentiate(graph, loss, ["table"], forms=forms)
    grads.graph.outputs = [(grads.of["table"], TensorType("float32", table.shape, False))]
    options = ort.SessionOptions()
    options.log_severity_level = 3  # its warning that the saved model suits this machine only
    options.optimized_model_filepath = str(tmp_path / "optimized.onnx")
    model = to_model_proto(grads.graph)
    ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    folded = [
        (t.name, list(t.dims))
        for t in onnx.load(tmp_path / "optimized.onnx").graph.initializer
        if t.name != "table" and int(np.prod(t.dims)) >= table.size
    ]
    assert bool(folded) == foldable


@pytest.mark.parametrize(
    ("indices", "axis"),
    [(np.array([[0, 2], [2, 2], [1, 0]], I), 1), (np.array([[1, -3], [-1, 0]], I), 0)],
)
def test_gather_elements(indices: np.ndarray, axis: int) -> None:
    assert check_op("GatherElements", [normal(3, 3), indices], {"axis": axis}) == []


@pytest.mark.parametrize(
    ("shape", "attributes"),
    [
        ((3, 5), {}),
        ((3, 5), {"axis": 0, "largest": 0}),
        ((2, 4, 3), {"axis": 1, "sorted": 0}),
    ],
)
def test_top_k(shape: tuple[int, ...], attributes: dict) -> None:  # type: ignore[type-arg]
    graph, wrt, feeds = op_graph("TopK", [normal(*shape), ints(2)], attributes, outputs=2)
    graph.outputs = graph.outputs[:1]  # the indices take no gradient
    assert check_graph_gradients(graph, wrt, feeds) == []
    assert check_graph_gradients(loosened(graph), wrt, feeds) == []


def test_gradient_graphs_are_valid_at_every_opset(at_opset: Callable[[int], None]) -> None:
    """Each rule emits ops in forms valid from opset 17 through 21."""
    cases: list[tuple[str, list, dict]] = [  # type: ignore[type-arg]
        ("Concat", [normal(2, 3), normal(2, 1)], {"axis": 1}),
        ("Slice", [normal(4, 3), ints(1), ints(3)], {}),
        ("Slice", [normal(4, 3), ints(3), ints(0), ints(0), ints(-2)], {}),
        ("Gather", [normal(4, 3), ints(1, 1)], {"axis": 0}),
        ("Tile", [normal(2, 3), ints(2, 1)], {}),
        ("Pad", [normal(2, 3), ints(0, 1, 1, 0)], {}),
        ("Squeeze", [normal(2, 1), ints(1)], {}),
    ]
    for opset in (18, 21):
        at_opset(opset)
        for op, inputs, attributes in cases:
            assert check_op(op, inputs, attributes) == [], (op, opset)
    at_opset(18)
    split = [normal(2, 4)]
    assert check_op("Split", split, {"axis": 1, "num_outputs": 2}, outputs=2) == []


def test_a_wrong_transpose_rule_fails_its_check(monkeypatch: pytest.MonkeyPatch) -> None:
    def wrong(d, g):  # type: ignore[no-untyped-def]
        return [d.op("Transpose", g[0], perm=d.attr("perm"))]  # perm, not its inverse

    monkeypatch.setitem(RULES, "Transpose", wrong)
    assert check_op("Transpose", [normal(2, 3, 4)], {"perm": [1, 2, 0]}) != []


def test_a_wrong_gather_rule_fails_its_check(monkeypatch: pytest.MonkeyPatch) -> None:
    right = RULES["Gather"]

    def wrong(d, g):  # type: ignore[no-untyped-def]
        # Repeated indices overwritten instead of summed.
        gx, gi = right(d, g)
        node = d.b.graph.nodes[-1]
        node.attributes.pop("reduction")
        return [gx, gi]

    monkeypatch.setitem(RULES, "Gather", wrong)
    assert check_op("Gather", [normal(5, 3), ints(0, 2, 2, 4)], {"axis": 0}) != []
