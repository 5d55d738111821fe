"""What ``specc evaluate`` and ``specc predict`` share: a model (a spec or a trained folder)
run over a data file, its options, and the line that says which weights ran."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer

from specc.cli.common import (
    EXIT_SPEC_ERROR,
    OutputFormat,
    print_diagnostics,
    reported_passes,
    run_spec_pass,
    usage_error,
)

T = TypeVar("T")

SourceArgument = Annotated[
    Path,
    typer.Argument(
        help="A spec file (.yaml, .yml, .json) or a folder `specc train` wrote.",
        exists=True,
        metavar="DIR|SPEC",
    ),
]
DataOption = Annotated[
    Path,
    typer.Option("--data", "-d", help="The data (.npz or .csv).", exists=True, dir_okay=False),
]
WeightsOption = Annotated[
    Path | None,
    typer.Option(
        "--weights",
        "-w",
        help="Weights file (.npz) for a spec (a trained folder has its own).",
        exists=True,
        dir_okay=False,
    ),
]
SeedOption = Annotated[
    int | None,
    typer.Option(
        help="Seed for the initializers of a spec without --weights (default 0).",
        min=0,
        max=2**32 - 1,
    ),
]
BatchSizeOption = Annotated[
    int, typer.Option("--batch-size", "-b", min=1, help="Samples per batch (Keras's default).")
]
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="No notes on stderr.")]

# The seed of a spec's initializers when none is given: the same weights on every run.
DEFAULT_SEED = 0


def initializer_seed(source: Path, weights: Path | None, seed: int | None) -> int | None:
    """The seed to draw a spec's weights with; a usage error where no weights are drawn
    (a trained folder, or --weights)."""
    if source.is_dir() or weights is not None:
        if seed is not None:
            where = "a trained folder has its weights" if source.is_dir() else "--weights given"
            raise usage_error(f"--seed applies to a spec without --weights; {where}")
        return None
    return DEFAULT_SEED if seed is None else seed


def weights_note(source: Path, weights: Path | None, seed: int | None, trained: str) -> str:
    """Which weights ran: the folder's ``trained`` file, the --weights file, or the spec's
    initializers drawn with ``seed``."""
    if source.is_dir():
        return f"weights: trained, from {source / trained}"
    if weights is not None:
        return f"weights: from {weights}"
    return f"weights: the spec's initializers, drawn with seed {seed} (no --weights given)"


def result_or_exit(run: Callable[[], T], source: Path, debug: bool, fmt: OutputFormat) -> T:
    """``run``'s result; its diagnostics printed on stderr in ``fmt`` and exit 1 if it
    raised ``SpecError`` (with ``debug``, the compiler passes' times too)."""
    with reported_passes(debug, None, source):
        result, diagnostics = run_spec_pass(run)
    if result is None:
        print_diagnostics(diagnostics, fmt, err=True)
        raise typer.Exit(EXIT_SPEC_ERROR)
    return result


def samples(count: int) -> str:
    """``1 sample``, ``1,797 samples``."""
    return f"{count:,} sample{'s' if count != 1 else ''}"
