"""Signals as exits: SIGTERM and Ctrl-C end specc through its ``finally`` blocks.

Python's default SIGTERM kills the process on the spot, leaving temporary folders and
staging folders behind; its default SIGINT raises ``KeyboardInterrupt``, which Click turns
into "Aborted!" and exit 1, and which prints a traceback when it lands while modules are
still being imported. Here SIGTERM raises ``Terminated`` (so every ``finally`` and context
manager runs), and both end with one line and the shell's codes: 130 for Ctrl-C, 143 for
SIGTERM.

Raising from a handler is only safe in Python code: an exception raised while a C
extension initialises (onnx's becomes "ImportError: initialization failed") or inside a
callback of pydantic-core (printed as "Exception ignored" and dropped, so the process runs
on) is mangled. So while modules are imported the signals are held (``deferred``) and acted
on once the import is done, a fraction of a second later.

Only the standard library is imported: the console script installs this before the rest of
specc (about a second of imports) is loaded.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from types import FrameType

EXIT_INTERRUPTED = 128 + signal.SIGINT
EXIT_TERMINATED = 128 + signal.SIGTERM

Handler = Callable[[int, FrameType | None], object]


class Terminated(BaseException):
    """SIGTERM arrived. A BaseException, like KeyboardInterrupt, so that ``except
    Exception`` blocks let it through to the command's exit."""


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    raise Terminated


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


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Hold Ctrl-C and SIGTERM while the block runs (imports), then raise
    ``KeyboardInterrupt`` or ``Terminated`` for the first one that came."""
    received: list[int] = []

    def remember(signum: int, frame: FrameType | None) -> None:
        received.append(signum)

    with handling(signal.SIGINT, remember), handling(signal.SIGTERM, remember):
        yield
    if received:
        raise KeyboardInterrupt if received[0] == signal.SIGINT else Terminated


def run_console(load: Callable[[], Callable[[], object]], name: str = "specc") -> None:
    """Import the app (``load`` returns it) and run it, so that Ctrl-C or SIGTERM at any
    moment, imports included, ends with one line on stderr and exit 130 or 143."""
    try:
        with terminate_raises():
            with deferred():
                app = load()
            app()
    except KeyboardInterrupt:
        sys.stderr.write(f"{name}: interrupted\n")
        sys.exit(EXIT_INTERRUPTED)
    except Terminated:
        sys.stderr.write(f"{name}: terminated\n")
        sys.exit(EXIT_TERMINATED)
