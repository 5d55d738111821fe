"""The ``specc`` command: one Typer app, one module per command."""

from __future__ import annotations

from specc.cli.base_app import add_command, base_app
from specc.cli.build import build
from specc.cli.evaluate import evaluate
from specc.cli.export import export
from specc.cli.format import format_specs
from specc.cli.import_model import import_keras
from specc.cli.plot import plot
from specc.cli.predict import predict
from specc.cli.schema import schema
from specc.cli.train import train
from specc.cli.tune import tune
from specc.cli.validate import validate

app = base_app()

add_command(app, "validate", validate)
add_command(app, "build", build)
add_command(app, "train", train)
add_command(app, "export", export)
add_command(app, "evaluate", evaluate)
add_command(app, "predict", predict)
add_command(app, "plot", plot)
add_command(app, "format", format_specs)
add_command(app, "schema", schema)
add_command(app, "tune", tune)
add_command(app, "import", import_keras)


def main() -> None:
    """Run the app with specc's signal handling (the console script is
    ``specc.cli.entry:main``, which installs it before importing this module)."""
    from specc.cli.signals import run_console

    run_console(lambda: app)


if __name__ == "__main__":
    main()
