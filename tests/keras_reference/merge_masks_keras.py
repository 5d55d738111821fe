"""Keras 3.15.1's Maximum and Minimum of masked inputs (``_apply_merge_op_and_or_mask``):
the merged values and a masked mean after them, on fixed embeddings. Run by hand with
``KERAS_BACKEND=jax python tests/keras_reference/merge_masks_keras.py``; it writes
``merge_masks.json`` beside it."""

import json
from pathlib import Path

import keras
import numpy as np
from keras import layers

rng = np.random.default_rng(0)
a_ids = np.array([[1, 2, 0, 0, 3], [0, 4, 5, 0, 0], [0, 0, 0, 0, 0]], np.int64)
b_ids = np.array([[2, 0, 0, 1, 3], [0, 0, 5, 2, 0], [1, 0, 0, 0, 6]], np.int64)
wa = rng.normal(size=(8, 3)).astype(np.float32)
wb = rng.normal(size=(8, 3)).astype(np.float32)
out = {}
for merge in ["Maximum", "Minimum"]:
    ia = keras.Input((5,), dtype="int64", name="a")
    ib = keras.Input((5,), dtype="int64", name="b")
    ea = layers.Embedding(8, 3, mask_zero=True, name="ea")(ia)
    eb = layers.Embedding(8, 3, mask_zero=True, name="eb")(ib)
    m = getattr(layers, merge)(name="m")([ea, eb])
    pooled = layers.GlobalAveragePooling1D(name="p")(m)
    model = keras.Model([ia, ib], [m, pooled])
    model.get_layer("ea").set_weights([wa])
    model.get_layer("eb").set_weights([wb])
    y, p = model.predict([a_ids, b_ids], verbose=0)
    out[merge] = (y.tolist(), p.tolist())
record = {
    "a": a_ids.tolist(),
    "b": b_ids.tolist(),
    "wa": wa.tolist(),
    "wb": wb.tolist(),
    "out": out,
}
(Path(__file__).parent / "merge_masks.json").write_text(json.dumps(record) + "\n")
