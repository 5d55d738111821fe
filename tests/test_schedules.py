"""Learning-rate schedules against values worked by hand from Keras 3's documented formulas.

Each expected number is derived in the comment beside it, not computed by specc's code, so
a wrong formula (an off-by-one step, a missing floor, a wrong restart period) shows up.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from specc.schedules import (
    SCHEDULES,
    CosineDecay,
    CosineDecayRestarts,
    ExponentialDecay,
    InverseTimeDecay,
    LearningRateSchedule,
    PiecewiseConstantDecay,
    PolynomialDecay,
    ScheduleField,
)

SCHEDULE = TypeAdapter(ScheduleField)


def make(spec: dict[str, Any]) -> LearningRateSchedule:
    """Validate ``spec`` the way an optimizer's ``learning_rate`` mapping is validated."""
    return SCHEDULE.validate_python(spec)


def error_types(spec: Any) -> list[str]:
    """The Pydantic error types raised for ``spec``."""
    with pytest.raises(ValidationError) as info:
        SCHEDULE.validate_python(spec)
    return [e["type"] for e in info.value.errors()]


EXPONENTIAL = {
    "type": "ExponentialDecay",
    "initial_learning_rate": 0.1,
    "decay_steps": 4,
    "decay_rate": 0.5,
}


@pytest.mark.parametrize(
    ("step", "expected"),
    [
        (0, 0.1),
        (2, 0.1 * 0.5**0.5),  # half a period: 0.0707...
        (4, 0.05),
        (6, 0.1 * 0.5**1.5),
        (8, 0.025),
    ],
)
def test_exponential_decay_continuous(step: int, expected: float) -> None:
    assert make(EXPONENTIAL).learning_rate(step) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    ("step", "expected"),
    [(0, 0.1), (3, 0.1), (4, 0.05), (7, 0.05), (8, 0.025), (11, 0.025), (12, 0.0125)],
)
def test_exponential_decay_staircase_floors_the_exponent(step: int, expected: float) -> None:
    schedule = make({**EXPONENTIAL, "staircase": True})
    assert schedule.learning_rate(step) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    ("step", "expected"),
    # values[0] up to and including boundaries[0], then each next value on (low, high].
    [(0, 1.0), (10, 1.0), (11, 0.5), (20, 0.5), (21, 0.1), (10_000, 0.1)],
)
def test_piecewise_constant_intervals_are_closed_on_the_right(step: int, expected: float) -> None:
    schedule = make(
        {"type": "PiecewiseConstantDecay", "boundaries": [10, 20], "values": [1.0, 0.5, 0.1]}
    )
    assert schedule.learning_rate(step) == expected


@pytest.mark.parametrize(
    ("step", "expected"),
    [
        (0, 0.1),
        (5, 0.09 * 0.5**2 + 0.01),  # (0.1 - 0.01) * (1 - 5/10)**2 + 0.01 = 0.0325
        (10, 0.01),
        (20, 0.01),  # held at the end without cycle
    ],
)
def test_polynomial_decay(step: int, expected: float) -> None:
    schedule = make(
        {
            "type": "PolynomialDecay",
            "initial_learning_rate": 0.1,
            "decay_steps": 10,
            "end_learning_rate": 0.01,
            "power": 2.0,
        }
    )
    assert schedule.learning_rate(step) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    ("step", "expected"),
    [
        (0, 0.1),  # multiplier 1 at step 0
        (10, 0.01),  # ceil(10/10) = 1: end of the first period
        (15, 0.09 * (1 - 15 / 20) ** 2 + 0.01),  # ceil(1.5) = 2: decay_steps 20 -> 0.015625
        (20, 0.01),
        (25, 0.09 * (1 - 25 / 30) ** 2 + 0.01),  # decay_steps 30
    ],
)
def test_polynomial_decay_cycle_stretches_the_period(step: int, expected: float) -> None:
    schedule = make(
        {
            "type": "PolynomialDecay",
            "initial_learning_rate": 0.1,
            "decay_steps": 10,
            "end_learning_rate": 0.01,
            "power": 2.0,
            "cycle": True,
        }
    )
    assert schedule.learning_rate(step) == pytest.approx(expected, rel=1e-12)


