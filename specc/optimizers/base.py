"""What every optimizer shares: Keras's base arguments, the registry, the declarations.

Each optimizer answers two questions in its own module: what Keras's update is, in NumPy
(``update_rule``), and which of the training engine's fused kernels computes it exactly
(``fused_kernel``: a ``FusedKernel``, or a ``NoFusedKernel`` with the reason). The
declaration is engine-neutral data; ``specc.train.fused_kernel`` builds the engine's graph
from it.

Keras 3 looks optimizer names up case-insensitively against the lowercased class names;
specc accepts the two spellings users write, the class name (``RMSprop``, canonical, as
Keras serializes it) and its lowercase (``rmsprop``). Other casings get a "did you mean".

Every optimizer takes Keras's base arguments ``learning_rate`` (a positive number, or a
schedule mapping stepped once per update), ``weight_decay``, ``clipnorm``, ``clipvalue`` and
``global_clipnorm``. Not accepted, so that they are reported as unknown keys rather than
silently ignored: ``use_ema``, ``ema_momentum``, ``ema_overwrite_frequency``,
``loss_scale_factor``, ``gradient_accumulation_steps`` (training cannot honour them yet) and
``name`` (a TensorFlow name scope, meaningless here).

Each optimizer also lowers its update to standard ONNX ops (``lower_update``), so a whole
training step runs as one graph: the state it carries is the parameters, each parameter's
``slots`` (Keras's slot variables, ``<parameter>/<slot>`` as ``OptimizerUpdate.state_dict``
keys them), the optimizer-wide ``shared_slots`` (Nadam's ``u_product``) and Keras's
``iterations``. The shared part of Keras's ``apply`` (learning rate, clipping, weight
decay, the loop over parameters) is written once here; each optimizer module adds its
``_lower_step`` (Keras's ``update_step``) and, where it has per-step scalars used by every
parameter, ``_lower_prepare``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, NamedTuple, Union

from pydantic import Discriminator, Field, Tag, model_validator
from pydantic_core import PydanticCustomError

from specc.graph import GraphBuilder, Value
from specc.lazy_numpy import np
from specc.registry import Registry, SpecModel
from specc.schedules import LearningRateSchedule, ScheduleField
from specc.types import FLOAT

if TYPE_CHECKING:
    from specc.optimizers.update import OptimizerUpdate

PositiveRate = Annotated[float, Field(gt=0, allow_inf_nan=False)]


def _rate_form(value: Any) -> str:
    # Choosing the branch up front gives one error from the branch the user meant, instead
    # of a union's "not a number, and not a schedule either".
    if isinstance(value, dict | LearningRateSchedule):
        return "schedule"
    return "number"


#: ``learning_rate``: a positive number or a schedule mapping.
LearningRate = Annotated[
    Union[Annotated[PositiveRate, Tag("number")], Annotated[ScheduleField, Tag("schedule")]],  # noqa: UP007
    Discriminator(_rate_form),
]
# Keras skips a clip whose value is 0 or less without a word; here it is an error instead.
Clip = Annotated[float, Field(gt=0, allow_inf_nan=False)]
NonNegative = Annotated[float, Field(ge=0, allow_inf_nan=False)]
# A moment decay of 1 makes Adam's bias correction 1 - beta**t divide by zero.
Beta = Annotated[float, Field(ge=0, lt=1)]
UnitInterval = Annotated[float, Field(ge=0, le=1)]

#: The reason of an optimizer no fused kernel computes.
NO_KERNEL = "onnxruntime-training has no fused kernel that computes its update"


@dataclass(frozen=True)
class FusedKernel:
    """One of the engine's fused kernels, configured to compute an optimizer exactly.

    ``kind`` "adamw": ``m = b1*m + (1-b1)*g``, ``v = b2*v + (1-b2)*g^2``, ``w -= lr * c *
    m / (sqrt(v) + epsilon)`` with ``c = sqrt(1 - b2^t) / (1 - b1^t)`` when
    ``bias_correction``, else 1 (``betas = (b1, b2)``); "sgd": ``w -= lr * g``. In front of
    the kernel, stateless steps in Keras's order: ``clip`` (``clipnorm``,
    ``global_clipnorm`` or ``clipvalue``, and its value), then ``weight_decay`` folded into
    the gradient as ``g + wd * w``; the kernel's learning rate is ``lr * lr_factor``.
    ``note`` says how the mapping works, for people reading the export.
    """

    kind: Literal["adamw", "sgd"]
    betas: tuple[float, float] = (0.9, 0.999)
    epsilon: float = 1e-8
    bias_correction: bool = True
    clip: tuple[str, float] | None = None
    weight_decay: float | None = None
    lr_factor: float = 1.0
    note: str | None = None


@dataclass(frozen=True)
class NoFusedKernel:
    """Why no fused kernel computes an optimizer's Keras update exactly."""

    reason: str


