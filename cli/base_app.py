"""The root ``specc`` command: its settings and ``--version``, shared by the whole app and
by the one-command app the console script runs for ``specc validate``."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Annotated, Any

import typer


def _show_version(value: bool) -> None:
    if value:
        from importlib.metadata import version  # only here: it costs every other run ~20 ms

        typer.echo(f"specc {version('specc')}")
        raise typer.Exit()


def _options(
    show_version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_show_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Compile Keras-style model specs (YAML or JSON) to ONNX."""


def base_app() -> typer.Typer:
    """A ``specc`` app with no commands yet."""
    app = typer.Typer(
        name="specc",
        help="Compile Keras-style model specs (YAML or JSON) to ONNX.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    app.callback()(_options)
    return app


def add_command(app: typer.Typer, name: str, function: Callable[..., Any]) -> None:
    """Register ``function`` as the command ``name``, its help its docstring with each
    paragraph on one line: Typer's rich help keeps a docstring's line breaks, so that a
    paragraph wrapped in the source would break there in the terminal too, the first one
    in the middle of the command's summary in ``specc --help``."""
    app.command(name, help=unwrapped(inspect.getdoc(function) or ""))(function)


def unwrapped(text: str) -> str:
    """``text`` with each paragraph (lines up to a blank one) joined into one line."""
    paragraphs = text.strip().split("\n\n")
    return "\n\n".join(" ".join(line.strip() for line in p.splitlines()) for p in paragraphs)
