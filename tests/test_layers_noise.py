"""The noise layers: identity at inference; in training (the flag set True), the noise Keras
draws, checked by its statistics and against the generator's NumPy twin; and gradients
that follow the noise."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from pydantic import ValidationError

from specc.layers.base import TRAINING_FLAG, ShapeError
from specc.layers.noise import SELU_ALPHA, SELU_SCALE
from specc.onnx_model import to_model_proto
from specc.pipeline import compile_spec
from specc.random_ops import RANDOM_STEP, normal_np, uniform_np
from specc.types import TensorType
from tests.layer_harness import make_layer, run_layer
from tests.spec_helpers import quiet_session, single_layer_spec, write_spec
from tests.test_trainable_lowering import _training_module


def _model(tmp_path: Path, type_name: str, config: dict, shape: tuple) -> onnx.ModelProto:
    """The layer alone on input x0, lowered for training: the flag and the random step are
    inputs (``_train``)."""
    spec = single_layer_spec(type_name, config, [TensorType("float32", shape)])
    compiled = compile_spec(write_spec(tmp_path, spec), seed=0, for_training=True)
    return to_model_proto(compiled.graph, 17, compiled.metadata)


def _train(session: Any, x: np.ndarray, step: int = 0, training: bool = True) -> np.ndarray:
    """The layer's output on ``x`` at random step ``step``."""
    feeds = {"x0": x, TRAINING_FLAG: np.array(training), RANDOM_STEP: np.array(step)}
    names = {i.name for i in session.get_inputs()}  # no step where nothing is drawn
    (y,) = session.run(None, {k: v for k, v in feeds.items() if k in names})
    return y


@pytest.mark.parametrize(
    ("type_name", "config", "shape"),
    [
        ("GaussianNoise", {"stddev": 0.7}, (3, 4)),
        ("GaussianDropout", {"rate": 0.4, "seed": 2}, (5,)),
        ("AlphaDropout", {"rate": 0.3}, (2, 3, 2)),
        ("AlphaDropout", {"rate": 0.3, "noise_shape": [1, None, 1]}, (4, 2)),
        ("SpatialDropout1D", {"rate": 0.5}, (4, 3)),
        ("SpatialDropout2D", {"rate": 0.5, "data_format": "channels_first"}, (2, 3, 3)),
        ("SpatialDropout3D", {"rate": 1.0}, (2, 2, 2, 3)),
    ],
)
def test_identity_at_inference(type_name: str, config: dict, shape: tuple) -> None:
    types = [TensorType("float16", shape)]
    x = np.random.default_rng(0).normal(size=(4, *shape)).astype(np.float16)
    (y,) = run_layer(make_layer(type_name, **config), types, [x], {})
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y, x.astype(np.float32))


def test_gaussian_noise_adds_zero_mean_noise_of_stddev(tmp_path: Path) -> None:
    session = quiet_session(_model(tmp_path, "GaussianNoise", {"stddev": 0.5, "seed": 1}, (64,)))
    x = np.random.default_rng(1).normal(size=(1024, 64)).astype(np.float32)
    y1, y2 = _train(session, x, 0), _train(session, x, 1)
    noise = y1 - x
    # 65536 draws: the bounds are over 6 standard errors.
    assert abs(noise.mean()) < 0.015 and abs(noise.std() - 0.5) < 0.01
    # The layer's seed is its stream: Keras's formula on the generator's NumPy twin.
    np.testing.assert_allclose(noise, 0.5 * normal_np(x.shape, 0, 1), atol=1e-5)
    assert not np.array_equal(y1, y2), "the same noise on two steps"
    np.testing.assert_array_equal(_train(session, x, 1), y2)
    np.testing.assert_array_equal(_train(session, x, 1, training=False), x)


def test_gaussian_dropout_multiplies_by_one_centred_noise(tmp_path: Path) -> None:
    rate = 0.3
    session = quiet_session(_model(tmp_path, "GaussianDropout", {"rate": rate, "seed": 2}, (8, 8)))
    y = _train(session, np.full((1024, 8, 8), 2.0, np.float32), 3)
    noise = y / 2
    stddev = math.sqrt(rate / (1 - rate))
    np.testing.assert_allclose(noise, 1 + stddev * normal_np(y.shape, 3, 2), atol=1e-5)
    # 65536 draws of stddev 0.65: the bounds are over 6 standard errors.
    assert abs(noise.mean() - 1) < 0.02
    assert abs(noise.std() - math.sqrt(rate / (1 - rate))) < 0.015


