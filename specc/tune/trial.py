"""One trial of a sweep: a real ``specc train`` run of the spec with the sampled values.

A trial is a Ray Tune ``Trainable`` whose step is one epoch. ``train_spec`` (the function
``specc train`` runs) trains on a thread of the trial's actor; at the end of each epoch its
progress hook hands the epoch's history to ``step`` and waits there until Tune asks for the
next epoch. A scheduler that stops the trial (ASHA, the median rule) stops it at that
point: ``cleanup`` asks ``fit`` to end, which it does as after Ctrl-C, with the epochs
trained so far, and the run is written by ``write_outputs`` like any other. So a trial
stopped early keeps what it trained, and its history holds exactly the epochs Tune saw.

Tune reuses a trial's actor for the next trial (``reset_config``): the process has specc,
onnxruntime and Ray's worker side loaded already, which a new actor spends seconds on. A
trial's folder is written, and its training started, by the first ``step`` only: Tune may
set up a new actor for a trial and then give the trial to a cached actor instead, stopping
the first one, which must leave the trial's folder alone.
"""

from __future__ import annotations

import queue
import shutil
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ray import tune
from ray.tune.result import DONE, RESULT_DUPLICATE

from specc.atomic import write_text
from specc.diagnostics import SpecError
from specc.train.fit import EpochLog, StopRequest
from specc.train.run import train_spec, write_outputs
from specc.tune.plan import EPOCH, TRIAL_ERROR, TRIAL_SPEC, TRIALS_FOLDER, TrialContext, safe_id
from specc.tune.spec_text import spec_text


def trial_dirname(trial: Any) -> str:
    """Ray Tune's folder for a trial (under the experiment): its id alone, not the
    parameters Ray would write into the name."""
    return safe_id(str(trial.trial_id))


@dataclass
class _Epoch:
    epoch: int
    epochs: int
    values: dict[str, float]


@dataclass
class _Ended:
    error: str | None = None


def _scalars(values: Mapping[str, Any]) -> dict[str, float]:
    # Tune compares numbers; a per-class metric (a list) stays in history.json only.
    return {k: float(v) for k, v in values.items() if isinstance(v, (int, float))}


class SpeccTrial(tune.Trainable):
    """A specc training run as a Tune trial; ``step`` is one epoch."""

    def setup(self, config: dict[str, Any], context: TrialContext) -> None:  # type: ignore[override]
        self.context = context
        self._prepare(config)

    def _prepare(self, config: dict[str, Any]) -> None:
        """This trial's spec text and folder; nothing written, nothing started yet."""
        context = self.context
        self.folder = Path(context.out) / TRIALS_FOLDER / safe_id(self.trial_id)
        values = dict(context.fixed)
        values.update({context.paths[k]: v for k, v in config.items() if k in context.paths})
        self.spec_text = spec_text(
            context.spec_text, context.spec_data, values, context.spec_is_json
        )
        self.events: queue.Queue[_Epoch | _Ended] = queue.Queue()
        self.next_epoch = threading.Semaphore(0)
        self.stop_request = StopRequest()
        self.thread: threading.Thread | None = None

    def _begin(self) -> None:
        """Write this trial's spec into its folder and start training it on a thread."""
        # An earlier try at this trial (a sweep resumed after an interruption) starts
        # again from the beginning: nothing of it is kept.
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder.mkdir(parents=True)
        write_text(self.folder / TRIAL_SPEC, self.spec_text)
        self.thread = threading.Thread(target=self._train, name="specc-trial", daemon=True)
        self.thread.start()

    def _train(self) -> None:
        context = self.context
        try:
            result = train_spec(
                self.folder / TRIAL_SPEC,
                context.data,
                context.options,
                validation_data=context.validation_data,
                on_progress=self._on_progress,
                stop=self.stop_request,
            )
            # The trained folder is swapped in whole and holds only its own files: the
            # spec goes back in once it is there.
            (self.folder / TRIAL_SPEC).unlink()
            write_outputs(result, self.folder)
            write_text(self.folder / TRIAL_SPEC, self.spec_text)
        except SpecError as error:
            self._failed("\n".join(d.as_text() for d in error.diagnostics))
        except Exception as error:
            self._failed(f"{type(error).__name__}: {error}")
        else:
            self.events.put(_Ended())

    def _failed(self, message: str) -> None:
        if not (self.folder / TRIAL_SPEC).exists():
            write_text(self.folder / TRIAL_SPEC, self.spec_text)
        write_text(self.folder / TRIAL_ERROR, message + "\n")
        self.events.put(_Ended(message))

    def _on_progress(self, log: EpochLog, epoch_end: bool) -> None:
        if not epoch_end:
            return
        self.events.put(_Epoch(log.epoch, log.epochs, _scalars(log.values)))
        if log.epoch < log.epochs:
            # Until Tune asks for the next epoch, or stops the trial (cleanup).
            self.next_epoch.acquire()

    def step(self) -> dict[str, Any]:
        """One epoch's history values; Tune's iteration count is the epoch."""
        if self.thread is None:
            self._begin()
        else:
            self.next_epoch.release()
        event = self.events.get()
        if isinstance(event, _Epoch):
            return {**event.values, EPOCH: event.epoch, DONE: event.epoch >= event.epochs}
        if event.error is not None:
            raise RuntimeError(event.error)
        # A callback of the spec (EarlyStopping) ended training after the last epoch Tune
        # saw: that result stands, marked done.
        return {RESULT_DUPLICATE: True}

    def reset_config(self, new_config: dict[str, Any]) -> bool:
        """This actor's next trial: the one before ends as if stopped (Tune does not stop
        an actor it keeps for reuse), then the new one is set up to start from the
        beginning at its first step."""
        self.cleanup()
        self._prepare(new_config)
        return True

    def cleanup(self) -> None:
        """Stopped (by the scheduler, at the end, or when the sweep is interrupted): let
        training end where it is, and wait for its files to be written. A trial never
        stepped here (Tune gave it to another actor) has nothing to end."""
        if self.thread is None:
            return
        self.stop_request.requested = True
        self.next_epoch.release()
        self.thread.join()
        self.thread = None
