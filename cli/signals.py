"""Signals as exits: SIGTERM and Ctrl-C end specc through its ``finally`` blocks.

Python's default SIGTERM kills the process on the spot, leaving temporary folders and
staging folders behind; its default SIGINT raises ``KeyboardInterrupt``, which prints a
traceback when it lands while modules are still being imported. Here SIGTERM raises
``Terminated`` and Ctrl-C ``Interrupted`` (so every ``finally`` and context manager runs),
and both end with one line and the shell's codes: 130 for Ctrl-C, 143 for SIGTERM.

Raising from a handler is only safe in Python code: an exception raised while a C
extension initialises (onnx's becomes "ImportError: initialization failed") or inside a
callback of pydantic-core (printed as "Exception ignored" and dropped, so the process runs
on) is mangled. So while modules are imported the signals are held (``deferred``) and acted
on once the import is done, a fraction of a second later.

Ctrl-C raises ``Interrupted``, not ``KeyboardInterrupt``, from the moment the console script
starts to its end. Typer turns a ``KeyboardInterrupt`` that lands while it builds the
command or parses the arguments into a silent exit 130; and CPython, when one leaves code
run by ``eval`` (Typer reads the commands' annotations that way), ends the process by
SIGINT at exit whatever exit code was asked for. ``Interrupted`` passes both to
``run_console`` or to the command's own handler (``specc.cli.common.exits_on_signals``).

The same holds after the imports for pydantic: the spec's schema is built when a command
first validates one, and pydantic-core turns an exception raised in the middle into a
``SchemaError``. A signal that lands while a pydantic frame is on the stack is sent again a
moment later (``outside_pydantic``), when the one handling it then can raise.

Only the standard library is imported: the console script installs this before the rest of
specc (about a second of imports) is loaded.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from types import FrameType

EXIT_INTERRUPTED = 128 + signal.SIGINT
EXIT_TERMINATED = 128 + signal.SIGTERM

Handler = Callable[[int, FrameType | None], object]


class Interrupted(BaseException):
    """Ctrl-C arrived. Neither an ``Exception`` (``except Exception`` blocks let it through)
    nor a ``KeyboardInterrupt`` (which Typer and CPython's ``eval`` treat specially)."""


class Terminated(BaseException):
    """SIGTERM arrived. A BaseException, like KeyboardInterrupt, so that ``except
    Exception`` blocks let it through to the command's exit."""


# How long a signal that landed inside pydantic waits to be sent again: short enough that
# Ctrl-C still feels at once, long enough for most schema builds to end between tries.
RETRY_SECONDS = 0.02


def _in_pydantic(frame: FrameType | None) -> bool:
    """Whether a frame of pydantic's is on the stack from ``frame`` up."""
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        if module == "pydantic" or module.startswith("pydantic."):
            return True
        frame = frame.f_back
    return False


def outside_pydantic(signum: int, frame: FrameType | None) -> bool:
    """True when a handler may raise for ``signum`` now; else the signal is sent again in
    ``RETRY_SECONDS`` and the handler should return."""
    if not _in_pydantic(frame):
        return True
    retry = threading.Timer(RETRY_SECONDS, os.kill, (os.getpid(), signum))
    retry.daemon = True  # a process that ends first does not wait for it
    retry.start()
    return False


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    if outside_pydantic(signum, frame):
        raise Terminated


def _raise_interrupted(signum: int, frame: FrameType | None) -> None:
    if outside_pydantic(signum, frame):
        raise Interrupted


@contextlib.contextmanager
def handling(signum: int, handler: Handler) -> Iterator[None]:
    """``handler`` handles ``signum`` while the block runs; the previous one after.

    Signal handlers can only be set from the main thread: elsewhere (a command run from a
    worker thread) the block runs with the handlers as they are.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signum, handler)
    try:
        yield
    finally:
        signal.signal(signum, previous)


def terminate_raises() -> contextlib.AbstractContextManager[None]:
    """While the block runs, SIGTERM raises ``Terminated`` in the main thread."""
    return handling(signal.SIGTERM, _raise_terminated)


def interrupt_raises() -> contextlib.AbstractContextManager[None]:
    """While the block runs, Ctrl-C raises ``Interrupted`` in the main thread."""
    return handling(signal.SIGINT, _raise_interrupted)


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Hold Ctrl-C and SIGTERM while the block runs (imports), then raise
    ``Interrupted`` or ``Terminated`` for the first one that came."""
    received: list[int] = []

    def remember(signum: int, frame: FrameType | None) -> None:
        received.append(signum)

    with handling(signal.SIGINT, remember), handling(signal.SIGTERM, remember):
        yield
    if received:
        raise Interrupted if received[0] == signal.SIGINT else Terminated


def run_console(load: Callable[[], Callable[[], object]], name: str = "specc") -> None:
    """Import the app (``load`` returns it) and run it, so that Ctrl-C or SIGTERM at any
    moment, imports included, ends with one line on stderr and exit 130 or 143."""
    try:
        with terminate_raises(), interrupt_raises():
            with deferred():
                app = load()
            app()
    except (Interrupted, KeyboardInterrupt):
        sys.stderr.write(f"{name}: interrupted\n")
        sys.exit(EXIT_INTERRUPTED)
    except Terminated:
        sys.stderr.write(f"{name}: terminated\n")
        sys.exit(EXIT_TERMINATED)
