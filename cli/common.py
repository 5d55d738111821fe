"""What every command shares: output formats, exit codes, and turning errors into messages."""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import Enum
from typing import Annotated, TypeVar

import typer

from specc.cli.signals import EXIT_INTERRUPTED, EXIT_TERMINATED, Terminated, terminate_raises
from specc.diagnostics import Diagnostic, SpecError, render
from specc.escape import terminal_lines, terminal_text
from specc.limits import DEFAULT_LIMITS, Limits

EXIT_OK = 0
EXIT_SPEC_ERROR = 1
EXIT_USAGE = 2

T = TypeVar("T")


class OutputFormat(str, Enum):
    """How diagnostics are printed."""

    text = "text"
    json = "json"
    github = "github"


# Options every command takes, declared once.
FormatOption = Annotated[
    OutputFormat, typer.Option("--format", "-f", help="How to print problems.")
]
DebugOption = Annotated[bool, typer.Option("--debug", help="Show tracebacks of internal errors.")]
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
    if diagnostics or fmt is OutputFormat.json:
        echo(render(diagnostics, fmt.value), err=err)


@contextmanager
def internal_errors(debug: bool) -> Iterator[None]:
    """Turn an unexpected exception into one line and exit code 2 (a traceback with --debug)."""
    try:
        yield
    except (typer.Exit, typer.Abort, SystemExit, KeyboardInterrupt):
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

    While the block runs, SIGTERM raises ``Terminated`` (``specc.cli.signals``), so every
    ``finally`` (temporary and staging folders) runs first; Ctrl-C would otherwise reach
    Click, which prints "Aborted!" and exits 1. ``interrupted`` and ``terminated`` are the
    lines to print.
    """
    try:
        with terminate_raises():
            yield
    except KeyboardInterrupt:
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
