"""Loss weights per sample: Keras's ``class_weight`` turned into sample weights, and what a
batch feeds the training graph's sample-weight inputs.

Keras applies ``class_weight`` to the training data only (``fit`` converts it in the
training iterator), so validation losses are unweighted; a ``sample_weight`` array is split
with the data (``validation_split``) and weights the validation losses too.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np


def class_weight_to_sample_weights(
    labels: np.ndarray, class_weight: Mapping[int, float]
) -> np.ndarray:
    """One float32 weight per sample, as Keras's
    ``data_adapter_utils.class_weight_to_sample_weights``: a sample's class is its label
    (class indices), the argmax of its row (one-hot or several labels per sample), or its
    single value, rounded to an integer; classes missing from ``class_weight`` weigh 1."""
    classes = np.asarray(labels)
    if classes.ndim > 1:
        classes = np.squeeze(classes, -1) if classes.shape[-1] == 1 else classes.argmax(-1)
    classes = np.round(classes).astype(np.int64)
    weights = np.ones(len(classes), np.float32)
    for index, weight in class_weight.items():
        weights[classes == index] = weight
    return weights


def unit_weights(size: int) -> np.ndarray:
    """The weights of a batch that has none (validation data of a class-weighted run):
    with one loss value per sample, weights of 1 give exactly the unweighted loss under
    every Keras reduction."""
    return np.ones(size, np.float32)
