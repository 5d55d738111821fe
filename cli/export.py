"""``specc export SPEC|DIR --target web|mobile``: a bundle that runs the model elsewhere."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from specc.atomic import OutputFolderError, check_output_folder
from specc.cli.common import (
    EXIT_SPEC_ERROR,
    DebugOption,
    FormatOption,
    LimitOption,
    MaxFileSizeOption,
    MaxParamsOption,
    OutputFormat,
    internal_errors,
    print_diagnostics,
    reported_passes,
    resolve_limits,
    run_spec_pass,
    say,
    usage_error,
)
from specc.emit.source import ExportSource, load_source
from specc.escape import safe_file_name, terminal_text
from specc.limits import Limits
from specc.onnx_model import DEFAULT_OPSET, MAX_OPSET
from specc.summary import readable_size

if TYPE_CHECKING:
    from specc.emit.step_export import StepExport

TARGETS = ("web", "mobile")


def export(
    source: Annotated[
        Path,
        typer.Argument(
            help="A spec file (.yaml, .yml, .json) or a folder `specc train` wrote.",
            exists=True,
            metavar="SPEC|DIR",
        ),
    ],
    target: Annotated[
        str | None, typer.Option("--target", "-t", help="What to export for: web or mobile.")
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Folder to write (default: <model name>-<target>)."),
    ] = None,
    weights: Annotated[
        Path | None,
        typer.Option(
            "--weights",
            "-w",
            help="Weights file (.npz) for a spec (a trained folder has its own).",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
    opset: Annotated[
        int,
        typer.Option(
            min=DEFAULT_OPSET,
            max=MAX_OPSET,
            help=f"ONNX opset for a spec ({DEFAULT_OPSET} to {MAX_OPSET}).",
        ),
    ] = DEFAULT_OPSET,
    include_runtime: Annotated[
        bool,
        typer.Option(
            "--include-runtime",
            help="web: copy onnxruntime-web into the bundle, so that it works offline.",
        ),
    ] = False,
    runtime_dir: Annotated[
        Path | None,
        typer.Option(
            "--runtime-dir",
            help="web: where onnxruntime-web is installed (a node_modules folder or the "
            "package); default: $SPECC_ORT_WEB_DIR, else node_modules here or above.",
            exists=True,
            file_okay=False,
        ),
    ] = None,
    quantize: Annotated[
        str | None, typer.Option(help="mobile: quantize the weights: int8.")
    ] = None,
    data: Annotated[
        Path | None,
        typer.Option(
            "--data",
            "-d",
            help="mobile: sample data for quantization; web (with --with-training): the "
            "demo page's example rows.",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
    with_training: Annotated[
        bool,
        typer.Option(
            "--with-training",
            help="Also write the files that train the model where it runs (on the device, "
            "in the browser).",
        ),
    ] = False,
    spec: Annotated[
        Path | None,
        typer.Option(
            "--spec",
            help="The spec of a trained folder, for --with-training (web: default the "
            "folder's spec.json).",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
    training_engine: Annotated[
        str | None,
        typer.Option(
            "--training-engine",
            help="mobile: what runs --with-training's step: standard (specc's own step graph "
            "on any onnxruntime build; the default) or ort-training (onnxruntime-training's "
            "artifacts and training packages).",
        ),
    ] = None,
    output_format: FormatOption = OutputFormat.text,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print no file table.")] = False,
    debug: DebugOption = False,
    limit: LimitOption = None,
    max_params: MaxParamsOption = None,
    max_file_size: MaxFileSizeOption = None,
) -> None:
    """Export SPEC (or a folder `specc train` wrote) as a web or mobile bundle."""
    if target is None:
        raise usage_error(f"--target is required; expected one of: {', '.join(TARGETS)}")
    if target not in TARGETS:
        raise usage_error(f"unknown target {target!r}; expected one of: {', '.join(TARGETS)}")
    # Options of the other target are mistakes, not silently ignored.
    other = {
        "web": {"--quantize": quantize, "--training-engine": training_engine},
        "mobile": {"--include-runtime": include_runtime, "--runtime-dir": runtime_dir},
    }[target]
    stray = [name for name, value in other.items() if value not in (None, False)]
    if stray:
        raise usage_error(f"{', '.join(stray)} does not apply to --target {target}")
    if training_engine is not None and not with_training:
        raise usage_error("--training-engine applies with --with-training")
    if target == "web" and not with_training and (spec is not None or data is not None):
        raise usage_error("--spec and --data apply to --target web with --with-training")
    limits = resolve_limits(limit, max_params, max_file_size)
    if source.is_dir() and opset != DEFAULT_OPSET:
        raise usage_error("--opset applies to a spec; a trained folder keeps its model's opset")
    owned = _owned(target)
    with internal_errors(debug):
        if out is not None:
            # Before the model is built: a folder that cannot be written fails fast.
            _check_out(out, owned)
        with reported_passes(debug, None, source):
            loaded, diagnostics = run_spec_pass(lambda: load_source(source, weights, opset, limits))
        if loaded is None:
            print_diagnostics(diagnostics, output_format, err=True)
            raise typer.Exit(EXIT_SPEC_ERROR)
        # The name is the model's own (checked, but from a file): never a path.
        folder = out if out is not None else default_out(loaded.description["name"], target)
        _check_out(folder, owned)
        if target == "web":
            training = None
            if with_training:
                training, diagnostics = run_spec_pass(
                    lambda: _web_training(loaded, source, spec, data, limits)
                )
                if training is None:
                    print_diagnostics(diagnostics, output_format, err=True)
                    raise typer.Exit(EXIT_SPEC_ERROR)
            written = _export_web(loaded, folder, include_runtime, runtime_dir, training)
        else:
            written, diagnostics = run_spec_pass(
                lambda: _export_mobile(
                    loaded,
                    folder,
                    quantize,
                    data,
                    (with_training, training_engine),
                    spec,
                    limits,
                )
            )
            if written is None:
                print_diagnostics(diagnostics, output_format, err=True)
                raise typer.Exit(EXIT_SPEC_ERROR)
    if not quiet:
        typer.echo(render_files(written, folder))
        report = getattr(written, "quantization", None)
        if report:
            typer.echo(render_quantization(report))


def default_out(name: str, target: str) -> Path:
    """``<name>-<target>`` in the working folder, the name made safe as a folder name."""
    return Path(f"{safe_file_name(name)}-{target}")


def _owned(target: str) -> tuple[str, ...]:
    if target == "web":
        from specc.emit.web import OWNED

        return OWNED
    try:
        import specc.emit.mobile as mobile
    except ModuleNotFoundError as exc:
        if exc.name != "specc.emit.mobile":
            raise
        return ()  # refused with a clear message when the export starts
    return tuple(getattr(mobile, "OWNED", ()))


def _check_out(folder: Path, owned: tuple[str, ...]) -> None:
    try:
        check_output_folder(folder, owned)
    except OutputFolderError as exc:
        raise usage_error(f"--out: {exc}") from None


def render_quantization(report: dict) -> str:
    """What int8 quantization changed: the size, and each output's numbers on the data."""
    size = report["size"]
    lines = [
        f"int8: {size['float_bytes']:,} -> {size['int8_bytes']:,} bytes "
        f"({size['ratio']:.0%} of the float model)"
    ]
    accuracy = report.get("accuracy") or {}
    if not accuracy.get("measured"):
        lines.append("accuracy not measured (give --data to measure it)")
    for name, numbers in (accuracy.get("outputs") or {}).items():
        line = f"  {terminal_text(name)}: "
        if numbers.get("non_finite"):
            counts = numbers["non_finite"]
            lines.append(
                line + f"not compared: NaN or infinity in {counts['float']:,} float and "
                f"{counts['int8']:,} int8 output values"
            )
            continue
        line += f"max |diff| {numbers['max_abs_diff']:.3g}, mean {numbers['mean_abs_diff']:.3g}"
        if "float_accuracy" in numbers:
            line += (
                f"; accuracy {numbers['float_accuracy']:.4f} -> {numbers['int8_accuracy']:.4f}"
                f" ({numbers['accuracy_change']:+.4f})"
            )
        if "agreement" in numbers:
            line += f"; same prediction {numbers['agreement']:.2%}"
        lines.append(line)
    return "\n".join(lines)


