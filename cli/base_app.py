"""The root ``specc`` command: its settings and ``--version``, shared by the whole app and
by the one-command app the console script runs for ``specc validate``."""

from __future__ import annotations

from typing import Annotated

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