@dataclass(frozen=True, eq=False)
class Slot:
    """One of Keras's optimizer variables: its name and its initial value (float32)."""

    name: str
    initial: np.ndarray


def filled_slots(shape: tuple[int, ...], *names: str, value: float = 0.0) -> list[Slot]:
    """Slots ``names`` of ``shape``, each filled with ``value`` (Keras's ``add_variable``)."""
    return [Slot(name, np.full(shape, value, dtype=np.float32)) for name in names]


@dataclass(frozen=True)
class UpdateContext:
    """What an in-graph update reads besides the parameters, gradients and slots.

    ``iterations``: the int64 scalar count of updates already applied (Keras's
    ``optimizer.iterations``); ``shared``: the optimizer-wide state by ``shared_slots``
    name; ``exclude_from_weight_decay``: regular expressions, as ``update_rule`` takes;
    ``learning_rate``: a float32 scalar holding a constant rate as state (Keras's
    learning-rate variable, which a callback may assign), else None for
    ``lower_learning_rate``.
    """

    iterations: Value
    shared: Mapping[str, Value] = field(default_factory=dict)
    exclude_from_weight_decay: tuple[str, ...] = ()
    learning_rate: Value | None = None


@dataclass(frozen=True)
class StepValues:
    """The per-update scalars an optimizer's ``_lower_step`` reads, each made once.

    ``learning_rate`` (float32), ``local_step`` (``iterations + 1`` as float32, Keras's
    ``local_step``), ``shared`` (optimizer-wide state before the step) and ``scalars``
    (what the optimizer's ``_lower_prepare`` made, by name).
    """

    learning_rate: Value
    local_step: Value
    shared: Mapping[str, Value]
    scalars: Mapping[str, Value] = field(default_factory=dict)


class LoweredUpdate(NamedTuple):
    """The state after an in-graph update: new parameters and slots (keyed as given), new
    optimizer-wide state by ``shared_slots`` name, and ``iterations + 1``."""

    parameters: dict[str, Value]
    slots: dict[str, dict[str, Value]]
    shared: dict[str, Value]
    iterations: Value


def require_names(
    what: str,
    given: Iterable[str],
    expected: Iterable[str],
    meaning: str = "the parameters the update was built for",
) -> None:
    """KeyError unless ``given`` names exactly ``expected`` (in any order)."""
    given_set, expected_set = set(given), set(expected)
    if given_set != expected_set:
        raise KeyError(
            f"{what} must name exactly {meaning}; "
            f"missing {sorted(expected_set - given_set)}, "
            f"unexpected {sorted(given_set - expected_set)}"
        )


def weight_decay_filter(patterns: Iterable[str]) -> Callable[[str], bool]:
    """Whether a parameter name gets weight decay: Keras's
    ``exclude_from_weight_decay(var_names=...)``, a regex search on the name."""
    listed = list(patterns)
    if not listed:
        return lambda name: True
    pattern = re.compile("|".join(listed))
    return lambda name: pattern.search(name) is None


def toward(b: GraphBuilder, average: Value, x: Value, weight: Value) -> Value:
    """``average + (x - average) * weight``: Keras's moment update ``m += (g - m)(1 - b)``."""
    return b.op("Add", average, b.op("Mul", b.op("Sub", x, average), weight))


def blend(b: GraphBuilder, a: Value, keep: Value, x: Value, add: Value) -> Value:
    """``a * keep + x * add``: Keras's ``rho * a + (1 - rho) * x`` form of a moving average."""
    return b.op("Add", b.op("Mul", a, keep), b.op("Mul", x, add))