def _web_training(
    loaded: ExportSource, source: Path, spec: Path | None, data: Path | None, limits: Limits
) -> tuple[StepExport, dict | None]:
    """The step graphs for ``--with-training``, of the spec exported or of a trained
    folder's spec (``--spec``, else the ``spec.json`` the run saved in it), and the demo
    page's example rows from ``data``."""
    from specc.emit.evaluate_source import evaluation_source
    from specc.emit.web_examples import example_rows
    from specc.emit.web_training import export_web_step

    # The spec and the folder are checked as specc evaluate checks them.
    found = evaluation_source(source, spec, None, limits)
    exported = export_web_step(loaded, found.spec, limits)
    return exported, example_rows(exported, data, limits) if data is not None else None


def _export_web(
    loaded: ExportSource,
    folder: Path,
    include_runtime: bool,
    runtime_dir: Path | None,
    training: tuple[StepExport, dict | None] | None = None,
) -> list[Path]:
    from specc.emit.web import RuntimeFilesError, UnsupportedModelError, export_web

    step, examples = training if training is not None else (None, None)
    try:
        return export_web(loaded, folder, include_runtime, runtime_dir, step, examples)
    except UnsupportedModelError as exc:
        say(f"error: {loaded.origin}: cannot run in onnxruntime-web: {exc}")
        raise typer.Exit(EXIT_SPEC_ERROR) from None
    except RuntimeFilesError as exc:
        raise usage_error(str(exc)) from None
    except OutputFolderError as exc:
        raise usage_error(f"--out: {exc}") from None
    except OSError as exc:
        raise usage_error(f"cannot write to {folder}: {exc.strerror or exc}") from None