def _alpha_constants(rate: float) -> tuple[float, float, float]:
    alpha_p = -SELU_ALPHA * SELU_SCALE
    a = ((1 - rate) * (1 + rate * alpha_p**2)) ** -0.5
    return a, -a * alpha_p * rate, alpha_p


@pytest.mark.parametrize("noise_shape", [None, [None, 1, 8]])
def test_alpha_dropout_keeps_mean_and_variance(tmp_path: Path, noise_shape: Any) -> None:
    rate = 0.2
    config: dict[str, Any] = {"rate": rate, "seed": 3}
    if noise_shape is not None:
        config["noise_shape"] = noise_shape
    session = quiet_session(_model(tmp_path, "AlphaDropout", config, (16, 8)))
    x = np.random.default_rng(2).normal(size=(512, 16, 8)).astype(np.float32)
    y = _train(session, x, 5)
    a, b, alpha_p = _alpha_constants(rate)
    # Keras's formula, keep = uniform >= rate, on the generator's NumPy twin.
    drawn = (512, 1, 8) if noise_shape is not None else x.shape
    keep = (uniform_np(drawn, 5, 3) >= rate).astype(np.float32)
    want = a * (x * keep + alpha_p * (1 - keep)) + b
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(_train(session, x, 5, training=False), x)
    dropped = np.isclose(y, a * alpha_p + b, atol=1e-6)
    # Kept values are the affine map of x; dropped ones sit at the saturation value.
    np.testing.assert_allclose(y[~dropped], (a * x + b)[~dropped], rtol=1e-5, atol=1e-5)
    # At least 4096 independent draws (noise shared over 16 steps): over 6 standard errors.
    assert abs(dropped.mean() - rate) < 0.04
    # The point of alpha dropout: a standard-normal input keeps mean 0 and variance 1.
    assert abs(y.mean()) < 0.05 and abs(y.std() - 1) < 0.05
    if noise_shape is not None:
        assert np.array_equal(dropped, np.repeat(dropped[:, :1], 16, axis=1))


@pytest.mark.parametrize(
    ("type_name", "config", "shape", "channel_axis"),
    [
        ("SpatialDropout1D", {"rate": 0.4}, (5, 32), 2),
        ("SpatialDropout2D", {"rate": 0.4}, (3, 4, 32), 3),
        ("SpatialDropout2D", {"rate": 0.4, "data_format": "channels_first"}, (32, 3, 4), 1),
        ("SpatialDropout3D", {"rate": 0.4}, (2, 3, 2, 32), 4),
        ("SpatialDropout3D", {"rate": 0.4, "data_format": "channels_first"}, (32, 2, 3, 2), 1),
    ],
)
def test_spatial_dropout_drops_whole_channels(
    tmp_path: Path, type_name: str, config: dict, shape: tuple, channel_axis: int
) -> None:
    rate = config["rate"]
    session = quiet_session(_model(tmp_path, type_name, config, shape))
    x = np.random.default_rng(3).uniform(1, 2, size=(64, *shape)).astype(np.float32)
    y = _train(session, x)
    kept = y != 0
    np.testing.assert_allclose(y[kept], x[kept] / (1 - rate), rtol=1e-6)
    # One decision per (sample, channel): constant over every spatial axis.
    spatial = tuple(a for a in range(1, x.ndim) if a != channel_axis)
    per_channel = kept.all(axis=spatial)
    assert np.array_equal(per_channel, kept.any(axis=spatial))
    assert abs((1 - per_channel.mean()) - rate) < 0.1


def test_spatial_dropout_at_rate_one_zeroes_everything(tmp_path: Path) -> None:
    session = quiet_session(_model(tmp_path, "SpatialDropout1D", {"rate": 1.0}, (3, 2)))
    x = np.ones((4, 3, 2), np.float32)
    assert not _train(session, x).any()
    np.testing.assert_array_equal(_train(session, x, training=False), x)


