"""Pooling and global pooling: the full compiler against NumPy and Keras's numbers, shapes,
errors, and the lowering's choice of engine-safe ops."""

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
) -> tuple[np.ndarray, list[str]]:
    """The layer alone, through the whole compiler, run in onnxruntime; and its op types."""
    compiled, _ = compile_with_random_weights(single_layer_spec(type_name, config, [t]))
    (y,) = run_compiled(compiled, [x])
    return y, [node.op_type for node in compiled.graph.nodes]


def check(type_name: str, config: dict[str, Any], t: TensorType, shape: tuple) -> None:
    """Compiled output equals the layer's reference and has the inferred shape."""
    x = np.random.default_rng(5).normal(size=shape).astype(t.dtype)
    compare_compiled(single_layer_spec(type_name, config, [t]), [x])


# Values from Keras 3.15 on JAX for x = [1, 2, 3, 4, 5] (negated for the max pools): the
# 'same' padding is left out of averages and never wins a maximum.
@pytest.mark.parametrize(
    ("type_name", "config", "sign", "want"),
    [
        ("AveragePooling1D", {"pool_size": 2, "padding": "same"}, 1, [1.5, 3.5, 5.0]),
        ("AveragePooling1D", {"pool_size": 3, "strides": 2, "padding": "same"}, 1, [1.5, 3, 4.5]),
        ("AveragePooling1D", {"pool_size": 4, "strides": 3, "padding": "same"}, 1, [2.0, 4.0]),
        ("MaxPooling1D", {"pool_size": 2, "padding": "same"}, -1, [-1.0, -3.0, -5.0]),
        ("MaxPooling1D", {"pool_size": 4, "strides": 3, "padding": "same"}, -1, [-1.0, -3.0]),
        ("AveragePooling1D", {"pool_size": 2, "strides": 2}, 1, [1.5, 3.5]),
        ("MaxPooling1D", {"strides": 3}, 1, [2.0, 5.0]),
    ],
)
@pytest.mark.parametrize("steps", [5, None])
def test_keras_numbers(
    type_name: str,
    config: dict[str, Any],
    sign: int,
    want: list[float],
    steps: int | None,
) -> None:
    x = sign * np.arange(1, 6, dtype=np.float32).reshape(1, 5, 1)
    y, _ = compiled_output(type_name, config, TensorType(F32, (steps, 1)), x)
    np.testing.assert_allclose(y.ravel(), want, rtol=1e-6)


@pytest.mark.parametrize(
    ("type_name", "config", "shape", "want"),
    [
        ("MaxPooling2D", {}, (5, 4, 3), (2, 2, 3)),
        ("MaxPooling2D", {"pool_size": 3, "strides": 1}, (5, 4, 3), (3, 2, 3)),
        ("MaxPooling2D", {"pool_size": 3, "strides": 2, "padding": "same"}, (5, 4, 3), (3, 2, 3)),
        ("AveragePooling1D", {"pool_size": 2, "strides": 3}, (None, 3), (None, 3)),
        (
            "AveragePooling2D",
            {"pool_size": 2, "data_format": "channels_first"},
            (3, 5, 4),
            (3, 2, 2),
        ),
        ("MaxPooling3D", {"pool_size": [1, 2, 3]}, (2, 4, 6, 1), (2, 2, 2, 1)),
        ("GlobalMaxPooling2D", {}, (5, 4, 3), (3,)),
        ("GlobalAveragePooling3D", {"keepdims": True}, (None, 4, 6, 2), (1, 1, 1, 2)),
        (
            "GlobalAveragePooling1D",
            {"data_format": "channels_first", "keepdims": True},
            (3, 7),
            (3, 1),
        ),
    ],
)
def test_output_shapes(type_name: str, config: dict, shape: tuple, want: tuple) -> None:
    (out,) = make_layer(type_name, **config).output_types([TensorType("float16", shape)])
    assert out == TensorType(F32, want)


