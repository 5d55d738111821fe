"""Activation, Dropout and Identity: onnxruntime against the NumPy reference, and errors."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

import specc.layers.core  # noqa: F401 - registers the layers
from specc.graph import GraphBuilder
from specc.layers.base import LAYERS, Layer, LowerContext, ShapeError
from specc.onnx_model import to_model_proto
from specc.random_ops import RANDOM_STEP, uniform_np
from specc.types import TensorType
from tests.layer_harness import compare_layer, make_layer, run_layer
from tests.spec_helpers import quiet_session


def compare(
    type_name: str, config: dict[str, Any], types: list[TensorType], shapes: list[tuple[int, ...]]
) -> list[np.ndarray]:
    """Run the layer in onnxruntime; check values, dtypes and shapes against the layer."""
    rng = np.random.default_rng(7)
    xs = [rng.normal(size=s).astype(t.dtype) for t, s in zip(types, shapes, strict=True)]
    return compare_layer(type_name, config, types, xs)


@pytest.mark.parametrize(
    ("activation", "shape"),
    [
        ("relu", (5, 7)),
        ("tanh", (3, 2, 5)),
        ({"type": "softmax", "axis": 1}, (4, 3, 5)),
        ({"type": "leaky_relu", "negative_slope": 0.3}, (2, 3, 1, 4)),
        ("selu", (6,)),
    ],
)
def test_activation_matches_reference(activation: Any, shape: tuple[int, ...]) -> None:
    types = [TensorType("float32", shape[1:])]
    compare("Activation", {"activation": activation}, types, [shape])


def test_activation_casts_float16_input() -> None:
    (y,) = compare("Activation", {"activation": "sigmoid"}, [TensorType("float16", (3,))], [(4, 3)])
    assert y.dtype == np.float32


def test_activation_needs_activation_and_float_input() -> None:
    with pytest.raises(ValidationError):
        make_layer("Activation")
    layer = make_layer("Activation", activation="relu")
    with pytest.raises(ShapeError, match="floating-point input; got dtype int32"):
        layer.output_types([TensorType("int32", (3,))])


@pytest.mark.parametrize(
    "config",
    [
        {"rate": 0.5},
        {"rate": 0.0},
        {"rate": 1.0},
        {"rate": 0.3, "seed": 11},
        {"rate": 0.4, "noise_shape": [None, 1, 5]},
        {"rate": 0.4, "noise_shape": [1, 3, None]},
    ],
)
def test_dropout_is_identity_at_inference(config: dict[str, Any]) -> None:
    types = [TensorType("float32", (3, 5))]
    x = np.random.default_rng(0).normal(size=(4, 3, 5)).astype(np.float32)
    layer = make_layer("Dropout", **config)
    (y,) = run_layer(layer, types, [x], {})
    np.testing.assert_array_equal(y, x)
    np.testing.assert_array_equal(layer.reference([x], {})[0], x)


def run_training(layer: Layer, t: TensorType, x: np.ndarray, step: int = 0) -> np.ndarray:
    """The layer's output with the training flag set, as in the training graph, at random
    step ``step``."""
    b = GraphBuilder("dropout_train")
    value = b.input("x", t)
    training = b.constant(True, dtype=np.bool_, hint="training")
    with b.scope("layer"):
        (out,) = layer.lower(LowerContext(b, training, for_training=True), [value], [t], {})
    b.output(out, "y", layer.output_types([t])[0])
    session = quiet_session(to_model_proto(b.graph))
    feeds = {"x": x, RANDOM_STEP: np.array(step)}
    names = {i.name for i in session.get_inputs()}  # no step where nothing is drawn
    return session.run(None, {k: v for k, v in feeds.items() if k in names})[0]


def test_dropout_mask_is_kerass_bernoulli_on_the_generator() -> None:
    """Keras's JAX backend keeps where uniform < 1 - rate and divides by 1 - rate; the
    seeded layer draws its own stream, a function of the step only."""
    t = TensorType("float32", (7, 9))
    x = np.random.default_rng(5).uniform(1, 2, size=(5, 7, 9)).astype(np.float32)
    layer = make_layer("Dropout", rate=0.3, seed=11)
    y3 = run_training(layer, t, x, step=3)
    keep = uniform_np(x.shape, 3, 11) < np.float32(0.7)
    np.testing.assert_allclose(y3, np.where(keep, x / np.float32(0.7), 0), rtol=1e-6)
    np.testing.assert_array_equal(run_training(layer, t, x, step=3), y3)
    assert not np.array_equal(run_training(layer, t, x, step=4), y3)
    other = run_training(make_layer("Dropout", rate=0.3, seed=12), t, x, step=3)
    assert not np.array_equal(other, y3)


def test_dropout_in_training_drops_and_rescales() -> None:
    t = TensorType("float32", (50, 40))
    x = np.random.default_rng(1).uniform(1, 2, size=(8, 50, 40)).astype(np.float32)
    y = run_training(make_layer("Dropout", rate=0.25), t, x)
    dropped = y == 0
    assert 0.2 < dropped.mean() < 0.3
    np.testing.assert_allclose(y[~dropped], x[~dropped] / 0.75, rtol=1e-6)


def test_dropout_noise_shape_shares_the_mask_along_broadcast_axes() -> None:
    t = TensorType("float32", (30, 40))
    x = np.random.default_rng(2).uniform(1, 2, size=(6, 30, 40)).astype(np.float32)
    layer = make_layer("Dropout", rate=0.5, noise_shape=[None, 1, 40])
    y = run_training(layer, t, x)
    dropped = y == 0
    # One mask per (sample, feature), repeated over all 30 steps.
    assert (dropped == dropped[:, :1, :]).all()
    assert 0.35 < dropped.mean() < 0.65
    np.testing.assert_allclose(y[~dropped], x[~dropped] * 2.0, rtol=1e-6)


def test_dropout_rate_one_zeroes_everything_in_training() -> None:
    t = TensorType("float32", (4,))
    x = np.ones((3, 4), np.float32)
    np.testing.assert_array_equal(run_training(make_layer("Dropout", rate=1.0), t, x), 0 * x)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"rate": 1.5}, "less than or equal to 1"),
        ({"rate": -0.1}, "greater than or equal to 0"),
        ({"rate": 0.5, "noise_shape": [None, 0]}, "got 0 at index 1"),
    ],
)
def test_dropout_rejects_bad_config(config: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        make_layer("Dropout", **config)


@pytest.mark.parametrize(
    ("noise_shape", "message"),
    [
        ([None, 1], r"one entry per input axis, batch axis included \(3 for input"),
        ([32, 1, 5], "null or 1 on the batch axis"),
        ([None, 2, 5], r"got 2 on axis 1 for input \(None, 3, 5\)"),
    ],
)
def test_dropout_noise_shape_errors(noise_shape: list[int | None], message: str) -> None:
    layer = make_layer("Dropout", rate=0.5, noise_shape=noise_shape)
    with pytest.raises(ShapeError, match=message) as info:
        layer.output_types([TensorType("float32", (3, 5))])
    assert info.value.field == "noise_shape"


def test_identity_keeps_integer_dtype_and_casts_float16() -> None:
    x = np.arange(12, dtype=np.int64).reshape(4, 3)
    (y,) = run_layer(make_layer("Identity"), [TensorType("int64", (3,))], [x], {})
    assert y.dtype == np.int64
    np.testing.assert_array_equal(y, x)
    (y16,) = compare("Identity", {}, [TensorType("float16", (2, 3))], [(2, 2, 3)])
    assert y16.dtype == np.float32


@pytest.mark.parametrize("type_name", ["Activation", "Dropout", "Identity"])
def test_examples_run(type_name: str) -> None:
    for config, types in LAYERS.get(type_name).examples():
        shapes = [(3, *(d or 4 for d in t.shape)) for t in types]
        compare(type_name, config, types, shapes)
