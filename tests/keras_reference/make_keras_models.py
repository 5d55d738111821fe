"""Make the ``.keras`` files ``specc import`` is tested on, and Keras's outputs on them.

Run with Keras 3.15.1 on the JAX backend (``KERAS_BACKEND=jax python
tests/keras_reference/make_keras_models.py``). Each model ``NAME`` is written to
``tests/data/keras_models/NAME.keras`` with ``NAME.io.npz`` beside it: the fixed inputs
(``in:<index>``, in the model's input order) and Keras's outputs on them
(``out:<output name>``). The MLP is also written as ``model.to_json()`` text with a
separate ``.weights.h5`` file. The models are small (a few KB each, their zips deflated),
their weights random but seeded, with BatchNormalization's moving statistics moved off
their defaults so that they are checked too.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "jax")

import keras
import numpy as np
from keras import layers

OUT = Path(__file__).resolve().parent.parent / "data" / "keras_models"
RNG = np.random.default_rng(0)


def mlp() -> keras.Model:
    return keras.Sequential(
        [
            keras.Input((6,)),
            layers.Dense(8, activation="relu", kernel_initializer="he_uniform"),
            layers.Dropout(0.2),
            layers.Dense(3, activation="softmax", name="probs"),
        ],
        name="mlp",
    )


def cnn() -> keras.Model:
    model = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            layers.Conv2D(4, 3, padding="same"),
            layers.BatchNormalization(),
            layers.Activation("relu"),
            layers.MaxPooling2D(2),
            layers.Conv2D(4, 3, activation="relu"),
            layers.GlobalAveragePooling2D(),
            layers.Dense(2, activation="softmax"),
        ],
        name="cnn",
    )
    for layer in model.layers:
        if isinstance(layer, layers.BatchNormalization):
            layer.moving_mean.assign(RNG.normal(0, 0.5, 4).astype("float32"))
            layer.moving_variance.assign(RNG.uniform(0.5, 2.0, 4).astype("float32"))
            layer.gamma.assign(RNG.uniform(0.5, 1.5, 4).astype("float32"))
            layer.beta.assign(RNG.normal(0, 0.2, 4).astype("float32"))
    return model


def bilstm_mask() -> keras.Model:
    tokens = keras.Input((None,), dtype="int32", name="tokens")
    x = layers.Embedding(20, 4, mask_zero=True, name="embed")(tokens)
    x = layers.Bidirectional(layers.LSTM(3), name="bilstm")(x)
    out = layers.Dense(1, activation="sigmoid", name="score")(x)
    return keras.Model(tokens, out, name="bilstm_mask")


def compiled() -> keras.Model:
    model = keras.Sequential(
        [
            keras.Input((3,)),
            layers.Dense(
                2,
                kernel_regularizer=keras.regularizers.L2(0.01),
                kernel_constraint=keras.constraints.MaxNorm(2.0),
            ),
            layers.Dense(1, name="logit"),
        ],
        name="compiled",
    )
    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, 4, 0.5)
    model.compile(
        optimizer=keras.optimizers.Adam(schedule),
        loss=keras.losses.BinaryCrossentropy(from_logits=True),
        metrics=[keras.metrics.BinaryAccuracy(), "auc"],
    )
    return model


def layer_zoo() -> keras.Model:
    """Many layer families at once, for the weights' places in the HDF5 file."""
    image = keras.Input((6, 6, 2), name="image")
    x = layers.Rescaling(0.5, offset=0.1, name="rescale")(image)
    x = layers.SeparableConv2D(3, 3, padding="same", name="separable")(x)
    x = layers.DepthwiseConv2D(2, name="depthwise")(x)
    x = layers.PReLU(name="prelu")(x)
    x = layers.UpSampling2D(name="up")(x)
    x = layers.Conv2DTranspose(2, 2, strides=2, name="transpose")(x)
    x = layers.AveragePooling2D(4, name="avg")(x)
    x = layers.Reshape((5, 10), name="reshape")(x)
    x = layers.TimeDistributed(layers.Dense(3), name="per_step")(x)
    x = layers.Conv1D(4, 2, name="conv1d")(x)
    x = layers.SimpleRNN(3, return_sequences=True, name="rnn")(x)
    x = layers.GroupNormalization(groups=3, name="group_norm")(x)
    x = layers.Flatten(name="flat")(x)
    x = layers.BatchNormalization(center=False, name="bn")(x)
    out = layers.Dense(2, activation="gelu", name="out")(x)
    model = keras.Model(image, out, name="layer_zoo")
    bn = model.get_layer("bn")
    bn.moving_mean.assign(RNG.normal(0, 0.5, bn.moving_mean.shape).astype("float32"))
    bn.moving_variance.assign(RNG.uniform(0.5, 2.0, bn.moving_variance.shape).astype("float32"))
    return model