class Optimizer(SpecModel):
    """Keras's ``BaseOptimizer`` arguments, shared by every optimizer."""

    #: Keras's update of this optimizer in NumPy, set by ``@rule_for`` on the rule's class.
    update_class: ClassVar[type[OptimizerUpdate] | None] = None

    learning_rate: LearningRate = 0.001
    weight_decay: NonNegative | None = None
    clipnorm: Clip | None = None
    clipvalue: Clip | None = None
    global_clipnorm: Clip | None = None

    @model_validator(mode="after")
    def _one_clip_at_most(self) -> Optimizer:
        # Keras raises the same: its clipping applies only one of them.
        given = {
            name: value
            for name, value in (
                ("clipnorm", self.clipnorm),
                ("clipvalue", self.clipvalue),
                ("global_clipnorm", self.global_clipnorm),
            )
            if value is not None
        }
        if len(given) > 1:
            received = ", ".join(f"{k}={v}" for k, v in given.items())
            raise PydanticCustomError(
                "invalid_arguments",
                "only one of clipnorm, clipvalue and global_clipnorm can be set; got {received}",
                {"received": received},
            )
        return self

    def learning_rate_at(self, step: int) -> float:
        """The learning rate of the update after ``step`` updates (Keras's iterations)."""
        if isinstance(self.learning_rate, LearningRateSchedule):
            return self.learning_rate.learning_rate(step)
        return float(self.learning_rate)

    def update_rule(
        self, parameters: Mapping[str, np.ndarray], exclude_from_weight_decay: Iterable[str] = ()
    ) -> OptimizerUpdate:
        """Keras's update of this optimizer over ``parameters`` (name -> array), in NumPy.

        ``exclude_from_weight_decay`` are regular expressions; a parameter whose name any of
        them matches (``re.search``) gets no weight decay, as Keras's
        ``optimizer.exclude_from_weight_decay(var_names=...)``.
        """
        rule = type(self).update_class
        if rule is None:
            supported = ", ".join(OPTIMIZERS.canonical_name(c) for c in OPTIMIZERS)
            raise TypeError(
                f"no update rule for optimizer {type(self).__name__}; supported: {supported}"
            )
        return rule(self, parameters, exclude_from_weight_decay)

    def fused_kernel(self) -> FusedKernel | NoFusedKernel:
        """The engine's fused kernel that computes this optimizer exactly, or why none does.

        Up to float32 rounding: ``tests/test_fused_optimizer.py`` and
        ``tests/test_export_mobile.py`` compare the kernel with ``update_rule``.
        """
        return NoFusedKernel(NO_KERNEL)

    def gradient_clip(self) -> tuple[str, float] | None:
        """The clipping in effect and its value; Keras checks clipnorm, then
        global_clipnorm, then clipvalue (the config allows only one)."""
        for key in ("clipnorm", "global_clipnorm", "clipvalue"):
            value = getattr(self, key)
            if value is not None:
                return key, float(value)
        return None

    # -- in-graph update -------------------------------------------------------------------

    def slots(self, shape: tuple[int, ...]) -> list[Slot]:
        """Keras's slot variables for a parameter of ``shape``, with their initial values
        (only those this configuration uses: SGD has no momentum at ``momentum: 0``)."""
        return []

    def shared_slots(self) -> list[Slot]:
        """Optimizer-wide state beyond ``iterations`` (Nadam's ``u_product``), as scalars."""
        return []

    def lower_learning_rate(
        self, b: GraphBuilder, iterations: Value, variable: Value | None = None
    ) -> Value:
        """The float32 learning rate of the update after ``iterations`` (int64) updates;
        a constant rate is ``variable`` when the caller holds it as state."""
        if isinstance(self.learning_rate, LearningRateSchedule):
            return self.learning_rate.lower(b, iterations)
        return variable if variable is not None else b.constant(self.learning_rate)

    def lower_update(
        self,
        b: GraphBuilder,
        context: UpdateContext,
        parameters: Mapping[str, Value],
        gradients: Mapping[str, Value],
        slots: Mapping[str, Mapping[str, Value]],
    ) -> LoweredUpdate:
        """One Keras update of every parameter (name -> float32 value) as ONNX ops.

        Keras's order (``BaseOptimizer.apply``): the learning rate at ``iterations``;
        gradients clipped (``clipnorm`` per gradient, ``global_clipnorm`` over all of them,
        or ``clipvalue``); weight decay ``w -= w * wd * lr``; then the optimizer's own step
        per parameter, in float32 with ``local_step = iterations + 1``. ``slots`` holds each
        parameter's ``slots(shape)`` by name; constraints are the caller's, after this.
        """
        require_names("gradients", gradients, parameters)
        require_names("slots", slots, parameters)
        shared_names = [s.name for s in self.shared_slots()]
        require_names("context.shared", context.shared, shared_names, "shared_slots()")
        with b.scope("optimizer"):
            one = b.constant(1, np.int64, hint="one")
            iterations = b.op("Add", context.iterations, one)
            step = StepValues(
                learning_rate=self.lower_learning_rate(
                    b, context.iterations, context.learning_rate
                ),
                local_step=b.op("Cast", iterations, to=FLOAT),
                shared=dict(context.shared),
            )
            names = list(parameters)
            clipped = self._lower_clip(b, [gradients[n] for n in names])
            step = replace(step, scalars=self._lower_prepare(b, step))
        decays = weight_decay_filter(context.exclude_from_weight_decay)
        new_parameters: dict[str, Value] = {}
        new_slots: dict[str, dict[str, Value]] = {}
        for name, g in zip(names, clipped, strict=True):
            with b.scope(f"optimizer/{name}"):
                p = parameters[name]
                if self.weight_decay is not None and decays(name):
                    wd = b.constant(self.weight_decay)
                    p = b.op("Sub", p, b.op("Mul", b.op("Mul", p, wd), step.learning_rate))
                new_parameters[name], new_slots[name] = self._lower_step(
                    b, step, p, g, dict(slots[name])
                )
        shared = {s.name: step.scalars[s.name] for s in self.shared_slots()}
        return LoweredUpdate(new_parameters, new_slots, shared, iterations)

    def _lower_clip(self, b: GraphBuilder, gradients: list[Value]) -> list[Value]:
        return lower_gradient_clip(b, self.gradient_clip(), gradients)

    def _lower_prepare(self, b: GraphBuilder, step: StepValues) -> dict[str, Value]:
        """Scalars computed once per update for every parameter, by name; they include the
        new value of each ``shared_slots`` entry (Keras's ``_backend_update_step`` hook)."""
        return {}

    def _lower_step(
        self,
        b: GraphBuilder,
        step: StepValues,
        p: Value,
        g: Value,
        slots: dict[str, Value],
    ) -> tuple[Value, dict[str, Value]]:
        """Keras's ``update_step`` for one parameter: its new value and new slots."""
        raise NotImplementedError(f"{type(self).__name__} has no in-graph update")


