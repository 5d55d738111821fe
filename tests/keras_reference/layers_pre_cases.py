"""The configurations, inputs and weights the Keras reference values were computed for
(``make_layers_pre.py`` computes them with Keras; the tests read the stored values)."""

from __future__ import annotations

from typing import Any

import numpy as np

# (case name, Keras class, config, per-sample input shape, weights by Keras name or None)
CASES: list[tuple[str, str, dict[str, Any], tuple[int, ...], dict[str, Any] | None]] = [
    ("relu", "ReLU", {}, (7,), None),
    ("relu_all", "ReLU", {"max_value": 1.5, "negative_slope": 0.2, "threshold": 0.3}, (7,), None),
    ("relu6", "ReLU", {"max_value": 6.0}, (2, 5), None),
    ("leaky_relu", "LeakyReLU", {}, (7,), None),
    ("prelu", "PReLU", {"shared_axes": [1]}, (3, 4), {"alpha": ("normal", (1, 4))}),
    ("prelu_image", "PReLU", {}, (2, 3, 2), {"alpha": ("normal", (2, 3, 2))}),
    (
        "prelu_image_shared",
        "PReLU",
        {"shared_axes": [1, 2]},
        (4, 5, 3),
        {"alpha": ("normal", (1, 1, 3))},
    ),
    ("elu", "ELU", {"alpha": 0.7}, (7,), None),
    ("softmax", "Softmax", {"axis": 1}, (3, 4), None),
    ("softmax_axes", "Softmax", {"axis": [1, 2]}, (3, 4), None),
    ("softmax_apart", "Softmax", {"axis": [3, 1]}, (2, 3, 4), None),
    ("unit_norm", "UnitNormalization", {"axis": [1, 2]}, (3, 4), None),
    ("rms_norm", "RMSNormalization", {}, (6,), {"scale": ("normal", (6,))}),
    (
        "rms_norm_axes",
        "RMSNormalization",
        {"axis": [1, 2], "epsilon": 0.01},
        (3, 4),
        {"scale": ("normal", (3, 4))},
    ),
    ("rms_norm_quirk", "RMSNormalization", {"axis": -2}, (4, 4), {"scale": ("normal", (4,))}),
    ("rescaling", "Rescaling", {"scale": 0.5, "offset": -1.0}, (7,), None),
    (
        "rescaling_lists",
        "Rescaling",
        {"scale": [0.5, 2.0, -1.0], "offset": [1.0, 0.0, 0.5]},
        (2, 3),
        None,
    ),
    (
        "normalization",
        "Normalization",
        {"mean": [1.0, -2.0, 0.5], "variance": [4.0, 0.25, 0.0]},
        (3,),
        None,
    ),
    (
        "normalization_invert",
        "Normalization",
        {"axis": None, "mean": 0.5, "variance": 9.0, "invert": True},
        (2, 3),
        None,
    ),
    ("normalization_adapted", "Normalization", {"axis": [2]}, (3, 4), "adapt"),
    ("normalization_adapted_none", "Normalization", {"axis": None}, (3,), "adapt"),
    ("center_crop", "CenterCrop", {"height": 3, "width": 4}, (5, 7, 2), None),
    ("center_crop_small", "CenterCrop", {"height": 6, "width": 4}, (5, 7, 2), None),
    ("center_crop_larger", "CenterCrop", {"height": 8, "width": 9}, (5, 6, 2), None),
    ("resize_up", "Resizing", {"height": 8, "width": 11}, (5, 7, 2), None),
    ("resize_down", "Resizing", {"height": 3, "width": 2}, (7, 9, 2), None),
    ("resize_down_aa", "Resizing", {"height": 3, "width": 2, "antialias": True}, (7, 9, 2), None),
    (
        "resize_nearest",
        "Resizing",
        {"height": 3, "width": 11, "interpolation": "nearest"},
        (7, 4, 2),
        None,
    ),
    (
        "resize_bicubic",
        "Resizing",
        {"height": 4, "width": 9, "interpolation": "bicubic"},
        (5, 7, 2),
        None,
    ),
    (
        "resize_lanczos3",
        "Resizing",
        {"height": 3, "width": 10, "interpolation": "lanczos3", "antialias": True},
        (6, 7, 1),
        None,
    ),
    (
        "resize_lanczos5",
        "Resizing",
        {"height": 9, "width": 4, "interpolation": "lanczos5"},
        (6, 7, 1),
        None,
    ),
    (
        "resize_crop",
        "Resizing",
        {"height": 4, "width": 4, "crop_to_aspect_ratio": True},
        (5, 7, 2),
        None,
    ),
    (
        "resize_pad",
        "Resizing",
        {"height": 4, "width": 4, "pad_to_aspect_ratio": True, "fill_value": 0.5},
        (5, 8, 2),
        None,
    ),
    (
        "resize_pad_columns",
        "Resizing",
        {"height": 4, "width": 6, "pad_to_aspect_ratio": True},
        (6, 5, 1),
        None,
    ),
    # 80 -> 50 puts output 2 at exactly 4.0 in exact arithmetic, below it in XLA's.
    (
        "resize_nearest_ties",
        "Resizing",
        {"height": 5, "width": 50, "interpolation": "nearest"},
        (8, 80, 1),
        None,
    ),
    # Integer images come back rounded; these scales have weights exact in float32.
    ("resize_up_int", "Resizing", {"height": 10, "width": 14}, (5, 7, 1), None),
    ("resize_down_int", "Resizing", {"height": 4, "width": 3}, (8, 6, 2), None),
    (
        "resize_nearest_int",
        "Resizing",
        {"height": 3, "width": 11, "interpolation": "nearest"},
        (7, 4, 2),
        None,
    ),
    ("center_crop_int", "CenterCrop", {"height": 3, "width": 4}, (5, 7, 2), None),
    (
        "resize_channels_first",
        "Resizing",
        {"height": 3, "width": 5, "data_format": "channels_first"},
        (2, 6, 4),
        None,
    ),
]

BATCH = 3


def case_input(name: str, shape: tuple[int, ...]) -> np.ndarray:
    """The fixed input of a case: (BATCH, *shape) float32 normals seeded by the name, or
    int32 pixel values in [0, 255] for a case named ``*_int``."""
    rng = np.random.default_rng([ord(c) for c in name])
    if name.endswith("_int"):
        return rng.integers(0, 256, size=(BATCH, *shape)).astype(np.int32)
    return rng.normal(size=(BATCH, *shape)).astype(np.float32)


def case_weights(name: str, weights: dict[str, Any] | None) -> dict[str, np.ndarray]:
    """The fixed weights of a case, by Keras name."""
    if not isinstance(weights, dict):
        return {}
    rng = np.random.default_rng([ord(c) for c in name] + [1])
    return {key: rng.normal(size=shape).astype(np.float32) for key, (_, shape) in weights.items()}


def adapt_data(name: str, shape: tuple[int, ...]) -> np.ndarray:
    """The data an adapted case is adapted to: 40 samples, shifted and scaled normals."""
    rng = np.random.default_rng([ord(c) for c in name] + [2])
    return (rng.normal(size=(40, *shape)) * 3.0 + 1.5).astype(np.float32)