def bilstm() -> keras.Model:
    tokens = keras.Input((5,), dtype="int32", name="tokens")
    x = layers.Embedding(20, 4, name="embed")(tokens)
    x = layers.Bidirectional(layers.LSTM(3, return_sequences=True), name="bilstm")(x)
    x = layers.Bidirectional(layers.GRU(2), merge_mode="sum", name="bigru")(x)
    out = layers.Dense(1, activation="sigmoid", name="score")(x)
    return keras.Model(tokens, out, name="bilstm")


def shared_layer() -> keras.Model:
    left = keras.Input((4,), name="left")
    right = keras.Input((4,), name="right")
    shared = layers.Dense(3, activation="tanh", name="shared")
    merged = layers.Concatenate(name="merged")([shared(left), shared(right)])
    out = layers.Dense(2, name="out")(merged)
    return keras.Model([left, right], out, name="shared_layer")


def multi_output() -> keras.Model:
    features = keras.Input((5,), name="features")
    extra = keras.Input((3,), name="extra")
    trunk = layers.Dense(6, activation="tanh", name="trunk")(features)
    merged = layers.Concatenate(name="merged")([trunk, extra])
    score = layers.Dense(1, activation="sigmoid", name="score")(merged)
    category = layers.Dense(4, activation="softmax", name="category")(merged)
    model = keras.Model([features, extra], [score, category], name="multi_output")
    model.compile(
        optimizer=keras.optimizers.RMSprop(0.01),
        loss={"score": "binary_crossentropy", "category": "sparse_categorical_crossentropy"},
        metrics={"score": ["accuracy"], "category": ["sparse_categorical_accuracy"]},
    )
    return model


def siamese() -> keras.Model:
    encoder = keras.Sequential(
        [keras.Input((4,)), layers.Dense(5, activation="relu"), layers.Dense(3)],
        name="encoder",
    )
    a = keras.Input((4,), name="a")
    b = keras.Input((4,), name="b")
    enc_a = encoder(a)
    enc_b = encoder(b)
    diff = layers.Subtract(name="diff")([enc_a, enc_b])
    out = layers.Dense(1, activation="sigmoid", name="same")(diff)
    return keras.Model([a, b], out, name="siamese")


def transformer() -> keras.Model:
    length, vocab, dim = 6, 16, 8
    tokens = keras.Input((length,), dtype="int32", name="tokens")
    positions = keras.Input((length,), dtype="int32", name="positions")
    tok = layers.Embedding(vocab, dim, name="token_embedding")(tokens)
    pos = layers.Embedding(length, dim, name="position_embedding")(positions)
    x = layers.Add(name="embed")([tok, pos])
    attended = layers.MultiHeadAttention(num_heads=2, key_dim=4, name="mha")(x, x)
    attended = layers.Dropout(0.1, name="attention_dropout")(attended)
    x = layers.Add(name="residual")([x, attended])
    x = layers.LayerNormalization(epsilon=1e-6, name="norm")(x)
    ff = layers.Dense(16, activation="relu", name="ff_in")(x)
    ff = layers.Dense(dim, name="ff_out")(ff)
    x = layers.Add(name="residual_ff")([x, ff])
    x = layers.LayerNormalization(epsilon=1e-6, name="norm_ff")(x)
    x = layers.GlobalAveragePooling1D(name="pool")(x)
    x = layers.Dropout(0.1, name="dropout")(x)
    out = layers.Dense(3, activation="softmax", name="label")(x)
    return keras.Model([tokens, positions], out, name="transformer")


