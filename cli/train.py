"""``specc train SPEC --data DATA``: train with onnxruntime-training as Keras's fit would."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from specc.cli.common import (
    EXIT_SPEC_ERROR,
    EXIT_USAGE,
    DebugOption,
    FormatOption,
    LimitOption,
    MaxFileSizeOption,
    MaxParamsOption,
    OutputFormat,
    internal_errors,
    print_diagnostics,
    resolve_limits,
    run_spec_pass,
)


class Device(str, Enum):
    """Where the engine runs."""

    cpu = "cpu"
    cuda = "cuda"


def train(
    spec: Annotated[
        Path,
        typer.Argument(help="The spec file (with a compile section).", exists=True, dir_okay=False),
    ],
    data: Annotated[
        Path,
        typer.Option(
            "--data", "-d", help="Training data (.npz or .csv).", exists=True, dir_okay=False
        ),
    ],
    validation_data: Annotated[
        Path | None,
        typer.Option(
            help="Validation data (.npz or .csv); overrides validation_split.",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
    epochs: Annotated[
        int | None, typer.Option(min=1, help="Epochs (default: the spec's train.epochs, else 1).")
    ] = None,
    batch_size: Annotated[
        int | None, typer.Option(min=1, help="Batch size (default: train.batch_size, else 32).")
    ] = None,
    validation_split: Annotated[
        float | None,
        typer.Option(min=0.0, max=0.99, help="Fraction held out from the end of the data."),
    ] = None,
    shuffle: Annotated[
        bool | None, typer.Option("--shuffle/--no-shuffle", help="Shuffle each epoch.")
    ] = None,
    seed: Annotated[
        int | None,
        typer.Option(help="Seed for initial weights and shuffling.", min=0, max=2**32 - 1),
    ] = None,
    weights: Annotated[
        Path | None,
        typer.Option(
            "--weights", "-w", help="Initial weights (.npz).", exists=True, dir_okay=False
        ),
    ] = None,
    device: Annotated[Device, typer.Option(help="Train on the CPU or a CUDA GPU.")] = Device.cpu,
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Folder for model.onnx, weights.npz, history.json.")
    ] = Path("trained"),
    output_format: FormatOption = OutputFormat.text,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")] = False,
    debug: DebugOption = False,
    limit: LimitOption = None,
    max_params: MaxParamsOption = None,
    max_file_size: MaxFileSizeOption = None,
) -> None:
    """Train SPEC on DATA; write the trained model, its weights and its history to --out."""
    # Imported here, not at the top: the training engine takes seconds to import, and the
    # other commands (validate and build in CI) should not pay for it.
    from specc.train.progress import Progress
    from specc.train.run import TrainOptions, train_spec, write_outputs

    limits = resolve_limits(limit, max_params, max_file_size)
    options = TrainOptions(
        epochs, batch_size, shuffle, validation_split, seed, device.value, limits=limits
    )
    progress = None if quiet else Progress()
    with internal_errors(debug):
        result, diagnostics = run_spec_pass(
            lambda: train_spec(spec, data, options, weights, validation_data, progress)
        )
        if result is None:
            print_diagnostics(diagnostics, output_format, err=True)
            raise typer.Exit(EXIT_SPEC_ERROR)
        try:
            written = write_outputs(result, out)
        except OSError as exc:
            typer.echo(f"error: cannot write to {out}: {exc.strerror or exc}", err=True)
            raise typer.Exit(EXIT_USAGE) from None
    if not quiet:
        if result.unused_data:
            unused = ", ".join(result.unused_data)
            typer.echo(
                f"note: {data} also holds {unused}, which no input or output takes", err=True
            )
        for path in written:
            typer.echo(f"wrote {path}")
