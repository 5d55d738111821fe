"""A sweep on Ray Tune: the search space, the scheduler, Ray itself, and resuming.

``run_sweep``, within Ray (``specc.distributed.ray_start``: embedded, or the cluster at
``address``), runs the trials (``specc.tune.trial``) through a ``Tuner`` whose experiment
state Ray Tune keeps in ``DIR/experiment`` (``--resume`` restores it with
``Tuner.restore``); ``trial_rows`` then reads every trial back from that state and the
trials' folders.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from specc.tune.plan import Sweep, safe_id
from specc.tune.results import TrialRow, parameters_of, trial_row
from specc.tune.search_file import Asha, MedianStopping, Range, SearchFile
from specc.tune.trial import SpeccTrial, trial_dirname

EXPERIMENT_FOLDER = "experiment"


def param_space(space: Mapping[str, Range]) -> dict[str, Any]:
    """Ray Tune's param_space: each search-file key mapped to Tune's sampling function."""
    from ray import tune

    makers: dict[str, Callable[..., Any]] = {
        "choice": tune.choice,
        "grid": tune.grid_search,
        "uniform": lambda bounds: tune.uniform(*bounds),
        "loguniform": lambda bounds: tune.loguniform(*bounds),
        "randint": lambda bounds: tune.randint(*bounds),
    }
    return {key: makers[entry.kind](entry.values) for key, entry in space.items()}


def scheduler(search: SearchFile, epochs: int) -> Any:
    """The search file's scheduler as Ray Tune's, counting epochs (training iterations)."""
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, MedianStoppingRule

    chosen = search.scheduler
    if isinstance(chosen, Asha):
        return ASHAScheduler(
            time_attr="training_iteration",
            max_t=chosen.max_t or epochs,
            grace_period=chosen.grace_period,
            reduction_factor=chosen.reduction_factor,
        )
    if isinstance(chosen, MedianStopping):
        return MedianStoppingRule(
            time_attr="training_iteration",
            grace_period=chosen.grace_period,
            min_samples_required=chosen.min_samples_required,
            # The rule pauses a trial to let waiting ones run while it has too few results
            # to judge; a paused trial must save its state, and a specc trial cannot
            # in the middle of its training: it runs on instead.
            min_time_slice=math.inf,
        )
    return FIFOScheduler()


def run_sweep(sweep: Sweep, out: Path, resume: bool, callbacks: list[Any]) -> Any:
    """Run (or, with ``resume``, continue) the sweep into ``out``; Ray's ``ResultGrid``."""
    from ray import tune
    from ray.tune.search import BasicVariantGenerator

    trainable = tune.with_resources(
        tune.with_parameters(SpeccTrial, context=sweep.context), {"cpu": 1}
    )
    experiment = out / EXPERIMENT_FOLDER
    if resume:
        tuner = tune.Tuner.restore(
            str(experiment), trainable, resume_unfinished=True, restart_errored=False
        )
    else:
        search = sweep.search
        tuner = tune.Tuner(
            trainable,
            param_space=param_space(search.space),
            tune_config=tune.TuneConfig(
                metric=search.metric,
                mode=search.mode,
                num_samples=sweep.trials,
                scheduler=scheduler(search, sweep.epochs),
                search_alg=BasicVariantGenerator(random_state=sweep.seed),
                trial_dirname_creator=trial_dirname,
                reuse_actors=True,
            ),
            run_config=tune.RunConfig(
                name=EXPERIMENT_FOLDER,
                storage_path=str(out),
                verbose=0,
                callbacks=callbacks,
                # A trial cannot continue from the middle of its training: nothing to save.
                checkpoint_config=tune.CheckpointConfig(checkpoint_at_end=False),
            ),
        )
    with _quiet_tune():
        return tuner.fit()


@contextmanager
def _quiet_tune() -> Iterator[None]:
    """Ray Tune's own display prints each failed trial on stdout whatever its verbosity;
    its older reporter keeps quiet at verbosity 0 (the callbacks say what happens), and
    its logger's summary of failed trials is left out too."""
    variable, logger = "RAY_AIR_NEW_OUTPUT", logging.getLogger("ray.tune")
    before, level = os.environ.get(variable), logger.level
    os.environ[variable] = "0"
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)
        if before is None:
            os.environ.pop(variable, None)
        else:
            os.environ[variable] = before


def can_resume(out: Path) -> bool:
    """Whether ``out`` holds a sweep Ray Tune can restore."""
    from ray import tune

    return tune.Tuner.can_restore(str(out / EXPERIMENT_FOLDER))


def trial_rows(out: Path, names: list[str], metric: str) -> list[TrialRow]:
    """A row per trial of the sweep in ``out``, as Ray Tune's experiment state lists them
    (every trial, finished or not), its numbers read from its folder."""
    from ray.tune import ExperimentAnalysis

    analysis = ExperimentAnalysis(str(out / EXPERIMENT_FOLDER))
    return [
        trial_row(
            safe_id(str(trial.trial_id)),
            parameters_of(trial.config, names),
            str(trial.status),
            out,
            metric,
        )
        for trial in analysis.trials
    ]
