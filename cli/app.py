"""The ``specc`` command: one Typer app, one module per command."""

from __future__ import annotations

from importlib.metadata import version
from typing import Annotated

import typer

from specc.cli.build import build
from specc.cli.evaluate import evaluate
from specc.cli.export import export
from specc.cli.plot import plot
from specc.cli.predict import predict
from specc.cli.train import train
from specc.cli.tune import tune
from specc.cli.validate import validate

app = typer.Typer(
    name="specc",
    help="Compile Keras-style model specs (YAML or JSON) to ONNX.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"specc {version('specc')}")
        raise typer.Exit()


@app.callback()
def _options(
    show_version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_show_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Compile Keras-style model specs (YAML or JSON) to ONNX."""


app.command("validate")(validate)
app.command("build")(build)
app.command("train")(train)
app.command("export")(export)
app.command("evaluate")(evaluate)
app.command("predict")(predict)
app.command("plot")(plot)
app.command("tune")(tune)


def main() -> None:
    """Run the app with specc's signal handling (the console script is
    ``specc.cli.entry:main``, which installs it before importing this module)."""
    from specc.cli.signals import run_console

    run_console(lambda: app)


if __name__ == "__main__":
    main()
