"""Learning-rate schedules: Keras 3's ``keras.optimizers.schedules``, as spec mappings.

A schedule is given only as a mapping (``{type: ExponentialDecay, initial_learning_rate:
0.1, decay_steps: 4, decay_rate: 0.5}``): every Keras schedule has required arguments, so a
bare name could never be valid. Each model also evaluates Keras's formula, in float64, at a
step that counts the updates already applied (Keras's ``optimizer.iterations``): the first
update uses ``learning_rate(0)``.

Each schedule also lowers its formula to ONNX ops (``lower``), in float32 as Keras computes
it, for training graphs that step the learning rate themselves.

Keras's ``name`` argument (a TensorFlow name scope) has no meaning here and is not accepted.
"""

from __future__ import annotations

import math
from itertools import pairwise
from typing import Annotated, Literal

from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from specc.graph import GraphBuilder, Value
from specc.lazy_numpy import NumpyFunction, np
from specc.registry import Registry, SpecModel
from specc.types import FLOAT

# Keras computes in the dtype of initial_learning_rate; any finite number is accepted here
# and evaluated in float64.
Rate = Annotated[float, Field(ge=0, allow_inf_nan=False)]
# Keras only checks ``decay_steps > 0`` and casts to float, so 2.5 steps is legal there too.
Steps = Annotated[int | float, Field(gt=0, allow_inf_nan=False)]
Fraction = Annotated[float, Field(ge=0, le=1)]


class LearningRateSchedule(SpecModel):
    """Base of every schedule: maps an update count to a learning rate."""

    def learning_rate(self, step: int) -> float:
        """The learning rate for the update after ``step`` updates (Keras's ``__call__``)."""
        raise NotImplementedError

    def lower(self, b: GraphBuilder, step: Value) -> Value:
        """ONNX ops computing the float32 learning rate at ``step`` (an int64 scalar)."""
        raise NotImplementedError


F32 = NumpyFunction("float32")  # np.float32, looked up when first called


def _as_float(b: GraphBuilder, step: Value) -> Value:
    # Keras's ops.cast(step, dtype) of the schedule's float32.
    return b.op("Cast", step, to=FLOAT)


def _staircase(b: GraphBuilder, step: Value, decay_steps: float, staircase: bool) -> Value:
    """``step / decay_steps``, floored when ``staircase``."""
    p = b.op("Div", _as_float(b, step), b.constant(decay_steps))
    return b.op("Floor", p) if staircase else p


def _lower_half_cosine(b: GraphBuilder, fraction: Value) -> Value:
    """``0.5 * (1 + cos(pi * fraction))``, Keras's ``cosine_decayed``."""
    cosine = b.op("Cos", b.op("Mul", b.constant(math.pi), fraction))
    return b.op("Mul", b.constant(0.5), b.op("Add", b.constant(1.0), cosine))


def _lower_floor_at(b: GraphBuilder, cosine: Value, alpha: float) -> Value:
    """``(1 - alpha) * cosine + alpha``: the cosine factor lifted to end at ``alpha``."""
    return b.op("Add", b.op("Mul", b.constant(1 - alpha), cosine), b.constant(alpha))


SCHEDULES: Registry[LearningRateSchedule] = Registry("learning-rate schedule")


def _check_step(step: int) -> float:
    # Internal callers pass the optimizer's iteration counter; a negative one is a bug.
    if step < 0:
        raise ValueError(f"step must be >= 0; got step={step}")
    return float(step)


@SCHEDULES.register
class ExponentialDecay(LearningRateSchedule):
    """``initial_learning_rate * decay_rate ** (step / decay_steps)``; floored if staircase."""

    type: Literal["ExponentialDecay"] = "ExponentialDecay"
    initial_learning_rate: Rate
    decay_steps: Steps
    decay_rate: Annotated[float, Field(gt=0, allow_inf_nan=False)]
    staircase: bool = False

    def learning_rate(self, step: int) -> float:
        """Keras 3 ``ExponentialDecay.__call__``."""
        p = _check_step(step) / self.decay_steps
        if self.staircase:
            p = math.floor(p)
        return self.initial_learning_rate * self.decay_rate**p

    def lower(self, b: GraphBuilder, step: Value) -> Value:
        p = _staircase(b, step, self.decay_steps, self.staircase)
        decayed = b.op("Pow", b.constant(self.decay_rate), p)
        return b.op("Mul", b.constant(self.initial_learning_rate), decayed)


