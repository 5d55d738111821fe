"""Keras 3 optimizer updates (specc.train.updates) against independent float64 references.

The references below are written from Keras's documented formulas, but in a different
shape from the implementation: moments as closed-form weighted sums over the gradient
history (``m_t = (1-b1) * sum_j b1^(t-j) g_j``), Adam's bias corrections written out as
``m_hat / (sqrt(v_hat) + eps / sqrt(1 - b2^t))``, Adamax's norm as a max over the history,
Nadam's ``u_product`` as an explicit product, Adadelta as a per-element loop, Lion's
momentum as a weighted sum over the earlier gradients, clipping as
``g * min(1, c / norm)`` and each schedule from its own formula. The implementation is an
in-place float32 recursion; agreement to rtol 1e-5 after 5-6 steps checks both.
"""

from __future__ import annotations

import bisect
import io
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from specc import optimizers as opt
from specc import schedules as sch
from specc.constraints import MaxNorm, NonNeg
from specc.train.updates import apply_constraints, make_update

Params = dict[str, np.ndarray]
SHAPES = {"dense.kernel": (3, 4), "dense.bias": (4,)}
STEPS = 5


def _fixed_data(steps: int = 6) -> tuple[Params, list[Params]]:
    rng = np.random.default_rng(20240917)
    p0 = {n: rng.standard_normal(s).astype(np.float32) for n, s in SHAPES.items()}
    grads = [
        {n: rng.standard_normal(s).astype(np.float32) for n, s in SHAPES.items()}
        for _ in range(steps)
    ]
    return p0, grads


P0, GRADS = _fixed_data()


# -- independent reference (float64) ------------------------------------------------------


def ref_lr(rate: Any, step: int) -> float:
    """Each Keras schedule's formula, written out here, at update count ``step``."""
    s = float(step)
    if isinstance(rate, float | int):
        return float(rate)
    if isinstance(rate, sch.ExponentialDecay):
        e = s / rate.decay_steps
        return rate.initial_learning_rate * rate.decay_rate ** (
            math.floor(e) if rate.staircase else e
        )
    if isinstance(rate, sch.PiecewiseConstantDecay):
        # First boundary >= step picks its value; past all boundaries, the last value.
        return rate.values[bisect.bisect_left(rate.boundaries, step)]
    if isinstance(rate, sch.PolynomialDecay):
        ds = rate.decay_steps
        if rate.cycle:
            ds = ds * max(1, math.ceil(s / ds))
        frac = min(s, ds) / ds
        lo, hi = rate.end_learning_rate, rate.initial_learning_rate
        return lo + (hi - lo) * (1 - frac) ** rate.power
    if isinstance(rate, sch.InverseTimeDecay):
        e = s / rate.decay_steps
        return rate.initial_learning_rate / (
            1 + rate.decay_rate * (math.floor(e) if rate.staircase else e)
        )
    if isinstance(rate, sch.CosineDecay):
        w = rate.warmup_steps
        top = rate.initial_learning_rate if rate.warmup_target is None else rate.warmup_target
        if s < w:
            return rate.initial_learning_rate + (top - rate.initial_learning_rate) * s / w
        frac = min(s - w, rate.decay_steps) / rate.decay_steps
        return top * (rate.alpha + (1 - rate.alpha) * (1 + math.cos(math.pi * frac)) / 2)
    if isinstance(rate, sch.CosineDecayRestarts):
        # Walk the restart periods one by one instead of Keras's logarithm.
        start, period, i = 0.0, float(rate.first_decay_steps), 0
        while s >= start + period:
            start, period, i = start + period, period * rate.t_mul, i + 1
        cosine = 0.5 * rate.m_mul**i * (1 + math.cos(math.pi * (s - start) / period))
        return rate.initial_learning_rate * ((1 - rate.alpha) * cosine + rate.alpha)
    raise AssertionError(f"no reference for {rate!r}")


