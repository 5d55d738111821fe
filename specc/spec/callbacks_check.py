"""``train.callbacks`` against the ``compile`` section: what only both together can tell.

- a ``monitor`` (and a ModelCheckpoint pattern's fields) must name a key an epoch's logs
  can hold: ``loss``, each output's ``<output>_loss`` (several outputs), each metric's
  history name, their ``val_`` twins, and ``learning_rate`` when a ReduceLROnPlateau adds
  it; Keras finds a wrong name only when it warns, epoch after epoch, or fails to format;
- in ``mode: auto`` the monitored key must have a direction (``loss``, or a metric's
  ``direction``), as Keras's ``MonitorCallback`` raises otherwise;
- ReduceLROnPlateau cannot set the learning rate of an optimizer that follows a schedule:
  Keras 3 raises ``TypeError`` when it tries, here it is refused before training.
"""

from __future__ import annotations

from specc.callbacks.base import CallbackConfig, monitor_greater
from specc.callbacks.reduce_lr_on_plateau import ReduceLROnPlateau
from specc.diagnostics import Diagnostic, did_you_mean
from specc.schedules import LearningRateSchedule
from specc.spec.compile import (
    CompileConfig,
    TrainConfig,
    losses_by_output,
    metric_history_keys,
)

MONITOR = "SPC220-callback-monitor"
CALLBACK_OPTIMIZER = "SPC221-callback-optimizer"
LEARNING_RATE = "learning_rate"


def history_directions(compile: CompileConfig, outputs: list[str]) -> dict[str, str]:
    """Each key a training epoch logs (no ``val_``) -> "up", "down" or "" (no direction)."""
    several = len(outputs) > 1
    keys = {"loss": "down"}
    if several:
        for output, loss in losses_by_output(compile, outputs).items():
            if loss is not None:
                keys[f"{output}_loss"] = ""
    for _, metric, key in metric_history_keys(compile, outputs):
        keys[key] = metric.direction or ""
    return keys


def check_callbacks(
    train: TrainConfig, compile: CompileConfig, outputs: list[str]
) -> list[Diagnostic]:
    """Every problem of ``train.callbacks`` that depends on the compile section."""
    callbacks = list(train.callbacks)
    directions = history_directions(compile, outputs)
    trained = list(directions)
    if any(isinstance(c, ReduceLROnPlateau) for c in callbacks):
        trained.append(LEARNING_RATE)
    known = [*trained, *(f"val_{k}" for k in trained if k != LEARNING_RATE)]
    found: list[Diagnostic] = []
    for index, callback in enumerate(callbacks):
        at = ("train", "callbacks", index)
        found += _check_monitor(callback, at, known, directions)
        found += [
            Diagnostic(
                MONITOR,
                f"filepath names the field '{name}', which no epoch's logs hold"
                f"{did_you_mean(name, [*known, 'epoch', 'batch'])}; fields are epoch, batch "
                "and the log keys",
                (*at, "filepath"),
            )
            for name in callback.log_fields()
            if name not in known
        ]
        if isinstance(callback, ReduceLROnPlateau) and isinstance(
            compile.optimizer.learning_rate, LearningRateSchedule
        ):
            message = (
                "ReduceLROnPlateau sets the optimizer's learning rate, but "
                "compile.optimizer.learning_rate is a schedule, whose rate cannot be set "
                "(Keras raises TypeError); give a constant learning_rate, or drop the callback"
            )
            found.append(Diagnostic(CALLBACK_OPTIMIZER, message, at))
    return found


def _check_monitor(
    callback: CallbackConfig,
    at: tuple[str | int, ...],
    known: list[str],
    directions: dict[str, str],
) -> list[Diagnostic]:
    key = callback.monitored()
    if key is None:
        return []
    if key not in known:
        choices = ", ".join(known) if len(known) <= 10 else ""
        listed = f"; the logs hold {choices}" if choices else ""
        message = (
            f"monitor '{key}' is not a key of any epoch's logs{did_you_mean(key, known)}{listed}"
        )
        return [Diagnostic(MONITOR, message, (*at, "monitor"))]
    mode = getattr(callback, "mode", "auto")
    usable = {k: d for k, d in directions.items() if d}
    if monitor_greater(key, mode, usable) is None:
        message = (
            f"cannot tell whether monitor '{key}' should be maximized or minimized in mode "
            "'auto' (Keras raises too); set mode to 'max' or 'min'"
        )
        return [Diagnostic(MONITOR, message, (*at, "monitor"))]
    return []
