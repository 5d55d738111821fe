"""Build and run specs from tests: write a spec and weights to disk, compile, run in ORT."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort

from specc.emit.onnx_model import to_model_proto
from specc.pipeline import CompiledModel, compile_spec
from specc.types import DTYPES, TensorType
from specc.weights import save_weights

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
    directory: Path, spec: dict[str, Any], seed: int = 0, for_training: bool = False
) -> tuple[CompiledModel, dict[str, np.ndarray]]:
    """Compile once to learn the weight shapes, write random weights, compile with them;
    ``for_training``: the lowering training graphs are built from (not the inference one)."""
    path = write_spec(directory, spec)
    shapes = {key: array.shape for key, array in compile_spec(path, seed=0).weights.items()}
    rng = np.random.default_rng(seed)
    weights = {
        key: rng.normal(scale=0.5, size=shape).astype(np.float32) for key, shape in shapes.items()
    }
    weights_path = directory / "weights.npz"
    save_weights(weights_path, weights)
    return compile_spec(path, weights_path, for_training=for_training), weights


def run_compiled(
    compiled: CompiledModel, inputs: list[np.ndarray], opset: int = 17
) -> list[np.ndarray]:
    """Check the model with the full ONNX checker and run it in onnxruntime."""
    model = to_model_proto(compiled.graph, opset, compiled.metadata)
    onnx.checker.check_model(model, full_check=True)
    session = quiet_session(model)
    names = [i.name for i in session.get_inputs()]
    return session.run(None, dict(zip(names, inputs, strict=True)))


def quiet_session(model: onnx.ModelProto) -> ort.InferenceSession:
    """An onnxruntime session that logs errors only (no warnings about unused initializers)."""
    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(model.SerializeToString(), options)
