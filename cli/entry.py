"""The ``specc`` console script: signal handling first, then the app.

Importing the app (pydantic, onnx, every command) takes most of a second; a Ctrl-C or
SIGTERM in that time must end with one line like one at any other moment, so the handlers
go in before the import (``specc.cli.signals`` uses only the standard library).
"""

from __future__ import annotations

import gc
import os
import signal
import sys
from collections.abc import Callable

from specc.cli.signals import run_console


def _load_app() -> Callable[[], object]:
    # Importing builds hundreds of thousands of objects that all stay alive: the cycle
    # collector, run every few hundred of them, finds nothing to free (about 0.06 s of
    # a small spec's 0.31 s check). It is held off while the app loads, and what was loaded
    # is then frozen (never walked again by a collection); every command, training
    # included, runs with it on.
    gc.disable()
    try:
        return _imported_app()
    finally:
        gc.freeze()
        gc.enable()


def _imported_app() -> Callable[[], object]:
    # ``specc validate`` runs in CI and in pre-commit hooks, often on every commit: it gets
    # an app holding only itself, so it never imports what building, training and
    # exporting need (onnx, onnxruntime, every other command).
    if sys.argv[1:2] == ["validate"]:
        # Pydantic looks for plugins among every installed package's entry points as it
        # builds its first validator (about 0.01 s); checking specs needs none. Its
        # documented switch, unless the environment already sets it.
        os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
        from specc.cli.base_app import base_app
        from specc.cli.validate import validate

        app = base_app()
        app.command("validate")(validate)
        return app
    from specc.cli.app import app

    return app


def main() -> None:
    """Console-script entry point."""
    try:
        run_console(_load_app)
    finally:
        # The command has ended and set its exit code. What follows is the interpreter's
        # exit (modules torn down, tens of milliseconds), during which Python has already
        # removed its own handler: a Ctrl-C there would kill the process by SIGINT with no
        # word, dropping that code. SIGTERM still ends it.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
