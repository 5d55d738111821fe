"""Writes masks_cases.json and masks_cases.npz: Keras 3.15.1's outputs for small masked
models (Embedding mask_zero or Masking, then the layers that read or pass the mask) on fixed
ids and weights, which tests/test_masks.py compares specc's compiled models with.

Not run by the test suite (it needs Keras); run it by hand with a Keras 3.15.1 install:
    KERAS_BACKEND=jax python tests/keras_reference/masks_keras.py
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import keras
import numpy as np

HERE = Path(__file__).parent
VOCAB, WIDTH = 10, 4
# Padding at the end, at the start, in the middle, and a row with every step masked.
IDS = np.array([[3, 1, 4, 0, 0], [0, 0, 2, 7, 5], [9, 0, 6, 0, 8], [0, 0, 0, 0, 0]], dtype=np.int64)
# The same rows for pooling, without the empty one (Keras's masked mean is 0/0 there).
POOL_IDS = IDS[:3]

# name -> the layers after the Embedding, as spec entries (type and Keras arguments).
CASES: dict[str, list[dict[str, Any]]] = {
    "simple_rnn_seq": [{"type": "SimpleRNN", "units": 3, "return_sequences": True}],
    "simple_rnn_last": [{"type": "SimpleRNN", "units": 3}],
    "simple_rnn_zero_output": [
        {"type": "SimpleRNN", "units": 3, "return_sequences": True, "zero_output_for_mask": True}
    ],
    "lstm_seq": [{"type": "LSTM", "units": 3, "return_sequences": True}],
    "lstm_last_state": [{"type": "LSTM", "units": 3, "return_state": True}],
    "lstm_backwards": [
        {"type": "LSTM", "units": 2, "return_sequences": True, "go_backwards": True}
    ],
    "gru_seq": [{"type": "GRU", "units": 3, "return_sequences": True}],
    "gru_last": [{"type": "GRU", "units": 3}],
    "bidirectional_lstm_seq": [
        {
            "type": "Bidirectional",
            "layer": {"type": "LSTM", "units": 2, "return_sequences": True},
        }
    ],
    "bidirectional_gru_last": [
        {"type": "Bidirectional", "merge_mode": "sum", "layer": {"type": "GRU", "units": 2}}
    ],
    "dense_then_lstm": [
        {"type": "Dense", "units": 3, "activation": "tanh"},
        {"type": "LSTM", "units": 2, "return_sequences": True},
    ],
    # Self-attention over the masked sequence: inputs [x, x] (SELF_ATTENTION).
    "mha": [{"type": "MultiHeadAttention", "num_heads": 2, "key_dim": 3}],
    "mha_dropout": [{"type": "MultiHeadAttention", "num_heads": 2, "key_dim": 3, "dropout": 0.25}],
    "mha_scores": [
        {
            "type": "MultiHeadAttention",
            "num_heads": 2,
            "key_dim": 2,
            "return_attention_scores": True,
        }
    ],
    "gqa": [
        {
            "type": "GroupedQueryAttention",
            "head_dim": 2,
            "num_query_heads": 4,
            "num_key_value_heads": 2,
        }
    ],
    "attention": [{"type": "Attention", "use_scale": True}],
    "additive_attention_causal": [{"type": "AdditiveAttention", "use_causal_mask": True}],
    "global_average": [{"type": "GlobalAveragePooling1D"}],
    "global_max": [{"type": "GlobalMaxPooling1D"}],
}
POOLING = {"global_average", "global_max"}
SELF_ATTENTION = {"MultiHeadAttention", "GroupedQueryAttention"}
LIST_ATTENTION = {"Attention", "AdditiveAttention"}  # called with [query, value]
# Keras's call arguments that specc's spec gives as layer keys.
CALL_ARGUMENTS = {"return_attention_scores", "use_causal_mask"}


def keras_layer(entry: dict[str, Any]) -> Any:
    """The Keras layer a spec entry describes."""
    arguments = {k: v for k, v in entry.items() if k != "type" and k not in CALL_ARGUMENTS}
    if "layer" in arguments:
        arguments["layer"] = keras_layer(arguments["layer"])
    # Keras exports GroupedQueryAttention as keras.layers.GroupQueryAttention.
    exported = "GroupQueryAttention" if entry["type"] == "GroupedQueryAttention" else entry["type"]
    return getattr(keras.layers, exported)(**arguments)


def model_for(entries: list[dict[str, Any]], steps: int) -> Any:
    """Input ids -> Embedding(mask_zero) -> the entries."""
    ids = keras.Input((steps,), dtype="int64", name="ids")
    x = keras.layers.Embedding(VOCAB, WIDTH, mask_zero=True, name="embedding")(ids)
    for entry in entries:
        layer = keras_layer(entry)
        if entry["type"] in SELF_ATTENTION:
            call = {k: v for k, v in entry.items() if k in CALL_ARGUMENTS}
            x = layer(x, x, **call)
        elif entry["type"] in LIST_ATTENTION:
            call = {k: v for k, v in entry.items() if k in CALL_ARGUMENTS}
            x = layer([x, x], **call)
        else:
            x = layer(x)
    return keras.Model(ids, x)


def assign(model: Any, rng: np.random.Generator, name: str, arrays: dict[str, Any]) -> None:
    """Fixed random weights, saved per layer in Keras's order."""
    for layer in model.layers:
        for k, weight in enumerate(layer.weights):
            value = rng.normal(scale=0.6, size=weight.shape).astype(np.float32)
            weight.assign(value)
            arrays[f"{name}/weights/{layer.name}/{k}"] = value