@pytest.mark.parametrize(
    ("type_name", "config", "t", "shape"),
    [
        # Odd sizes, strides other than the window, odd 'same' totals, variable sizes.
        (
            "MaxPooling2D",
            {"pool_size": [3, 2], "strides": [2, 3], "padding": "same"},
            (7, 6, 2),
            (2, 7, 6, 2),
        ),
        (
            "AveragePooling2D",
            {"pool_size": [3, 2], "strides": [2, 3], "padding": "same"},
            (7, 6, 2),
            (2, 7, 6, 2),
        ),
        (
            "AveragePooling2D",
            {"pool_size": 3, "strides": 2, "padding": "same"},
            (None, None, 2),
            (2, 6, 7, 2),
        ),
        (
            "MaxPooling2D",
            {"pool_size": 3, "strides": 2, "padding": "same"},
            (None, None, 2),
            (2, 6, 7, 2),
        ),
        (
            "MaxPooling3D",
            {"pool_size": 2, "strides": 1, "padding": "same"},
            (3, None, 2, 2),
            (2, 3, 4, 2, 2),
        ),
        (
            "AveragePooling3D",
            {"pool_size": [1, 2, 3], "padding": "same"},
            (3, 4, 5, 2),
            (2, 3, 4, 5, 2),
        ),
        ("AveragePooling1D", {"pool_size": 3, "strides": 1}, (None, None), (2, 6, 4)),
        ("GlobalMaxPooling2D", {"keepdims": True}, (None, 4, 3), (2, 5, 4, 3)),
        ("GlobalAveragePooling2D", {"data_format": "channels_first"}, (3, None, 2), (2, 3, 4, 2)),
    ],
)
def test_compiled_matches_reference(type_name: str, config: dict, t: tuple, shape: tuple) -> None:
    check(type_name, config, TensorType(F32, t), shape)


def test_average_pooling_avoids_the_engines_average_pool() -> None:
    # AveragePoolGrad reads the input's static shape, batch size included: with a variable
    # batch its gradient is empty. A Conv with a constant kernel has a correct one.
    x = np.ones((2, 4, 4, 1), np.float32)
    config = {"pool_size": 2, "padding": "same", "strides": 3}
    _, ops = compiled_output("AveragePooling2D", config, TensorType(F32, (4, 4, 1)), x)
    assert "AveragePool" not in ops and "Conv" in ops


@pytest.mark.parametrize(("spatial", "op"), [((5, 4), "MaxPool"), ((None, 4), "Max")])
def test_max_pooling_uses_max_pool_only_for_known_sizes(spatial: tuple, op: str) -> None:
    # MaxPoolGrad takes the spatial sizes from static shapes; variable ones use Slice + Max.
    x = np.zeros((2, 5, 4, 3), np.float32)
    _, ops = compiled_output("MaxPooling2D", {}, TensorType(F32, (*spatial, 3)), x)
    assert op in ops and ({"MaxPool", "Max"} - {op}).isdisjoint(ops)


def test_global_max_pooling_of_variable_sizes_uses_top_k() -> None:
    x = np.random.default_rng(0).normal(size=(2, 3, 6, 4)).astype(np.float32)
    y, ops = compiled_output("GlobalMaxPooling2D", {}, TensorType(F32, (None, None, 4)), x)
    assert "TopK" in ops and "GlobalMaxPool" not in ops
    np.testing.assert_array_equal(y, x.max(axis=(1, 2)))


@pytest.mark.parametrize(
    ("type_name", "config", "shape", "message", "field"),
    [
        ("MaxPooling2D", {}, (5, 3), "needs a 4D input (batch, height, width, channels)", None),
        (
            "MaxPooling1D",
            {"data_format": "channels_first"},
            (4, 5, 6),
            "(batch, channels, steps)",
            None,
        ),
        ("AveragePooling2D", {"pool_size": 3}, (2, 5, 1), "axis 1 has size 2 < 3", "pool_size"),
        ("MaxPooling1D", {}, (1, 4), "axis 1 has size 1 < 2", "pool_size"),
        ("MaxPooling2D", {}, (4, 4, 3), "needs a floating-point input", None),
        ("GlobalAveragePooling3D", {}, (4, 4, 3), "needs a 5D input", None),
    ],
)
def test_shape_errors(
    type_name: str, config: dict, shape: tuple, message: str, field: str | None
) -> None:
    dtype = "int32" if "floating" in message else F32
    with pytest.raises(ShapeError) as info:
        make_layer(type_name, **config).output_types([TensorType(dtype, shape)])
    assert message in str(info.value)
    assert info.value.field == field


@pytest.mark.parametrize(
    ("type_name", "config", "message"),
    [
        ("MaxPooling2D", {"pool_size": [2, 2, 2]}, "pool_size must be an integer or a list of 2"),
        ("MaxPooling1D", {"strides": 0}, "strides must hold positive integers; got 0"),
        ("AveragePooling2D", {}, "pool_size"),
        ("MaxPooling3D", {"padding": "causal"}, "padding"),
        ("GlobalMaxPooling1D", {"keepdims": "yes"}, "keepdims"),
    ],
)
def test_config_errors(type_name: str, config: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        make_layer(type_name, **config)


def test_keras_aliases_share_the_canonical_default_name() -> None:
    for alias, name in [
        ("MaxPool2D", "max_pooling2d"),
        ("GlobalAvgPool1D", "global_average_pooling1d"),
    ]:
        layer = make_layer(alias, pool_size=2) if "Pool2D" in alias else make_layer(alias)
        assert layer.default_name() == name
