"""Each optimizer's in-graph update (``Optimizer.lower_update``) against its NumPy rule.

A graph takes the whole optimizer state (``iterations``, the parameters, their slots, the
shared state) and the gradients as inputs and returns the next state; onnxruntime runs it
for several steps, feeding its outputs back, beside ``update_rule()`` on the same
gradients. The state names are ``OptimizerUpdate.state_dict``'s, so every slot is compared
too. The cases are the NumPy tests' own (``tests/test_optimizer_updates.py``), which check
the NumPy rules against Keras's formulas.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest

from specc import optimizers as opt
from specc.graph import Graph, GraphBuilder, Value
from specc.optimizers.base import UpdateContext
from specc.types import TensorType, scalar
from tests.ingraph_harness import GraphRunner
from tests.test_optimizer_updates import (
    BASE_CASES,
    GRADS,
    ONE_OF_EACH,
    OPTIONS,
    P0,
    SCHEDULES,
    SHAPES,
    STEPS,
)

State = dict[str, np.ndarray]
# float32 against float32 in the same operation order: only the ulps of onnxruntime's
# sqrt, pow and division differ, compounded over a few steps.
RTOL = 2e-5
ATOL = 1e-6  # times the largest element of the array compared


def tensor(shape: tuple[int, ...]) -> TensorType:
    return TensorType("float32", shape, batched=False)


def update_graph(
    cfg: opt.Optimizer, shapes: Mapping[str, tuple[int, ...]], exclude: tuple[str, ...] = ()
) -> Graph:
    """The state in, the next state out: inputs under ``state_dict`` names plus
    ``<parameter>/grad``; outputs ``next:<state name>``."""
    b = GraphBuilder("train_step")
    iterations = b.input("iterations", scalar("int64"))
    params: dict[str, Value] = {}
    grads: dict[str, Value] = {}
    slots: dict[str, dict[str, Value]] = {}
    types: dict[str, TensorType] = {"iterations": scalar("int64")}
    for name, shape in shapes.items():
        params[name] = b.input(name, tensor(shape))
        grads[name] = b.input(f"{name}/grad", tensor(shape))
        slots[name] = {s.name: b.input(f"{name}/{s.name}", tensor(shape)) for s in cfg.slots(shape)}
        types.update({name: tensor(shape)}, **{f"{name}/{s}": tensor(shape) for s in slots[name]})
    shared = {s.name: b.input(s.name, scalar()) for s in cfg.shared_slots()}
    types.update({name: scalar() for name in shared})
    new = cfg.lower_update(b, UpdateContext(iterations, shared, exclude), params, grads, slots)
    outputs = {"iterations": new.iterations, **new.parameters, **new.shared}
    for name, by_slot in new.slots.items():
        outputs.update({f"{name}/{slot}": value for slot, value in by_slot.items()})
    for name, value in outputs.items():
        b.output(value, f"next:{name}", types[name])
    return b.graph


def initial_state(cfg: opt.Optimizer, params: Mapping[str, np.ndarray]) -> State:
    """The state before the first update, from the config's slot declarations."""
    state: State = {"iterations": np.asarray(0, np.int64)}
    for name, p in params.items():
        state[name] = p.copy()
        state.update({f"{name}/{s.name}": s.initial for s in cfg.slots(p.shape)})
    state.update({s.name: s.initial for s in cfg.shared_slots()})
    return state


def run_graph(
    cfg: opt.Optimizer, steps: int = STEPS, opset: int = 17, exclude: tuple[str, ...] = ()
) -> State:
    runner = GraphRunner(update_graph(cfg, SHAPES, exclude), opset)
    state = initial_state(cfg, P0)
    for k in range(steps):
        feeds = {**state, **{f"{n}/grad": g for n, g in GRADS[k].items()}}
        out = runner.run(feeds)
        state = {name.removeprefix("next:"): value for name, value in out.items()}
    return state


def run_rule(cfg: opt.Optimizer, steps: int = STEPS, exclude: tuple[str, ...] = ()) -> State:
    params = {n: a.copy() for n, a in P0.items()}
    rule = cfg.update_rule(params, exclude)
    for k in range(steps):
        rule.step(params, GRADS[k])
    return {**rule.state_dict(), **params}


def compare(cfg: opt.Optimizer, steps: int = STEPS, **kwargs: Any) -> None:
    opset = kwargs.pop("opset", 17)
    got, want = run_graph(cfg, steps, opset, **kwargs), run_rule(cfg, steps, **kwargs)
    assert sorted(got) == sorted(want)
    assert int(got["iterations"]) == steps
    for name, expected in want.items():
        actual = got[name]
        assert actual.dtype == expected.dtype and actual.shape == expected.shape, name
        floor = ATOL * max(float(np.max(np.abs(expected))), 1e-3)
        np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=floor, err_msg=name)