def causal_attention() -> keras.Model:
    sequence = keras.Input((5, 4), name="sequence")
    attended, scores = layers.MultiHeadAttention(num_heads=2, key_dim=3, name="mha")(
        sequence, sequence, use_causal_mask=True, return_attention_scores=True
    )
    return keras.Model(sequence, [attended, scores], name="causal_attention")


def with_lambda() -> keras.Model:
    inputs = keras.Input((4,), name="x")
    x = layers.Dense(3, name="dense")(inputs)
    x = layers.Lambda(lambda t: t * 2.0, name="double")(x)
    return keras.Model(inputs, x, name="with_lambda")


@keras.saving.register_keras_serializable(package="tests")
class Scale(layers.Layer):
    """A custom layer: Keras saves its class name, which ``specc import`` refuses."""

    def call(self, x):
        return x * 3.0


def custom_layer() -> keras.Model:
    inputs = keras.Input((4,), name="x")
    x = layers.Dense(3, name="dense")(inputs)
    x = Scale(name="scale")(x)
    return keras.Model(inputs, x, name="custom_layer")


def _inputs(model: keras.Model) -> dict[str, np.ndarray]:
    arrays = {}
    for tensor in model.inputs:
        shape = [
            2 if size is None and i == 0 else (5 if size is None else size)
            for i, size in enumerate((2, *tensor.shape[1:]))
        ]
        name = tensor.name
        if "int" in str(tensor.dtype):
            high = 6 if name == "positions" else 16
            values = RNG.integers(1, high, shape).astype("int32")
            if name == "tokens" and model.name == "bilstm_mask":
                values[0, 3:] = 0  # padding the mask must hide
            if name == "positions":
                values = np.tile(np.arange(shape[1], dtype="int32"), (shape[0], 1))
            arrays[name] = values
        else:
            arrays[name] = RNG.normal(size=shape).astype("float32")
    return arrays


def _save_keras(model: keras.Model, path: Path) -> None:
    """``model.save``, then the zip deflated: Keras stores its members uncompressed, and the
    HDF5 file is mostly empty header space."""
    model.save(path)
    with zipfile.ZipFile(path) as archive:
        members = [(info.filename, archive.read(info)) for info in archive.infolist()]
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for member, data in members:
            archive.writestr(member, data)


def _save(name: str, model: keras.Model) -> None:
    _save_keras(model, OUT / f"{name}.keras")
    inputs = _inputs(model)
    feed = list(inputs.values())
    outputs = model.predict(feed if len(feed) > 1 else feed[0], verbose=0)
    if not isinstance(outputs, (list, tuple)):
        outputs = [outputs]
    # Outputs as the spec names them: a layer's first output by its name, others name[i].
    names = [
        t._keras_history.operation.name
        + (f"[{t._keras_history.tensor_index}]" if t._keras_history.tensor_index else "")
        for t in model.outputs
    ]
    arrays = {f"in:{i}": v for i, v in enumerate(feed)}
    arrays.update({f"out:{n}": np.asarray(v) for n, v in zip(names, outputs, strict=True)})
    np.savez(OUT / f"{name}.io.npz", **arrays)


def main() -> None:
    keras.utils.set_random_seed(0)
    OUT.mkdir(parents=True, exist_ok=True)
    models = {
        "mlp": mlp(),
        "cnn": cnn(),
        "compiled": compiled(),
        "layer_zoo": layer_zoo(),
        "bilstm": bilstm(),
        "shared_layer": shared_layer(),
        "bilstm_mask": bilstm_mask(),
        "multi_output": multi_output(),
        "siamese": siamese(),
        "transformer": transformer(),
        "causal_attention": causal_attention(),
    }
    for name, model in models.items():
        _save(name, model)
    (OUT / "mlp.json").write_text(models["mlp"].to_json(indent=1))
    models["mlp"].save_weights(OUT / "mlp.weights.h5")
    _save_keras(with_lambda(), OUT / "with_lambda.keras")
    _save_keras(custom_layer(), OUT / "custom_layer.keras")
    (OUT / "with_lambda.json").write_text(with_lambda().to_json(indent=1))


if __name__ == "__main__":
    main()