def ref_clip(cfg: opt.Optimizer, grads: Params) -> Params:
    if cfg.clipnorm is not None:
        out = {}
        for n, g in grads.items():
            norm = np.linalg.norm(g)
            out[n] = g * min(1.0, cfg.clipnorm / norm) if norm > 0 else g
        return out
    if cfg.global_clipnorm is not None:
        norm = math.sqrt(sum(float(np.sum(g**2)) for g in grads.values()))
        return {n: g * min(1.0, cfg.global_clipnorm / norm) for n, g in grads.items()}
    if cfg.clipvalue is not None:
        c = cfg.clipvalue
        return {n: np.where(np.abs(g) > c, np.sign(g) * c, g) for n, g in grads.items()}
    return dict(grads)


def ema(gs: list[np.ndarray], beta: float) -> np.ndarray:
    """(1 - beta) * sum_j beta^(t-j) gs[j]: a zero-started moving average, closed form."""
    t = len(gs)
    return (1 - beta) * sum(beta ** (t - j) * g for j, g in enumerate(gs, start=1))


def ref_delta(cfg: opt.Optimizer, gs: list[np.ndarray], lrs: list[float]) -> np.ndarray:
    """The change of one parameter at step t = len(gs), from its whole gradient history."""
    t, g, lr = len(gs), gs[-1], lrs[-1]
    if isinstance(cfg, opt.SGD):
        mu = cfg.momentum
        velocity = -sum(
            mu ** (t - j) * lj * gj for j, (gj, lj) in enumerate(zip(gs, lrs, strict=True), 1)
        )
        if mu == 0:
            return -lr * g
        return mu * velocity - lr * g if cfg.nesterov else velocity
    if isinstance(cfg, opt.Adam | opt.AdamW):
        m = ema(gs, cfg.beta_1)
        vs = [ema([x**2 for x in gs[:s]], cfg.beta_2) for s in range(1, t + 1)]
        v = np.maximum.reduce(vs) if cfg.amsgrad else vs[-1]
        bc1, bc2 = 1 - cfg.beta_1**t, 1 - cfg.beta_2**t
        return -lr * (m / bc1) / (np.sqrt(v / bc2) + cfg.epsilon / math.sqrt(bc2))
    if isinstance(cfg, opt.RMSprop):

        def increment(s: int) -> np.ndarray:
            hist = gs[:s]
            second = ema([x**2 for x in hist], cfg.rho)
            if cfg.centered:
                second = second - ema(hist, cfg.rho) ** 2
            return lrs[s - 1] * hist[-1] / np.sqrt(second + cfg.epsilon)

        if cfg.momentum == 0:
            return -increment(t)
        return -sum(cfg.momentum ** (t - s) * increment(s) for s in range(1, t + 1))
    if isinstance(cfg, opt.Adagrad):
        acc = cfg.initial_accumulator_value + sum(x**2 for x in gs)
        return -lr * g / np.sqrt(acc + cfg.epsilon)
    if isinstance(cfg, opt.Adadelta):
        rho, eps = cfg.rho, cfg.epsilon
        out = np.empty_like(g)
        for idx in np.ndindex(g.shape):
            acc_g = acc_d = 0.0
            for x in (h[idx] for h in gs):
                acc_g = rho * acc_g + (1 - rho) * x * x
                d = -math.sqrt(acc_d + eps) / math.sqrt(acc_g + eps) * x
                acc_d = rho * acc_d + (1 - rho) * d * d
            out[idx] = lr * d
        return out
    if isinstance(cfg, opt.Adamax):
        m = ema(gs, cfg.beta_1)
        u = np.maximum.reduce([cfg.beta_2 ** (t - j) * np.abs(x) for j, x in enumerate(gs, 1)])
        return -(lr / (1 - cfg.beta_1**t)) * m / (u + cfg.epsilon)
    if isinstance(cfg, opt.Nadam):
        b1, b2 = cfg.beta_1, cfg.beta_2

        def mu(s: int) -> float:
            return b1 * (1 - 0.5 * 0.96**s)

        def prod(s: int) -> float:
            return math.prod(mu(i) for i in range(1, s + 1))

        m = ema(gs, b1)
        v = ema([x**2 for x in gs], b2)
        m_hat = mu(t + 1) * m / (1 - prod(t + 1)) + (1 - mu(t)) * g / (1 - prod(t))
        v_hat = v / (1 - b2**t)
        return -lr * m_hat / (np.sqrt(v_hat) + cfg.epsilon)
    if isinstance(cfg, opt.Lion):
        # Keras's lion.py: the sign of a blend of the momentum BEFORE this step (beta_2's
        # average of the earlier gradients) with this gradient.
        m = ema(gs[:-1], cfg.beta_2)
        return -lr * np.sign(cfg.beta_1 * m + (1 - cfg.beta_1) * g)
    raise AssertionError(f"no reference for {cfg!r}")


