"""Keras 3 weight initializers: config models and NumPy samplers with Keras's distributions.

Every entry answers to the names ``keras.initializers.get`` accepts (class name, its
snake_case, and Keras's extra aliases such as ``normal`` or ``OrthogonalInitializer``).
``sample`` draws from the same distribution as Keras (same fans, truncation at two standard
deviations, the 0.8796 truncation correction, QR sign fix), not the same random stream:
Keras's backends have their own generators, so only the statistics can be matched.
"""

from __future__ import annotations

import math
import operator
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator

from specc.lazy_numpy import np
from specc.registry import Registry, SpecModel

# Keras's VarianceScaling divides the truncated-normal stddev by this constant: the
# standard deviation of a unit normal truncated to [-2, 2], so the result has the
# requested variance after truncation.
TRUNCATION_STDDEV = 0.87962566103423978

FanMode = Literal["fan_in", "fan_out", "fan_avg"]
# "normal" is Keras's old spelling of "truncated_normal"; it is accepted and rewritten.
Distribution = Literal["truncated_normal", "untruncated_normal", "uniform", "normal"]


class InitializerShapeError(ValueError):
    """An initializer cannot produce a weight of the requested shape."""


def compute_fans(shape: tuple[int, ...]) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a weight shape, as Keras 3 counts them.

    Rank 0: (1, 1); rank 1: (n, n); rank 2: (rows, cols); higher ranks are conv kernels
    ``(*spatial, in, out)`` whose fans are the channel counts times the receptive field.
    """
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    if len(shape) == 2:
        return shape[0], shape[1]
    receptive_field = math.prod(shape[:-2])
    return shape[-2] * receptive_field, shape[-1] * receptive_field


def _as_shape(name: str, shape: Any) -> tuple[int, ...]:
    # Shapes come from shape inference, but a None (variable) dim or a negative one would
    # otherwise surface as an obscure NumPy error deep inside a sampler.
    try:
        dims = tuple(operator.index(d) for d in shape)
    except TypeError:
        dims = None
    if dims is None or any(d < 0 for d in dims):
        raise InitializerShapeError(
            f"{name} initializer needs a shape of non-negative integers; got shape {shape!r}"
        )
    return dims


def _truncated_standard_normal(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Unit normal samples with every value beyond two standard deviations redrawn."""
    flat = rng.standard_normal(math.prod(shape))
    outside = np.abs(flat) > 2.0
    while outside.any():
        flat[outside] = rng.standard_normal(int(outside.sum()))
        outside = np.abs(flat) > 2.0
    return flat.reshape(shape)


def _uniform(
    rng: np.random.Generator, shape: tuple[int, ...], low: float, high: float
) -> np.ndarray:
    return low + (high - low) * rng.random(shape)


def _variance_scaling(
    rng: np.random.Generator,
    shape: tuple[int, ...],
    scale: float,
    mode: str,
    distribution: str,
) -> np.ndarray:
    """Keras's VarianceScaling draw: variance ``scale / n`` with n picked by ``mode``."""
    fan_in, fan_out = compute_fans(shape)
    fans = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}
    # max(1, n) keeps zero-sized weights from dividing by zero, as in Keras.
    variance = scale / max(1.0, fans[mode])
    if distribution == "uniform":
        limit = math.sqrt(3.0 * variance)
        return _uniform(rng, shape, -limit, limit)
    if distribution == "untruncated_normal":
        return math.sqrt(variance) * rng.standard_normal(shape)
    stddev = math.sqrt(variance) / TRUNCATION_STDDEV
    return stddev * _truncated_standard_normal(rng, shape)