OPTIMIZERS: Registry[Optimizer] = Registry("optimizer", package="specc.optimizers")


def lower_gradient_clip(
    b: GraphBuilder, clip: tuple[str, float] | None, gradients: list[Value]
) -> list[Value]:
    """Keras's ``_clip_gradients`` for ``clip`` (``Optimizer.gradient_clip()``), in ONNX
    ops, with the rounding of ``OptimizerUpdate``'s: the one formula both the step graph
    and the engine's optimizer model (``specc.train.fused_kernel``) put before an update."""
    if clip is None:
        return gradients
    kind, value = clip
    c = b.constant(value)
    if kind == "clipvalue":
        return [b.op("Clip", g, b.constant(-value), c) for g in gradients]
    # keepdims=0 without axes: the sum over every axis, as a scalar.
    squares = [b.op("ReduceSum", b.square(g), keepdims=0) for g in gradients]
    if kind == "clipnorm":
        # values * clipnorm / max(l2norm, clipnorm), per gradient.
        return [
            b.op("Div", b.op("Mul", g, c), b.op("Max", b.op("Sqrt", s), c))
            for g, s in zip(gradients, squares, strict=True)
        ]
    # clip_by_global_norm: clip * min(1/norm, 1/clip) + (norm - norm), which turns an
    # infinite or NaN norm into NaN; 1/clip is rounded once, as Keras's constant is.
    norm = b.op("Sqrt", b.op("Sum", *squares))
    inverse = b.op("Div", b.constant(1.0), norm)
    scale = b.op("Mul", c, b.op("Min", inverse, b.constant(np.float32(1) / np.float32(value))))
    scale = b.op("Add", scale, b.op("Sub", norm, norm))
    return [b.op("Mul", g, scale) for g in gradients]
