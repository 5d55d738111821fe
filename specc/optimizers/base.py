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
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, Union

import numpy as np
from pydantic import Discriminator, Field, Tag, model_validator
from pydantic_core import PydanticCustomError

from specc.registry import Registry, SpecModel
from specc.schedules import LearningRateSchedule, ScheduleField

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


OPTIMIZERS: Registry[Optimizer] = Registry("optimizer")
