"""Compute the Keras 3.15.1 (JAX backend) outputs of the cases in ``layers_pre_cases``.

Not run by the tests (they need no Keras); rerun when a case changes:

    KERAS_BACKEND=jax python tests/keras_reference/make_layers_pre.py

with a Python that has Keras and JAX; writes ``layers_pre.npz`` beside this file.
"""

from __future__ import annotations

import sys
from pathlib import Path

import keras
import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from layers_pre_cases import CASES, adapt_data, case_input, case_weights  # noqa: E402


def main() -> None:
    assert keras.backend.backend() == "jax", "run with KERAS_BACKEND=jax"
    assert keras.__version__ == "3.15.1", keras.__version__
    values: dict[str, np.ndarray] = {}
    for name, type_name, config, shape, weights in CASES:
        layer = getattr(keras.layers, type_name)(**config)
        x = case_input(name, shape)
        layer.build((None, *shape))
        if weights == "adapt":
            layer.adapt(adapt_data(name, shape))
            for variable in layer.weights:
                values[f"{name}/w/{variable.name}"] = np.asarray(variable.numpy())
        for key, array in case_weights(name, weights).items():
            (variable,) = [v for v in layer.weights if v.name == key]
            variable.assign(array)
        values[f"{name}/y"] = np.asarray(layer(x))
    np.savez(HERE / "layers_pre.npz", **values)
    print(f"wrote {len(values)} arrays")


if __name__ == "__main__":
    main()