class Initializer(SpecModel):
    """Base of every initializer config; ``sample`` draws a float32 weight of a shape."""

    def sample(self, shape: tuple[int, ...], rng: np.random.Generator | None = None) -> np.ndarray:
        """A float32 array of ``shape`` drawn as Keras would; ``InitializerShapeError`` if it can't.

        A ``seed`` in the config wins (same values on every call); otherwise values come
        from ``rng`` when given, else from a freshly seeded generator.
        """
        dims = self.check_shape(shape)
        values = self._draw(dims, self._generator(rng))
        return np.asarray(values, dtype=np.float32).reshape(dims)

    def check_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        """``shape`` as ints, or ``InitializerShapeError`` when this initializer cannot fill it.

        Cheap, so validation can check every weight without drawing values.
        """
        return _as_shape(INITIALIZERS.canonical_name(type(self)), shape)

    def config(self) -> dict[str, Any]:
        """The JSON-able config ``{"type": <Keras class name>, **arguments}``."""
        return initializer_config(self)

    def _generator(self, rng: np.random.Generator | None) -> np.random.Generator:
        return rng if rng is not None else np.random.default_rng()

    def _draw(self, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError


class RandomInitializer(Initializer):
    """Base of the initializers that take a ``seed`` (a non-negative int or null)."""

    # Keras keeps the seed in a uint32 seed-generator state, so only 0 <= seed < 2**32
    # works there; NumPy also rejects negative seeds, but only once sampling starts.
    seed: int | None = Field(None, ge=0, lt=2**32)

    def _generator(self, rng: np.random.Generator | None) -> np.random.Generator:
        if self.seed is not None:
            return np.random.default_rng(self.seed)
        return super()._generator(rng)


INITIALIZERS: Registry[Initializer] = Registry("initializer")


@INITIALIZERS.register
class Zeros(Initializer):
    """w = 0."""

    type: Literal["Zeros", "zeros", "zero"]

    def _draw(self, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
        return np.zeros(shape)


@INITIALIZERS.register
class Ones(Initializer):
    """w = 1."""

    type: Literal["Ones", "ones", "one"]

    def _draw(self, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
        return np.ones(shape)


@INITIALIZERS.register
class Constant(Initializer):
    """w = value (a scalar)."""

    type: Literal["Constant", "constant"]
    value: float = Field(0.0, allow_inf_nan=False)

    def _draw(self, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
        return np.full(shape, self.value)


@INITIALIZERS.register
class RandomNormal(RandomInitializer):
    """w ~ Normal(mean, stddev)."""

    type: Literal["RandomNormal", "random_normal", "normal"]
    mean: float = Field(0.0, allow_inf_nan=False)
    stddev: float = Field(0.05, allow_inf_nan=False)

    def _draw(self, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
        # mean + stddev * z, as Keras's backends compute it (a negative stddev is legal).
        return self.mean + self.stddev * rng.standard_normal(shape)


@INITIALIZERS.register
class RandomUniform(RandomInitializer):
    """w ~ Uniform[minval, maxval)."""

    type: Literal["RandomUniform", "random_uniform", "uniform"]
    minval: float = Field(-0.05, allow_inf_nan=False)
    maxval: float = Field(0.05, allow_inf_nan=False)

    def _draw(self, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
        return _uniform(rng, shape, self.minval, self.maxval)


@INITIALIZERS.register
class TruncatedNormal(RandomInitializer):
    """w ~ Normal(mean, stddev) with values beyond 2 stddev from the mean redrawn."""

    type: Literal["TruncatedNormal", "truncated_normal"]
    mean: float = Field(0.0, allow_inf_nan=False)
    stddev: float = Field(0.05, allow_inf_nan=False)

    def _draw(self, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
        return self.mean + self.stddev * _truncated_standard_normal(rng, shape)


@INITIALIZERS.register
class VarianceScaling(RandomInitializer):
    """Variance scale/n (n = fan_in, fan_out or their mean): truncated normal, normal or uniform."""

    type: Literal["VarianceScaling", "variance_scaling"]
    scale: float = Field(1.0, gt=0, allow_inf_nan=False)
    mode: FanMode = "fan_in"
    distribution: Distribution = "truncated_normal"

    @field_validator("distribution", mode="before")
    @classmethod
    def _keras_spelling(cls, value: Any) -> Any:
        # Keras lowercases the name ("Uniform" works) and stores "normal" as
        # "truncated_normal"; the config here does the same.
        if not isinstance(value, str):
            return value
        return "truncated_normal" if value.lower() == "normal" else value.lower()

    def _draw(self, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
        return _variance_scaling(rng, shape, self.scale, self.mode, self.distribution)


class _PresetVarianceScaling(RandomInitializer):
    """A VarianceScaling with fixed arguments; only ``seed`` is configurable, as in Keras."""

    SCALE: ClassVar[float]
    MODE: ClassVar[str]
    DISTRIBUTION: ClassVar[str]

    def _draw(self, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
        return _variance_scaling(rng, shape, self.SCALE, self.MODE, self.DISTRIBUTION)


@INITIALIZERS.register
class LecunNormal(_PresetVarianceScaling):
    """Truncated normal with stddev sqrt(1 / fan_in)."""

    type: Literal["LecunNormal", "lecun_normal"]
    SCALE, MODE, DISTRIBUTION = 1.0, "fan_in", "truncated_normal"


@INITIALIZERS.register
class LecunUniform(_PresetVarianceScaling):
    """Uniform in [-limit, limit] with limit = sqrt(3 / fan_in)."""

    type: Literal["LecunUniform", "lecun_uniform"]
    SCALE, MODE, DISTRIBUTION = 1.0, "fan_in", "uniform"


@INITIALIZERS.register
class GlorotNormal(_PresetVarianceScaling):
    """Truncated normal with stddev sqrt(2 / (fan_in + fan_out))."""

    type: Literal["GlorotNormal", "glorot_normal"]
    SCALE, MODE, DISTRIBUTION = 1.0, "fan_avg", "truncated_normal"


@INITIALIZERS.register
class GlorotUniform(_PresetVarianceScaling):
    """Uniform in [-limit, limit] with limit = sqrt(6 / (fan_in + fan_out))."""

    type: Literal["GlorotUniform", "glorot_uniform"]
    SCALE, MODE, DISTRIBUTION = 1.0, "fan_avg", "uniform"


@INITIALIZERS.register
class HeNormal(_PresetVarianceScaling):
    """Truncated normal with stddev sqrt(2 / fan_in)."""

    type: Literal["HeNormal", "he_normal"]
    SCALE, MODE, DISTRIBUTION = 2.0, "fan_in", "truncated_normal"


@INITIALIZERS.register
class HeUniform(_PresetVarianceScaling):
    """Uniform in [-limit, limit] with limit = sqrt(6 / fan_in)."""

    type: Literal["HeUniform", "he_uniform"]
    SCALE, MODE, DISTRIBUTION = 2.0, "fan_in", "uniform"


@INITIALIZERS.register
class Orthogonal(RandomInitializer):
    """gain * Q from the QR of a normal (prod(shape[:-1]), shape[-1]) matrix, signs fixed."""

    type: Literal["Orthogonal", "orthogonal", "OrthogonalInitializer"]
    gain: float = Field(1.0, allow_inf_nan=False)

    def check_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        dims = super().check_shape(shape)
        if len(dims) < 2:
            raise InitializerShapeError(
                f"Orthogonal initializer needs a weight of rank 2 or more; got shape {dims}"
            )
        return dims

    def _draw(self, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
        rows, cols = math.prod(shape[:-1]), shape[-1]
        if rows == 0 or cols == 0:
            return np.zeros(shape)
        # QR of the tall orientation gives orthonormal columns; transposing afterwards
        # gives orthonormal rows for a wide weight.
        a = rng.standard_normal((max(rows, cols), min(rows, cols)))
        q, r = np.linalg.qr(a)
        # Multiplying by sign(diag(r)) makes the decomposition unique, so Q is uniformly
        # distributed over orthogonal matrices (Haar measure), as Keras does.
        q = q * np.sign(np.diag(r))
        if rows < cols:
            q = q.T
        return self.gain * q.reshape(shape)


@INITIALIZERS.register
class Identity(Initializer):
    """gain * eye(rows, cols), for 2D weights only."""

    type: Literal["Identity", "identity", "IdentityInitializer"]
    gain: float = Field(1.0, allow_inf_nan=False)

    def check_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        dims = super().check_shape(shape)
        if len(dims) != 2:
            raise InitializerShapeError(f"Identity initializer needs a 2D weight; got shape {dims}")
        return dims

    def _draw(self, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
        return self.gain * np.eye(*shape)


def initializer_config(init: Initializer) -> dict[str, Any]:
    """The JSON-able config of ``init``: ``{"type": <Keras class name>, **arguments}``."""
    arguments = init.model_dump(mode="json", exclude={"type"})
    return {"type": INITIALIZERS.canonical_name(type(init)), **arguments}
