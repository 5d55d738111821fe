"""Optimizers: Keras 3's ``keras.optimizers``, under the names ``optimizers.get`` accepts.

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

from typing import Annotated, Any, Literal, Union

from pydantic import Discriminator, Field, Tag, model_validator
from pydantic_core import PydanticCustomError

from specc.registry import Registry, SpecModel
from specc.schedules import LearningRateSchedule, ScheduleField

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


class Optimizer(SpecModel):
    """Keras's ``BaseOptimizer`` arguments, shared by every optimizer."""

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


OPTIMIZERS: Registry[Optimizer] = Registry("optimizer")


@OPTIMIZERS.register
class SGD(Optimizer):
    """Gradient descent with optional (Nesterov) momentum."""

    type: Literal["SGD", "sgd"] = "SGD"
    learning_rate: LearningRate = 0.01
    # Keras raises unless 0 <= momentum <= 1.
    momentum: UnitInterval = 0.0
    nesterov: bool = False


@OPTIMIZERS.register
class Adam(Optimizer):
    """Adam (Kingma and Ba), with Keras's "epsilon hat" and optional AMSGrad."""

    type: Literal["Adam", "adam"] = "Adam"
    beta_1: Beta = 0.9
    beta_2: Beta = 0.999
    epsilon: NonNegative = 1e-7
    amsgrad: bool = False


@OPTIMIZERS.register
class AdamW(Optimizer):
    """Adam with decoupled weight decay; Keras requires a weight decay here."""

    type: Literal["AdamW", "adamw"] = "AdamW"
    # Keras raises when AdamW gets weight_decay=None, so null is not accepted.
    weight_decay: NonNegative = 0.004
    beta_1: Beta = 0.9
    beta_2: Beta = 0.999
    epsilon: NonNegative = 1e-7
    amsgrad: bool = False


@OPTIMIZERS.register
class RMSprop(Optimizer):
    """RMSprop, optionally centered, with plain (not Nesterov) momentum."""

    type: Literal["RMSprop", "rmsprop"] = "RMSprop"
    rho: UnitInterval = 0.9
    momentum: UnitInterval = 0.0
    epsilon: NonNegative = 1e-7
    centered: bool = False


@OPTIMIZERS.register
class Adagrad(Optimizer):
    """Adagrad: per-parameter rates from the running sum of squared gradients."""

    type: Literal["Adagrad", "adagrad"] = "Adagrad"
    # Keras documents it as "must be non-negative".
    initial_accumulator_value: NonNegative = 0.1
    epsilon: NonNegative = 1e-7


@OPTIMIZERS.register
class Adadelta(Optimizer):
    """Adadelta (Zeiler), with Keras's settable learning rate."""

    type: Literal["Adadelta", "adadelta"] = "Adadelta"
    rho: UnitInterval = 0.95
    epsilon: NonNegative = 1e-7


@OPTIMIZERS.register
class Adamax(Optimizer):
    """Adamax: Adam with the infinity norm."""

    type: Literal["Adamax", "adamax"] = "Adamax"
    beta_1: Beta = 0.9
    beta_2: UnitInterval = 0.999
    epsilon: NonNegative = 1e-7


@OPTIMIZERS.register
class Nadam(Optimizer):
    """Nadam: Adam with Nesterov momentum (Dozat's momentum schedule)."""

    type: Literal["Nadam", "nadam"] = "Nadam"
    beta_1: Beta = 0.9
    beta_2: Beta = 0.999
    epsilon: NonNegative = 1e-7


#: The field type of ``compile.optimizer``: a name or a mapping with ``type``.
OptimizerField = OPTIMIZERS.discriminated_union()