def record(
    name: str,
    entries: list[dict[str, Any]],
    ids: np.ndarray,
    rng: np.random.Generator,
    arrays: dict[str, np.ndarray],
) -> dict[str, Any]:
    """Run the case's model on ``ids`` with fresh weights; its ids, weights and outputs go
    to ``arrays``; returns the case's entry for the JSON header."""
    model = model_for(entries, ids.shape[1])
    assign(model, rng, name, arrays)
    outputs = model(ids)
    outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    arrays[f"{name}/ids"] = ids
    for k, y in enumerate(outputs):
        arrays[f"{name}/output/{k}"] = np.asarray(y)
    return {"layers": entries, "outputs": len(outputs)}


def main() -> None:
    rng = np.random.default_rng(20261206)
    arrays: dict[str, np.ndarray] = {}
    cases: dict[str, Any] = {}
    for name, entries in CASES.items():
        ids = POOL_IDS if name in POOLING else IDS
        cases[name] = record(name, entries, ids, rng, arrays)
    # Masking on float steps, then an LSTM.
    x = rng.normal(size=(3, 4, 2)).astype(np.float32)
    x[0, 2:] = 0.0
    x[1, 0] = 0.5
    x[2, 1] = 0.5
    inp = keras.Input((4, 2), name="x")
    y = keras.layers.Masking(mask_value=0.5, name="masking")(keras.layers.Identity()(inp))
    y = keras.layers.LSTM(2, return_sequences=True, name="lstm")(y)
    model = keras.Model(inp, y)
    assign(model, rng, "masking_lstm", arrays)
    arrays["masking_lstm/x"] = x
    arrays["masking_lstm/output/0"] = np.asarray(model(x))
    # BatchNormalization in training: its batch moments over the kept steps only.
    model = model_for([{"type": "BatchNormalization"}], IDS.shape[1])
    assign(model, rng, "batch_norm_training", arrays)
    arrays["batch_norm_training/ids"] = IDS
    arrays["batch_norm_training/output/0"] = np.asarray(model(IDS, training=True))
    # A per-step loss weighted by the output's mask, as compile/evaluate computes it.
    entries = [
        {"type": "LSTM", "units": 3, "return_sequences": True},
        {"type": "Dense", "units": 2},
    ]
    model = model_for(entries, IDS.shape[1])
    assign(model, rng, "masked_loss", arrays)
    target = rng.normal(size=(*IDS.shape, 2)).astype(np.float32)
    weight = np.array([1.0, 2.0, 0.5], np.float32)
    losses = {}
    for reduction in ("sum_over_batch_size", "sum", "mean_with_sample_weight"):
        loss = keras.losses.MeanSquaredError(reduction=reduction)
        model.compile(loss=loss, metrics=["mae"])
        plain, mae = model.evaluate(IDS[:3], target[:3], batch_size=3, verbose=0)
        losses[reduction] = float(plain)
    metric = float(mae)  # the same for every reduction
    try:
        model.evaluate(IDS[:3], target[:3], sample_weight=weight[:3], batch_size=3, verbose=0)
        per_sample_weight = "accepted"
    except ValueError as error:  # Keras cannot broadcast (batch,) weights over the mask
        per_sample_weight = f"ValueError: {error}"
    arrays["masked_loss/ids"] = IDS[:3]
    arrays["masked_loss/target"] = target[:3]
    cases["masked_loss"] = {
        "layers": entries,
        "outputs": 1,
        "losses": losses,
        "per_sample_weight": per_sample_weight,
        "mae": metric,
    }
    np.savez(HERE / "masks_cases.npz", **arrays)
    header = {"keras": keras.__version__, "backend": keras.backend.backend(), "cases": cases}
    (HERE / "masks_cases.json").write_text(json.dumps(header, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