def _export_mobile(
    loaded: ExportSource,
    folder: Path,
    quantize: str | None,
    data: Path | None,
    training: tuple[bool, str | None],
    spec: Path | None,
    limits: Limits,
) -> list[Path]:
    # Imported here: the mobile exporter is optional for the web target.
    try:
        from specc.emit.mobile import export_mobile
    except ModuleNotFoundError as exc:
        if exc.name != "specc.emit.mobile":
            raise
        raise usage_error("--target mobile is not available in this version of specc") from None
    try:
        with_training, engine = training
        # Without --training-engine, export_mobile's own default engine.
        chosen = {"training_engine": engine} if engine is not None else {}
        return export_mobile(loaded, folder, quantize, data, with_training, spec, limits, **chosen)
    except ValueError as exc:
        # export_mobile's word for option combinations it refuses (see its docstring).
        raise usage_error(str(exc)) from None
    except OutputFolderError as exc:
        raise usage_error(f"--out: {exc}") from None
    except OSError as exc:
        raise usage_error(f"cannot write to {folder}: {exc.strerror or exc}") from None


def render_files(paths: list[Path], folder: Path) -> str:
    """The table printed after an export: every file written, its size, and the total."""
    rows = []
    for path in paths:
        try:
            name = path.relative_to(folder).as_posix()
        except ValueError:
            name = str(path)
        # A folder (the mobile target writes some) counts the files in it.
        files = [p for p in path.rglob("*") if p.is_file()] if path.is_dir() else [path]
        shown = terminal_text(name) + ("/" if path.is_dir() else "")
        rows.append((shown, sum(p.stat().st_size for p in files)))
    total = sum(size for _, size in rows)
    rows.append(("total", total))
    width = max(len("file"), *(len(name) for name, _ in rows))
    lines = [f"{'file':<{width}}  {'size':>10}  {'bytes':>13}"]
    for index, (name, size) in enumerate(rows):
        if index == len(rows) - 1:
            lines.append("-" * (width + 27))
        lines.append(f"{name:<{width}}  {readable_size(size):>10}  {size:>13,}")
    lines.append(f"wrote {len(paths)} files to {terminal_text(str(folder))}")
    return "\n".join(lines)
