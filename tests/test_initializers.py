"""Initializers against Keras 3's documented distributions, names, defaults and validation.

Expected statistics are derived here from the formulas in Keras's docs (fans, limits,
standard deviations), not from specc's code; the truncated-normal correction is
recomputed from the normal density so a wrong constant would show.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from specc.initializers import (
    INITIALIZERS,
    Initializer,
    InitializerShapeError,
    compute_fans,
    initializer_config,
)
from specc.registry import SpecModel

DENSE = (400, 500)  # fan_in 400, fan_out 500
CONV = (5, 5, 32, 64)  # receptive field 25: fan_in 800, fan_out 1600


class Holder(SpecModel):
    """A spec field that takes an initializer, as layer configs declare it."""

    init: INITIALIZERS.discriminated_union()  # type: ignore[valid-type]


def make(spec: str | dict[str, Any]) -> Initializer:
    """Validate ``spec`` the way a layer's ``kernel_initializer`` would be."""
    return Holder.model_validate({"init": spec}).init


def errors_of(spec: str | dict[str, Any]) -> list[dict[str, Any]]:
    with pytest.raises(ValidationError) as info:
        make(spec)
    return info.value.errors()


def truncated_unit_std() -> float:
    """Std of a unit normal truncated to [-2, 2]: sqrt(1 - 2*2*phi(2) / (2*Phi(2) - 1))."""
    phi = math.exp(-2.0) / math.sqrt(2.0 * math.pi)
    mass = math.erf(2.0 / math.sqrt(2.0))
    return math.sqrt(1.0 - 4.0 * phi / mass)


