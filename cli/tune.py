"""``specc tune SPEC --search SEARCH.yaml --data DATA --out DIR``: a hyperparameter sweep
on Ray Tune, each trial a ``specc train`` run."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from specc.cli.common import (
    EXIT_SPEC_ERROR,
    DebugOption,
    FormatOption,
    OutputFormat,
    folder_write_errors,
    internal_errors,
    print_diagnostics,
    say,
    usage_error,
)
from specc.cli.signals import EXIT_INTERRUPTED
from specc.cli.train import Backend
from specc.plotting import INSTALL_HINT, PlotError

if TYPE_CHECKING:
    from specc.tune.plan import Sweep
    from specc.tune.results import TrialRow

RAY_HINT = 'pip install "specc[ray]"'


def tune(
    spec: Annotated[
        Path,
        typer.Argument(help="The spec file (with a compile section).", exists=True, dir_okay=False),
    ],
    search: Annotated[
        Path,
        typer.Option(
            "--search", "-s", help="The search file (docs/tune.md).", exists=True, dir_okay=False
        ),
    ],
    data: Annotated[
        Path,
        typer.Option(
            "--data", "-d", help="Training data, in any form specc train takes.", exists=True
        ),
    ],
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            "-o",
            help="Folder for results.csv, best.yaml, trials.png and trials/<id>/ (a new or "
            "empty folder, or with --resume the folder of the sweep to continue).",
        ),
    ],
    validation_data: Annotated[
        Path | None,
        typer.Option(
            help="Validation data for every trial; overrides validation_split.", exists=True
        ),
    ] = None,
    trials: Annotated[
        int | None, typer.Option(min=1, help="Trials to sample, over the search file's trials.")
    ] = None,
    epochs: Annotated[
        int | None,
        typer.Option(min=1, help="Epochs of every trial, written into its spec over train.epochs."),
    ] = None,
    address: Annotated[
        str | None,
        typer.Option(help="A running Ray cluster to use (ray start --head), e.g. 10.0.0.5:6379."),
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue the interrupted sweep in --out.")
    ] = False,
    backend: Annotated[
        Backend, typer.Option(help="What runs each trial's training step (as specc train).")
    ] = Backend.standard,
    output_format: FormatOption = OutputFormat.text,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")] = False,
    debug: DebugOption = False,
) -> None:
    """Sweep SPEC's hyperparameters over the ranges of SEARCH on Ray Tune.

    Every trial is a specc train run on DATA, written to --out/trials/<id>/.
    """
    if importlib.util.find_spec("ray") is None:
        say(f"error: specc tune runs on Ray Tune, which is not installed: {RAY_HINT}")
        raise typer.Exit(EXIT_SPEC_ERROR)
    with internal_errors(debug):
        from specc.diagnostics import SpecError
        from specc.tune.plan import plan_sweep

        out = out.absolute()
        _check_out(out, resume)
        try:
            sweep = plan_sweep(
                spec, search, data, validation_data, out, trials, backend.value, epochs
            )
        except SpecError as error:
            print_diagnostics(error.diagnostics, output_format, err=True)
            raise typer.Exit(EXIT_SPEC_ERROR) from None
        _run(sweep, out, resume, address, quiet)


def _check_out(out: Path, resume: bool) -> None:
    if resume:
        from specc.tune.sweep import can_resume

        if not can_resume(out):
            raise usage_error(f"--resume: {out} holds no sweep to continue")
        return
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise usage_error(
            f"{out} is not a new or empty folder; give another --out, or add --resume to "
            "continue the sweep it holds"
        )


def _run(sweep: Sweep, out: Path, resume: bool, address: str | None, quiet: bool) -> None:
    from specc.distributed.ray_start import ray_started
    from specc.tune.progress import TrialProgress
    from specc.tune.results import (
        ERROR,
        PICTURE_FILE,
        UNFINISHED,
        best_trial,
        write_results,
        write_trials_picture,
    )
    from specc.tune.sweep import run_sweep, trial_rows

    search = sweep.search
    callbacks = [] if quiet else [TrialProgress(search.metric, sweep.epochs, say)]
    with folder_write_errors(f"cannot write the sweep to {out}"):
        try:
            with ray_started(address):
                out.mkdir(parents=True, exist_ok=True)
                run_sweep(sweep, out, resume, callbacks)
                names = list(search.space)
                rows = trial_rows(out, names, search.metric)
        except ConnectionError as exc:
            raise usage_error(f"cannot reach the Ray cluster at {address}: {exc}") from None
        written = write_results(rows, names, search.metric, search.mode, out)
        try:
            write_trials_picture(rows, search.metric, out / PICTURE_FILE)
            written.append(out / PICTURE_FILE)
        except PlotError:
            if not quiet:
                say(
                    f"note: no {PICTURE_FILE}: drawing the trials needs matplotlib ({INSTALL_HINT})"
                )
    if not quiet:
        for path in written:
            say(f"wrote {path}", err=False)
        best = best_trial(rows, search.mode)
        if best is not None:
            say(_best_line(best, search.metric), err=False)
    unfinished = sum(row.status == UNFINISHED for row in rows)
    if unfinished:
        say(
            f"interrupted: {unfinished} of {len(rows)} trials did not finish; run the same "
            "command with --resume to continue the sweep"
        )
        raise typer.Exit(EXIT_INTERRUPTED)
    failed = sum(row.status == ERROR for row in rows)
    if failed and not quiet:
        say(f"note: {failed} of {len(rows)} trials failed; each one's error is in its folder")
    if rows and failed == len(rows):
        say("error: every trial failed, so there is no best spec")
        raise typer.Exit(EXIT_SPEC_ERROR)


def _best_line(best: TrialRow, metric: str) -> str:
    values = ", ".join(f"{name}={value}" for name, value in best.parameters.items())
    return f"best: trial {best.id}, {metric} {best.last:.4g} at its last epoch ({values})"
