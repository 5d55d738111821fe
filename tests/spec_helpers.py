"""Build and run specs from tests: compile a spec held in memory, run it in ORT, compare."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort

from specc.layers.base import TRAINING_FLAG
from specc.onnx_model import to_model_proto
from specc.passes.lower import expected_weight_shapes
from specc.passes.shapes import TypedGraph
from specc.pipeline import CompiledModel, compile_data
from specc.random_ops import RANDOM_STEP
from specc.types import DTYPES, TensorType
from specc.weights import weight_key
from tests.layer_harness import assert_matches_reference, make_layer

ROOT = Path(__file__).resolve().parent.parent  # the repository


def write_spec(directory: Path, spec: dict[str, Any], name: str = "spec.json") -> Path:
    """Write a spec mapping as JSON (a YAML subset, so both loaders see the same data)."""
    path = directory / name
    path.write_text(json.dumps(spec, indent=2))
    return path


def single_layer_spec(type_name: str, config: dict[str, Any], inputs: list[TensorType]) -> dict:
    """A functional spec applying one layer to ``len(inputs)`` inputs called x0, x1, ..."""
    names = [f"x{i}" for i in range(len(inputs))]
    return {
        "specc": 1,
        "name": "single",
        "inputs": {
            n: {"shape": list(t.shape), "dtype": t.dtype}
            for n, t in zip(names, inputs, strict=True)
        },
        "layers": [{"name": "layer", "type": type_name, "inputs": names, **config}],
    }


def random_inputs(
    types: list[TensorType], batch: int, seed: int, high: int = 10
) -> list[np.ndarray]:
    """Random inputs; variable dims become 5; integer inputs in [0, high)."""
    rng = np.random.default_rng(seed)
    arrays = []
    for t in types:
        shape = (batch, *[5 if d is None else d for d in t.shape])
        if t.dtype in ("int32", "int64"):
            arrays.append(rng.integers(0, high, size=shape).astype(DTYPES[t.dtype]))
        elif t.dtype == "bool":
            arrays.append(rng.random(shape) > 0.5)
        else:
            arrays.append(rng.normal(size=shape).astype(DTYPES[t.dtype]))
    return arrays


def compile_with_random_weights(
    spec: dict[str, Any], seed: int = 0, for_training: bool = False
) -> tuple[CompiledModel, dict[str, np.ndarray]]:
    """Compile in memory with random normal weights (scale 0.5) fitted to the checked graph;
    ``for_training``: the lowering training graphs are built from (not the inference one)."""

    def draw(typed: TypedGraph) -> dict[str, np.ndarray]:
        rng = np.random.default_rng(seed)
        return {
            key: rng.normal(scale=0.5, size=shape).astype(np.float32)
            for key, shape in expected_weight_shapes(typed).items()
        }

    compiled = compile_data(spec, weights=draw, for_training=for_training)
    return compiled, compiled.weights


def run_compiled(
    compiled: CompiledModel, inputs: list[np.ndarray], opset: int = 17
) -> list[np.ndarray]:
    """Check the model with the full ONNX checker and run it in onnxruntime, in inference
    mode (a training lowering's flag input fed False, its random step 0)."""
    model = to_model_proto(compiled.graph, opset, compiled.metadata)
    onnx.checker.check_model(model, full_check=True)
    session = quiet_session(model)
    fixed = {TRAINING_FLAG: np.array(False), RANDOM_STEP: np.array(0)}
    names = [i.name for i in session.get_inputs() if i.name not in fixed]
    feeds = dict(zip(names, inputs, strict=True))
    feeds.update({k: v for k, v in fixed.items() if k in {i.name for i in session.get_inputs()}})
    return session.run(None, feeds)


def quiet_session(model: onnx.ModelProto) -> ort.InferenceSession:
    """An onnxruntime session that logs errors only (no warnings about unused initializers)."""
    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(model.SerializeToString(), options)


def all_outputs_spec(type_name: str, config: dict[str, Any], types: list[TensorType]) -> dict:
    """A one-layer spec whose outputs are every output of the layer: layer, layer[1], ..."""
    spec = single_layer_spec(type_name, config, types)
    count = len(make_layer(type_name, **config).output_types(types))
    spec["outputs"] = ["layer", *(f"layer[{i}]" for i in range(1, count))]
    return spec


def compare_compiled(
    spec: dict[str, Any],
    inputs: list[np.ndarray],
    seed: int = 0,
    rtol: float = 1e-5,
    atol: float = 1e-6,
) -> tuple[CompiledModel, list[np.ndarray]]:
    """Compile ``spec`` (one layer called ``layer``) with random weights, run it, and check
    every output against the layer's NumPy reference (see ``assert_matches_reference``)."""
    compiled, weights = compile_with_random_weights(spec, seed=seed)
    node = compiled.typed.resolved.node("layer")
    types = compiled.typed.input_types["layer"]
    named = {w.name: weights[weight_key("layer", w.name)] for w in node.layer.weights(types)}
    got = run_compiled(compiled, inputs)
    assert_matches_reference(node.layer, types, inputs, named, got, rtol, atol)
    return compiled, got
