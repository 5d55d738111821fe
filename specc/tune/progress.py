"""The sweep's progress on stderr: one line per trial result, and how each trial ended.

A Ray Tune callback on the driver, so the lines come from one process in the order Tune
saw the results, whichever node the trials ran on.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from ray import tune

from specc.tune.plan import EPOCH, TRIAL_ERROR, TRIALS_FOLDER, safe_id


class TrialProgress(tune.Callback):
    """Tells ``emit`` each epoch a trial reports, and each trial's end."""

    def __init__(self, metric: str, epochs: int, emit: Callable[[str], None]) -> None:
        self.metric, self.epochs, self.emit = metric, epochs, emit

    def on_trial_result(
        self, iteration: int, trials: list, trial: Any, result: dict, **info: Any
    ) -> None:
        value = result.get(self.metric)
        shown = f"{value:.4f}" if isinstance(value, float) and math.isfinite(value) else str(value)
        self.emit(
            f"trial {safe_id(trial.trial_id)} epoch {result.get(EPOCH)}/{self.epochs}: "
            f"{self.metric} {shown}"
        )

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        done = trial.last_result.get(EPOCH, 0) if trial.last_result else 0
        how = "completed" if done >= self.epochs else f"stopped after epoch {done}"
        self.emit(f"trial {safe_id(trial.trial_id)} {how}")

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        where = f"{TRIALS_FOLDER}/{safe_id(trial.trial_id)}/{TRIAL_ERROR}"
        self.emit(f"trial {safe_id(trial.trial_id)} failed (see {where})")