def test_polynomial_decay_keras_defaults() -> None:
    schedule = make({"type": "PolynomialDecay", "initial_learning_rate": 1.0, "decay_steps": 100})
    assert isinstance(schedule, PolynomialDecay)
    assert (schedule.end_learning_rate, schedule.power, schedule.cycle) == (0.0001, 1.0, False)
    # (1 - 0.0001) * 0.5 + 0.0001
    assert schedule.learning_rate(50) == pytest.approx(0.50005, rel=1e-12)


@pytest.mark.parametrize(
    ("staircase", "step", "expected"),
    [
        (False, 0, 0.1),
        (False, 1, 0.1 / 1.25),  # 1 + 0.5 * 1/2
        (False, 4, 0.05),  # 1 + 0.5 * 4/2 = 2
        (True, 1, 0.1),  # floor(1/2) = 0
        (True, 3, 0.1 / 1.5),  # floor(3/2) = 1
        (True, 4, 0.05),
    ],
)
def test_inverse_time_decay(staircase: bool, step: int, expected: float) -> None:
    schedule = make(
        {
            "type": "InverseTimeDecay",
            "initial_learning_rate": 0.1,
            "decay_steps": 2,
            "decay_rate": 0.5,
            "staircase": staircase,
        }
    )
    assert schedule.learning_rate(step) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    ("alpha", "step", "expected"),
    [
        (0.0, 0, 1.0),
        (0.0, 5, 0.5),  # 0.5 * (1 + cos(pi/2))
        (0.0, 10, 0.0),
        (0.0, 30, 0.0),  # held after decay_steps
        (0.1, 5, 0.9 * 0.5 + 0.1),
        (0.1, 10, 0.1),  # floor at alpha * initial
    ],
)
def test_cosine_decay_without_warmup(alpha: float, step: int, expected: float) -> None:
    schedule = make(
        {"type": "CosineDecay", "initial_learning_rate": 1.0, "decay_steps": 10, "alpha": alpha}
    )
    assert schedule.learning_rate(step) == pytest.approx(expected, rel=1e-12, abs=1e-15)


@pytest.mark.parametrize(
    ("step", "expected"),
    [
        (0, 0.2),
        (1, 0.4),  # 0.2 + (1.0 - 0.2) * 1/4
        (3, 0.8),
        (4, 1.0),  # warmup done: cosine decay starts from warmup_target
        (9, 0.5),  # 5 of 10 decay steps
        (14, 0.0),
        (100, 0.0),  # clamped to decay_steps + warmup_steps
    ],
)
def test_cosine_decay_with_linear_warmup(step: int, expected: float) -> None:
    schedule = make(
        {
            "type": "CosineDecay",
            "initial_learning_rate": 0.2,
            "decay_steps": 10,
            "warmup_target": 1.0,
            "warmup_steps": 4,
        }
    )
    assert schedule.learning_rate(step) == pytest.approx(expected, rel=1e-12, abs=1e-15)


@pytest.mark.parametrize(
    ("step", "expected"),
    [
        (0, 1.0),
        (5, 0.5),  # halfway through the first 10-step period
        (10, 0.5),  # restart 1: m_mul**1 = 0.5 at full cosine
        (20, 0.25),  # period 1 spans [10, 30): halfway, 0.5 * 0.5
        (30, 0.25),  # restart 2 at 10 + 20: m_mul**2
        (50, 0.125),  # period 2 spans [30, 70): halfway
    ],
)
def test_cosine_decay_restarts_geometric_periods(step: int, expected: float) -> None:
    schedule = make(
        {
            "type": "CosineDecayRestarts",
            "initial_learning_rate": 1.0,
            "first_decay_steps": 10,
            "t_mul": 2.0,
            "m_mul": 0.5,
        }
    )
    assert schedule.learning_rate(step) == pytest.approx(expected, rel=1e-12, abs=1e-15)