@pytest.mark.parametrize("opset", [17, 21])
@pytest.mark.parametrize("cfg", BASE_CASES.values(), ids=BASE_CASES.keys())
def test_update_matches_rule(cfg: opt.Optimizer, opset: int) -> None:
    compare(cfg, opset=opset)


@pytest.mark.parametrize("option", OPTIONS.values(), ids=OPTIONS.keys())
@pytest.mark.parametrize("base", ONE_OF_EACH.values(), ids=ONE_OF_EACH.keys())
def test_base_options_match_rule(base: opt.Optimizer, option: dict[str, float]) -> None:
    compare(base.model_copy(update=option))


@pytest.mark.parametrize("clip", ["clipnorm", "clipvalue", "global_clipnorm"])
@pytest.mark.parametrize("base", ONE_OF_EACH.values(), ids=ONE_OF_EACH.keys())
def test_clipping_then_weight_decay(base: opt.Optimizer, clip: str) -> None:
    # Both at once: clipping acts on the gradient, the decay on the weight before the step.
    compare(base.model_copy(update={**OPTIONS[clip], "weight_decay": 0.3}))


@pytest.mark.parametrize("optimizer", [opt.SGD(momentum=0.9), opt.Nadam()], ids=["sgd", "nadam"])
@pytest.mark.parametrize("schedule", SCHEDULES.values(), ids=SCHEDULES.keys())
def test_schedules_match_rule(schedule: Any, optimizer: opt.Optimizer) -> None:
    compare(optimizer.model_copy(update={"learning_rate": schedule, "weight_decay": 0.1}), 6)


@pytest.mark.parametrize("cfg", BASE_CASES.values(), ids=BASE_CASES.keys())
def test_base_cases_with_a_restarting_schedule(cfg: opt.Optimizer) -> None:
    # As the NumPy resume test runs them: a learning rate that changes at every step.
    compare(cfg.model_copy(update={"learning_rate": SCHEDULES["cosine-restarts"]}))


def test_weight_decay_exclusion() -> None:
    cfg = opt.AdamW(learning_rate=0.1, weight_decay=0.5)
    compare(cfg, exclude=("bias",))
    excluded, decayed = run_graph(cfg, exclude=("bias",)), run_graph(cfg)
    assert not np.allclose(excluded["dense.bias"], decayed["dense.bias"])
    np.testing.assert_array_equal(excluded["dense.kernel"], decayed["dense.kernel"])


def test_slots_are_kerass_variables() -> None:
    shape = (3, 4)

    def names(cfg: opt.Optimizer) -> list[str]:
        return [s.name for s in cfg.slots(shape)]

    assert names(opt.SGD()) == []
    assert names(opt.SGD(momentum=0.5)) == ["momentum"]
    assert names(opt.Adam(amsgrad=True)) == ["momentum", "velocity", "velocity_hat"]
    assert names(opt.RMSprop(momentum=0.5, centered=True)) == [
        "velocity",
        "momentum",
        "average_gradient",
    ]
    (accumulator,) = opt.Adagrad(initial_accumulator_value=0.5).slots(shape)
    assert accumulator.initial.dtype == np.float32 and accumulator.initial.shape == shape
    assert np.all(accumulator.initial == 0.5)
    (u_product,) = opt.Nadam().shared_slots()
    assert u_product.name == "u_product" and u_product.initial.shape == ()
    assert float(u_product.initial) == 1.0


def test_lower_update_requires_matching_names() -> None:
    b = GraphBuilder("g")
    x = b.input("x", tensor((2,)))
    context = UpdateContext(b.input("iterations", scalar("int64")))
    adam = opt.Adam()
    with pytest.raises(KeyError, match=r"gradients must name exactly.*missing \['w'\]"):
        adam.lower_update(b, context, {"w": x}, {}, {"w": {}})
    with pytest.raises(KeyError, match=r"context.shared must name exactly shared_slots\(\)"):
        opt.Nadam().lower_update(b, context, {"w": x}, {"w": x}, {"w": {}})


def test_a_wrong_step_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nesterov's look-ahead dropped from SGD's step: the comparison must catch it."""
    cfg = BASE_CASES["sgd-nesterov"]
    compare(cfg)
    plain, step = opt.SGD(learning_rate=0.1, momentum=0.9), opt.SGD._lower_step

    def without_lookahead(self: opt.SGD, *args: Any) -> Any:
        return step(plain, *args)

    monkeypatch.setattr(opt.SGD, "_lower_step", without_lookahead)
    with pytest.raises(AssertionError):
        compare(cfg)
