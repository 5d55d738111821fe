"""Writes nested_cases.npz: Keras 3.15.1's outputs and weight paths for models that apply
a nested model twice, on fixed inputs and weights, which tests/test_nested_models.py
compares specc's compiled specs (tests/keras_reference/nested_*.yaml) with.

Not run by the test suite (it needs Keras); run it by hand with a Keras 3.15.1 install:
    KERAS_BACKEND=jax python tests/keras_reference/nested_keras.py

Each array is stored as ``<case>:<name>``: ``input:<input>``, ``output:<k>`` and
``weight:<Keras weight path>``.
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np

HERE = Path(__file__).parent
BATCH = 3


def siamese() -> keras.Model:
    """A Sequential encoder applied to two inputs; Keras builds it under its own name, so
    its weights are ``encoder/dense/kernel``, as specc keys a sub-model's weights."""
    encoder = keras.Sequential(
        [
            keras.layers.Dense(5, activation="tanh", name="dense"),
            keras.layers.Dense(3, name="dense_1"),
        ],
        name="encoder",
    )
    left, right = keras.Input((4,), name="left"), keras.Input((4,), name="right")
    distance = keras.layers.Subtract(name="diff")([encoder(left), encoder(right)])
    head = keras.layers.Dense(1, activation="sigmoid", name="head")(distance)
    return keras.Model([left, right], head, name="siamese")


def shared_sequence() -> keras.Model:
    """A Sequential with a variable time axis applied to sequences of two lengths; two
    outputs (the pooled encodings)."""
    block = keras.Sequential(
        [
            keras.Input((None, 3)),
            keras.layers.Dense(4, activation="relu", name="dense"),
            keras.layers.GlobalAveragePooling1D(name="pool"),
        ],
        name="block",
    )
    short, long = keras.Input((5, 3), name="short"), keras.Input((7, 3), name="long")
    return keras.Model([short, long], [block(short), block(long)], name="two_lengths")


def inline_block() -> keras.Model:
    """A Sequential used once as a layer, built on its call (no input of its own), in a
    model with a second input that joins after it."""
    block = keras.Sequential(
        [
            keras.layers.Dense(5, activation="relu", name="dense"),
            keras.layers.GlobalAveragePooling1D(name="pool"),
        ],
        name="block",
    )
    seq, extra = keras.Input((6, 4), name="seq"), keras.Input((3,), name="extra")
    joined = keras.layers.Concatenate(name="cat")([block(seq), extra])
    return keras.Model([seq, extra], keras.layers.Dense(2, name="head")(joined))


CASES = {"siamese": siamese, "shared_sequence": shared_sequence, "inline_block": inline_block}


def main() -> None:
    rng = np.random.default_rng(7)
    arrays: dict[str, np.ndarray] = {}
    for case, make in CASES.items():
        model = make()
        for variable in model.weights:
            value = rng.normal(scale=0.7, size=variable.shape).astype(np.float32)
            variable.assign(value)
            arrays[f"{case}:weight:{variable.path}"] = value
        inputs = [rng.normal(size=(BATCH, *t.shape[1:])).astype(np.float32) for t in model.inputs]
        for tensor, value in zip(model.inputs, inputs, strict=True):
            arrays[f"{case}:input:{tensor.name}"] = value
        outputs = model.predict(inputs, verbose=0)
        outputs = outputs if isinstance(outputs, list) else [outputs]
        for k, value in enumerate(outputs):
            arrays[f"{case}:output:{k}"] = np.asarray(value, dtype=np.float32)
    arrays.update(one_sgd_step(rng))
    np.savez(HERE / "nested_cases.npz", **arrays)


def one_sgd_step(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """The siamese model's weights after one SGD step (learning rate 0.5, one batch of 4,
    binary crossentropy): a shared weight moves by the sum of its uses' gradients.
    Stored as ``sgd:input:<name>``, ``sgd:target``, ``sgd:before:<path>``,
    ``sgd:after:<path>``."""
    model = siamese()
    arrays: dict[str, np.ndarray] = {}
    for variable in model.weights:
        value = rng.normal(scale=0.7, size=variable.shape).astype(np.float32)
        variable.assign(value)
        arrays[f"sgd:before:{variable.path}"] = value
    inputs = [rng.normal(size=(4, 4)).astype(np.float32) for _ in model.inputs]
    target = rng.integers(0, 2, size=(4, 1)).astype(np.float32)
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.5), loss="binary_crossentropy")
    model.fit(inputs, target, batch_size=4, epochs=1, shuffle=False, verbose=0)
    for tensor, value in zip(model.inputs, inputs, strict=True):
        arrays[f"sgd:input:{tensor.name}"] = value
    arrays["sgd:target"] = target
    for variable in model.weights:
        arrays[f"sgd:after:{variable.path}"] = np.asarray(variable.numpy())
    return arrays


if __name__ == "__main__":
    main()