GradFn = Callable[[Params, int], Params]


def reference(
    cfg: opt.Optimizer, p0: Params, grad_of: GradFn, steps: int, no_decay: tuple[str, ...] = ()
) -> Params:
    """Run ``steps`` updates in float64; ``grad_of(params, k)`` gives step k's gradients."""
    p = {n: a.astype(np.float64) for n, a in p0.items()}
    history: dict[str, list[np.ndarray]] = {n: [] for n in p}
    lrs: list[float] = []
    for k in range(steps):
        raw = {n: np.asarray(g, dtype=np.float64) for n, g in grad_of(p, k).items()}
        grads = ref_clip(cfg, raw)
        lrs.append(ref_lr(cfg.learning_rate, k))
        for n in p:
            history[n].append(grads[n])
            if cfg.weight_decay is not None and n not in no_decay:
                p[n] = p[n] * (1 - cfg.weight_decay * lrs[-1])
            p[n] = p[n] + ref_delta(cfg, history[n], lrs)
    return p


def fixed(params: Params, k: int) -> Params:
    return GRADS[k]


# -- running the implementation -------------------------------------------------------------


def run(cfg: opt.Optimizer, steps: int = STEPS, **kwargs: Any) -> Params:
    params = {n: a.copy() for n, a in P0.items()}
    update = make_update(cfg, params, **kwargs)
    for k in range(steps):
        update.step(params, GRADS[k])
    assert update.iterations == steps
    return params


def check(actual: Params, expected: Params, p0: Params = P0) -> None:
    """Element-wise agreement at rtol 1e-5, and the update itself to 0.1 %.

    The atol (1e-6 of the largest parameter) only matters for an element that moved
    close to 0, where float32 rounding of the larger intermediate values dominates.
    """
    for n, want in expected.items():
        got = actual[n]
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6 * np.max(np.abs(want)))
        moved = want - p0[n]
        assert np.max(np.abs(moved)) > 1e-3, f"{n}: the test would not see a wrong update"
        np.testing.assert_allclose(
            got - p0[n], moved, rtol=1e-3, atol=1e-3 * np.max(np.abs(moved)), err_msg=n
        )


