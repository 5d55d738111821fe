"""The ``specc`` console script: signal handling first, then the app.

Importing the app (pydantic, onnx, every command) takes most of a second; a Ctrl-C or
SIGTERM in that time must end with one line like one at any other moment, so the handlers
go in before the import (``specc.cli.signals`` uses only the standard library).
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from specc.cli.signals import run_console


def _load_app() -> Callable[[], object]:
    # ``specc validate`` runs in CI and in pre-commit hooks, often on every commit: it gets
    # an app holding only itself, so it never imports what building, training and
    # exporting need (onnx, onnxruntime, every other command).
    if sys.argv[1:2] == ["validate"]:
        from specc.cli.base_app import base_app
        from specc.cli.validate import validate

        app = base_app()
        app.command("validate")(validate)
        return app
    from specc.cli.app import app

    return app


def main() -> None:
    """Console-script entry point."""
    run_console(_load_app)
