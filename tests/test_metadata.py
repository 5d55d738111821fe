"""A compiled model's ONNX metadata is its description, the one thing apps and export read.

Training takes regularizers, constraints and the compile section from the checked graph
itself (``specc.train``), so none of them is copied into the model.
"""

from __future__ import annotations

import json
from pathlib import Path

import onnx

from specc.emit.web import web_model
from specc.onnx_model import to_model_proto
from specc.passes.lower import DESCRIPTION_KEY
from specc.pipeline import compile_spec

STACK = Path(__file__).resolve().parent.parent / "models" / "dense_stack.yaml"


def _props(model: onnx.ModelProto) -> dict[str, str]:
    model = onnx.load_from_string(model.SerializeToString())
    return {p.key: p.value for p in model.metadata_props}


def test_metadata_is_the_description_only() -> None:
    compiled = compile_spec(STACK, seed=0)
    props = _props(to_model_proto(compiled.graph, 17, compiled.metadata))
    assert set(props) == {DESCRIPTION_KEY}
    assert json.loads(props[DESCRIPTION_KEY]) == {
        "name": "dense_stack",
        "inputs": [{"name": "input_layer", "dtype": "float32", "shape": [None, 16]}],
        "outputs": [{"name": "dense_2", "dtype": "float32", "shape": [None, 1]}],
    }


def test_training_lowering_has_the_same_metadata() -> None:
    assert compile_spec(STACK, seed=0, for_training=True).metadata == (
        compile_spec(STACK, seed=0).metadata
    )


def test_web_copy_keeps_only_the_description() -> None:
    """A model trained by an earlier version also carries ``specc.training_config``; the
    browser's copy drops it (and anything else) and keeps the description."""
    compiled = compile_spec(STACK, seed=0)
    extra = {"specc.training_config": "{}", "other": "x"}
    model = to_model_proto(compiled.graph, 17, {**compiled.metadata, **extra})
    assert set(_props(model)) == {DESCRIPTION_KEY, *extra}
    assert _props(web_model(model)) == compiled.metadata