BASE_CASES = {
    "sgd": opt.SGD(learning_rate=0.1),
    "sgd-momentum": opt.SGD(learning_rate=0.1, momentum=0.9),
    "sgd-nesterov": opt.SGD(learning_rate=0.1, momentum=0.9, nesterov=True),
    "adam": opt.Adam(learning_rate=0.1),
    "adam-betas": opt.Adam(learning_rate=0.05, beta_1=0.5, beta_2=0.9, epsilon=1e-3),
    "adam-amsgrad": opt.Adam(learning_rate=0.1, amsgrad=True),
    "adamw": opt.AdamW(learning_rate=0.1),
    "adamw-wd": opt.AdamW(learning_rate=0.1, weight_decay=0.2),
    "adamw-amsgrad": opt.AdamW(learning_rate=0.1, amsgrad=True),
    "rmsprop": opt.RMSprop(learning_rate=0.01),
    "rmsprop-rho": opt.RMSprop(learning_rate=0.01, rho=0.5, epsilon=1e-2),
    "rmsprop-momentum": opt.RMSprop(learning_rate=0.01, momentum=0.7),
    "rmsprop-centered": opt.RMSprop(learning_rate=0.01, centered=True),
    "rmsprop-centered-momentum": opt.RMSprop(learning_rate=0.01, centered=True, momentum=0.5),
    "adagrad": opt.Adagrad(learning_rate=0.1),
    "adagrad-initial": opt.Adagrad(learning_rate=0.1, initial_accumulator_value=0.5),
    "adadelta": opt.Adadelta(learning_rate=1.0),
    "adadelta-eps": opt.Adadelta(learning_rate=1.0, rho=0.8, epsilon=1e-2),
    "adamax": opt.Adamax(learning_rate=0.1),
    "adamax-betas": opt.Adamax(learning_rate=0.1, beta_1=0.5, beta_2=0.8),
    "nadam": opt.Nadam(learning_rate=0.1),
    "nadam-betas": opt.Nadam(learning_rate=0.1, beta_1=0.5, beta_2=0.9),
    "lion": opt.Lion(learning_rate=0.1),
    "lion-betas": opt.Lion(learning_rate=0.05, beta_1=0.5, beta_2=0.8),
    "lion-beta-1-one": opt.Lion(learning_rate=0.05, beta_1=1.0),
}


@pytest.mark.parametrize("cfg", BASE_CASES.values(), ids=BASE_CASES.keys())
def test_update_matches_reference(cfg: opt.Optimizer) -> None:
    check(run(cfg), reference(cfg, P0, fixed, STEPS))


ONE_OF_EACH = {
    "sgd": opt.SGD(learning_rate=0.1, momentum=0.9),
    "adam": opt.Adam(learning_rate=0.1),
    "adamw": opt.AdamW(learning_rate=0.1),
    "rmsprop": opt.RMSprop(learning_rate=0.01, momentum=0.5, centered=True),
    "adagrad": opt.Adagrad(learning_rate=0.1),
    "adadelta": opt.Adadelta(learning_rate=1.0, epsilon=1e-2),
    "adamax": opt.Adamax(learning_rate=0.1),
    "nadam": opt.Nadam(learning_rate=0.1),
    "lion": opt.Lion(learning_rate=0.1, beta_1=0.7),
}
# Gradient norms per step: kernel 4.0, 4.2, 2.5, 1.7, 2.9; bias 1.4, 2.6, 2.5, 1.3, 1.3;
# global 4.3, 5.0, 3.6, 2.1, 3.2. So clipnorm=2 and global_clipnorm=3 clip some steps and
# parameters and leave others alone, and clipvalue=0.5 cuts many entries.
OPTIONS = {
    "weight_decay": {"weight_decay": 0.3},
    "clipnorm": {"clipnorm": 2.0},
    "clipvalue": {"clipvalue": 0.5},
    "global_clipnorm": {"global_clipnorm": 3.0},
}


@pytest.mark.parametrize("option", OPTIONS.values(), ids=OPTIONS.keys())
@pytest.mark.parametrize("base", ONE_OF_EACH.values(), ids=ONE_OF_EACH.keys())
def test_base_options_match_reference(base: opt.Optimizer, option: dict[str, float]) -> None:
    cfg = base.model_copy(update=option)
    check(run(cfg), reference(cfg, P0, fixed, STEPS))