@pytest.mark.parametrize(
    ("step", "expected"),
    [
        (0, 1.0),
        (5, 0.55),  # 0.9 * 0.5 * (1 + cos(pi/2)) + 0.1
        (9, 0.9 * 0.5 * (1 + math.cos(0.9 * math.pi)) + 0.1),
        (10, 1.0),  # t_mul 1: restart every 10 steps, m_mul 1 keeps the peak
        (15, 0.55),
    ],
)
def test_cosine_decay_restarts_equal_periods_with_alpha(step: int, expected: float) -> None:
    schedule = make(
        {
            "type": "CosineDecayRestarts",
            "initial_learning_rate": 1.0,
            "first_decay_steps": 10,
            "t_mul": 1.0,
            "alpha": 0.1,
        }
    )
    assert schedule.learning_rate(step) == pytest.approx(expected, rel=1e-12)


def test_cosine_decay_restarts_keras_defaults() -> None:
    schedule = make(
        {"type": "CosineDecayRestarts", "initial_learning_rate": 1.0, "first_decay_steps": 5}
    )
    assert isinstance(schedule, CosineDecayRestarts)
    assert (schedule.t_mul, schedule.m_mul, schedule.alpha) == (2.0, 1.0, 0.0)


def test_registry_holds_exactly_the_keras_schedules() -> None:
    assert sorted(SCHEDULES.names()) == [
        "CosineDecay",
        "CosineDecayRestarts",
        "ExponentialDecay",
        "InverseTimeDecay",
        "PiecewiseConstantDecay",
        "PolynomialDecay",
    ]
    defaults = make({"type": "CosineDecay", "initial_learning_rate": 0.1, "decay_steps": 3})
    assert isinstance(defaults, CosineDecay)
    assert (defaults.alpha, defaults.warmup_target, defaults.warmup_steps) == (0.0, None, 0)
    staircase = make(EXPONENTIAL)
    assert isinstance(staircase, ExponentialDecay) and staircase.staircase is False
    inverse = make(
        {
            "type": "InverseTimeDecay",
            "initial_learning_rate": 0.1,
            "decay_steps": 1,
            "decay_rate": 0.5,
        }
    )
    assert isinstance(inverse, InverseTimeDecay) and inverse.staircase is False


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({**EXPONENTIAL, "decay_steps": 0}, "greater_than"),
        ({**EXPONENTIAL, "decay_steps": -3}, "greater_than"),
        (
            {"type": "CosineDecayRestarts", "initial_learning_rate": 1.0, "first_decay_steps": 0},
            "greater_than",
        ),
        ({"type": "ExponentialDecay", "initial_learning_rate": 0.1}, "missing"),
        ({"type": "PolynomialDecay", "decay_steps": 10}, "missing"),
        ({**EXPONENTIAL, "stair_case": True}, "unknown_key"),
        ({**EXPONENTIAL, "name": "lr"}, "unknown_key"),
        ({**EXPONENTIAL, "type": "ExponentalDecay"}, "unknown_name"),
        ("ExponentialDecay", "wrong_form"),  # a schedule always needs its arguments
        ({**EXPONENTIAL, "staircase": "yes"}, "bool_type"),
    ],
)
def test_invalid_schedules_are_rejected(spec: Any, expected: str) -> None:
    assert expected in error_types(spec)


def test_unknown_key_suggests_the_keras_argument() -> None:
    with pytest.raises(ValidationError) as info:
        make({**EXPONENTIAL, "decay_step": 4})
    assert "did you mean 'decay_steps'?" in str(info.value)


def test_piecewise_needs_one_more_value_than_boundaries() -> None:
    with pytest.raises(ValidationError) as info:
        make({"type": "PiecewiseConstantDecay", "boundaries": [10, 20], "values": [1.0, 0.5]})
    (error,) = info.value.errors()
    assert error["type"] == "invalid_arguments"
    assert "got 2 boundaries and 2 values" in error["msg"]


def test_piecewise_boundaries_must_increase() -> None:
    with pytest.raises(ValidationError) as info:
        make({"type": "PiecewiseConstantDecay", "boundaries": [20, 10], "values": [1.0, 0.5, 0.1]})
    assert "strictly increasing" in str(info.value)


def test_negative_step_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="step must be >= 0"):
        make(EXPONENTIAL).learning_rate(-1)


def test_piecewise_model_is_directly_constructible() -> None:
    schedule = PiecewiseConstantDecay(boundaries=[0], values=[2.0, 1.0])
    assert (schedule.learning_rate(0), schedule.learning_rate(1)) == (2.0, 1.0)
