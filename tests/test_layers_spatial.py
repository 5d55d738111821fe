"""ZeroPadding, Cropping and UpSampling: the full compiler against NumPy and Keras's numbers,
shapes, errors, and a chain of spatial layers that stays channels-first throughout."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from specc.layers.base import ShapeError
from specc.types import TensorType
from tests.layer_harness import make_layer
from tests.spec_helpers import (
    compare_compiled,
    compile_with_random_weights,
    run_compiled,
    single_layer_spec,
)

F32 = "float32"


def compiled_output(
    type_name: str, config: dict[str, Any], t: TensorType, x: np.ndarray
) -> np.ndarray:
    """The layer alone, through the whole compiler, run in onnxruntime."""
    compiled, _ = compile_with_random_weights(single_layer_spec(type_name, config, [t]))
    (y,) = run_compiled(compiled, [x])
    return y


@pytest.mark.parametrize(
    ("type_name", "config", "t", "shape"),
    [
        ("ZeroPadding1D", {"padding": [3, 0]}, (None, 2), (2, 4, 2)),
        ("ZeroPadding2D", {"padding": [[1, 0], 2]}, (3, None, 2), (2, 3, 5, 2)),
        (
            "ZeroPadding3D",
            {"padding": 1, "data_format": "channels_first"},
            (2, 1, 2, 3),
            (2, 2, 1, 2, 3),
        ),
        ("Cropping1D", {"cropping": [0, 3]}, (None, 2), (2, 5, 2)),
        ("Cropping2D", {"cropping": [[2, 0], [1, 1]]}, (4, None, 1), (2, 4, 6, 1)),
        (
            "Cropping3D",
            {"cropping": [0, 1, [2, 0]], "data_format": "channels_first"},
            (2, 2, 4, 3),
            (2, 2, 2, 4, 3),
        ),
        ("UpSampling1D", {"size": 4}, (3, 2), (2, 3, 2)),
        (
            "UpSampling2D",
            {"size": [2, 3], "data_format": "channels_first"},
            (2, None, None),
            (2, 2, 3, 2),
        ),
        ("UpSampling2D", {"size": [3, 2], "interpolation": "bilinear"}, (None, 4, 1), (2, 1, 4, 1)),
        ("UpSampling2D", {"size": [2, 3], "interpolation": "bicubic"}, (5, 1, 2), (2, 5, 1, 2)),
        ("UpSampling2D", {"size": 4, "interpolation": "lanczos5"}, (3, 2, 1), (2, 3, 2, 1)),
        ("UpSampling3D", {"size": [2, 1, 3]}, (None, 2, 1, 2), (2, 3, 2, 1, 2)),
    ],
)
def test_compiled_matches_reference(type_name: str, config: dict, t: tuple, shape: tuple) -> None:
    x = np.random.default_rng(5).normal(size=shape).astype(np.float32)
    compare_compiled(single_layer_spec(type_name, config, [TensorType(F32, t)]), [x])


def test_keras_examples() -> None:
    # The examples in Keras's docstrings.
    x = np.arange(12).reshape(2, 2, 3).astype(np.float32)
    y = compiled_output("ZeroPadding1D", {"padding": 2}, TensorType(F32, (2, 3)), x)
    np.testing.assert_array_equal(y[0, 2:4], x[0])
    assert y.shape == (2, 6, 3) and not y[:, :2].any() and not y[:, 4:].any()
    x = np.arange(12).reshape(2, 3, 2).astype(np.float32)
    y = compiled_output("Cropping1D", {"cropping": 1}, TensorType(F32, (3, 2)), x)
    np.testing.assert_array_equal(y, [[[2, 3]], [[8, 9]]])
    x = np.arange(12).reshape(2, 2, 1, 3).astype(np.float32)
    y = compiled_output("UpSampling2D", {"size": [1, 2]}, TensorType(F32, (2, 1, 3)), x)
    np.testing.assert_array_equal(y[0, 1], [[3, 4, 5], [3, 4, 5]])


# Values from Keras 3.15 on JAX (jax.image.resize): half-pixel centres, edges renormalised.
BILINEAR = [
    [0.0, 0.25, 0.75, 1.0],
    [0.5, 0.8125, 1.4375, 1.75],
    [1.5, 1.9375, 2.8125, 3.25],
    [2.0, 2.5, 3.5, 4.0],
]
BICUBIC = [
    -0.0882353,
    0.21167883,
    0.84732825,
    0.8203125,
    0.0859375,
    0.37404582,
    1.5985402,
    2.1764708,
]
LANCZOS3 = [
    -0.1687858,
    0.25904354,
    0.89852756,
    0.7862534,
    0.00463498,
    0.38538486,
    1.556928,
    2.2994359,
]


@pytest.mark.parametrize("spatial", [(2, 2), (None, None)])
def test_bilinear_matches_keras(spatial: tuple) -> None:
    x = np.array([[0, 1], [2, 4]], np.float32).reshape(1, 2, 2, 1)
    config = {"interpolation": "Bilinear"}  # Keras lower-cases the name
    y = compiled_output("UpSampling2D", config, TensorType(F32, (*spatial, 1)), x)
    np.testing.assert_allclose(y[0, :, :, 0], BILINEAR, rtol=1e-6)


@pytest.mark.parametrize(("interpolation", "want"), [("bicubic", BICUBIC), ("lanczos3", LANCZOS3)])
def test_kernels_match_keras(interpolation: str, want: list[float]) -> None:
    x = np.array([0, 1, 0, 2], np.float32).reshape(1, 1, 4, 1)
    config = {"size": [1, 2], "interpolation": interpolation}
    y = compiled_output("UpSampling2D", config, TensorType(F32, (1, 4, 1)), x)
    np.testing.assert_allclose(y.ravel(), want, rtol=1e-5, atol=1e-6)


def test_integer_inputs_keep_their_dtype() -> None:
    x = np.arange(8, dtype=np.int64).reshape(2, 2, 2)
    for type_name, config in [("ZeroPadding1D", {}), ("Cropping1D", {"cropping": [1, 0]})]:
        y = compiled_output(type_name, config, TensorType("int64", (2, 2)), x)
        assert y.dtype == np.int64
    y = compiled_output("UpSampling1D", {}, TensorType("int64", (2, 2)), x)
    np.testing.assert_array_equal(y, np.repeat(x, 2, axis=1))


@pytest.mark.parametrize(
    ("type_name", "config", "shape", "want"),
    [
        ("ZeroPadding2D", {}, (3, None, 2), (5, None, 2)),
        (
            "ZeroPadding2D",
            {"padding": [1, [0, 3]], "data_format": "channels_first"},
            (2, 3, 4),
            (2, 5, 7),
        ),
        ("ZeroPadding1D", {"padding": [1, 2], "data_format": "channels_first"}, (2, 3), (2, 6)),
        ("Cropping2D", {}, (3, 4, 2), (3, 4, 2)),
        ("Cropping3D", {}, (3, None, 4, 2), (1, None, 2, 2)),
        ("UpSampling1D", {"size": 3}, (None, 2), (None, 2)),
        ("UpSampling2D", {"size": [1, 3]}, (2, 3, 4), (2, 9, 4)),
        ("UpSampling3D", {"data_format": "channels_first"}, (4, 1, 2, None), (4, 2, 4, None)),
    ],
)
def test_output_shapes(type_name: str, config: dict, shape: tuple, want: tuple) -> None:
    (out,) = make_layer(type_name, **config).output_types([TensorType(F32, shape)])
    assert out.shape == want


@pytest.mark.parametrize(
    ("type_name", "config", "t", "message", "field"),
    [
        (
            "Cropping1D",
            {"cropping": [2, 1]},
            (3, 2),
            "cropping [2, 1] (3 in all) on spatial axis 1 of size 3",
            "cropping",
        ),
        ("Cropping2D", {"cropping": [0, 2]}, (5, 4, 1), "spatial axis 2 of size 4", "cropping"),
        ("ZeroPadding2D", {}, (4, 3), "needs a 4D input (batch, height, width, channels)", None),
        ("Cropping1D", {}, (4, 3, 2), "needs a 3D input (batch, steps, features)", None),
        (
            "UpSampling3D",
            {"data_format": "channels_first"},
            (4, 3, 2),
            "(batch, channels, dim1, dim2, dim3)",
            None,
        ),
        (
            "UpSampling2D",
            {"interpolation": "bicubic"},
            (None, 3, 1),
            "needs known spatial sizes",
            "interpolation",
        ),
        (
            "UpSampling2D",
            {"interpolation": "bilinear"},
            (3, 3, 1),
            "needs a floating-point input",
            None,
        ),
    ],
)
def test_shape_errors(
    type_name: str, config: dict, t: tuple, message: str, field: str | None
) -> None:
    dtype = "int32" if "floating" in message else F32
    with pytest.raises(ShapeError) as info:
        make_layer(type_name, **config).output_types([TensorType(dtype, t)])
    assert message in str(info.value)
    assert info.value.field == field


@pytest.mark.parametrize(
    ("type_name", "config", "message"),
    [
        ("ZeroPadding2D", {"padding": [1, 2, 3]}, "a list of 2 entries"),
        ("ZeroPadding3D", {"padding": [1, [2, -1], 0]}, "non-negative integers; got -1"),
        ("ZeroPadding1D", {"padding": [[1, 2]]}, "padding"),
        ("Cropping2D", {"cropping": [[1, 2, 3], 0]}, "cropping must be an integer or a list of 2"),
        ("Cropping1D", {"data_format": "channels_first"}, "unknown key 'data_format'"),
        ("UpSampling1D", {"size": [2]}, "size"),
        ("UpSampling2D", {"size": [2, 0]}, "size must hold positive integers; got 0"),
        ("UpSampling2D", {"interpolation": "area"}, "interpolation"),
        ("UpSampling3D", {"interpolation": "bilinear"}, "unknown key 'interpolation'"),
    ],
)
def test_config_errors(type_name: str, config: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        make_layer(type_name, **config)


def test_a_chain_of_spatial_layers_is_transposed_once() -> None:
    spec = {
        "specc": 1,
        "name": "chain",
        "layers": [
            {"type": "ZeroPadding2D", "padding": [1, [0, 1]], "input_shape": [5, 6, 3]},
            {"type": "MaxPooling2D", "pool_size": 3, "strides": 2, "padding": "same"},
            {"type": "UpSampling2D", "size": 2, "interpolation": "bilinear"},
            {"type": "Cropping2D", "cropping": [[1, 0], 2]},
            {"type": "AveragePooling2D", "pool_size": 2},
            {"type": "GlobalMaxPooling2D"},
        ],
    }
    compiled, _ = compile_with_random_weights(spec)
    assert [n.op_type for n in compiled.graph.nodes].count("Transpose") == 1
    x = np.random.default_rng(1).normal(size=(2, 5, 6, 3)).astype(np.float32)
    (y,) = run_compiled(compiled, [x])
    want = x
    for entry in spec["layers"]:
        config = {k: v for k, v in entry.items() if k not in ("type", "input_shape")}
        (want,) = make_layer(entry["type"], **config).reference([want], {})
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-6)