def test_options_are_active() -> None:
    """Each clip above changes some gradients and leaves others as they are."""
    for option in ("clipnorm", "clipvalue", "global_clipnorm"):
        cfg = opt.SGD().model_copy(update=OPTIONS[option])
        changed = []
        for grads in GRADS[:STEPS]:
            clipped = ref_clip(cfg, {n: g.astype(np.float64) for n, g in grads.items()})
            if option == "clipvalue":  # element by element
                changed += [bool(x) for n in grads for x in (clipped[n] != grads[n]).flat]
            else:  # whole arrays
                changed += [not np.allclose(clipped[n], grads[n]) for n in grads]
        assert any(changed) and not all(changed), option


SCHEDULES = {
    "exponential": sch.ExponentialDecay(initial_learning_rate=0.1, decay_steps=2, decay_rate=0.5),
    "exponential-staircase": sch.ExponentialDecay(
        initial_learning_rate=0.1, decay_steps=2, decay_rate=0.5, staircase=True
    ),
    "piecewise": sch.PiecewiseConstantDecay(boundaries=[1, 3], values=[0.1, 0.05, 0.01]),
    "polynomial": sch.PolynomialDecay(initial_learning_rate=0.1, decay_steps=4, power=2.0),
    "polynomial-cycle": sch.PolynomialDecay(
        initial_learning_rate=0.1, decay_steps=2, end_learning_rate=0.01, cycle=True
    ),
    "inverse-time": sch.InverseTimeDecay(initial_learning_rate=0.1, decay_steps=2, decay_rate=1),
    "inverse-time-staircase": sch.InverseTimeDecay(
        initial_learning_rate=0.1, decay_steps=2, decay_rate=1, staircase=True
    ),
    "cosine": sch.CosineDecay(initial_learning_rate=0.1, decay_steps=4, alpha=0.1),
    "cosine-warmup": sch.CosineDecay(
        initial_learning_rate=0.02, decay_steps=3, warmup_target=0.2, warmup_steps=2
    ),
    "cosine-restarts": sch.CosineDecayRestarts(
        initial_learning_rate=0.1, first_decay_steps=2, t_mul=2.0, m_mul=0.5, alpha=0.1
    ),
}


@pytest.mark.parametrize("optimizer", [opt.SGD(momentum=0.9), opt.Nadam()], ids=["sgd", "nadam"])
@pytest.mark.parametrize("schedule", SCHEDULES.values(), ids=SCHEDULES.keys())
def test_schedules_match_reference(
    schedule: sch.LearningRateSchedule, optimizer: opt.Optimizer
) -> None:
    cfg = optimizer.model_copy(update={"learning_rate": schedule, "weight_decay": 0.1})
    check(run(cfg, steps=6), reference(cfg, P0, fixed, 6))


def test_first_update_uses_learning_rate_at_zero() -> None:
    # lr is 1 at step 0 (step <= boundary 0) and 0 afterwards: only the first update acts.
    rate = sch.PiecewiseConstantDecay(boundaries=[0], values=[1.0, 0.0])
    got = run(opt.SGD(learning_rate=rate), steps=3)
    for n in SHAPES:
        np.testing.assert_array_equal(got[n], P0[n] - GRADS[0][n])


def test_weight_decay_exclusion() -> None:
    cfg = opt.AdamW(learning_rate=0.1, weight_decay=0.5)
    got = run(cfg, exclude_from_weight_decay=["bias"])
    check(got, reference(cfg, P0, fixed, STEPS, no_decay=("dense.bias",)))
    with_decay = run(cfg)
    assert not np.allclose(got["dense.bias"], with_decay["dense.bias"])
    np.testing.assert_array_equal(got["dense.kernel"], with_decay["dense.kernel"])


def test_lion_steps_by_the_sign_alone() -> None:
    # From a zero momentum the first step is -lr * sign((1 - beta_1) * g): every element
    # moves by exactly lr, however large its gradient, and the momentum becomes
    # (1 - beta_2) * g.
    cfg = opt.Lion(learning_rate=0.25)
    params = {n: a.copy() for n, a in P0.items()}
    update = make_update(cfg, params)
    update.step(params, GRADS[0])
    for n in SHAPES:
        assert (np.sign(GRADS[0][n]) != 0).all()
        moved = P0[n].astype(np.float64) - params[n]
        np.testing.assert_allclose(moved, 0.25 * np.sign(GRADS[0][n]), rtol=1e-6)
        momentum = update.state_dict()[f"{n}/momentum"]
        np.testing.assert_allclose(momentum, 0.01 * GRADS[0][n].astype(np.float64), rtol=1e-5)


