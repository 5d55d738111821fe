"""Merge layers and Dot: onnxruntime against NumPy, Keras's shape rules, and errors."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

import specc.layers.dot
import specc.layers.merge  # noqa: F401 - registers the layers
from specc.layers.base import LAYERS, ShapeError
from specc.types import TensorType
from tests.layer_harness import compare_layer, make_layer, run_layer

F32 = "float32"
ELEMENTWISE = ["Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum"]
MULTI = ["Add", "Multiply", "Average", "Maximum", "Minimum"]


def compare(
    type_name: str,
    config: dict[str, Any],
    types: list[TensorType],
    shapes: list[tuple[int, ...]],
    seed: int = 0,
) -> np.ndarray:
    """Run the layer in onnxruntime; check values, dtype and shape against the layer."""
    rng = np.random.default_rng(seed)
    xs = [rng.normal(size=s).astype(t.dtype) for t, s in zip(types, shapes, strict=True)]
    (got,) = compare_layer(type_name, config, types, xs, weights={})
    return got


def types_of(*shapes: tuple[int | None, ...], dtype: str = F32) -> list[TensorType]:
    """One input type per shape, all of ``dtype``."""
    return [TensorType(dtype, s) for s in shapes]


@pytest.mark.parametrize("type_name", ELEMENTWISE)
def test_elementwise_two_inputs(type_name: str) -> None:
    got = compare(type_name, {}, types_of((3, 5), (3, 5)), [(4, 3, 5)] * 2)
    assert got.shape == (4, 3, 5)


@pytest.mark.parametrize("type_name", MULTI)
def test_elementwise_many_inputs_and_average_divides(type_name: str) -> None:
    compare(type_name, {}, types_of((7,), (7,), (7,), (7,)), [(2, 7)] * 4)


def test_average_values() -> None:
    xs = [np.full((2, 3), v, np.float32) for v in (1.0, 2.0, 6.0)]
    (y,) = run_layer(make_layer("Average"), types_of((3,), (3,), (3,)), xs, {})
    np.testing.assert_allclose(y, np.full((2, 3), 3.0))


@pytest.mark.parametrize("type_name", ELEMENTWISE)
@pytest.mark.parametrize(
    ("shapes", "want"),
    [
        (((2, 5), (1, 5)), (2, 5)),
        (((4, 3), (3,)), (4, 3)),  # lower rank: size-1 axes inserted after the batch
        (((3,), (2, 4, 3)), (2, 4, 3)),
        (((4, 1), (1, 6)), (4, 6)),
        (((None, 3), (5, 3)), (None, 3)),  # None wins, as in Keras
        (((), (3,)), (3,)),
    ],
)
def test_elementwise_broadcasting(type_name: str, shapes: tuple, want: tuple) -> None:
    types = types_of(*shapes)
    assert make_layer(type_name).output_types(types)[0].shape == want
    concrete = [(3, *(d or 5 for d in s)) for s in shapes]
    compare(type_name, {}, types, concrete)


def test_rank_padding_follows_keras_not_numpy() -> None:
    # (batch, 3) with (batch, 2, 3): Keras pads the first to (batch, 1, 3).
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    b = np.zeros((2, 2, 3), np.float32)
    (y,) = run_layer(make_layer("Add"), types_of((3,), (2, 3)), [a, b], {})
    np.testing.assert_array_equal(y[1, 0], a[1])
    np.testing.assert_array_equal(y[1, 1], a[1])


def test_elementwise_float16_input_is_cast() -> None:
    types = [TensorType("float16", (3,)), TensorType(F32, (3,))]
    assert compare("Multiply", {}, types, [(2, 3)] * 2).dtype == np.float32


@pytest.mark.parametrize("type_name", ELEMENTWISE)
def test_elementwise_shape_mismatch(type_name: str) -> None:
    message = rf"{type_name} needs inputs of compatible shapes.*got \(None, 3\) and \(None, 4\)"
    with pytest.raises(ShapeError, match=message):
        make_layer(type_name).output_types(types_of((3,), (4,)))


def test_elementwise_errors() -> None:
    with pytest.raises(ShapeError, match=r"got \(None, 2, 3\), \(None, 2, 3\) and \(None, 3, 3\)"):
        make_layer("Add").output_types(types_of((2, 3), (2, 3), (3, 3)))
    with pytest.raises(ShapeError, match="Subtract takes exactly 2 inputs; got 3"):
        make_layer("Subtract").output_types(types_of((3,), (3,), (3,)))
    with pytest.raises(ShapeError, match="floating-point input; got dtype int64"):
        make_layer("Maximum").output_types([TensorType("int64", (3,)), TensorType(F32, (3,))])
    assert make_layer("Subtract").min_inputs == make_layer("Subtract").max_inputs == 2
    assert make_layer("Add").min_inputs == 1 and make_layer("Add").max_inputs is None


@pytest.mark.parametrize(
    ("axis", "shapes", "want"),
    [
        (-1, ((3,), (5,)), (8,)),
        (1, ((2, 4), (3, 4)), (5, 4)),
        (2, ((2, 4), (2, 1)), (2, 5)),
        (-2, ((2, None, 3), (2, 4, 3)), (2, None, 3)),
        (-3, ((1, 2, 3), (4, 2, 3), (2, 2, 3)), (7, 2, 3)),
        (-1, ((None, 2), (4, 3)), (None, 5)),  # other dims come from the first input
    ],
)
def test_concatenate(axis: int, shapes: tuple, want: tuple) -> None:
    types = types_of(*shapes)
    assert make_layer("Concatenate", axis=axis).output_types(types)[0].shape == want
    concrete = [(2, *(d or 4 for d in s)) for s in shapes]
    compare("Concatenate", {"axis": axis}, types, concrete)


def test_concatenate_dtypes() -> None:
    ints = compare("Concatenate", {}, types_of((2,), (3,), dtype="int64"), [(2, 2), (2, 3)])
    assert ints.dtype == np.int64
    mixed = [TensorType("float16", (2,)), TensorType(F32, (1,))]
    assert compare("Concatenate", {}, mixed, [(3, 2), (3, 1)]).dtype == np.float32
    with pytest.raises(ShapeError, match="dtypes int32, float32"):
        make_layer("Concatenate").output_types([TensorType("int32", (2,)), TensorType(F32, (2,))])


@pytest.mark.parametrize(
    ("axis", "shapes", "message"),
    [
        (-1, ((2, 3), (4, 3)), r"except on axis -1; got \(None, 2, 3\) and \(None, 4, 3\)"),
        (1, ((3,), (3, 1)), r"one rank; got \(None, 3\) and \(None, 3, 1\)"),
    ],
)
def test_concatenate_shape_errors(axis: int, shapes: tuple, message: str) -> None:
    with pytest.raises(ShapeError, match=message):
        make_layer("Concatenate", axis=axis).output_types(types_of(*shapes))


@pytest.mark.parametrize("axis", [0, 3, -4])
def test_concatenate_axis_errors(axis: int) -> None:
    with pytest.raises(ShapeError, match=rf"non-batch axis.*got axis={axis}") as info:
        make_layer("Concatenate", axis=axis).output_types(types_of((2, 3), (2, 3)))
    assert info.value.field == "axis"


@pytest.mark.parametrize(
    ("config", "shapes", "want"),
    [
        ({"axes": 1}, ((5,), (5,)), (1,)),
        ({"axes": -1, "normalize": True}, ((6,), (6,)), (1,)),
        ({"axes": [1, 2]}, ((3, 4), (2, 3)), (4, 2)),
        ({"axes": [2, 1]}, ((2, 3), (3, 5)), (2, 5)),
        ({"axes": [2, 2]}, ((5, 4), (3, 4)), (5, 3)),
        ({"axes": [-1, -1], "normalize": True}, ((5, 4), (3, 4)), (5, 3)),
        ({"axes": [1, 1], "normalize": True}, ((4, 2), (4, 3)), (2, 3)),
        ({"axes": [1, 2]}, ((3,), (4, 3, 2)), (4, 2)),
        ({"axes": [2, 1]}, ((2, 3), (3,)), (2,)),
        ({"axes": [3, 1]}, ((2, 3, 4), (4, 2, 5)), (2, 3, 2, 5)),
        ({"axes": [2, 3]}, ((2, 3, 4), (4, 2, 3)), (2, 4, 4, 2)),
        ({"axes": 2}, ((None, 4), (None, 4)), (None, None)),
    ],
)
def test_dot(config: dict[str, Any], shapes: tuple, want: tuple) -> None:
    types = types_of(*shapes)
    assert make_layer("Dot", **config).output_types(types)[0].shape == want
    concrete = [(3, *(d or 6 for d in s)) for s in shapes]
    compare("Dot", config, types, concrete)


def test_dot_values_and_normalize() -> None:
    x = np.array([[3.0, 4.0], [1.0, 0.0]], np.float32)
    y = np.array([[1.0, 2.0], [0.0, 0.0]], np.float32)
    (plain,) = run_layer(make_layer("Dot", axes=1), types_of((2,), (2,)), [x, y], {})
    np.testing.assert_allclose(plain, [[11.0], [0.0]])
    (cos,) = run_layer(make_layer("Dot", axes=1, normalize=True), types_of((2,), (2,)), [x, y], {})
    # Keras divides by max(norm, 1e-7): a zero vector gives 0, not NaN.
    np.testing.assert_allclose(cos, [[11.0 / (5.0 * np.sqrt(5.0))], [0.0]], rtol=1e-6)


@pytest.mark.parametrize(
    ("config", "shapes", "message"),
    [
        ({"axes": 1}, ((3,), (4,)), r"got 3 \(axis 1 of \(None, 3\)\) and 4 \(axis 1 of"),
        ({"axes": 0}, ((3,), (3,)), "non-batch axes"),
        ({"axes": [1, 3]}, ((3,), (3, 2)), r"1\.\.2 or -2\.\.-1 for \(None, 3, 2\)"),
        ({"axes": 1}, ((), (3,)), r"rank >= 2; got \(None,\) and \(None, 3\)"),
    ],
)
def test_dot_shape_errors(config: dict[str, Any], shapes: tuple, message: str) -> None:
    with pytest.raises(ShapeError, match=message):
        make_layer("Dot", **config).output_types(types_of(*shapes))


def test_dot_config_errors() -> None:
    with pytest.raises(ValidationError, match=r"list of two integers; got axes=\[1, 2, 3\]"):
        make_layer("Dot", axes=[1, 2, 3])
    with pytest.raises(ValidationError):
        make_layer("Dot")  # axes is required, as in Keras
    with pytest.raises(ShapeError, match="Dot takes exactly 2 inputs; got 1"):
        make_layer("Dot", axes=1).output_types(types_of((3,)))


@pytest.mark.parametrize("type_name", [*ELEMENTWISE, "Concatenate", "Dot"])
def test_examples_run(type_name: str) -> None:
    for config, types in LAYERS.get(type_name).examples():
        shapes = [(3, *(d or 4 for d in t.shape)) for t in types]
        compare(type_name, config, types, shapes)
