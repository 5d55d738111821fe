"""What every command shares: output formats, exit codes, and turning errors into messages."""

from __future__ import annotations

import json
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Annotated, TypeVar

import typer

from specc.atomic import OutputFolderError, check_output_folder
from specc.cli.signals import (
    EXIT_INTERRUPTED,
    EXIT_TERMINATED,
    Interrupted,
    Terminated,
    interrupt_raises,
    terminate_raises,
)
from specc.diagnostics import Diagnostic, SpecError, render
from specc.escape import terminal_lines, terminal_text
from specc.limits import DEFAULT_LIMITS, Limits
from specc.trace import Trace, tracing

EXIT_OK = 0
EXIT_SPEC_ERROR = 1
EXIT_USAGE = 2

T = TypeVar("T")


class OutputFormat(str, Enum):
    """How diagnostics are printed."""

    text = "text"
    json = "json"
    github = "github"
    sarif = "sarif"


# Options every command takes, declared once.
FormatOption = Annotated[
    OutputFormat, typer.Option("--format", "-f", help="How to print problems.")
]
DebugOption = Annotated[
    bool,
    typer.Option(
        "--debug",
        help="Show tracebacks of internal errors, and each compiler pass's time on stderr.",
    ),
]
DumpStagesOption = Annotated[
    Path | None,
    typer.Option(
        "--dump-stages",
        metavar="DIR",
        help="Write each compiler stage's product to DIR in a readable form (replaced "
        "whole; the stages that ran when a spec has errors).",
    ),
]
LimitOption = Annotated[
    list[str] | None,
    typer.Option(
        "--limit",
        metavar="NAME=VALUE",
        help="Raise a resource limit ("
        + ", ".join(Limits.names())
        + "); e.g. --limit params=5e9. Repeatable.",
    ),
]
MaxParamsOption = Annotated[
    str | None,
    typer.Option("--max-params", metavar="N", help="Same as --limit params=N."),
]
MaxFileSizeOption = Annotated[
    str | None,
    typer.Option("--max-file-size", metavar="SIZE", help="Same as --limit file_size=SIZE."),
]


def resolve_limits(
    assignments: list[str] | None, max_params: str | None, max_file_size: str | None
) -> Limits:
    """The limits a command runs under: the defaults, raised as the options say; a bad
    option is a usage error (exit 2)."""
    given = list(assignments or [])
    if max_params is not None:
        given.append(f"params={max_params}")
    if max_file_size is not None:
        given.append(f"file_size={max_file_size}")
    try:
        return DEFAULT_LIMITS.raised(given)
    except ValueError as exc:
        raise usage_error(str(exc)) from None


def echo(text: str, err: bool = False) -> None:
    """Print ``text`` for a person: file names, layer names and messages come from files a
    user may not have written, so every control character except the newlines between
    lines is shown as an escape (no cursor moves, window titles or colours from a spec)."""
    typer.echo(terminal_lines(text), err=err)


def say(text: str, err: bool = True) -> None:
    """Print one line for a person: every control character, line breaks included, shown
    as an escape (a folder name cannot move the cursor, retitle the terminal or add a
    line)."""
    typer.echo(terminal_text(text), err=err)


def usage_error(message: str) -> typer.Exit:
    """Print ``error: message`` as one line on stderr; the exit to raise (code 2)."""
    say(f"error: {message}")
    return typer.Exit(EXIT_USAGE)


def print_diagnostics(diagnostics: list[Diagnostic], fmt: OutputFormat, err: bool) -> None:
    """Print diagnostics in ``fmt``, on stderr when ``err`` (build) or stdout (validate)."""
    if diagnostics or fmt in (OutputFormat.json, OutputFormat.sarif):
        echo(render_diagnostics(diagnostics, fmt), err=err)


def render_diagnostics(diagnostics: list[Diagnostic], fmt: OutputFormat) -> str:
    """Diagnostics as ``fmt`` says: lines of text, GitHub annotations, a JSON list, or a
    SARIF log (file locations relative to the working folder)."""
    if fmt is OutputFormat.sarif:
        from specc.cli.sarif import sarif_log  # only here: the rule table and metadata

        return json.dumps(sarif_log(diagnostics, Path.cwd()), indent=2)
    return render(diagnostics, fmt.value)


