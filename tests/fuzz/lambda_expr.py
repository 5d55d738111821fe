"""Fuzz target: a Lambda expression, from its characters to a checked ONNX model.

The input is the expression's text. It is placed in a fixed spec whose Lambda layer has
four inputs of different ranks and dtypes (x: (2, 3), y: (3,), z: (None, 3), w: int32
(4,)), which is compiled as ``specc build`` does: tokenizer, parser, binding, constant
checks, shape inference, lowering. Clean: ``SpecError`` located in the spec, or a model
that the ONNX checker accepts and whose constants (folded by specc) are all finite.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx

from specc.lambda_functions import FUNCTIONS
from specc.onnx_model import to_model_proto
from specc.pipeline import compile_spec
from tests.fuzz.oracle import Unsound
from tests.fuzz.targets import Target

INPUTS = {
    "a": {"shape": [2, 3]},
    "b": {"shape": [3]},
    "c": {"shape": [None, 3]},
    "d": {"shape": [4], "dtype": "int32"},
}
SYNTAX = ["x", "y", "z", "w", "x0", "x4", "axis=", "keepdims=true", "true", "false", "**"]
SYNTAX += ["<=", "==", "!=", "1e38", "1e999", "0", "-1", "1 / 0", "0.5", "[", "]", "(", ")"]


def prepare(data: bytes) -> bytes:
    """The spec around the expression (undecodable bytes become U+FFFD)."""
    expression = data.decode("utf-8", "replace")
    layer = {"name": "f", "type": "Lambda", "inputs": list(INPUTS), "expression": expression}
    spec = {"specc": 1, "name": "fuzz", "inputs": INPUTS, "layers": [layer], "outputs": ["f"]}
    return json.dumps(spec, ensure_ascii=False, indent=1).encode("utf-8", "surrogatepass")


def check(path: Path) -> None:
    """Compile the spec; refuse a model with a non-finite constant or an invalid graph."""
    compiled = compile_spec(path)
    for name, array in compiled.graph.initializers.items():
        if array.dtype.kind in "fc" and not np.isfinite(array).all():
            raise Unsound("a non-finite constant in the lowered graph", name)
    model = to_model_proto(compiled.graph, metadata=compiled.metadata)
    try:
        onnx.checker.check_model(model, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as error:
        raise Unsound("the ONNX checker refuses the lowered model", str(error)) from None


def tokens() -> list[str]:
    """Function names (with their opening parenthesis), inputs, operators and numbers."""
    return [*(f"{name}(" for name in FUNCTIONS), *SYNTAX]


TARGET = Target(
    name="lambda_expr",
    summary="a Lambda expression through compile_spec, then the ONNX checker",
    file_name="spec.json",
    check=check,
    positioned=True,
    prepare=prepare,
    tokens=tokens,
)
