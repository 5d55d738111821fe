"""``specc predict DIR|SPEC --data DATA --out P.npz``: the model's outputs over DATA, as
Keras's ``predict`` gives them, plus the top class and label of classifier outputs."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from specc.cli.common import (
    DebugOption,
    FormatOption,
    LimitOption,
    MaxFileSizeOption,
    MaxParamsOption,
    OutputFormat,
    exits_on_signals,
    folder_write_errors,
    internal_errors,
    resolve_limits,
    say,
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

if TYPE_CHECKING:
    from specc.emit.predict import Predictions


def predict(
    source: SourceArgument,
    data: DataOption,
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            "-o",
            help="The file to write: .npz (one array per name) or .csv (one row per sample).",
        ),
    ],
    weights: WeightsOption = None,
    seed: SeedOption = None,
    batch_size: BatchSizeOption = 32,
    output_format: FormatOption = OutputFormat.text,
    quiet: QuietOption = False,
    debug: DebugOption = False,
    limit: LimitOption = None,
    max_params: MaxParamsOption = None,
    max_file_size: MaxFileSizeOption = None,
) -> None:
    """Run the model on DATA in batches and write its outputs to --out.

    One array (or set of columns) per output; a classifier output (a softmax or sigmoid,
    or one with labels in the spec's metadata) also gets <output>_class, its top class per
    sample, and with labels <output>_label. A trained folder runs its model.onnx; a spec
    runs the model `specc build` writes, with --weights or its initializers drawn with
    --seed. The data needs the inputs only.
    """
    limits = resolve_limits(limit, max_params, max_file_size)
    drawn = initializer_seed(source, weights, seed)
    left = f"interrupted; {out} was left as it was"
    with exits_on_signals(left, "terminated"), internal_errors(debug):
        with deferred():
            from specc.emit.predict import predict_source, prediction_source
            from specc.emit.predict_output import check_prediction_path, write_predictions
            from specc.emit.trained import TRAINED_MODEL

        def run() -> Predictions:
            # Before any work: an --out predict cannot write is refused at once.
            check_prediction_path(out)
            loaded, keys = prediction_source(source, weights, limits, drawn)
            return predict_source(loaded, data, batch_size, limits, keys)

        result = result_or_exit(run, source, debug, output_format)
        with folder_write_errors(f"cannot write {out}"):
            write_predictions(out, result.arrays)
    if not quiet:
        say(weights_note(source, weights, drawn, TRAINED_MODEL))
        say(f"wrote {out}: {', '.join(result.arrays)} for {samples(result.samples)}", err=False)