@SCHEDULES.register
class PiecewiseConstantDecay(LearningRateSchedule):
    """``values[0]`` while ``step <= boundaries[0]``, ..., ``values[-1]`` past the last."""

    type: Literal["PiecewiseConstantDecay"] = "PiecewiseConstantDecay"
    # Keras casts boundaries to the step's integer dtype, so only integers mean anything.
    boundaries: Annotated[list[int], Field(min_length=1)]
    values: list[Annotated[float, Field(allow_inf_nan=False)]]

    @model_validator(mode="after")
    def _check_lengths(self) -> PiecewiseConstantDecay:
        if len(self.values) != len(self.boundaries) + 1:
            raise PydanticCustomError(
                "invalid_arguments",
                "values needs one more entry than boundaries; got {nb} boundaries and {nv} values",
                {"nb": len(self.boundaries), "nv": len(self.values)},
            )
        # Keras documents strictly increasing boundaries; its sum-of-intervals evaluation
        # silently adds up several values when they are not.
        for low, high in pairwise(self.boundaries):
            if high <= low:
                raise PydanticCustomError(
                    "invalid_arguments",
                    "boundaries must be strictly increasing; got {boundaries}",
                    {"boundaries": self.boundaries},
                )
        return self

    def learning_rate(self, step: int) -> float:
        """Keras 3 ``PiecewiseConstantDecay.__call__`` (intervals closed on the right)."""
        s = _check_step(step)
        # values has one entry more than boundaries: the last is the tail past them all.
        for boundary, value in zip(self.boundaries, self.values, strict=False):
            if s <= boundary:
                return value
        return self.values[-1]

    def lower(self, b: GraphBuilder, step: Value) -> Value:
        # Compared in the step's integer type, as Keras casts the boundaries to it; the
        # first boundary at or past the step picks its value.
        rate = b.constant(self.values[-1])
        for boundary, value in reversed(list(zip(self.boundaries, self.values, strict=False))):
            within = b.op("LessOrEqual", step, b.constant(boundary, np.int64, hint="boundary"))
            rate = b.op("Where", within, b.constant(value), rate)
        return rate


@SCHEDULES.register
class PolynomialDecay(LearningRateSchedule):
    """``(initial - end) * (1 - step / decay_steps) ** power + end``; cycles if asked."""

    type: Literal["PolynomialDecay"] = "PolynomialDecay"
    initial_learning_rate: Rate
    decay_steps: Steps
    end_learning_rate: Rate = 0.0001
    power: Annotated[float, Field(gt=0, allow_inf_nan=False)] = 1.0
    cycle: bool = False

    def learning_rate(self, step: int) -> float:
        """Keras 3 ``PolynomialDecay.__call__``."""
        s = _check_step(step)
        decay_steps = float(self.decay_steps)
        if self.cycle:
            # The first multiple of decay_steps at or past the step; 1 at step 0.
            decay_steps *= 1.0 if s == 0 else math.ceil(s / decay_steps)
        else:
            s = min(s, decay_steps)
        p = s / decay_steps
        span = self.initial_learning_rate - self.end_learning_rate
        return span * (1 - p) ** self.power + self.end_learning_rate

    def lower(self, b: GraphBuilder, step: Value) -> Value:
        s, decay_steps = _as_float(b, step), b.constant(self.decay_steps)
        if self.cycle:
            zero = b.op("Equal", s, b.constant(0.0))
            periods = b.op("Ceil", b.op("Div", s, decay_steps))
            decay_steps = b.op("Mul", decay_steps, b.op("Where", zero, b.constant(1.0), periods))
        else:
            s = b.op("Min", s, decay_steps)
        remaining = b.op("Sub", b.constant(1.0), b.op("Div", s, decay_steps))
        # initial - end in float32, as Keras subtracts the two tensors.
        span = F32(self.initial_learning_rate) - F32(self.end_learning_rate)
        decayed = b.op("Mul", b.constant(span), b.op("Pow", remaining, b.constant(self.power)))
        return b.op("Add", decayed, b.constant(self.end_learning_rate))


