"""Gradient checks for ``specc.autodiff``: a graph's gradients against central differences.

``check_graph_gradients(graph, wrt, feeds)`` differentiates ``sum_k sum(output_k *
probe_k)`` (random probes, so every output element matters) with respect to ``wrt`` and
compares each gradient, along a random direction, with the central difference of the same
loss computed by onnxruntime in float32. ``check_op`` does it for one op.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import onnxruntime as ort

from specc.autodiff import DEFAULT_FORMS, GradientForms, differentiate
from specc.graph import Graph, GraphBuilder, Node, Value
from specc.onnx_model import to_model_proto
from specc.types import TensorType

EPS = 1e-3
RTOL = 1e-2


def _with_probe_loss(graph: Graph, probes: list[np.ndarray]) -> tuple[Graph, str]:
    """``graph`` plus a scalar output ``probe_loss`` = sum_k sum(output_k * probe_k)."""
    b = GraphBuilder.extending(graph)
    terms = []
    with b.scope("probe"):
        for (name, _), probe in zip(graph.outputs, probes, strict=True):
            p = b.constant(probe.astype(np.float32), hint="probe")
            terms.append(b.op("ReduceSum", b.op("Mul", Value(name), p), keepdims=0))
        total = terms[0]
        for term in terms[1:]:
            total = b.op("Add", total, term)
    b.graph.outputs = [("probe_loss", TensorType("float32", (), batched=False))]
    b.alias(total, "probe_loss")
    return b.graph, "probe_loss"


def check_graph_gradients(
    graph: Graph,
    wrt: list[str],
    feeds: dict[str, np.ndarray],
    opset: int = 17,
    seed: int = 0,
    rtol: float = RTOL,
    eps: float = EPS,
    forms: GradientForms = DEFAULT_FORMS,
) -> list[str]:
    """Failures (empty when every gradient agrees with central differences).

    ``wrt`` names initializers or graph inputs (float); ``feeds`` holds every graph input;
    ``forms`` are the gradient forms the rules may use.
    """
    rng = np.random.default_rng(seed)
    outputs = _run_any_shape(graph, feeds, [name for name, _ in graph.outputs], opset)
    probes = [rng.normal(size=np.shape(o)) for o in outputs]
    lossy, loss = _with_probe_loss(graph, probes)
    grads = differentiate(lossy, loss, wrt, forms=forms)
    names = [grads.of[w] for w in wrt]
    found = _run_any_shape(grads.graph, feeds, names, opset)
    scale = float(sum(np.sum(np.abs(o * p)) for o, p in zip(outputs, probes, strict=True)))
    failures = []
    for name, grad in zip(wrt, found, strict=True):
        point = feeds[name] if name in feeds else graph.initializers[name]
        point = np.asarray(point, np.float32)
        if grad.shape != point.shape:
            failures.append(f"{name}: gradient shape {grad.shape}, value shape {point.shape}")
            continue
        if not np.all(np.isfinite(grad)):
            failures.append(f"{name}: non-finite gradient")
            continue
        direction = rng.normal(size=point.shape)
        # np.asarray: a 0-d float perturbed is a NumPy scalar, which onnxruntime refuses.
        plus = np.asarray(point + eps * direction, np.float32)
        minus = np.asarray(point - eps * direction, np.float32)
        step = (plus.astype(np.float64) - minus) / 2
        predicted = float(np.sum(grad.astype(np.float64) * step))
        measured = (
            _loss_at(lossy, loss, feeds, name, plus, opset)
            - _loss_at(lossy, loss, feeds, name, minus, opset)
        ) / 2
        atol = 3e-7 * scale
        if abs(predicted - measured) > rtol * abs(measured) + atol:
            failures.append(
                f"{name}: gradient . step = {predicted:.6g}, central difference {measured:.6g}"
            )
    return failures


def _run_any_shape(
    graph: Graph, feeds: dict[str, np.ndarray], names: list[str], opset: int = 17
) -> list[np.ndarray]:
    """Run ``graph`` for the values ``names`` whatever their shapes."""
    from onnx import helper

    model = to_model_proto(graph, opset)
    del model.graph.output[:]
    model.graph.output.extend(helper.make_empty_tensor_value_info(n) for n in names)
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    return [np.asarray(v) for v in session.run(names, feeds)]


def _loss_at(
    graph: Graph, loss: str, feeds: dict[str, np.ndarray], name: str, value: np.ndarray, opset: int
) -> float:
    if name in feeds:
        (out,) = _run_any_shape(graph, {**feeds, name: value}, [loss], opset)
    else:
        moved = Graph(
            graph.name,
            graph.inputs,
            graph.outputs,
            graph.nodes,
            {**graph.initializers, name: value},
            graph.parameters,
        )
        (out,) = _run_any_shape(moved, feeds, [loss], opset)
    return float(out)


def op_graph(
    op_type: str,
    inputs: list[np.ndarray | None],
    attributes: dict[str, Any] | None = None,
    outputs: int = 1,
    constant: set[int] | None = None,
) -> tuple[Graph, list[str], dict[str, np.ndarray]]:
    """One node of ``op_type``: float inputs become graph inputs named ``x0``, ``x1``...
    (the ones differentiated), others and those in ``constant`` initializers; None skips an
    optional input. Returns the graph, the differentiable inputs and the feeds."""
    graph = Graph(op_type)
    names: list[str] = []
    wrt: list[str] = []
    feeds: dict[str, np.ndarray] = {}
    for k, array in enumerate(inputs):
        if array is None:
            names.append("")
            continue
        name = f"x{k}"
        names.append(name)
        array = np.asarray(array)
        if array.dtype.kind == "f" and k not in (constant or set()):
            graph.inputs.append((name, TensorType(str(array.dtype), array.shape, batched=False)))
            feeds[name] = array
            wrt.append(name)
        else:
            graph.initializers[name] = array
    outs = [f"y{k}" for k in range(outputs)]
    graph.nodes.append(Node(op_type, names, outs, dict(attributes or {}), op_type))
    # Declared with the types they turn out to have, as a lowering would declare them.
    results = _run_any_shape(graph, feeds, outs, 17)
    graph.outputs = [
        (o, TensorType(str(r.dtype), r.shape, batched=False))
        for o, r in zip(outs, results, strict=True)
    ]
    return graph, wrt, feeds


def check_op(
    op_type: str,
    inputs: list[np.ndarray | None],
    attributes: dict[str, Any] | None = None,
    outputs: int = 1,
    constant: set[int] | None = None,
    **options: Any,
) -> list[str]:
    """``check_graph_gradients`` for one op (see ``op_graph``)."""
    graph, wrt, feeds = op_graph(op_type, inputs, attributes, outputs, constant)
    return check_graph_gradients(graph, wrt, feeds, **options)
