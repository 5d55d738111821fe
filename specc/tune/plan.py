"""A sweep planned before Ray starts: the spec and the search file read and checked, and
what every trial shares.

Everything that can be wrong with the files is found here, at once, pinned into them:
nothing is sampled, no trial started, for a sweep that could not run.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from specc.diagnostics import SpecPath
from specc.limits import DEFAULT_LIMITS, Limits
from specc.pipeline import check_spec
from specc.spec.loader import load_text, read_spec_text
from specc.train.run import TrainOptions
from specc.tune.search_check import check_search
from specc.tune.search_file import Range, SearchFile, read_search_file

TRIALS_FOLDER = "trials"
TRIAL_SPEC = "spec.yaml"
# What a failed trial leaves beside its spec: the error, for a person to read.
TRIAL_ERROR = "error.txt"
# The key of a trial's results that counts its epochs (Tune's iterations are the same).
EPOCH = "epoch"
# The seed of a trial whose spec sets none: every trial draws the same initial weights and
# batches, so the trials differ only in the values swept, and ``specc train best.yaml``
# trains the best trial again exactly.
DEFAULT_SEED = 0
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def safe_id(trial_id: str) -> str:
    """A trial id fit for a folder name: Ray's ids are hex and ``_``, but whatever they
    hold, only letters, digits, ``_`` and ``-`` reach the file system, at most 64."""
    return _UNSAFE.sub("_", trial_id)[:64] or "trial"


@dataclass(frozen=True)
class TrialContext:
    """What every trial of a sweep shares; sent to the trials once by Ray."""

    spec_text: str  # the original spec file's text, edited per trial
    spec_data: Any
    spec_is_json: bool
    data: str  # absolute paths: a trial runs in its own folder, maybe on another node
    validation_data: str | None
    out: str
    options: TrainOptions
    # The search file's key of each parameter -> its spec path.
    paths: Mapping[str, SpecPath] = field(default_factory=dict)
    # Values every trial sets besides the sampled ones (the seed).
    fixed: Mapping[SpecPath, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Sweep:
    """What a sweep runs: the search file, its space by path, the shared trial context."""

    search: SearchFile
    space: Mapping[SpecPath, Range]
    context: TrialContext
    trials: int
    epochs: int  # the spec's, for ASHA's default max_t
    seed: int  # for Ray's random sampling


def plan_sweep(
    spec: Path,
    search: Path,
    data: Path,
    validation_data: Path | None,
    out: Path,
    trials: int | None,
    backend: str,
    epochs: int | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> Sweep:
    """Read and check the spec and the search file; ``SpecError`` with every problem.
    ``epochs`` (--epochs) replaces the spec's ``train.epochs`` in every trial's spec."""
    typed = check_spec(spec, limits)
    text = read_spec_text(spec, limits)
    is_json = spec.suffix.lower() == ".json"
    loaded = load_text(text, str(spec), is_json, limits)
    searched, search_file = read_search_file(search, limits)
    train = typed.resolved.spec.train
    split = train is not None and (train.validation_split or 0) > 0
    space = check_search(
        searched, search_file, loaded, typed, validation_data is not None or split, limits
    )
    seed = train.seed if train is not None and train.seed is not None else DEFAULT_SEED
    fixed: dict[SpecPath, Any] = {}
    if train is None or train.seed is None:
        fixed["train", "seed"] = seed
    if epochs is not None:
        fixed["train", "epochs"] = epochs
    paths = dict(zip(searched.space, space, strict=True))
    context = TrialContext(
        text.removeprefix("\ufeff"),
        loaded.data,
        is_json,
        str(data.absolute()),
        str(validation_data.absolute()) if validation_data is not None else None,
        str(out),
        TrainOptions(backend=backend, limits=limits),
        paths,
        fixed,
    )
    if epochs is None:
        epochs = train.epochs if train is not None else 1
    return Sweep(searched, space, context, trials or searched.trials, epochs, seed)
