"""What "handled cleanly" means for one fuzz input, and a signature for each way it is not.

An input is handled cleanly when specc either accepts it or raises ``SpecError`` whose
diagnostics are clean: at least one, each with a documented-looking code, pinned to the
file that was read (and to a line and column, for a spec), one line of terminal-safe text
(an indented excerpt may follow it), never an internal error nor numpy's advice to enable
pickle. Anything else is a failure: another exception, a diagnostic that is not clean, a
result a target's own check refuses (``Unsound``), or more than the allowed CPU time.
Failures are grouped by signature (the exception and the deepest frame inside specc), so
a thousand inputs that hit one defect count as one.
"""

from __future__ import annotations

import re
import signal
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType, TracebackType

_CODE = re.compile(r"SPC[0-9]{3}-[a-z0-9]+(?:-[a-z0-9]+)*")
_SPECC = str(Path(__file__).resolve().parents[2] / "specc")


class Unsound(Exception):
    """A target's own check refused what specc accepted: ``Unsound(what, details)``, where
    ``what`` is the same for every input with this problem (a non-finite constant, ...)."""


class SlowInput(BaseException):
    """One input used more CPU time than allowed. A ``BaseException``, so that no
    ``except Exception`` in the code under test swallows it."""


@dataclass(frozen=True)
class Failure:
    """One way an input was not handled cleanly: its signature and the whole story."""

    signature: str
    detail: str


def _where(frames: list[traceback.FrameSummary]) -> str:
    """The deepest frame in specc (else the deepest frame): ``specc/weights.py:load_weights``."""
    ours = [f for f in frames if f.filename.startswith(_SPECC)] or frames
    if not ours:
        return "?"
    frame = ours[-1]
    path = Path(frame.filename)
    shown = path.relative_to(Path(_SPECC).parent) if frame.filename.startswith(_SPECC) else path
    return f"{shown.as_posix()}:{frame.name}"


def _name(kind: type) -> str:
    """``ValueError``, or ``zlib.error`` for an exception that is not a builtin; every
    kind of ``MemoryError`` (numpy has its own) is one."""
    if issubclass(kind, MemoryError):
        return "MemoryError"
    module = kind.__module__
    return kind.__qualname__ if module == "builtins" else f"{module}.{kind.__qualname__}"


def _frames(tb: TracebackType | None) -> list[traceback.FrameSummary]:
    return list(traceback.extract_tb(tb))


def diagnostic_problems(error: Exception, file: str, positioned: bool) -> list[str]:
    """Why a ``SpecError`` is not a clean report about ``file`` (empty: it is clean).

    Each problem starts with a short kind and ends with the diagnostic's code in brackets,
    so that it can serve as a signature.
    """
    # Imported here: this module is imported before atheris instruments specc.
    from specc.escape import terminal_text

    diagnostics = getattr(error, "diagnostics", [])
    if not diagnostics:
        return ["SpecError without diagnostics"]
    found = []
    for d in diagnostics:
        text = d.as_text()
        code = d.code if _CODE.fullmatch(d.code) else "?"
        if code == "?":
            found.append(f"malformed diagnostic code {d.code!r}")
        # Only an indented excerpt may follow the first line (a Lambda expression with a
        # caret under the bad character): a line break from a name splits the error, and
        # counts as the control character it is.
        first, *rest = text.split("\n")
        if any(terminal_text(line) != line for line in [first, *rest]) or any(
            not line.startswith("  ") for line in rest
        ):
            found.append(f"control characters in a diagnostic [{code}]")
        if "allow_pickle" in text:
            # numpy's hint; specc never unpickles, so it must never suggest enabling it.
            found.append(f"a diagnostic suggests enabling pickle [{code}]")
        if "internal error" in text:
            found.append(f"internal error reported as a diagnostic [{code}]")
        if d.file != file:
            found.append(f"diagnostic not about the file read [{code}]")
        elif positioned and d.position is None:
            found.append(f"diagnostic without line and column [{code}]")
    return sorted(set(found))


@contextmanager
def cpu_limit(seconds: float) -> Iterator[None]:
    """Raise ``SlowInput`` once this process has used ``seconds`` of CPU time in the block.

    CPU time rather than wall time, so that a loaded machine does not make inputs "slow";
    SIGPROF rather than SIGALRM, which libFuzzer keeps for its own (wall-clock) timeout.
    """

    def expire(signum: int, frame: FrameType | None) -> None:
        raise SlowInput(f"more than {seconds:g} s of CPU time for one input")

    previous = signal.signal(signal.SIGPROF, expire)
    signal.setitimer(signal.ITIMER_PROF, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGPROF, previous)


def examine(
    run: Callable[[], object], file: str, positioned: bool, cpu_seconds: float
) -> Failure | None:
    """Run one input through specc; ``None`` when it was handled cleanly."""
    from specc.diagnostics import SpecError

    try:
        with cpu_limit(cpu_seconds):
            run()
    except SpecError as error:
        problems = diagnostic_problems(error, file, positioned)
        if problems:
            return Failure(f"unclean error: {problems[0]}", f"{problems}\n{error}")
    except Unsound as error:
        return Failure(f"unsound: {error.args[0]}", traceback.format_exc())
    except SlowInput as error:
        where = _where(_frames(error.__traceback__))
        return Failure(f"slow at {where}", traceback.format_exc())
    except KeyboardInterrupt:
        raise
    except BaseException as error:  # every other exception is what the fuzzer looks for
        where = _where(_frames(error.__traceback__))
        return Failure(f"{_name(type(error))} at {where}", traceback.format_exc())
    return None
