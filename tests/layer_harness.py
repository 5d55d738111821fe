"""Run one layer through its ONNX lowering in onnxruntime, without the rest of the compiler."""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
import onnxruntime as ort

from specc.graph import GraphBuilder
from specc.layers.base import LAYERS, Layer, LowerContext
from specc.layers.layout import Placed, convert, lower_layer
from specc.onnx_model import to_model_proto
from specc.types import TensorType


def make_layer(type_name: str, **config: Any) -> Layer:
    """Validate a layer config the way a spec entry is validated."""
    return LAYERS.get(type_name).model_validate({"type": type_name, **config})


def random_weights(
    layer: Layer, input_types: list[TensorType], seed: int = 0
) -> dict[str, np.ndarray]:
    """Random float32 weights of the right shapes (not the layer's initializers)."""
    rng = np.random.default_rng(seed)
    return {w.name: rng.normal(size=w.shape).astype(np.float32) for w in layer.weights(input_types)}


def run_layer(
    layer: Layer,
    input_types: list[TensorType],
    inputs: list[np.ndarray],
    weights: dict[str, np.ndarray],
) -> list[np.ndarray]:
    """Lower ``layer`` alone into a model, check it, and run it in onnxruntime."""
    b = GraphBuilder("layer_test")
    values = [b.input(f"x{i}", t) for i, t in enumerate(input_types)]
    params = {name: b.parameter(f"layer.{name}", array) for name, array in weights.items()}
    with b.scope("layer"):
        placed = lower_layer(
            LowerContext(b), layer, [Placed(v) for v in values], input_types, params
        )
        outs = [convert(b, p, None) for p in placed]
    for i, (value, t) in enumerate(zip(outs, layer.output_types(input_types), strict=True)):
        b.output(value, f"y{i}", t)
    model = to_model_proto(b.graph)
    onnx.checker.check_model(model, full_check=True)
    session = ort.InferenceSession(model.SerializeToString())
    return session.run(None, {f"x{i}": x for i, x in enumerate(inputs)})


def assert_matches_reference(
    layer: Layer,
    input_types: list[TensorType],
    inputs: list[np.ndarray],
    weights: dict[str, np.ndarray],
    got: list[np.ndarray],
    rtol: float,
    atol: float,
) -> None:
    """Every output has the inferred dtype, rank and known dims, and the values of the
    layer's NumPy reference within ``rtol``/``atol``."""
    want = layer.reference(inputs, weights)
    types = layer.output_types(input_types)
    assert len(got) == len(want) == len(types)
    for g, w, t in zip(got, want, types, strict=True):
        assert g.dtype == np.dtype(t.dtype)
        assert g.ndim == t.rank
        assert all(d in (None, gd) for d, gd in zip(t.shape, g.shape[1:], strict=True))
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol)


def compare_layer(
    type_name: str,
    config: dict[str, Any],
    input_types: list[TensorType],
    inputs: list[np.ndarray],
    weights: dict[str, np.ndarray] | None = None,
    weights_seed: int = 0,
    rtol: float = 1e-5,
    atol: float = 1e-6,
) -> list[np.ndarray]:
    """Run the layer alone in onnxruntime (``weights``, or random ones drawn with
    ``weights_seed``) and check it against its reference (``assert_matches_reference``)."""
    layer = make_layer(type_name, **config)
    if weights is None:
        weights = random_weights(layer, input_types, weights_seed)
    got = run_layer(layer, input_types, inputs, weights)
    assert_matches_reference(layer, input_types, inputs, weights, got, rtol, atol)
    return got
