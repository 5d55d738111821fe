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

Callbacks (``specc.callbacks``, a ``CallbackList``) are called where Keras's ``fit`` calls
them: at train begin, at each epoch's begin, after each batch's update, at each epoch's end
with its logs (``val_`` values included) before the History records them, and at train end
when every epoch ran or a callback asked to stop (``stop_training``, checked after each
epoch's end), not after an interruption or a non-finite loss.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

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

    def values(self) -> dict[str, HistoryValue]:
        out = {self.prefix + k: v / max(self.count, 1) for k, v in self.sums.items()}
        for key, _, totals in self.metrics:
            value = totals.result()
            # A per-class metric (F1Score without ``average``) reports one value per class.
            out[self.prefix + key] = value if isinstance(value, list) else float(value)
        return out


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
) -> FitResult:
    """Train for ``options.epochs`` epochs, or until ``stop`` is requested, a callback
    stops it or the loss is not finite; return the History and how training ended."""
    rng = np.random.default_rng(options.seed)
    session.use_optimizer(config.optimizer, options.numpy_updates, _constraints(compiled))
    steps = -(-len(train_data) // options.batch_size)
    result = FitResult({}, options.epochs, steps=steps)
    if stop is not None:
        stop.active = True
    if callbacks is not None:
        callbacks.on_train_begin()
    for epoch in range(options.epochs):
        if callbacks is not None:
            callbacks.on_epoch_begin(epoch)
        started = time.perf_counter()
        averages = _Averages(training)
        # Prepared on a background thread while the previous step runs.
        batches = prefetched(train_data.batches(options.batch_size, options.shuffle, rng))
        for step, batch in enumerate(batches, start=1):
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
            if stop is not None and stop.requested and step < steps:
                # An unfinished epoch has no History entry, as when Keras's fit is
                # interrupted; the weights hold its batches' updates.
                result.stopped = "interrupted"
                return result
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
        if callbacks is not None and callbacks.stop_training:
            result.stopped = "callback" if epoch + 1 < options.epochs else None
            break
        if stop is not None and stop.requested and epoch + 1 < options.epochs:
            result.stopped = "interrupted"
            return result
    if callbacks is not None:
        # Not after an interruption or a non-finite loss (returned above), as in Keras.
        callbacks.on_train_end(result.logs)
    return result


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


def _constraints(compiled: CompiledModel) -> dict[str, Constraint]:
    return {p.onnx_name: p.constraint for p in compiled.typed.parameters if p.constraint}