@SCHEDULES.register
class InverseTimeDecay(LearningRateSchedule):
    """``initial_learning_rate / (1 + decay_rate * step / decay_steps)``; floored if staircase."""

    type: Literal["InverseTimeDecay"] = "InverseTimeDecay"
    initial_learning_rate: Rate
    decay_steps: Steps
    # A negative rate would reach a zero denominator.
    decay_rate: Annotated[float, Field(ge=0, allow_inf_nan=False)]
    staircase: bool = False

    def learning_rate(self, step: int) -> float:
        """Keras 3 ``InverseTimeDecay.__call__``."""
        p = _check_step(step) / self.decay_steps
        if self.staircase:
            p = math.floor(p)
        return self.initial_learning_rate / (1 + self.decay_rate * p)

    def lower(self, b: GraphBuilder, step: Value) -> Value:
        p = _staircase(b, step, self.decay_steps, self.staircase)
        denominator = b.op("Add", b.constant(1.0), b.op("Mul", b.constant(self.decay_rate), p))
        return b.op("Div", b.constant(self.initial_learning_rate), denominator)


def _cosine(fraction: float, alpha: float) -> float:
    """Keras's cosine factor, from 1 at ``fraction=0`` down to ``alpha`` at 1."""
    return (1 - alpha) * 0.5 * (1 + math.cos(math.pi * fraction)) + alpha


@SCHEDULES.register
class CosineDecay(LearningRateSchedule):
    """Optional linear warmup to ``warmup_target``, then cosine decay to ``alpha`` times it."""

    type: Literal["CosineDecay"] = "CosineDecay"
    initial_learning_rate: Rate
    decay_steps: Steps
    alpha: Fraction = 0.0
    warmup_target: Rate | None = None
    warmup_steps: Annotated[int | float, Field(ge=0, allow_inf_nan=False)] = 0

    def learning_rate(self, step: int) -> float:
        """Keras 3 ``CosineDecay.__call__``."""
        s = _check_step(step)
        if self.warmup_target is None:
            s = min(s, self.decay_steps)
            return self.initial_learning_rate * _cosine(s / self.decay_steps, self.alpha)
        s = min(s, self.decay_steps + self.warmup_steps)
        if s < self.warmup_steps:
            delta = self.warmup_target - self.initial_learning_rate
            return delta * (s / self.warmup_steps) + self.initial_learning_rate
        fraction = (s - self.warmup_steps) / self.decay_steps
        return self.warmup_target * _cosine(fraction, self.alpha)

    def lower(self, b: GraphBuilder, step: Value) -> Value:
        s, decay_steps = _as_float(b, step), b.constant(self.decay_steps)

        def decay(steps: Value, decay_from: float) -> Value:
            factor = _lower_half_cosine(b, b.op("Div", steps, decay_steps))
            return b.op("Mul", b.constant(decay_from), _lower_floor_at(b, factor, self.alpha))

        if self.warmup_target is None:
            return decay(b.op("Min", s, decay_steps), self.initial_learning_rate)
        warmup_steps = b.constant(self.warmup_steps)
        s = b.op("Min", s, b.constant(F32(self.decay_steps) + F32(self.warmup_steps)))
        decayed = decay(b.op("Sub", s, warmup_steps), self.warmup_target)
        if self.warmup_steps == 0:
            return decayed  # no step is below 0; and the warmup would divide by 0
        delta = F32(self.warmup_target) - F32(self.initial_learning_rate)
        warm = b.op("Mul", b.constant(delta), b.op("Div", s, warmup_steps))
        warm = b.op("Add", warm, b.constant(self.initial_learning_rate))
        return b.op("Where", b.op("Less", s, warmup_steps), warm, decayed)