def test_adam_state_holds_the_moments() -> None:
    cfg = opt.Adam(learning_rate=0.1, amsgrad=True)
    params = {n: a.copy() for n, a in P0.items()}
    update = make_update(cfg, params)
    for k in range(STEPS):
        update.step(params, GRADS[k])
    state = update.state_dict()
    assert int(state["iterations"]) == STEPS
    for n in SHAPES:
        gs = [g[n].astype(np.float64) for g in GRADS[:STEPS]]
        np.testing.assert_allclose(state[f"{n}/momentum"], ema(gs, 0.9), rtol=1e-5, atol=1e-7)
        vs = [ema([x**2 for x in gs[:s]], 0.999) for s in range(1, STEPS + 1)]
        np.testing.assert_allclose(state[f"{n}/velocity"], vs[-1], rtol=1e-5)
        np.testing.assert_allclose(state[f"{n}/velocity_hat"], np.maximum.reduce(vs), rtol=1e-5)


@pytest.mark.parametrize("cfg", BASE_CASES.values(), ids=BASE_CASES.keys())
def test_state_dict_resumes_exactly(cfg: opt.Optimizer) -> None:
    cfg = cfg.model_copy(update={"learning_rate": SCHEDULES["cosine-restarts"]})
    straight = run(cfg)
    params = {n: a.copy() for n, a in P0.items()}
    first = make_update(cfg, params)
    for k in range(2):
        first.step(params, GRADS[k])
    saved, at_two = first.state_dict(), {n: a.copy() for n, a in params.items()}
    for k in range(2, 4):  # the saved state must be a copy, not follow later steps
        first.step(params, GRADS[k])
    file = io.BytesIO()
    np.savez(file, **saved)
    file.seek(0)
    resumed = make_update(cfg, at_two)
    with np.load(file) as npz:
        resumed.load_state_dict(dict(npz))
    assert resumed.iterations == 2
    for k in range(2, STEPS):
        resumed.step(at_two, GRADS[k])
    for n in SHAPES:
        np.testing.assert_array_equal(at_two[n], straight[n])


def test_load_state_dict_rejects_a_mismatch() -> None:
    params = {n: a.copy() for n, a in P0.items()}
    adam = make_update(opt.Adam(), params)
    with pytest.raises(KeyError, match="missing"):
        adam.load_state_dict(make_update(opt.Nadam(), params).state_dict())
    state = adam.state_dict()
    state["dense.bias/momentum"] = np.zeros(5, np.float32)
    with pytest.raises(ValueError, match=r"shape \(4,\)"):
        adam.load_state_dict(state)


def test_updates_views_in_place_and_leaves_gradients_alone() -> None:
    buffer = np.zeros(16, np.float32)
    buffer[:12] = P0["dense.kernel"].ravel()
    buffer[12:] = P0["dense.bias"]
    views = {"dense.kernel": buffer[:12].reshape(3, 4), "dense.bias": buffer[12:]}
    grads = {n: g.copy() for n, g in GRADS[0].items()}
    update = make_update(opt.RMSprop(learning_rate=0.01, clipnorm=0.5, weight_decay=0.1), views)
    update.step(views, grads)
    assert not np.array_equal(buffer[12:], P0["dense.bias"])
    for n in SHAPES:
        np.testing.assert_array_equal(grads[n], GRADS[0][n])