def draw(spec: str | dict[str, Any], shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    values = make(spec).sample(shape, np.random.default_rng(seed))
    assert values.dtype == np.float32
    assert values.shape == shape
    return values.astype(np.float64)


def check_normal(x: np.ndarray, mean: float, std: float, tol: float = 0.02) -> None:
    assert abs(x.mean() - mean) < tol * std
    assert x.std() == pytest.approx(std, rel=tol)


def check_truncated(x: np.ndarray, mean: float, std_before: float, tol: float = 0.02) -> None:
    """Truncated at 2 * std_before: bounds never crossed, nearly reached, std shrunk."""
    bound = 2.0 * std_before
    assert np.abs(x - mean).max() <= bound * (1 + 1e-6)
    assert np.abs(x - mean).max() > 0.98 * bound
    check_normal(x, mean, std_before * truncated_unit_std(), tol)


def check_uniform(x: np.ndarray, low: float, high: float, tol: float = 0.02) -> None:
    """Within [low, high] (float32 rounding allowed), both ends approached, right spread."""
    width = high - low
    assert x.min() >= np.float32(low) and x.max() <= np.float32(high)
    assert x.min() < low + 0.001 * width and x.max() > high - 0.001 * width
    check_normal(x, (low + high) / 2, width / math.sqrt(12.0), tol)


def test_truncation_constant_matches_keras() -> None:
    # Keras hard-codes 0.87962566103423978; the derivation above must agree.
    assert truncated_unit_std() == pytest.approx(0.87962566103423978, rel=1e-12)


@pytest.mark.parametrize(
    ("shape", "fans"),
    [
        ((), (1, 1)),
        ((7,), (7, 7)),
        ((3, 5), (3, 5)),
        ((3, 3, 16, 32), (144, 288)),
        ((2, 4, 6), (8, 12)),
    ],
)
def test_compute_fans(shape: tuple[int, ...], fans: tuple[int, int]) -> None:
    assert compute_fans(shape) == fans


def test_constant_family_is_exact() -> None:
    assert np.array_equal(make("zeros").sample((2, 3)), np.zeros((2, 3), np.float32))
    assert np.array_equal(make("Ones").sample((4,)), np.ones(4, np.float32))
    assert np.array_equal(make("one").sample(()), np.float32(1.0))
    assert np.array_equal(make("zero").sample((0, 3)), np.zeros((0, 3)))
    got = make({"type": "Constant", "value": 3}).sample((2, 2))
    assert got.dtype == np.float32 and np.all(got == 3.0)
    assert np.all(make("constant").sample((3,)) == 0.0)  # Keras default value=0.0


def test_random_normal_defaults_and_arguments() -> None:
    check_normal(draw("random_normal", DENSE), 0.0, 0.05)
    check_normal(draw({"type": "normal", "mean": 1.5, "stddev": 2.0}, DENSE), 1.5, 2.0)


def test_random_uniform_defaults_and_arguments() -> None:
    check_uniform(draw("RandomUniform", DENSE), -0.05, 0.05)
    check_uniform(draw({"type": "uniform", "minval": 2, "maxval": 5}, DENSE), 2.0, 5.0)


def test_truncated_normal_defaults_and_arguments() -> None:
    check_truncated(draw("truncated_normal", DENSE), 0.0, 0.05)
    check_truncated(
        draw({"type": "TruncatedNormal", "mean": -1.0, "stddev": 3.0}, DENSE), -1.0, 3.0
    )


@pytest.mark.parametrize("shape", [DENSE, CONV])
@pytest.mark.parametrize(
    ("name", "scale", "mode", "distribution"),
    [
        ("lecun_normal", 1.0, "fan_in", "truncated_normal"),
        ("LecunUniform", 1.0, "fan_in", "uniform"),
        ("glorot_normal", 1.0, "fan_avg", "truncated_normal"),
        ("glorot_uniform", 1.0, "fan_avg", "uniform"),
        ("he_normal", 2.0, "fan_in", "truncated_normal"),
        ("HeUniform", 2.0, "fan_in", "uniform"),
    ],
)
def test_named_variance_scaling(
    name: str, scale: float, mode: str, distribution: str, shape: tuple[int, ...]
) -> None:
    # Keras docs: lecun std sqrt(1/fan_in), glorot sqrt(2/(fan_in+fan_out)), he sqrt(2/fan_in);
    # the uniform ones have limit sqrt(3) times that std.
    fan_in, fan_out = (400, 500) if shape == DENSE else (800, 1600)
    n = {"fan_in": fan_in, "fan_avg": (fan_in + fan_out) / 2}[mode]
    std = math.sqrt(scale / n)
    x = draw(name, shape)
    if distribution == "uniform":
        check_uniform(x, -math.sqrt(3) * std, math.sqrt(3) * std, tol=0.03)
    else:
        # Keras widens the stddev before truncating so the result has exactly `std`.
        assert x.std() == pytest.approx(std, rel=0.03)
        check_truncated(x, 0.0, std / truncated_unit_std(), tol=0.03)


@pytest.mark.parametrize("mode", ["fan_in", "fan_out", "fan_avg"])
@pytest.mark.parametrize("distribution", ["truncated_normal", "untruncated_normal", "uniform"])
def test_variance_scaling(mode: str, distribution: str) -> None:
    spec = {"type": "VarianceScaling", "scale": 3.0, "mode": mode, "distribution": distribution}
    n = {"fan_in": 800, "fan_out": 1600, "fan_avg": 1200}[mode]
    std = math.sqrt(3.0 / n)
    x = draw(spec, CONV)
    assert x.std() == pytest.approx(std, rel=0.03)
    if distribution == "uniform":
        check_uniform(x, -math.sqrt(3) * std, math.sqrt(3) * std, tol=0.03)
    elif distribution == "truncated_normal":
        check_truncated(x, 0.0, std / truncated_unit_std(), tol=0.03)
    else:
        # A plain normal puts about 4.55% of its mass beyond two standard deviations.
        beyond = np.mean(np.abs(x) > 2 * std)
        assert 0.04 < beyond < 0.051


def test_variance_scaling_defaults_match_keras() -> None:
    init = make("variance_scaling")
    assert (init.scale, init.mode, init.distribution, init.seed) == (
        1.0,
        "fan_in",
        "truncated_normal",
        None,
    )
    x = draw("VarianceScaling", DENSE)
    assert x.std() == pytest.approx(math.sqrt(1 / 400), rel=0.02)


def test_variance_scaling_distribution_spellings() -> None:
    # Keras lowercases the distribution and stores "normal" as "truncated_normal".
    assert make({"type": "VarianceScaling", "distribution": "normal"}).distribution == (
        "truncated_normal"
    )
    assert make({"type": "VarianceScaling", "distribution": "Uniform"}).distribution == "uniform"


@pytest.mark.parametrize("gain", [1.0, 2.5])
@pytest.mark.parametrize("shape", [(500, 300), (300, 500), (3, 3, 16, 32), (2, 3, 4), (64, 64)])
def test_orthogonal(shape: tuple[int, ...], gain: float) -> None:
    w = draw({"type": "Orthogonal", "gain": gain}, shape)
    flat = w.reshape(-1, shape[-1])
    rows, cols = flat.shape
    # Tall: orthonormal columns; wide: orthonormal rows; both scaled by gain.
    gram = flat.T @ flat if rows >= cols else flat @ flat.T
    np.testing.assert_allclose(gram, gain**2 * np.eye(min(rows, cols)), atol=2e-5 * gain**2)


def test_orthogonal_is_sign_corrected() -> None:
    # With diag(R) made positive, Q's first column is the normalized first Gaussian column,
    # so Q[0, 0] is positive about half the time; without the fix it has a fixed sign.
    rng = np.random.default_rng(5)
    init = make("orthogonal")
    firsts = [init.sample((4, 4), rng)[0, 0] for _ in range(300)]
    assert 0.35 < np.mean(np.array(firsts) > 0) < 0.65


@pytest.mark.parametrize("shape", [(5,), ()])
def test_orthogonal_needs_rank_two(shape: tuple[int, ...]) -> None:
    with pytest.raises(InitializerShapeError, match=r"rank 2 or more; got shape"):
        make("orthogonal").sample(shape)


@pytest.mark.parametrize("shape", [(3, 3), (3, 5), (5, 3)])
def test_identity(shape: tuple[int, ...]) -> None:
    got = make({"type": "IdentityInitializer", "gain": 0.5}).sample(shape)
    want = np.zeros(shape, np.float32)
    for i in range(min(shape)):
        want[i, i] = 0.5
    assert got.dtype == np.float32
    assert np.array_equal(got, want)


def test_identity_needs_2d() -> None:
    with pytest.raises(InitializerShapeError) as info:
        make("identity").sample((3, 3, 2))
    assert str(info.value) == "Identity initializer needs a 2D weight; got shape (3, 3, 2)"
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("shape", [(3, None), (-1, 2), ("3", 2)])
def test_bad_shape_is_reported(shape: Any) -> None:
    with pytest.raises(InitializerShapeError, match="non-negative integers"):
        make("glorot_uniform").sample(shape)


RANDOM = [
    "random_normal",
    "random_uniform",
    "truncated_normal",
    "variance_scaling",
    "lecun_normal",
    "lecun_uniform",
    "glorot_normal",
    "glorot_uniform",
    "he_normal",
    "he_uniform",
    "orthogonal",
]


@pytest.mark.parametrize("name", RANDOM)
def test_seed_determinism(name: str) -> None:
    seeded = make({"type": name, "seed": 42})
    first = seeded.sample((6, 5))
    # Same seed: same values on every call, from any instance, whatever rng is passed.
    assert np.array_equal(first, seeded.sample((6, 5)))
    assert np.array_equal(first, make({"type": name, "seed": 42}).sample((6, 5)))
    assert np.array_equal(first, seeded.sample((6, 5), np.random.default_rng(9)))
    assert not np.array_equal(first, make({"type": name, "seed": 43}).sample((6, 5)))
    # No seed: fresh values each call, unless the caller passes equally seeded generators.
    unseeded = make(name)
    assert not np.array_equal(unseeded.sample((6, 5)), unseeded.sample((6, 5)))
    a = unseeded.sample((6, 5), np.random.default_rng(7))
    b = unseeded.sample((6, 5), np.random.default_rng(7))
    assert np.array_equal(a, b)


# Every string keras.initializers.get accepts (Keras 3 ALL_OBJECTS_DICT, less the base
# class and STFT), with the class Keras resolves it to.
KERAS_NAMES = {
    "Zeros": "Zeros",
    "zeros": "Zeros",
    "zero": "Zeros",
    "Ones": "Ones",
    "ones": "Ones",
    "one": "Ones",
    "Constant": "Constant",
    "constant": "Constant",
    "RandomNormal": "RandomNormal",
    "random_normal": "RandomNormal",
    "normal": "RandomNormal",
    "RandomUniform": "RandomUniform",
    "random_uniform": "RandomUniform",
    "uniform": "RandomUniform",
    "TruncatedNormal": "TruncatedNormal",
    "truncated_normal": "TruncatedNormal",
    "VarianceScaling": "VarianceScaling",
    "variance_scaling": "VarianceScaling",
    "LecunNormal": "LecunNormal",
    "lecun_normal": "LecunNormal",
    "LecunUniform": "LecunUniform",
    "lecun_uniform": "LecunUniform",
    "GlorotNormal": "GlorotNormal",
    "glorot_normal": "GlorotNormal",
    "GlorotUniform": "GlorotUniform",
    "glorot_uniform": "GlorotUniform",
    "HeNormal": "HeNormal",
    "he_normal": "HeNormal",
    "HeUniform": "HeUniform",
    "he_uniform": "HeUniform",
    "Orthogonal": "Orthogonal",
    "orthogonal": "Orthogonal",
    "OrthogonalInitializer": "Orthogonal",
    "Identity": "Identity",
    "identity": "Identity",
    "IdentityInitializer": "Identity",
}


def test_registry_holds_exactly_keras_names() -> None:
    assert sorted(INITIALIZERS.names()) == sorted(KERAS_NAMES)


@pytest.mark.parametrize(("name", "canonical"), sorted(KERAS_NAMES.items()))
def test_name_resolution(name: str, canonical: str) -> None:
    for spec in (name, {"type": name}):
        init = make(spec)
        assert type(init).__name__ == canonical
        assert initializer_config(init)["type"] == canonical


def test_unknown_name_suggests_nearest() -> None:
    (error,) = errors_of("glorot_unifrom")
    assert error["type"] == "unknown_name"
    assert "did you mean 'glorot_uniform'" in error["msg"]
    (error,) = errors_of({"type": "HeUniformm", "seed": 1})
    assert error["type"] == "unknown_name"
    assert "did you mean 'HeUniform'" in error["msg"]


@pytest.mark.parametrize(
    ("spec", "error_type"),
    [
        ({"type": "VarianceScaling", "scale": 0}, "greater_than"),
        ({"type": "VarianceScaling", "scale": -2.0}, "greater_than"),
        ({"type": "VarianceScaling", "scale": "2"}, "float_type"),
        ({"type": "VarianceScaling", "mode": "fan_inn"}, "literal_error"),
        ({"type": "VarianceScaling", "distribution": "gaussian"}, "literal_error"),
        ({"type": "he_normal", "seed": "3"}, "int_type"),
        ({"type": "he_normal", "seed": True}, "int_type"),
        ({"type": "he_normal", "seed": 1.5}, "int_type"),
        ({"type": "he_normal", "seed": -1}, "greater_than_equal"),
        ({"type": "he_normal", "seed": 2**32}, "less_than"),
        ({"type": "RandomNormal", "stddev": True}, "float_type"),
        ({"type": "Constant", "value": float("nan")}, "finite_number"),
        ({"type": "glorot_uniform", "scale": 2.0}, "unknown_key"),
        ({"type": "VarianceScaling", "scal": 2.0}, "unknown_key"),
    ],
)
def test_argument_validation(spec: dict[str, Any], error_type: str) -> None:
    errors = errors_of(spec)
    assert [e["type"] for e in errors] == [error_type]


def test_unknown_key_suggests_field() -> None:
    (error,) = errors_of({"type": "VarianceScaling", "scal": 2.0})
    assert "did you mean 'scale'" in error["msg"]


def test_config_is_keras_shaped_and_round_trips() -> None:
    assert initializer_config(make("glorot_uniform")) == {"type": "GlorotUniform", "seed": None}
    assert make("zeros").config() == {"type": "Zeros"}
    spec = {
        "type": "variance_scaling",
        "scale": 2,
        "mode": "fan_out",
        "distribution": "normal",
        "seed": 7,
    }
    config = initializer_config(make(spec))
    assert config == {
        "type": "VarianceScaling",
        "seed": 7,
        "scale": 2.0,
        "mode": "fan_out",
        "distribution": "truncated_normal",
    }
    assert json.loads(json.dumps(config)) == config
    assert initializer_config(make(config)) == config
    assert initializer_config(make("OrthogonalInitializer")) == {
        "type": "Orthogonal",
        "seed": None,
        "gain": 1.0,
    }
