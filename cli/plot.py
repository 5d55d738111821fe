"""``specc plot FILE``: a training history's learning curves, or a spec's model graph."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from specc.cli.common import (
    EXIT_SPEC_ERROR,
    DebugOption,
    FormatOption,
    LimitOption,
    MaxFileSizeOption,
    MaxParamsOption,
    OutputFormat,
    exits_on_signals,
    internal_errors,
    print_diagnostics,
    resolve_limits,
    run_spec_pass,
    say,
    usage_error,
)
from specc.history_file import HistoryError, read_history
from specc.limits import Limits
from specc.pipeline import check_spec
from specc.plot_history import write_history_picture
from specc.plot_model import write_model_picture
from specc.plotting import INSTALL_HINT, PlotError, matplotlib_installed, picture_format

_SPEC_SUFFIXES = (".yaml", ".yml")


def plot(
    source: Annotated[
        Path,
        typer.Argument(
            help="A history.json that specc train wrote, or a spec file (.yaml, .yml, .json).",
            metavar="FILE",
            exists=True,
            dir_okay=False,
        ),
    ],
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="The picture, .png or .svg by its name (default: FILE with .png for a "
            "history, .svg for a spec).",
        ),
    ] = None,
    show_shapes: Annotated[
        bool,
        typer.Option(
            "--show-shapes/--no-show-shapes", help="Show each layer's output shapes (spec)."
        ),
    ] = True,
    output_format: FormatOption = OutputFormat.text,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print problems only.")] = False,
    debug: DebugOption = False,
    limit: LimitOption = None,
    max_params: MaxParamsOption = None,
    max_file_size: MaxFileSizeOption = None,
) -> None:
    """Draw a training history's learning curves, or a spec's model graph.

    The curves: the loss and each metric, with its val_ twin; the graph: a box per layer
    with its output shapes, an arrow per connection. PNG needs matplotlib (specc's "plot"
    extra); a graph's SVG does not.
    """
    limits = resolve_limits(limit, max_params, max_file_size)
    with exits_on_signals("interrupted", "terminated"), internal_errors(debug):
        is_spec = _is_spec(source, limits)
        target = out if out is not None else source.with_suffix(".svg" if is_spec else ".png")
        try:
            fmt = picture_format(target)
            if (fmt == "png" or not is_spec) and not matplotlib_installed():
                what = "a PNG picture" if is_spec else "learning curves"
                raise PlotError(f"drawing {what} needs matplotlib: {INSTALL_HINT}")
            if is_spec:
                typed, diagnostics = run_spec_pass(lambda: check_spec(source, limits))
                if typed is None:
                    print_diagnostics(diagnostics, output_format, err=True)
                    raise typer.Exit(EXIT_SPEC_ERROR)
                write_model_picture(typed, target, show_shapes)
            else:
                series = read_history(source, limits)
                write_history_picture(series, target)
        except PlotError as exc:
            say(f"error: {exc}")
            raise typer.Exit(EXIT_SPEC_ERROR) from None
        except HistoryError as exc:
            say(str(exc))
            raise typer.Exit(EXIT_SPEC_ERROR) from None
        except OSError as exc:
            # Reading is done (its errors are HistoryError or diagnostics): the picture
            # could not be written. exc.filename would name the temporary file.
            raise usage_error(f"cannot write {target}: {exc.strerror or exc}") from None
    if not quiet:
        say(f"wrote {target}", err=False)


def _is_spec(source: Path, limits: Limits) -> bool:
    """Whether ``source`` is a spec rather than a history: YAML, or a JSON object with a
    spec's ``specc`` (format version) key. A file that is neither is read as a history,
    whose reader says what is wrong with it."""
    if source.suffix.lower() in _SPEC_SUFFIXES:
        return True
    try:
        if source.stat().st_size > limits.file_size:
            return False
        data = json.loads(source.read_bytes())
    except (OSError, ValueError, RecursionError):
        return False
    return isinstance(data, dict) and "specc" in data
