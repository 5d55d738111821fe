"""The ``specc`` command: one Typer app, one module per command."""

from __future__ import annotations

import typer
from specc.cli.build import build
from specc.cli.validate import validate

app = typer.Typer(
    name="specc",
    help="Compile Keras-style model specs (YAML or JSON) to ONNX.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.command("validate")(validate)
app.command("build")(build)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