@pytest.mark.ort_training
@pytest.mark.parametrize(
    ("type_name", "config"),
    [
        ("GaussianNoise", {"stddev": 0.5}),
        ("GaussianDropout", {"rate": 0.5}),
        ("AlphaDropout", {"rate": 0.3}),
        ("SpatialDropout1D", {"rate": 0.5}),
    ],
)
def test_training_gradient_follows_the_noise(tmp_path: Path, type_name: str, config: dict) -> None:
    """With the flag a graph input fed True: dloss/dh = probe * dy/dh, the noise itself."""
    spec = {
        "specc": 1,
        "name": "noisy",
        "inputs": {"x0": {"shape": [6, 4]}},
        "layers": [
            {"name": "pre", "type": "Dense", "units": 4},
            {"name": "layer", "type": type_name, **config},
        ],
    }
    compiled = compile_spec(write_spec(tmp_path, spec), seed=0, for_training=True)
    model = to_model_proto(compiled.graph, 17, compiled.metadata)
    module, state = _training_module(
        model, ["pre.kernel", "pre.bias"], tmp_path / "artifacts", additional_output_names=["layer"]
    )
    rng = np.random.default_rng(4)
    x = rng.normal(size=(32, 6, 4)).astype(np.float32)
    probe = rng.normal(size=(32, 6, 4))
    kernel, bias = (compiled.weights[k].astype(np.float64) for k in ("pre/kernel", "pre/bias"))
    h = x.astype(np.float64) @ kernel + bias
    feeds = {
        "x0": x,
        "probe.0": probe.astype(np.float32),
        TRAINING_FLAG: np.array(True),
        RANDOM_STEP: np.array(7),
    }
    module.train()
    module.lazy_reset_grad()
    _, y = module(*[feeds[name] for name in module.input_names()])
    # dy/dh, recovered from this step's random output.
    if type_name == "GaussianNoise":
        slope = np.ones_like(h)
    elif type_name == "AlphaDropout":
        a, b, alpha_p = _alpha_constants(config["rate"])
        slope = np.where(np.isclose(y, a * alpha_p + b, atol=1e-6), 0.0, a)
    else:
        slope = y / h
    assert not np.allclose(y, h, atol=1e-3), "no noise in training"
    upstream = (probe * slope).reshape(-1, 4)
    want = {
        "pre.kernel": x.reshape(-1, 4).T.astype(np.float64) @ upstream,
        "pre.bias": upstream.sum(0),
    }
    for name, value in want.items():
        np.testing.assert_allclose(state.parameters[name].grad, value, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(
    ("type_name", "config", "message"),
    [
        ("GaussianNoise", {"stddev": 1.5}, "less than or equal to 1"),
        ("GaussianNoise", {"stddev": -0.1}, "greater than or equal to 0"),
        ("GaussianDropout", {"rate": 1.0}, "rate must be below 1"),
        ("AlphaDropout", {"rate": 1.0}, "rate must be below 1"),
        ("AlphaDropout", {"rate": 0.5, "noise_shape": [None, 0]}, "positive integers or null"),
        ("SpatialDropout2D", {"rate": 1.5}, "less than or equal to 1"),
        ("SpatialDropout1D", {"rate": 0.5, "data_format": "channels_first"}, "data_format"),
    ],
)
def test_config_errors(type_name: str, config: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        make_layer(type_name, **config)


@pytest.mark.parametrize(
    ("type_name", "config", "shape", "message"),
    [
        ("SpatialDropout1D", {"rate": 0.5}, (3,), r"rank-3 input \(batch, steps, channels\)"),
        ("SpatialDropout2D", {"rate": 0.5}, (3, 4), "rank-4 input"),
        (
            "SpatialDropout3D",
            {"rate": 0.5, "data_format": "channels_first"},
            (3, 4),
            r"rank-5 input \(batch, channels, dim, dim, dim\)",
        ),
        ("AlphaDropout", {"rate": 0.5, "noise_shape": [None, 1]}, (3, 4), "one entry per"),
        ("AlphaDropout", {"rate": 0.5, "noise_shape": [None, 2, 4]}, (3, 4), "got 2 on axis 1"),
        ("GaussianNoise", {"stddev": 0.5}, (3,), None),
    ],
)
def test_shape_errors(type_name: str, config: dict, shape: tuple, message: str | None) -> None:
    layer = make_layer(type_name, **config)
    if message is None:  # integer input
        with pytest.raises(ShapeError, match="floating-point input"):
            layer.output_types([TensorType("int64", shape)])
        return
    with pytest.raises(ShapeError, match=message):
        layer.output_types([TensorType("float32", shape)])
