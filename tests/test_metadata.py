"""Regularizers, constraints and the compile section travel in the model's metadata."""

from __future__ import annotations

import json
from pathlib import Path

import onnx

from specc.onnx_model import to_model_proto
from specc.passes.lower import METADATA_KEY
from specc.pipeline import compile_spec

STACK = Path(__file__).resolve().parent.parent / "models" / "dense_stack.yaml"


def _training_config() -> dict:
    compiled = compile_spec(STACK, seed=0)
    model = to_model_proto(compiled.graph, 17, compiled.metadata)
    model = onnx.load_from_string(model.SerializeToString())
    props = {p.key: p.value for p in model.metadata_props}
    return json.loads(props[METADATA_KEY])


def test_per_weight_regularizers_and_constraints() -> None:
    weights = _training_config()["weights"]
    assert weights["dense.kernel"]["constraint"] == {"type": "MaxNorm", "max_value": 3.0, "axis": 0}
    assert weights["dense_1.kernel"]["constraint"] == {
        "type": "MaxNorm",
        "max_value": 2.0,
        "axis": 0,
    }
    assert weights["dense_1.kernel"]["regularizer"] == {"type": "L2", "l2": 0.0001}
    assert weights["dense.bias"] == {
        "key": "dense/bias",
        "trainable": True,
        "regularizer": None,
        "constraint": None,
    }
    assert sorted(weights) == sorted(
        f"{layer}.{w}" for layer in ("dense", "dense_1", "dense_2") for w in ("kernel", "bias")
    )


def test_compile_and_train_sections() -> None:
    config = _training_config()
    assert config["compile"]["optimizer"]["type"] == "Adam"
    assert config["compile"]["optimizer"]["learning_rate"] == 1e-3
    assert config["compile"]["loss"]["type"] == "mse"
    assert config["train"]["epochs"] == 5
    assert config["outputs"] == ["dense_2"]
    assert config["inputs"] == {"input_layer": {"dtype": "float32", "shape": [16]}}
