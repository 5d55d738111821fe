"""``specc evaluate DIR|SPEC --data DATA``: the loss and metrics over DATA, as Keras's
``evaluate`` reports them."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from specc.cli.common import (
    DebugOption,
    LimitOption,
    MaxFileSizeOption,
    MaxParamsOption,
    OutputFormat,
    exits_on_signals,
    internal_errors,
    resolve_limits,
    say,
    usage_error,
)
from specc.cli.model_options import (
    BatchSizeOption,
    DataOption,
    QuietOption,
    SeedOption,
    SourceArgument,
    WeightsOption,
    initializer_seed,
    result_or_exit,
    samples,
    weights_note,
)
from specc.cli.signals import deferred
from specc.escape import terminal_text

if TYPE_CHECKING:
    from specc.train.evaluate import Evaluation
    from specc.train.fit import HistoryValue


def evaluate(
    source: SourceArgument,
    data: DataOption,
    spec: Annotated[
        Path | None,
        typer.Option(
            "--spec",
            help="The spec a trained folder was trained from (its loss and metrics).",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
    weights: WeightsOption = None,
    seed: SeedOption = None,
    batch_size: BatchSizeOption = 32,
    output_format: Annotated[
        OutputFormat,
        typer.Option(
            "--format", "-f", help="json: the results as one JSON object; problems the same way."
        ),
    ] = OutputFormat.text,
    quiet: QuietOption = False,
    debug: DebugOption = False,
    limit: LimitOption = None,
    max_params: MaxParamsOption = None,
    max_file_size: MaxFileSizeOption = None,
) -> None:
    """Evaluate a spec's compiled loss and metrics over DATA (Keras's model.evaluate).

    A trained folder needs the spec it was trained from (--spec) and evaluates its
    trained weights; a spec evaluates --weights, else its initializers drawn with --seed.
    Prints `name: value` lines, or with --format json one object, name -> number (a list
    for a per-class metric).
    """
    limits = resolve_limits(limit, max_params, max_file_size)
    drawn = initializer_seed(source, weights, seed)
    with exits_on_signals("interrupted", "terminated"), internal_errors(debug):
        # Imported here: the training machinery takes seconds to import (see train).
        with deferred():
            from specc.emit.evaluate_source import evaluation_source
            from specc.emit.trained import TRAINED_WEIGHTS
            from specc.train.backend import EngineError
            from specc.train.evaluate import evaluate_spec

        def run() -> Evaluation:
            chosen = evaluation_source(source, spec, weights, limits)
            return evaluate_spec(chosen.spec, data, chosen.weights, drawn, batch_size, limits)

        try:
            result = result_or_exit(run, spec or source, debug, output_format)
        except EngineError as exc:
            raise usage_error(str(exc)) from None
    if not quiet:
        say(f"evaluated {samples(result.samples)} of {data} in batches of {batch_size}")
        say(weights_note(source, weights, drawn, TRAINED_WEIGHTS))
    if output_format is OutputFormat.json:
        typer.echo(results_json(result.values))
    else:
        typer.echo(results_text(result.values))


def results_json(values: dict[str, HistoryValue]) -> str:
    """The results as strict JSON: NaN and infinities (not JSON numbers) become null."""

    def number(value: float) -> float | None:
        return value if math.isfinite(value) else None

    strict = {
        key: [number(v) for v in value] if isinstance(value, list) else number(value)
        for key, value in values.items()
    }
    return json.dumps(strict, allow_nan=False)


def results_text(values: dict[str, HistoryValue]) -> str:
    """One ``name: value`` line per loss and metric, in Keras's order."""

    def shown(value: HistoryValue) -> str:
        if isinstance(value, list):
            return "[" + ", ".join(f"{v:.6g}" for v in value) + "]"
        return f"{value:.6g}"

    return "\n".join(terminal_text(f"{key}: {shown(value)}") for key, value in values.items())