def test_float64_gradients_are_cast() -> None:
    cfg = opt.Adam(learning_rate=0.1)
    params = {n: a.copy() for n, a in P0.items()}
    update = make_update(cfg, params)
    for k in range(STEPS):
        update.step(params, {n: g.astype(np.float64) for n, g in GRADS[k].items()})
    for n, want in run(cfg).items():
        np.testing.assert_array_equal(params[n], want)


def test_bad_inputs_are_reported() -> None:
    params = {n: a.copy() for n, a in P0.items()}
    update = make_update(opt.SGD(), params)
    with pytest.raises(KeyError, match=r"missing \['dense.bias'\]"):
        update.step({"dense.kernel": params["dense.kernel"]}, GRADS[0])
    with pytest.raises(TypeError, match="writable float32"):
        update.step({n: a.astype(np.float64) for n, a in params.items()}, GRADS[0])
    with pytest.raises(ValueError, match=r"shape \(4,\)"):
        update.step({**params, "dense.bias": np.zeros(5, np.float32)}, GRADS[0])
    with pytest.raises(ValueError, match=r"'dense\.bias' has no gradient"):
        update.step(params, {**GRADS[0], "dense.bias": None})
    with pytest.raises(TypeError, match="no update rule for optimizer Optimizer"):
        make_update(opt.Optimizer(), params)


def test_apply_constraints_in_place() -> None:
    rng = np.random.default_rng(3)
    kernel = (rng.standard_normal((3, 4)) * 2).astype(np.float32)
    bias = rng.standard_normal(4).astype(np.float32)
    params = {"dense.kernel": kernel, "dense.bias": bias}
    want_bias = np.array([max(0.0, float(x)) for x in bias])
    want_kernel = kernel.astype(np.float64)
    for j in range(4):  # MaxNorm(axis=0): one norm per output unit
        norm = math.sqrt(sum(float(x) ** 2 for x in kernel[:, j]))
        want_kernel[:, j] *= min(norm, 1.5) / (1e-7 + norm)
    apply_constraints(
        params,
        {
            "dense.kernel": MaxNorm(type="MaxNorm", max_value=1.5),
            "dense.bias": NonNeg(type="NonNeg"),
        },
    )
    assert params["dense.kernel"] is kernel and kernel.dtype == np.float32
    np.testing.assert_allclose(kernel, want_kernel, rtol=1e-6)
    np.testing.assert_array_equal(bias, want_bias.astype(np.float32))


# -- through the real engine -----------------------------------------------------------------

ENGINE_IN, ENGINE_OUT, ENGINE_BATCH = 3, 2, 8