@SCHEDULES.register
class CosineDecayRestarts(LearningRateSchedule):
    """Cosine decay restarted (SGDR): period ``i`` lasts ``t_mul**i`` times the first."""

    type: Literal["CosineDecayRestarts"] = "CosineDecayRestarts"
    initial_learning_rate: Rate
    first_decay_steps: Steps
    # Keras divides by log(t_mul): it must be positive.
    t_mul: Annotated[float, Field(gt=0, allow_inf_nan=False)] = 2.0
    m_mul: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 1.0
    alpha: Fraction = 0.0

    def learning_rate(self, step: int) -> float:
        """Keras 3 ``CosineDecayRestarts.__call__``."""
        fraction = _check_step(step) / self.first_decay_steps
        if self.t_mul == 1.0:
            i_restart = math.floor(fraction)
            fraction -= i_restart
        else:
            # Periods grow geometrically: find the period the step falls into, then the
            # fraction of that period already done.
            t_mul = self.t_mul

            def done(i: int) -> float:  # the first period's lengths before period i
                return (1.0 - t_mul**i) / (1.0 - t_mul)

            remaining = 1.0 - fraction * (1.0 - t_mul)
            if remaining <= 0:
                # t_mul < 1: the periods shrink and their total length is finite; past it
                # Keras's log is of a non-positive number and its learning rate NaN.
                return math.nan
            i_restart = math.floor(math.log(remaining) / math.log(t_mul))
            # The logarithm's rounding can put a step that starts a period into the one
            # before (t_mul 3: step 121 of first_decay_steps 1 gives 4.999...): corrected.
            if fraction >= done(i_restart + 1):
                i_restart += 1
            elif fraction < done(i_restart):
                i_restart -= 1
            fraction = (fraction - done(i_restart)) / t_mul**i_restart
        m_fac = self.m_mul**i_restart
        cosine = 0.5 * m_fac * (1.0 + math.cos(math.pi * fraction))
        return self.initial_learning_rate * ((1 - self.alpha) * cosine + self.alpha)

    def lower(self, b: GraphBuilder, step: Value) -> Value:
        fraction = b.op("Div", _as_float(b, step), b.constant(self.first_decay_steps))
        if self.t_mul == 1.0:
            i_restart = b.op("Floor", fraction)
            fraction = b.op("Sub", fraction, i_restart)
        else:
            one, t_mul = b.constant(1.0), b.constant(self.t_mul)
            one_minus_t_mul = b.constant(F32(1) - F32(self.t_mul))

            def done(i: Value) -> Value:
                return b.op("Div", b.op("Sub", one, b.op("Pow", t_mul, i)), one_minus_t_mul)

            grown = b.op("Sub", one, b.op("Mul", fraction, one_minus_t_mul))
            ratio = b.op("Div", b.op("Log", grown), b.op("Log", t_mul))
            i_restart = b.op("Floor", ratio)
            # The same correction as learning_rate's: a float32 logarithm can miss a
            # period start too (NumPy's does at t_mul 0.75), and the graph runs on
            # whichever Log the runtime has. At most one period off: one step either way.
            late = b.op("GreaterOrEqual", fraction, done(b.op("Add", i_restart, one)))
            i_restart = b.op("Add", i_restart, b.op("Cast", late, to=FLOAT))
            early = b.op("Less", fraction, done(i_restart))
            i_restart = b.op("Sub", i_restart, b.op("Cast", early, to=FLOAT))
            into = b.op("Sub", fraction, done(i_restart))
            fraction = b.op("Div", into, b.op("Pow", t_mul, i_restart))
        m_fac = b.op("Pow", b.constant(self.m_mul), i_restart)
        cosine = b.op("Mul", m_fac, _lower_half_cosine(b, fraction))
        rate = b.constant(self.initial_learning_rate)
        return b.op("Mul", rate, _lower_floor_at(b, cosine, self.alpha))


#: The field type of an optimizer's ``learning_rate`` when it is a schedule.
ScheduleField = SCHEDULES.discriminated_union(accept_strings=False)
