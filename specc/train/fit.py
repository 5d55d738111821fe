"""fit: Keras's training loop over a training backend (``specc.train.backend``), with
Keras's History.

Per batch: ``train_step`` (forward and backward, the losses and the metrics' statistics
before the update), then, once the loss has been looked at, ``commit`` (the optimizer's exact Keras
update, the constraints and the moving statistics: inside the step graph on the standard
backend, in the engine and on its buffers on ort-training). An epoch's ``loss`` (and each
``<output>_loss`` and metric) is the mean over its batches weighted by batch size, of values
computed in each batch's forward pass before its update; ``val_`` values are computed after
the epoch.

Training ends early in two ways, both checked between batches (the engine may be in C code
during a step, so a signal handler only sets a flag): a ``StopRequest`` (Ctrl-C) ends it
after the current batch, and a non-finite batch loss ends it at once, as Keras's
``TerminateOnNaN`` callback does, unless ``FitOptions.terminate_on_nan`` is off.

Checkpoints: ``checkpoints`` (``specc.train.checkpoint_run``) is handed a ``FitState``
after every epoch, after the optimizer steps its ``due`` names and when a ``StopRequest``
ends the run mid-epoch; ``resume`` (a ``FitState`` read back) continues from there: the shuffling
generator is put back as it was when that epoch began, its permutation redrawn and the
batches already trained skipped, and the epoch's partial averages go on adding up.

Callbacks (``specc.callbacks``, a ``CallbackList``) are called where Keras's ``fit`` calls
them: at train begin, at each epoch's begin, after each batch's update, at each epoch's end
with its logs (``val_`` values included) before the History records them, and at train end
when every epoch ran or a callback asked to stop (``stop_training``, checked after each
epoch's end), not after an interruption or a non-finite loss.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from specc.callbacks import CallbackList
from specc.constraints import Constraint
from specc.metrics import Totals
from specc.pipeline import CompiledModel
from specc.spec.compile import CompileConfig
from specc.train.backend import TrainingBackend
from specc.train.data import Batch, Dataset
from specc.train.data_prefetch import prefetched
from specc.train.data_weights import unit_weights
from specc.train.graph import TOTAL_LOSS, TrainingGraph

# One epoch's value of a loss or metric: a number, or a list of one per class.
HistoryValue = float | list[float]


@dataclass
class FitOptions:
    """Keras ``fit`` arguments."""

    epochs: int = 1
    batch_size: int = 32
    shuffle: bool = True
    seed: int | None = None
    # Force Keras's update in NumPy even where the engine's fused kernel is exact (to
    # measure both routes); the environment variable SPECC_NUMPY_UPDATES=1 does the same.
    numpy_updates: bool = False
    # Stop at the first batch whose loss is NaN or infinite (Keras's TerminateOnNaN).
    terminate_on_nan: bool = True


class StopRequest:
    """Asks ``fit`` to end after the current batch; set from a SIGINT handler.

    ``fit`` marks it ``active`` while it trains, so that the handler can tell whether
    training can still end cleanly (then it sets ``requested``) or must be aborted.
    """

    def __init__(self) -> None:
        self.requested = False
        self.active = False


@dataclass
class FitResult:
    """How ``fit`` ended, and Keras's History (a list per key, one value per epoch that
    ran to its end)."""

    history: dict[str, list[HistoryValue]]
    epochs: int
    epochs_completed: int = 0
    # Batches trained in all (optimizer updates applied), the last epoch's part included.
    steps_trained: int = 0
    # None: every epoch ran; "interrupted" (a StopRequest); "non-finite loss"; "callback"
    # (a callback's stop_training, e.g. EarlyStopping: a complete run).
    stopped: str | None = None
    # Where it stopped: 1-based epoch and batch, and the epoch's batch count.
    epoch: int = 0
    step: int = 0
    steps: int = 0
    loss: float | None = None
    # The last complete epoch's logs (what callbacks' on_train_end is given).
    logs: dict[str, HistoryValue] = field(default_factory=dict)

    @property
    def where(self) -> str:
        """``epoch 3/200, batch 5/8``."""
        return f"epoch {self.epoch}/{self.epochs}, batch {self.step}/{self.steps}"


@dataclass
class EpochLog:
    """What the progress display is told after each batch and epoch."""

    epoch: int
    epochs: int
    step: int
    steps: int
    seconds: float
    values: dict[str, HistoryValue] = field(default_factory=dict)


class _Averages:
    """Keras's batch-size-weighted running means of the losses, and each metric's
    statistics summed over the batches (the graph computes a batch's; see
    ``specc.train.graph``).

    The totals live here rather than as state in the graph: the ort-training engine carries
    no state but parameters, a step whose loss is not finite must not count, and a few
    numbers per metric (AUC's 4 x 200 the most) cost nothing to add on the host."""

    def __init__(self, training: TrainingGraph, prefix: str = "") -> None:
        self.training = training
        self.prefix = prefix
        self.sums: dict[str, float] = {}
        self.count = 0
        self.several = len(training.predictions) > 1
        self.metrics = [(m.key, m.statistics, Totals(m.metric)) for m in training.metrics]

    def update(self, outputs: dict[str, np.ndarray], batch: Batch) -> None:
        size = batch.size
        self.count += size
        losses = {TOTAL_LOSS: outputs[TOTAL_LOSS]}
        if self.several:
            for name in self.training.output_losses.values():
                losses[name] = outputs[name]
        for key, value in losses.items():
            self.sums[key] = self.sums.get(key, 0.0) + float(value) * size
        for _, statistics, totals in self.metrics:
            totals.add([outputs[name] for name in statistics])

    def state(self) -> tuple[dict[str, float], int, list[list[np.ndarray] | None]]:
        """The partial sums so far: loss sums, the samples counted, each metric's totals."""
        totals = [None if t.sums is None else [a.copy() for a in t.sums] for *_, t in self.metrics]
        return dict(self.sums), self.count, totals

    def load(
        self, sums: dict[str, float], count: int, totals: list[list[np.ndarray] | None]
    ) -> None:
        """Go on from a ``state()`` (checked by the caller against this graph)."""
        self.sums, self.count = dict(sums), count
        for (*_, metric_totals), arrays in zip(self.metrics, totals, strict=True):
            metric_totals.sums = None if arrays is None else [a.copy() for a in arrays]

    def values(self) -> dict[str, HistoryValue]:
        out = {self.prefix + k: v / max(self.count, 1) for k, v in self.sums.items()}
        for key, _, totals in self.metrics:
            value = totals.result()
            # A per-class metric (F1Score without ``average``) reports one value per class.
            out[self.prefix + key] = value if isinstance(value, list) else float(value)
        return out


@dataclass
class FitState:
    """Where a run stands between two batches, with everything ``fit`` keeps on the host
    (the backend's state and the callbacks' are saved beside it by the checkpoint)."""

    # The epoch the next batch belongs to (0-based) and the batches of it already trained.
    epoch: int
    step: int
    steps_trained: int
    # The shuffling generator's ``bit_generator.state`` when that epoch began.
    shuffle_state: dict[str, Any]
    history: dict[str, list[HistoryValue]]
    # The last complete epoch's logs (for ``on_train_end``).
    logs: dict[str, HistoryValue]
    # The epoch's partial averages (``_Averages.state``): empty at an epoch's start.
    sums: dict[str, float] = field(default_factory=dict)
    count: int = 0
    totals: list[list[np.ndarray] | None] = field(default_factory=list)
    # A callback stopped the run (EarlyStopping): nothing is left to train.
    finished: bool = False
    # Each callback's state (``Callback.get_state``: JSON values and arrays), in order.
    callbacks: list[tuple[dict[str, Any], dict[str, np.ndarray]]] = field(default_factory=list)


class Checkpoints:
    """Where ``fit`` hands its state: after every epoch, after the optimizer steps that
    ``due`` names, and when a ``StopRequest`` ends an epoch early."""

    def due(self, steps_trained: int) -> bool:
        """Whether a checkpoint is wanted after this many optimizer steps."""
        return False

    def save(self, state: FitState, epoch_end: bool = False, interrupted: bool = False) -> None:
        """Write a checkpoint of the run at ``state`` (and of the backend, the callbacks)."""


def fit(
    compiled: CompiledModel,
    training: TrainingGraph,
    session: TrainingBackend,
    train_data: Dataset,
    validation_data: Dataset | None,
    config: CompileConfig,
    options: FitOptions,
    on_progress: Callable[[EpochLog, bool], None] | None = None,
    stop: StopRequest | None = None,
    callbacks: CallbackList | None = None,
    checkpoints: Checkpoints | None = None,
    resume: FitState | None = None,
) -> FitResult:
    """Train for ``options.epochs`` epochs, or until ``stop`` is requested, a callback
    stops it or the loss is not finite; return the History and how training ended.
    ``resume`` continues a run from a checkpoint's state (the backend's and the callbacks'
    already put back by the caller)."""
    rng = np.random.default_rng(options.seed)
    session.use_optimizer(config.optimizer, options.numpy_updates, constraints_of(compiled))
    steps = -(-len(train_data) // options.batch_size)
    result = FitResult({}, options.epochs, steps=steps)
    first_epoch, skip = 0, 0
    if resume is not None:
        rng.bit_generator.state = copy.deepcopy(resume.shuffle_state)
        result.history = copy.deepcopy(resume.history)
        result.logs = dict(resume.logs)
        result.steps_trained = resume.steps_trained
        result.epochs_completed = len(next(iter(resume.history.values()), []))
        first_epoch, skip = resume.epoch, resume.step
    if stop is not None:
        stop.active = True
    if callbacks is not None and resume is not None:
        callbacks.resume(resume.callbacks)
    elif callbacks is not None:
        callbacks.on_train_begin()
    finished = resume is not None and resume.finished
    if finished and result.epochs_completed < options.epochs:
        result.stopped = "callback"
    for epoch in range(first_epoch, 0 if finished else options.epochs):
        if callbacks is not None:
            callbacks.on_epoch_begin(epoch)
        started = time.perf_counter()
        averages = _Averages(training)
        # The permutation is drawn from this state: a checkpoint inside the epoch keeps it.
        epoch_start = copy.deepcopy(rng.bit_generator.state)
        if skip:
            assert resume is not None
            averages.load(resume.sums, resume.count, resume.totals)
        # Prepared on a background thread while the previous step runs. Closed on the way
        # out, an exception included: the exception's traceback keeps this frame, and
        # with it the generator, alive until the interpreter shuts down, when its thread
        # can no longer be joined.
        with closing(
            prefetched(train_data.batches(options.batch_size, options.shuffle, rng))
        ) as batches:
            _skip(batches, skip)
            for step, batch in enumerate(batches, start=skip + 1):
                result.epoch, result.step = epoch + 1, step
                feeds = {**batch.inputs, **_target_feeds(training, batch)}
                outputs = session.train_step(feeds)
                loss = float(outputs[TOTAL_LOSS])
                if options.terminate_on_nan and not math.isfinite(loss):
                    # Before this batch's update: the weights are the last finite ones.
                    result.stopped, result.loss = "non-finite loss", loss
                    return result
                averages.update(outputs, batch)
                session.commit(outputs)
                result.steps_trained += 1
                if callbacks is not None and callbacks.batch_hooks:
                    callbacks.on_train_batch_end(step - 1, averages.values())
                if on_progress is not None:
                    log = EpochLog(
                        epoch + 1, options.epochs, step, steps, time.perf_counter() - started
                    )
                    log.values = averages.values()
                    on_progress(log, False)
                due = checkpoints is not None and checkpoints.due(result.steps_trained)
                interrupted = stop is not None and stop.requested and step < steps
                if checkpoints is not None and step < steps and (due or interrupted):
                    state = _state(result, epoch, step, epoch_start, averages)
                    checkpoints.save(state, interrupted=interrupted)
                if interrupted:
                    # An unfinished epoch has no History entry, as when Keras's fit is
                    # interrupted; the weights hold its batches' updates.
                    result.stopped = "interrupted"
                    return result
        skip = 0
        values = averages.values()
        if validation_data is not None and len(validation_data):
            values.update(evaluate(training, session, validation_data, options.batch_size))
        if callbacks is not None:
            # Before the History records the logs: a callback may add to them.
            callbacks.on_epoch_end(epoch, values)
        result.logs = values
        for key, value in values.items():
            result.history.setdefault(key, []).append(value)
        result.epochs_completed = epoch + 1
        if on_progress is not None:
            log = EpochLog(epoch + 1, options.epochs, steps, steps, time.perf_counter() - started)
            log.values = values
            on_progress(log, True)
        stopping = callbacks is not None and callbacks.stop_training
        if checkpoints is not None:
            # The generator's state now is the one the next epoch's permutation starts from.
            state = _state(result, epoch + 1, 0, rng.bit_generator.state, _Averages(training))
            state.finished = stopping
            checkpoints.save(state, epoch_end=True)
        if stopping:
            result.stopped = "callback" if epoch + 1 < options.epochs else None
            break
        if stop is not None and stop.requested and epoch + 1 < options.epochs:
            result.stopped = "interrupted"
            return result
    if callbacks is not None:
        # Not after an interruption or a non-finite loss (returned above), as in Keras.
        callbacks.on_train_end(result.logs)
    return result


def _skip(batches: Iterator[Batch], count: int) -> None:
    """Take the first ``count`` of ``batches``: those a resumed epoch already trained."""
    for _ in range(count):
        next(batches, None)


def _state(
    result: FitResult,
    epoch: int,
    step: int,
    shuffle_state: dict[str, Any],
    averages: _Averages | None = None,
) -> FitState:
    state = FitState(
        epoch,
        step,
        result.steps_trained,
        copy.deepcopy(shuffle_state),
        copy.deepcopy(result.history),
        dict(result.logs),
    )
    if averages is not None:
        state.sums, state.count, state.totals = averages.state()
    return state


def evaluate(
    training: TrainingGraph,
    session: TrainingBackend,
    data: Dataset,
    batch_size: int,
    prefix: str = "val_",
) -> dict[str, HistoryValue]:
    """Losses and metrics over ``data`` in inference mode, as Keras's ``evaluate``."""
    averages = _Averages(training, prefix)
    for batch in data.batches(batch_size, False, None):
        outputs = session.eval_step({**batch.inputs, **_target_feeds(training, batch)})
        averages.update(outputs, batch)
    return averages.values()


def _target_feeds(training: TrainingGraph, batch: Batch) -> dict[str, np.ndarray]:
    """The labels and, where the graph weighs an output's loss, the sample weights (1 for
    a batch without any: Keras's unweighted loss)."""
    feeds = {name: batch.targets[output] for output, (name, _) in training.targets.items()}
    for output, name in training.sample_weights.items():
        weights = batch.weights.get(output)
        feeds[name] = unit_weights(batch.size) if weights is None else weights
    return feeds


def constraints_of(compiled: CompiledModel) -> dict[str, Constraint]:
    """The parameters' constraints, by ONNX name (applied after each update)."""
    return {p.onnx_name: p.constraint for p in compiled.typed.parameters if p.constraint}