@contextmanager
def internal_errors(debug: bool) -> Iterator[None]:
    """Turn an unexpected exception into one line and exit code 2 (a traceback with --debug)."""
    try:
        yield
    except (typer.Exit, typer.Abort, SystemExit, KeyboardInterrupt, Interrupted):
        raise
    except Exception as exc:
        if debug:
            traceback.print_exc()
        echo(
            f"internal error in specc: {type(exc).__name__}: {exc}\n"
            "Please report it with the spec that caused it (run with --debug for details).",
            err=True,
        )
        raise typer.Exit(EXIT_USAGE) from None


@contextmanager
def exits_on_signals(interrupted: str, terminated: str) -> Iterator[None]:
    """End the command with one line and exit 130 on Ctrl-C, 143 on SIGTERM.

    While the block runs, SIGTERM raises ``Terminated`` and Ctrl-C ``Interrupted``
    (``specc.cli.signals``), so every ``finally`` (temporary and staging folders) runs
    first; a ``KeyboardInterrupt`` would otherwise reach Typer, which exits 130 without a
    word. ``interrupted`` and ``terminated`` are the lines to print.
    """
    try:
        with terminate_raises(), interrupt_raises():
            yield
    except (Interrupted, KeyboardInterrupt):
        echo(interrupted, err=True)
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except Terminated:
        echo(terminated, err=True)
        raise typer.Exit(EXIT_TERMINATED) from None


def run_spec_pass(run: Callable[[], T]) -> tuple[T | None, list[Diagnostic]]:
    """Run a compiler entry point; return its result, or None and its diagnostics."""
    try:
        return run(), []
    except SpecError as error:
        return None, error.diagnostics


def stderr_is_terminal() -> bool:
    """Whether progress output goes to a person rather than a log."""
    return sys.stderr.isatty()


@contextmanager
def folder_write_errors(message: str) -> Iterator[None]:
    """Turn a failure to write an output folder into ``message: reason`` and exit 2."""
    try:
        yield
    except OutputFolderError as exc:
        raise usage_error(f"{message}: {exc}") from None
    except OSError as exc:
        # exc.filename would name a temporary file in the staging folder.
        raise usage_error(f"{message}: {exc.strerror or exc}") from None


def check_dump_folder(folder: Path | None, *outputs: Path | None) -> None:
    """Refuse a ``--dump-stages`` folder that cannot take the stage files (a file, a folder
    holding other files, an unwritable place) or that holds, or lies in, one of the
    command's ``outputs`` (replacing one would remove the other), before any work: exit 2."""
    if folder is None:
        return
    # Here: the whole compiler's list names the stage files; checking a spec without
    # dumping its stages imports no lowering.
    from specc.pipeline import STAGE_FILES

    where = folder.resolve()
    for output in outputs:
        if output is None:
            continue
        other = output.resolve()
        if other == where or where in other.parents or other in where.parents:
            raise usage_error(f"--dump-stages: {folder} overlaps {output}; give another folder")
    try:
        check_output_folder(folder, STAGE_FILES.values())
    except OutputFolderError as exc:
        raise usage_error(f"--dump-stages: {exc}") from None


@contextmanager
def reported_passes(
    debug: bool,
    dump_to: Path | None,
    spec: Path,
    quiet: bool = False,
    before: Callable[[], None] | None = None,
) -> Iterator[None]:
    """Trace the compiler's passes run in the block; when it ends without an exception (a
    spec error caught by ``run_spec_pass`` included), print each pass's time on stderr with
    ``debug`` and write the stages made to ``dump_to``. ``before`` runs first (to end a
    progress bar's line)."""
    if not debug and dump_to is None:
        yield
        return
    trace = Trace(dump=dump_to is not None)
    with tracing(trace):
        yield
    if before is not None:
        before()
    if debug and trace.times:
        echo(render_times(trace, spec), err=True)
    if dump_to is not None:
        from specc.pipeline import write_stages  # here: see check_dump_folder

        with folder_write_errors(f"cannot write the stages to {dump_to}"):
            written = write_stages(dump_to, trace)
        if not quiet:
            say(f"wrote {len(written)} stage file{'s' if len(written) != 1 else ''} to {dump_to}")


def render_times(trace: Trace, spec: Path) -> str:
    """The passes' times: a line per pass that ran, in milliseconds, then the total."""
    width = max(len("total"), *(len(name) for name, _ in trace.times))
    lines = [f"compiler passes for {spec}:"]
    lines += [f"  {name:<{width}}  {seconds * 1000:10.3f} ms" for name, seconds in trace.times]
    total = sum(seconds for _, seconds in trace.times)
    lines.append(f"  {'total':<{width}}  {total * 1000:10.3f} ms")
    return "\n".join(lines)