@pytest.fixture(scope="module")
def linear_artifacts(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Training artifacts of y = x @ W + b with MSE and no optimizer graph
    (docs/engine-notes.md#optimizer-kernel)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from specc.train.engine import artifacts, quiet_stderr

    rng = np.random.default_rng(5)
    w = rng.standard_normal((ENGINE_IN, ENGINE_OUT)).astype(np.float32)
    b = rng.standard_normal(ENGINE_OUT).astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["x", "dense.kernel"], ["xw"], name="dense/MatMul"),
            helper.make_node("Add", ["xw", "dense.bias"], ["y"], name="dense/Add"),
        ],
        "linear",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", ENGINE_IN])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", ENGINE_OUT])],
        [numpy_helper.from_array(w, "dense.kernel"), numpy_helper.from_array(b, "dense.bias")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    directory = tmp_path_factory.mktemp("linear")
    with quiet_stderr():
        artifacts.generate_artifacts(
            model,
            requires_grad=["dense.kernel", "dense.bias"],
            loss=artifacts.LossType.MSELoss,
            optimizer=None,
            artifact_directory=directory,
        )
    return directory, {"dense.kernel": w, "dense.bias": b}


ENGINE_CASES = {
    "nadam-schedule": opt.Nadam(
        learning_rate=sch.ExponentialDecay(initial_learning_rate=0.1, decay_steps=2, decay_rate=0.5)
    ),
    "rmsprop-centered-momentum-clipnorm": opt.RMSprop(
        learning_rate=0.05, centered=True, momentum=0.5, clipnorm=1.0
    ),
    "sgd-nesterov-weight-decay": opt.SGD(
        learning_rate=0.1, momentum=0.9, nesterov=True, weight_decay=0.1
    ),
}


@pytest.mark.ort_training
@pytest.mark.parametrize("cfg", ENGINE_CASES.values(), ids=ENGINE_CASES.keys())
def test_training_through_the_engine_views(linear_artifacts: Any, cfg: opt.Optimizer) -> None:
    from specc.train.engine import CheckpointState, Module

    directory, p0 = linear_artifacts
    rng = np.random.default_rng(6)
    xs = [rng.standard_normal((ENGINE_BATCH, ENGINE_IN)).astype(np.float32) for _ in range(STEPS)]
    ts = [rng.standard_normal((ENGINE_BATCH, ENGINE_OUT)).astype(np.float32) for _ in range(STEPS)]

    state = CheckpointState.load_checkpoint(str(directory / "checkpoint"))
    module = Module(
        str(directory / "training_model.onnx"), state, str(directory / "eval_model.onnx")
    )
    module.train()
    names = list(p0)
    update = make_update(cfg, {n: state.parameters[n].data for n in names})
    engine_grads = []
    for x, t in zip(xs, ts, strict=True):
        module(x, t)
        params = {n: state.parameters[n].data for n in names}
        grads = {n: state.parameters[n].grad for n in names}
        engine_grads.append({n: g.copy() for n, g in grads.items()})
        update.step(params, grads)
        module.lazy_reset_grad()

    def mse_grads(p: Params, k: int) -> Params:
        """d/dW, d/db of mean((x W + b - t)^2) over all batch x output entries."""
        x, t = xs[k].astype(np.float64), ts[k].astype(np.float64)
        d_y = 2 * (x @ p["dense.kernel"] + p["dense.bias"] - t) / t.size
        return {"dense.kernel": x.T @ d_y, "dense.bias": d_y.sum(axis=0)}

    want = reference(cfg, p0, mse_grads, STEPS)
    first = mse_grads({n: a.astype(np.float64) for n, a in p0.items()}, 0)
    for n in names:
        np.testing.assert_allclose(engine_grads[0][n], first[n], rtol=1e-5, atol=1e-7)
    check({n: state.parameters[n].data for n in names}, want, p0)


def test_specc_train_with_lion_lowers_the_loss(tmp_path: Path) -> None:
    """``specc train`` end to end with Lion, weight decay and clipping on (NumPy route)."""
    from typer.testing import CliRunner

    from specc.cli.app import app
    from tests.spec_helpers import write_spec

    rng = np.random.default_rng(7)
    x = rng.standard_normal((64, 4)).astype(np.float32)
    y = (x @ rng.standard_normal((4, 2))).astype(np.float32)
    np.savez(tmp_path / "data.npz", x=x, out=y)
    lion = {"type": "Lion", "learning_rate": 0.02, "weight_decay": 0.01, "clipnorm": 1.0}
    spec = write_spec(
        tmp_path,
        {
            "specc": 1,
            "name": "lion",
            "inputs": {"x": {"shape": [4]}},
            "layers": [{"name": "out", "type": "Dense", "units": 2}],
            "compile": {"optimizer": lion, "loss": "mse"},
            "train": {"epochs": 8, "batch_size": 8, "seed": 1},
        },
    )
    out = tmp_path / "trained"
    args = ["train", str(spec), "--data", str(tmp_path / "data.npz"), "-o", str(out), "-q"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    loss = json.loads((out / "history.json").read_text())["loss"]
    assert len(loss) == 8
    # A fixed-size sign step falls fast, then hovers within about lr of the minimum.
    assert loss[4] < 0.5 * loss[0] and loss[-1] < 0.25 * loss[0], loss
