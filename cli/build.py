"""``specc build SPEC``: compile a spec to an ONNX model and print its summary."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from specc.cli.common import (
    EXIT_SPEC_ERROR,
    DebugOption,
    DumpStagesOption,
    FormatOption,
    LimitOption,
    MaxFileSizeOption,
    MaxParamsOption,
    OutputFormat,
    check_dump_folder,
    exits_on_signals,
    internal_errors,
    print_diagnostics,
    reported_passes,
    resolve_limits,
    run_spec_pass,
    usage_error,
)
from specc.onnx_model import DEFAULT_OPSET, MAX_OPSET, to_model_proto, write_model
from specc.pipeline import compile_spec
from specc.summary import render_summary
from specc.weights import save_weights


def build(
    spec: Annotated[
        Path,
        typer.Argument(help="The spec file (.yaml, .yml or .json).", exists=True, dir_okay=False),
    ],
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Where to write the model (default: SPEC with .onnx)."),
    ] = None,
    weights: Annotated[
        Path | None,
        typer.Option(
            "--weights",
            "-w",
            help="Weights file (.npz, keys layer/weight).",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
    save_weights_to: Annotated[
        Path | None,
        typer.Option(
            "--save-weights",
            help="Also write the model's weights (drawn or loaded) as a weights file.",
        ),
    ] = None,
    opset: Annotated[
        int,
        typer.Option(
            min=DEFAULT_OPSET, max=MAX_OPSET, help=f"ONNX opset ({DEFAULT_OPSET} to {MAX_OPSET})."
        ),
    ] = DEFAULT_OPSET,
    seed: Annotated[
        int | None,
        typer.Option(
            help="Seed for initializers that have none (default: fresh values).",
            min=0,
            max=2**32 - 1,
        ),
    ] = None,
    output_format: FormatOption = OutputFormat.text,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print no summary.")] = False,
    debug: DebugOption = False,
    dump_stages: DumpStagesOption = None,
    limit: LimitOption = None,
    max_params: MaxParamsOption = None,
    max_file_size: MaxFileSizeOption = None,
) -> None:
    """Compile SPEC to an ONNX model that passes the ONNX checker and runs in onnxruntime."""
    limits = resolve_limits(limit, max_params, max_file_size)
    with exits_on_signals("interrupted", "terminated"), internal_errors(debug):
        check_dump_folder(dump_stages, output, save_weights_to)
        with reported_passes(debug, dump_stages, spec, quiet):
            compiled, diagnostics = run_spec_pass(
                lambda: compile_spec(spec, weights, seed, limits=limits)
            )
        if compiled is None:
            print_diagnostics(diagnostics, output_format, err=True)
            raise typer.Exit(EXIT_SPEC_ERROR)
        model = to_model_proto(compiled.graph, opset, compiled.metadata)
        target = output if output is not None else spec.with_suffix(".onnx")
        # Each file is written atomically (specc.atomic): a link at the target is replaced,
        # never followed, and a failure leaves the previous file.
        _write(target, lambda: write_model(model, target))
        if save_weights_to is not None:
            _write(save_weights_to, lambda: save_weights(save_weights_to, compiled.weights))
    if not quiet:
        typer.echo(render_summary(compiled.typed))
        typer.echo(f"wrote {target} (opset {opset})")
        if save_weights_to is not None:
            typer.echo(f"wrote {save_weights_to} ({len(compiled.weights)} weights)")


def _write(path: Path, write: Callable[[], None]) -> None:
    """Run ``write``; a failure is one line naming ``path`` (not the temporary file the
    system call was about) and exit 2."""
    try:
        write()
    except OSError as exc:
        raise usage_error(f"cannot write {path}: {exc.strerror or exc}") from None
