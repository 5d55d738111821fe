"""Flatten, Reshape, Permute and RepeatVector: onnxruntime against NumPy, shapes and errors."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

import specc.layers.reshaping  # noqa: F401 - registers the layers
from specc.layers.base import LAYERS, ShapeError
from specc.types import TensorType
from tests.layer_harness import compare_layer, make_layer, run_layer


def compare(
    type_name: str, config: dict[str, Any], types: list[TensorType], shapes: list[tuple[int, ...]]
) -> list[np.ndarray]:
    """Run the layer in onnxruntime; check values, dtypes and shapes against the layer."""
    rng = np.random.default_rng(3)
    xs = [(rng.normal(size=s) * 10).astype(t.dtype) for t, s in zip(types, shapes, strict=True)]
    return compare_layer(type_name, config, types, xs)


def out_type(type_name: str, config: dict[str, Any], t: TensorType) -> TensorType:
    """The layer's inferred output type for one input."""
    return make_layer(type_name, **config).output_types([t])[0]


@pytest.mark.parametrize(
    ("shape", "want"),
    [((3, 5, 7), (105,)), ((7,), (7,)), ((), (1,)), ((2, None, 3), (None,))],
)
def test_flatten_shapes(shape: tuple[int | None, ...], want: tuple[int | None, ...]) -> None:
    t = TensorType("float32", shape)
    assert out_type("Flatten", {}, t).shape == want
    compare("Flatten", {}, [t], [(2, *(d or 5 for d in shape))])


def test_flatten_channels_first_moves_channels_last_first() -> None:
    x = np.arange(2 * 3 * 2 * 2, dtype=np.float32).reshape(2, 3, 2, 2)
    t = TensorType("float32", (3, 2, 2))
    (y,) = run_layer(make_layer("Flatten", data_format="channels_first"), [t], [x], {})
    # Sample 0, channels c at position (h, w) = x[0, c, h, w]; channels vary fastest.
    np.testing.assert_array_equal(y[0, :6], [0, 4, 8, 1, 5, 9])
    np.testing.assert_array_equal(y, np.moveaxis(x, 1, -1).reshape(2, -1))
    compare("Flatten", {"data_format": "channels_first"}, [t], [(2, 3, 2, 2)])
    # Rank 2: nothing to move, so both formats agree.
    compare("Flatten", {"data_format": "channels_first"}, [TensorType("float32", (4,))], [(3, 4)])


def test_flatten_keeps_integer_dtype() -> None:
    (y,) = compare("Flatten", {}, [TensorType("int32", (2, 3))], [(4, 2, 3)])
    assert y.dtype == np.int32


@pytest.mark.parametrize(
    ("target", "shape", "want"),
    [
        ([3, 4], (12,), (3, 4)),
        ([-1, 2, 2], (3, 4), (3, 2, 2)),
        ([5, -1], (2, 5, 3), (5, 6)),
        ([-1], (None, 3), (None,)),
        ([3, -1], (None, 3), (3, None)),
        ([7, 1, 1], (7,), (7, 1, 1)),
    ],
)
def test_reshape(target: list[int], shape: tuple[int | None, ...], want: tuple) -> None:
    t = TensorType("float32", shape)
    assert out_type("Reshape", {"target_shape": target}, t).shape == want
    concrete = (3, *(d or 3 for d in shape))
    compare("Reshape", {"target_shape": target}, [t], [concrete])


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ([5, 3], r"input \(None, 12\) into target_shape \[5, 3\] .*: 12 elements cannot become 15"),
        ([-1, 5], r"target_shape \[-1, 5\] \(\(None, None, 5\)\): 12 is not a multiple of 5"),
    ],
)
def test_reshape_size_mismatch(target: list[int], message: str) -> None:
    layer = make_layer("Reshape", target_shape=target)
    with pytest.raises(ShapeError, match=message) as info:
        layer.output_types([TensorType("float32", (12,))])
    assert info.value.field == "target_shape"


@pytest.mark.parametrize(
    ("target", "message"),
    [([-1, -1], "at most one -1"), ([3, 0], "got 0 in"), ([-2, 3], "got -2 in")],
)
def test_reshape_rejects_bad_target(target: list[int], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        make_layer("Reshape", target_shape=target)


@pytest.mark.parametrize(
    ("dims", "shape", "want"),
    [
        ([2, 1], (3, 5), (5, 3)),
        ([3, 1, 2], (2, 3, 4), (4, 2, 3)),
        ([1, 3, 2], (None, 3, 4), (None, 4, 3)),
        ([1], (6,), (6,)),
    ],
)
def test_permute(dims: list[int], shape: tuple, want: tuple) -> None:
    t = TensorType("float32", shape)
    assert out_type("Permute", {"dims": dims}, t).shape == want
    compare("Permute", {"dims": dims}, [t], [(2, *(d or 5 for d in shape))])


def test_permute_errors() -> None:
    with pytest.raises(ValidationError, match=r"permutation of 1\.\.2 .*got dims=\[0, 1\]"):
        make_layer("Permute", dims=[0, 1])
    with pytest.raises(ValidationError, match=r"permutation of 1\.\.2 .*got dims=\[1, 1\]"):
        make_layer("Permute", dims=[1, 1])
    with pytest.raises(ShapeError, match=r"rank 3; got \(None, 4\) \(rank 2\)"):
        make_layer("Permute", dims=[2, 1]).output_types([TensorType("float32", (4,))])


def test_repeat_vector() -> None:
    t = TensorType("float32", (5,))
    assert out_type("RepeatVector", {"n": 3}, t).shape == (3, 5)
    (y,) = compare("RepeatVector", {"n": 3}, [t], [(4, 5)])
    assert y.shape == (4, 3, 5)
    np.testing.assert_array_equal(y[:, 0], y[:, 2])
    compare("RepeatVector", {"n": 1}, [TensorType("float32", (None,))], [(2, 7)])


def test_repeat_vector_errors() -> None:
    with pytest.raises(ValidationError, match="greater than 0"):
        make_layer("RepeatVector", n=0)
    with pytest.raises(ShapeError, match=r"2D input \(batch, features\); got \(None, 2, 3\)"):
        make_layer("RepeatVector", n=2).output_types([TensorType("float32", (2, 3))])


@pytest.mark.parametrize("type_name", ["Flatten", "Reshape", "Permute", "RepeatVector"])
def test_examples_run(type_name: str) -> None:
    for config, types in LAYERS.get(type_name).examples():
        shapes = [(3, *(d or 4 for d in t.shape)) for t in types]
        if type_name == "Reshape" and None in types[0].shape:
            shapes = [(3, *(d or 3 for d in t.shape)) for t in types]
        compare(type_name, config, types, shapes)
