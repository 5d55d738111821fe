"""What every callback shares: the registry, Keras's hooks, and the run they act on.

A config (``CallbackConfig``, one per ``train.callbacks`` entry) is validated with the spec;
``start()`` makes its runtime (``Callback``), fresh for each run, whose hooks ``fit`` calls
in Keras's order through a ``CallbackList``: ``on_train_begin``, then per epoch
``on_epoch_begin``, ``on_train_batch_end`` after each batch's update, ``on_epoch_end`` with
the epoch's logs (``val_`` values included; a callback may add to them, as
ReduceLROnPlateau adds ``learning_rate``, before the History records them), and
``on_train_end``. A callback acts on the run through ``TrainingControl``: the parameters,
the learning rate, files in the run's folder, and ``stop_training``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, Protocol

from pydantic import Field

from specc.lazy_numpy import np
from specc.registry import Registry, SpecModel

#: One epoch's logs: a loss, a metric (a number, or one per class) or the learning rate.
Logs = dict[str, Any]


class CallbackError(Exception):
    """A callback cannot go on for a reason in the spec; ``field`` is the key of the
    callback's entry the problem is in (empty: the entry), ``index`` its place in
    ``train.callbacks`` (set by ``CallbackList``)."""

    def __init__(self, message: str, field: tuple[str | int, ...] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.index: int | None = None


class TrainingControl(Protocol):
    """What a callback may ask of the run it is part of."""

    #: Set to end training after the current epoch (Keras's ``model.stop_training``).
    stop_training: bool
    #: The run's folder: every file a callback writes lies inside it.
    folder: Path
    #: Each metric's history key (without ``val_``) -> "up" or "down" (Keras's
    #: ``_direction``), for a monitor in "auto" mode.
    directions: Mapping[str, str]

    def get_weights(self) -> dict[str, np.ndarray]:
        """Copies of every parameter (Keras's ``model.get_weights``)."""
        ...

    def set_weights(self, weights: Mapping[str, np.ndarray]) -> None:
        """Put parameters back (Keras's ``model.set_weights``)."""
        ...

    def get_learning_rate(self) -> float:
        """The optimizer's learning rate, as its float32 variable holds it."""
        ...

    def set_learning_rate(self, value: float) -> None:
        """Assign the optimizer's learning rate (rounded to float32, as Keras's variable)."""
        ...

    def file(self, relative: str) -> Path:
        """Where a callback writes ``relative`` (a checked relative path), its folders made;
        ``CallbackError`` for a name that leaves the folder or is one of the run's own."""
        ...

    def previous(self, relative: str) -> Path | None:
        """``relative`` in the folder an earlier run left, if it is a file there (for
        CSVLogger's ``append``)."""
        ...

    def save_weights(self, path: Path) -> None:
        """Write the current weights to ``path`` in specc's weights format."""
        ...

    def save_model(self, path: Path) -> None:
        """Write the inference model with the current weights to ``path`` (ONNX)."""
        ...


class Callback:
    """A callback's runtime: Keras's hooks, each a no-op unless overridden."""

    control: TrainingControl
    #: Whether ``on_train_batch_end`` does anything (the epoch's running means are worked
    #: out after every batch only for callbacks that read them).
    batch_hooks = False

    def on_train_begin(self, control: TrainingControl) -> None:
        """Training starts; ``control`` is the run (kept as ``self.control``)."""
        self.control = control

    def on_epoch_begin(self, epoch: int) -> None:
        """Epoch ``epoch`` (0-based) starts."""

    def on_train_batch_end(self, batch: int, logs: Logs) -> None:
        """Batch ``batch`` (0-based, within its epoch) was trained; ``logs`` hold the
        epoch's running means so far."""

    def on_epoch_end(self, epoch: int, logs: Logs) -> None:
        """Epoch ``epoch`` ended; ``logs`` are its History entries, which a callback may
        add to."""

    def on_train_end(self, logs: Logs) -> None:
        """Training ended: every epoch ran, or a callback stopped it (as Keras, not when
        it was interrupted or met a non-finite loss)."""

    def close(self) -> None:
        """Release files, however training ended."""

    # -- checkpoints -----------------------------------------------------------------

    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """What a resumed run needs of this callback: JSON values and arrays."""
        return {}, {}

    def set_state(self, values: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> None:
        """Go on from a ``get_state`` read back from a checkpoint (not trusted: a value of
        the wrong type raises ``ValueError``); called after ``on_train_begin``."""

    def resume(
        self,
        control: TrainingControl,
        values: Mapping[str, Any],
        arrays: Mapping[str, np.ndarray],
    ) -> None:
        """``on_train_begin`` of a resumed run: the callback's files are back in the
        run's folder as the checkpoint saved them."""
        self.on_train_begin(control)
        self.set_state(values, arrays)


def state_number(values: Mapping[str, Any], key: str) -> float | None:
    """A checkpoint's number (or null) at ``key``; ``ValueError`` for anything else."""
    value = values.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{key} must be a number or null; got {value!r}"[:200])
    return float(value)


def state_count(values: Mapping[str, Any], key: str, nullable: bool = False) -> int | None:
    """A checkpoint's non-negative integer at ``key`` (or null where ``nullable``)."""
    value = values.get(key)
    if value is None and nullable:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{key} must be a non-negative integer; got {value!r}"[:200])
    return value


def checked_weights(
    model: Mapping[str, np.ndarray], given: Mapping[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """``given`` weights from a checkpoint, with exactly ``model``'s names, shapes and
    dtypes; ``ValueError`` otherwise."""
    if set(given) != set(model):
        raise ValueError("the saved best weights do not name the model's parameters")
    for name, array in model.items():
        if given[name].shape != array.shape or given[name].dtype != array.dtype:
            raise ValueError(
                f"the saved best weight {name} must be {array.dtype} {array.shape}; "
                f"got {given[name].dtype} {given[name].shape}"
            )
    return {name: np.array(given[name]) for name in model}


class CallbackConfig(SpecModel):
    """Base of every callback's config: Keras's arguments, and the runtime they make."""

    def start(self) -> Callback:
        """A fresh runtime for one training run."""
        raise NotImplementedError(f"{type(self).__name__} has no runtime")

    def monitored(self) -> str | None:
        """The log key this callback watches, if any (checked against the compile
        section's keys before training)."""
        return None

    def log_fields(self) -> list[str]:
        """Log keys a file name pattern of this callback reads (checked like ``monitored``)."""
        return []


CALLBACKS: Registry[CallbackConfig] = Registry("callback", package="specc.callbacks")

Mode = Literal["auto", "min", "max"]
#: A number of epochs (patience, cooldown, warm-up).
Count = Annotated[int, Field(ge=0)]
#: Keras prints a line when a callback acts; specc's progress display shows the epochs, so
#: it is accepted and prints nothing.
Verbose = Literal[0, 1]


class MonitorConfig(CallbackConfig):
    """Keras's ``MonitorCallback`` arguments: the log key watched and which way is better
    ("auto": from the key, see ``Monitor``). Keras falls back to "auto" for an unknown
    mode with a warning; here it is an error."""

    monitor: str = "val_loss"
    mode: Mode = "auto"

    def monitored(self) -> str | None:
        """The log key watched."""
        return self.monitor


class CallbackList:
    """The run's callbacks, called in the spec's order; a ``CallbackError`` leaves with
    the index of the entry that raised it."""

    def __init__(self, callbacks: Sequence[Callback], control: TrainingControl) -> None:
        self.callbacks = list(callbacks)
        self.control = control

    def _each(self, hook: str, *args: Any) -> None:
        for index, callback in enumerate(self.callbacks):
            try:
                getattr(callback, hook)(*args)
            except CallbackError as error:
                error.index = index
                raise

    def on_train_begin(self) -> None:
        """Training starts."""
        self._each("on_train_begin", self.control)

    def get_state(self) -> list[tuple[dict[str, Any], dict[str, np.ndarray]]]:
        """Each callback's ``get_state``, in order."""
        return [callback.get_state() for callback in self.callbacks]

    def resume(self, states: Sequence[tuple[Mapping[str, Any], Mapping[str, np.ndarray]]]) -> None:
        """Training resumes: each callback takes its state back (``states`` in order)."""
        for index, (callback, (values, arrays)) in enumerate(
            zip(self.callbacks, states, strict=True)
        ):
            try:
                try:
                    callback.resume(self.control, values, arrays)
                except ValueError as error:
                    raise CallbackError(
                        f"the checkpoint's state of this callback: {error}"
                    ) from None
            except CallbackError as error:
                error.index = index
                raise

    def on_epoch_begin(self, epoch: int) -> None:
        """An epoch starts (0-based)."""
        self._each("on_epoch_begin", epoch)

    def on_train_batch_end(self, batch: int, logs: Logs) -> None:
        """A batch was trained (0-based within its epoch)."""
        self._each("on_train_batch_end", batch, logs)

    def on_epoch_end(self, epoch: int, logs: Logs) -> None:
        """An epoch ended; ``logs`` may grow."""
        self._each("on_epoch_end", epoch, logs)

    def on_train_end(self, logs: Logs) -> None:
        """Training ended."""
        self._each("on_train_end", logs)

    @property
    def batch_hooks(self) -> bool:
        """Whether any callback acts after each batch."""
        return any(c.batch_hooks for c in self.callbacks)

    def close(self) -> None:
        """Release every callback's files, however training ended."""
        for callback in self.callbacks:
            callback.close()

    @property
    def stop_training(self) -> bool:
        """Whether a callback asked training to end."""
        return self.control.stop_training


class Monitor:
    """Keras's ``MonitorCallback``: which way the monitored value improves, and by how much.

    ``min_delta`` is taken as its absolute value and negated for a "min" direction, so an
    improvement is ``current - min_delta`` beyond the reference (``current + |d| < best`` or
    ``current - |d| > best``); in "auto" mode the direction is "min" for ``loss`` and
    ``val_loss``, else the direction of the metric the key names (without ``val_``).
    """

    def __init__(self, key: str, mode: Mode, min_delta: float = 0.0) -> None:
        self.key = key
        self.mode = mode
        self.min_delta = abs(min_delta)
        self.greater: bool | None = None

    def resolve(self, directions: Mapping[str, str]) -> None:
        """Fix the direction (once; Keras's ``_set_monitor_op``)."""
        if self.greater is not None:
            return
        greater = monitor_greater(self.key, self.mode, directions)
        if greater is None:
            raise CallbackError(
                f"cannot tell whether monitor '{self.key}' should be maximized or minimized; "
                "set mode to 'max' or 'min'",
                ("monitor",),
            )
        self.greater = greater
        if not greater:
            self.min_delta *= -1

    def read(self, logs: Logs) -> float | None:
        """The monitored value in ``logs`` (None when they lack it, as Keras skips the
        epoch); a per-class value cannot be compared and is refused."""
        value = logs.get(self.key)
        if value is None:
            return None
        number = scalar(value)
        if number is None:
            raise CallbackError(
                f"monitor '{self.key}' holds one value per class, which cannot be compared; "
                "monitor a metric with one value (F1Score with an average)",
                ("monitor",),
            )
        return number

    def improves(self, current: float, reference: float | None) -> bool:
        """Keras's ``_is_improvement``: True against no reference."""
        if reference is None:
            return True
        shifted = current - self.min_delta
        return bool(shifted > reference) if self.greater else bool(shifted < reference)


def monitor_greater(key: str, mode: Mode, directions: Mapping[str, str]) -> bool | None:
    """Whether larger values of ``key`` are better, or None when "auto" cannot tell."""
    if mode != "auto":
        return mode == "max"
    name = key.removeprefix("val_")
    found = False if name == "loss" else None
    direction = directions.get(name)
    if direction is not None:
        found = direction == "up"
    return found


def scalar(value: Any) -> float | None:
    """A log value as a number, or None for a per-class list."""
    if isinstance(value, list | tuple | np.ndarray) and np.ndim(value) > 0:
        return None
    return float(value)
