"""Writes attention_cases.json and attention_cases.npz: Keras 3.15.1's outputs for the
attention layers and EinsumDense on fixed inputs and weights, which
tests/test_layers_attention.py compares specc's compiled models with.

Not run by the test suite (it needs Keras); run it by hand with a Keras 3.15.1 install:
    KERAS_BACKEND=jax python tests/keras_reference/attention_keras.py
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import keras
import numpy as np

HERE = Path(__file__).parent
BATCH = 2

# name -> (Keras class, constructor arguments, input shapes without the batch axis, call
# arguments); the spec's layer entry is the constructor and call arguments together.
CASES: dict[str, tuple[str, dict[str, Any], list[tuple[int, ...]], dict[str, Any]]] = {
    "mha": ("MultiHeadAttention", {"num_heads": 2, "key_dim": 3}, [(4, 6), (5, 6)], {}),
    "mha_causal": (
        "MultiHeadAttention",
        {"num_heads": 2, "key_dim": 3},
        [(4, 6), (4, 6)],
        {"use_causal_mask": True},
    ),
    "mha_scores": (
        "MultiHeadAttention",
        {"num_heads": 3, "key_dim": 2, "value_dim": 4, "output_shape": [2, 3]},
        [(4, 5), (3, 4), (3, 6)],
        {"return_attention_scores": True},
    ),
    "mha_causal_scores": (
        "MultiHeadAttention",
        {"num_heads": 2, "key_dim": 2, "use_bias": False},
        [(5, 4), (5, 3)],
        {"return_attention_scores": True, "use_causal_mask": True},
    ),
    "mha_2d_scores": (
        "MultiHeadAttention",
        {"num_heads": 2, "key_dim": 2},
        [(3, 4, 5), (2, 3, 6)],
        {"return_attention_scores": True},
    ),
    "mha_axis_2": (
        "MultiHeadAttention",
        {"num_heads": 2, "key_dim": 3, "attention_axes": [-2], "output_shape": 5},
        [(3, 4, 4), (3, 2, 6)],
        {},
    ),
    "mha_gate_window": (
        "MultiHeadAttention",
        # JAX's fused attention, which this call takes, needs value_dim == key_dim.
        {"num_heads": 2, "key_dim": 2, "use_gate": True, "sliding_window": 2},
        [(5, 4), (4, 3)],
        {},
    ),
    "mha_gate_window_causal_scores": (
        "MultiHeadAttention",
        {"num_heads": 2, "key_dim": 2, "value_dim": 3, "use_gate": True, "sliding_window": 3},
        [(6, 4), (6, 4)],
        {"return_attention_scores": True, "use_causal_mask": True},
    ),
    "gqa_gate_window_causal": (
        "GroupedQueryAttention",
        {
            "head_dim": 2,
            "num_query_heads": 4,
            "num_key_value_heads": 2,
            "use_gate": True,
            "sliding_window": 2,
        },
        [(6, 4), (6, 3)],
        {"use_causal_mask": True},
    ),
    # Keras hands MultiHeadAttention's activity_regularizer to its sub-layers;
    # GroupedQueryAttention's penalises its own outputs as well.
    "mha_activity": (
        "MultiHeadAttention",
        {"num_heads": 2, "key_dim": 3, "use_gate": True, "activity_regularizer": "l2"},
        [(4, 6), (5, 6)],
        {"return_attention_scores": True},
    ),
    "gqa_activity": (
        "GroupedQueryAttention",
        {
            "head_dim": 2,
            "num_query_heads": 4,
            "num_key_value_heads": 2,
            "activity_regularizer": "l2",
        },
        [(4, 6), (5, 6)],
        {"return_attention_scores": True},
    ),
    "attention_activity": (
        "Attention",
        {"activity_regularizer": "l2"},
        [(4, 3), (5, 3)],
        {"return_attention_scores": True},
    ),
    "gqa": (
        "GroupedQueryAttention",
        {"head_dim": 3, "num_query_heads": 4, "num_key_value_heads": 2},
        [(4, 6), (5, 6)],
        {},
    ),
    "gqa_causal_scores": (
        "GroupedQueryAttention",
        {"head_dim": 2, "num_query_heads": 3, "num_key_value_heads": 1},
        [(4, 5), (4, 3), (4, 2)],
        {"return_attention_scores": True, "use_causal_mask": True},
    ),
    "attention_dot": (
        "Attention",
        {"use_scale": True},
        [(4, 3), (5, 2), (5, 3)],
        {"return_attention_scores": True},
    ),
    "attention_concat_causal": (
        "Attention",
        {"score_mode": "concat", "use_scale": True},
        [(4, 3), (4, 3)],
        {"use_causal_mask": True},
    ),
    "additive": (
        "AdditiveAttention",
        {},
        [(4, 3), (5, 2), (5, 3)],
        {"return_attention_scores": True},
    ),
    "additive_causal": (
        "AdditiveAttention",
        {"use_scale": False},
        [(4, 3), (4, 3)],
        {"use_causal_mask": True},
    ),
    "einsum_heads": (
        "EinsumDense",
        {
            "equation": "abc,cde->abde",
            "output_shape": [None, 2, 3],
            "bias_axes": "de",
            "activation": "relu",
        },
        [(4, 5)],
        {},
    ),
    "einsum_ellipsis": (
        "EinsumDense",
        {"equation": "...b,bc->...c", "output_shape": 3, "bias_axes": "c"},
        [(2, 4)],
        {},
    ),
}


def apply(layer: Any, class_name: str, inputs: list[np.ndarray], call: dict[str, Any]) -> Any:
    """Call ``layer`` as Keras takes its inputs: a list, one tensor, or query, value, key."""
    if class_name in ("Attention", "AdditiveAttention"):
        return layer(inputs, **call)
    if class_name == "EinsumDense":
        return layer(inputs[0])
    return layer(*inputs, **call)


def main() -> None:
    rng = np.random.default_rng(20261206)
    arrays: dict[str, np.ndarray] = {}
    specs: dict[str, dict[str, Any]] = {}
    for name, (class_name, arguments, shapes, call) in CASES.items():
        # Keras exports GroupedQueryAttention as keras.layers.GroupQueryAttention.
        exported = "GroupQueryAttention" if class_name == "GroupedQueryAttention" else class_name
        layer = getattr(keras.layers, exported)(name=name, **arguments)
        inputs = [rng.normal(size=(BATCH, *shape)).astype(np.float32) for shape in shapes]
        apply(layer, class_name, inputs, call)  # builds the weights
        for weight in layer.weights:
            value = rng.normal(scale=0.5, size=weight.shape).astype(np.float32)
            weight.assign(value)
            arrays[f"{name}/weights/{weight.path}"] = value
        outputs = apply(layer, class_name, inputs, call)
        outputs = outputs if isinstance(outputs, (tuple, list)) else [outputs]
        for k, x in enumerate(inputs):
            arrays[f"{name}/input/{k}"] = x
        for k, y in enumerate(outputs):
            arrays[f"{name}/output/{k}"] = np.asarray(y)
        if layer.losses:
            # The activity penalties of this call, each divided by the batch size.
            arrays[f"{name}/activity_loss"] = np.asarray(sum(layer.losses), np.float32)
        specs[name] = {
            "type": class_name,
            "config": {**arguments, **call},
            "inputs": [list(shape) for shape in shapes],
            "outputs": len(outputs),
        }
    np.savez(HERE / "attention_cases.npz", **arrays)
    header = {"keras": keras.__version__, "backend": keras.backend.backend(), "cases": specs}
    (HERE / "attention_cases.json").write_text(json.dumps(header, indent=1) + "\n")


if __name__ == "__main__":
    main()
