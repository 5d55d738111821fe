"""The generic matrix: every registered layer's examples, through the whole compiler.

For each example: the config survives a schema round trip; inferred output shapes equal
what onnxruntime produces; the model passes the full ONNX checker; and onnxruntime's output,
with random weights loaded through a weights file, equals the layer's NumPy reference.
"""

from __future__ import annotations

import numpy as np
import pytest

from specc.layers import LAYERS
from specc.weights import weight_key
from tests.spec_helpers import (
    compile_with_random_weights,
    random_inputs,
    run_compiled,
    single_layer_spec,
)

CASES = [
    pytest.param(model.type_name(), config, types, id=f"{model.type_name()}-{k}")
    for model in LAYERS
    for k, (config, types) in enumerate(model.examples())
]


def test_every_layer_has_examples() -> None:
    missing = [model.type_name() for model in LAYERS if not model.examples()]
    assert missing == []


@pytest.mark.parametrize(("type_name", "config", "types"), CASES)
def test_layer_matches_reference(type_name: str, config: dict, types: list) -> None:
    spec = single_layer_spec(type_name, config, types)
    compiled, weights = compile_with_random_weights(spec, seed=1)
    layer = compiled.typed.resolved.node("layer").layer
    assert layer.model_validate(layer.model_dump()) == layer

    # Integer inputs are indices (Embedding): keep them inside the layer's vocabulary.
    inputs = random_inputs(types, batch=3, seed=2, high=getattr(layer, "input_dim", 10))
    got = run_compiled(compiled, inputs)
    layer_weights = {w.name: weights[weight_key("layer", w.name)] for w in layer.weights(types)}
    want = layer.reference(inputs, layer_weights)
    inferred = compiled.typed.output_types["layer"]
    assert len(got) == 1  # the model's one output is the layer's first
    out = got[0]
    assert out.ndim == inferred[0].rank
    assert out.shape[0] == 3
    for got_dim, dim in zip(out.shape[1:], inferred[0].shape, strict=True):
        assert dim is None or got_dim == dim
    np.testing.assert_allclose(out, np.asarray(want[0]), rtol=1e-5, atol=1e-5)
