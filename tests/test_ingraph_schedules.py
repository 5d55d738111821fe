"""Each schedule's ONNX lowering (``lower``) against its float64 ``learning_rate``.

One graph per schedule maps an int64 step to the float32 learning rate; onnxruntime runs
it at every step of a range that crosses the warm-up, the staircase and piecewise
boundaries, the polynomial cycles and several restarts.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from specc import schedules as sch
from specc.graph import GraphBuilder
from specc.types import scalar
from tests.ingraph_harness import GraphRunner
from tests.test_optimizer_updates import SCHEDULES, ref_lr

CASES: dict[str, tuple[sch.LearningRateSchedule, int]] = {
    **{name: (schedule, 12) for name, schedule in SCHEDULES.items()},
    "exponential-staircase-long": (
        sch.ExponentialDecay(
            initial_learning_rate=0.5, decay_steps=3, decay_rate=0.96, staircase=True
        ),
        40,
    ),
    "exponential-fractional-steps": (
        sch.ExponentialDecay(initial_learning_rate=0.5, decay_steps=2.5, decay_rate=0.5),
        20,
    ),
    "piecewise-from-zero": (
        sch.PiecewiseConstantDecay(boundaries=[0, 5, 10], values=[1.0, 0.5, -0.25, 0.125]),
        15,
    ),
    "polynomial-sqrt": (
        sch.PolynomialDecay(
            initial_learning_rate=1.0, decay_steps=7, end_learning_rate=0.1, power=0.5
        ),
        12,
    ),
    "polynomial-cycle-square": (
        sch.PolynomialDecay(initial_learning_rate=1.0, decay_steps=3, power=2.0, cycle=True),
        13,
    ),
    "polynomial-rising": (
        sch.PolynomialDecay(initial_learning_rate=0.1, decay_steps=4, end_learning_rate=0.5),
        8,
    ),
    "inverse-time-staircase-long": (
        sch.InverseTimeDecay(
            initial_learning_rate=1.0, decay_steps=3, decay_rate=0.5, staircase=True
        ),
        20,
    ),
    "cosine-no-alpha": (sch.CosineDecay(initial_learning_rate=1.0, decay_steps=10), 14),
    "cosine-warmup-alpha": (
        sch.CosineDecay(
            initial_learning_rate=0.0,
            decay_steps=8,
            alpha=0.2,
            warmup_target=1.0,
            warmup_steps=5,
        ),
        16,
    ),
    "cosine-warmup-down": (
        sch.CosineDecay(
            initial_learning_rate=1.0, decay_steps=6, warmup_target=0.5, warmup_steps=3
        ),
        12,
    ),
    "cosine-warmup-target-no-steps": (
        sch.CosineDecay(initial_learning_rate=0.3, decay_steps=5, warmup_target=0.6),
        8,
    ),
    "restarts-equal-periods": (
        sch.CosineDecayRestarts(
            initial_learning_rate=1.0, first_decay_steps=4, t_mul=1.0, m_mul=0.8, alpha=0.1
        ),
        20,
    ),
    "restarts-defaults": (
        sch.CosineDecayRestarts(initial_learning_rate=1.0, first_decay_steps=3),
        50,
    ),
    # Step 121 starts period 5, where float64's logarithm gives 4.999...
    "restarts-tripling": (
        sch.CosineDecayRestarts(
            initial_learning_rate=1.0, first_decay_steps=1, t_mul=3.0, m_mul=0.9
        ),
        130,
    ),
    "restarts-one-and-a-half": (
        sch.CosineDecayRestarts(
            initial_learning_rate=1.0, first_decay_steps=16, t_mul=1.5, alpha=0.05
        ),
        140,
    ),
    # Steps 28 and 37 start periods 2 and 3, where NumPy's float32 logarithm gives 1.999...
    # and 2.999... (onnxruntime's CPU one happens not to)
    "restarts-three-quarters": (
        sch.CosineDecayRestarts(initial_learning_rate=1.0, first_decay_steps=16, t_mul=0.75),
        60,
    ),
    "restarts-shrinking": (
        sch.CosineDecayRestarts(initial_learning_rate=1.0, first_decay_steps=10, t_mul=0.5),
        19,
    ),
}


def schedule_runner(schedule: sch.LearningRateSchedule) -> GraphRunner:
    b = GraphBuilder("schedule")
    rate = schedule.lower(b, b.input("step", scalar("int64")))
    b.output(rate, "learning_rate", scalar())
    return GraphRunner(b.graph)


def rates(schedule: sch.LearningRateSchedule, steps: int) -> np.ndarray:
    runner = schedule_runner(schedule)
    found = [runner.run({"step": np.asarray(k, np.int64)})["learning_rate"] for k in range(steps)]
    assert all(r.dtype == np.float32 and r.shape == () for r in found)
    return np.array(found, dtype=np.float64)


def check_rates(schedule: sch.LearningRateSchedule, steps: int) -> None:
    want = np.array([schedule.learning_rate(k) for k in range(steps)])
    floor = 1e-6 * float(np.max(np.abs(want)))
    np.testing.assert_allclose(rates(schedule, steps), want, rtol=1e-5, atol=floor)


@pytest.mark.parametrize(("schedule", "steps"), CASES.values(), ids=CASES.keys())
def test_lowering_matches_learning_rate(schedule: sch.LearningRateSchedule, steps: int) -> None:
    check_rates(schedule, steps)


def test_every_schedule_is_covered() -> None:
    covered = {type(schedule) for schedule, _ in CASES.values()}
    assert covered == set(sch.SCHEDULES)


@pytest.mark.parametrize(("schedule", "steps"), CASES.values(), ids=CASES.keys())
def test_learning_rate_matches_an_independent_reference(
    schedule: sch.LearningRateSchedule, steps: int
) -> None:
    # ref_lr walks CosineDecayRestarts' periods one by one instead of taking a logarithm.
    want = [ref_lr(schedule, k) for k in range(steps)]
    got = [schedule.learning_rate(k) for k in range(steps)]
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)


def test_restart_starts_at_the_peak() -> None:
    schedule, _ = CASES["restarts-tripling"]
    # Periods 1, 3, 9, 27, 81: period 5 starts at step 121, at m_mul**5 of the peak.
    assert schedule.learning_rate(121) == pytest.approx(0.9**5, rel=1e-12)
    assert rates(schedule, 122)[121] == pytest.approx(0.9**5, rel=1e-6)


def test_a_wrong_lowering_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    """ExponentialDecay without its staircase floor: the comparison must catch it."""
    schedule, steps = CASES["exponential-staircase-long"]
    check_rates(schedule, steps)
    smooth = schedule.model_copy(update={"staircase": False})
    lower = sch.ExponentialDecay.lower

    def without_floor(self: sch.ExponentialDecay, *args: Any) -> Any:
        return lower(smooth, *args)

    monkeypatch.setattr(sch.ExponentialDecay, "lower", without_floor)
    with pytest.raises(AssertionError):
        check_rates(schedule, steps)


def test_shrinking_restarts_past_their_total_length_give_nan_as_keras() -> None:
    """t_mul < 1: the periods add up to first_decay_steps / (1 - t_mul) steps (20 here);
    past them Keras takes the log of a non-positive number and its rate is NaN, in NumPy
    and in the graph alike (never an exception during training)."""
    schedule = sch.CosineDecayRestarts(initial_learning_rate=1.0, first_decay_steps=10, t_mul=0.5)
    assert np.isfinite(schedule.learning_rate(19))
    assert np.isnan(schedule.learning_rate(25))
