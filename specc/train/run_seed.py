"""A training run's seed, known before the spec is compiled.

The initial weights and the random layers' streams are drawn from the seed when the spec is
compiled, so it must be known first: ``--seed``, else the spec's ``train.seed`` (read from
the loaded spec, which the compiler is then handed, so that the spec is parsed once), else
the seed of the run ``--resume`` continues, else a fresh one, which the run's checkpoints
keep.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from specc.spec.loader import LoadedSpec
from specc.train.checkpoint_run import resume_seed
from specc.train.outputs import CHECKPOINT_FOLDER


def spec_seed(loaded: LoadedSpec) -> int | None:
    """The loaded spec's ``train.seed``, read before compiling (the initial weights and the
    random layers' streams depend on it), or None; a seed that is not a valid one is left
    for the compiler to report."""
    data = loaded.data
    section = data.get("train") if isinstance(data, dict) else None
    seed = section.get("seed") if isinstance(section, dict) else None
    valid = isinstance(seed, int) and not isinstance(seed, bool) and 0 <= seed < 2**32
    return seed if valid else None


def run_seed(loaded: LoadedSpec, given: int | None, resume: Path | None) -> int:
    """The run's seed: --seed, else the spec's ``train.seed``, else the seed of the run
    --resume continues, else a fresh one (so that a checkpoint can name it: the random
    layers' streams are drawn from it)."""
    seed = given if given is not None else spec_seed(loaded)
    if seed is None and resume is not None:
        seed = resume_seed(resume / CHECKPOINT_FOLDER)
    if seed is None:
        seed = int(np.random.SeedSequence().generate_state(1)[0])
    return seed
