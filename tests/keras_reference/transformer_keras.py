"""Writes transformer_case.npz: Keras 3.15.1's predictions of the Transformer text
classifier (models/transformer_classifier.yaml, at a small vocabulary and length) on padded
ids, with fixed weights stored under specc's weight keys; tests/test_transformer_classifier.py
compares specc's compiled model with them.

The token and position embedding is keras_hub's TokenAndPositionEmbedding: the token
Embedding's padding mask is carried on to the attention and the pooling.

Not run by the test suite (it needs Keras); run it by hand with a Keras 3.15.1 install:
    KERAS_BACKEND=jax python tests/keras_reference/transformer_keras.py
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import keras
import numpy as np
from keras import layers, ops

HERE = Path(__file__).parent
VOCAB, LENGTH, WIDTH, FF = 50, 12, 32, 32
# Padding after 3, 7 and 12 (none) tokens.
LENGTHS = (3, 7, 12)


class TokenAndPositionEmbedding(layers.Layer):
    """keras_hub's layer: token embeddings plus learned position embeddings, the token
    Embedding's mask carried."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.token_embedding = layers.Embedding(VOCAB, WIDTH, mask_zero=True)

    def build(self, shape: Any) -> None:
        self.token_embedding.build(shape)
        self.positions = self.add_weight(shape=(LENGTH, WIDTH), name="embeddings")

    def call(self, ids: Any) -> Any:
        tokens = self.token_embedding(ids)
        steps = ops.shape(tokens)[-2]
        return tokens + ops.broadcast_to(self.positions[:steps], ops.shape(tokens))

    def compute_mask(self, ids: Any, mask: Any = None) -> Any:
        return self.token_embedding.compute_mask(ids)


def build() -> tuple[keras.Model, TokenAndPositionEmbedding, layers.MultiHeadAttention]:
    ids = layers.Input(shape=(LENGTH,), dtype="int32")
    embedding = TokenAndPositionEmbedding()
    x = embedding(ids)
    attention = layers.MultiHeadAttention(2, WIDTH, name="attention")
    a = layers.Dropout(0.1)(attention(x, x))
    x = layers.LayerNormalization(epsilon=1e-6, name="attention_norm")(layers.Add()([x, a]))
    f = layers.Dense(FF, activation="relu", name="feed_forward")(x)
    f = layers.Dropout(0.1)(layers.Dense(WIDTH, name="feed_forward_out")(f))
    x = layers.LayerNormalization(epsilon=1e-6, name="block_out")(layers.Add()([x, f]))
    x = layers.Dropout(0.1)(layers.GlobalAveragePooling1D()(x))
    x = layers.Dropout(0.1)(layers.Dense(20, activation="relu", name="dense")(x))
    out = layers.Dense(2, activation="softmax", name="sentiment")(x)
    return keras.Model(ids, out), embedding, attention


def main() -> None:
    model, embedding, attention = build()
    rng = np.random.default_rng(0)
    weights: dict[str, np.ndarray] = {}

    def draw(key: str, shape: tuple[int, ...]) -> np.ndarray:
        weights[key] = rng.normal(scale=0.5, size=shape).astype(np.float32)
        return weights[key]

    embedding.token_embedding.set_weights([draw("token_embedding/embeddings", (VOCAB, WIDTH))])
    embedding.positions.assign(draw("position_embedding/embeddings", (LENGTH, WIDTH)))
    parts = {
        "query": attention._query_dense,
        "key": attention._key_dense,
        "value": attention._value_dense,
        "attention_output": attention._output_dense,
    }
    for part, dense in parts.items():
        kernel, bias = (w.shape for w in dense.get_weights())
        dense.set_weights(
            [draw(f"attention/{part}/kernel", kernel), draw(f"attention/{part}/bias", bias)]
        )
    for name in ("attention_norm", "block_out"):
        model.get_layer(name).set_weights(
            [draw(f"{name}/gamma", (WIDTH,)), draw(f"{name}/beta", (WIDTH,))]
        )
    for name in ("feed_forward", "feed_forward_out", "dense", "sentiment"):
        kernel, bias = (w.shape for w in model.get_layer(name).get_weights())
        model.get_layer(name).set_weights(
            [draw(f"{name}/kernel", kernel), draw(f"{name}/bias", bias)]
        )
    ids = np.zeros((len(LENGTHS), LENGTH), np.int32)
    for row, length in enumerate(LENGTHS):
        ids[row, :length] = rng.integers(1, VOCAB, size=length)
    probs = np.asarray(model.predict(ids, verbose=0), np.float32)
    np.savez(HERE / "transformer_case.npz", ids=ids, probs=probs, **weights)
    print(f"wrote {HERE / 'transformer_case.npz'}: {len(weights)} weights, probs {probs.tolist()}")


if __name__ == "__main__":
    main()
