"""The onnxruntime training API (1.19.2), imported without torch.

``import onnxruntime.training`` runs the package's ``__init__``, which imports its ``optim``
subpackage, which imports torch. The on-device training API (``artifacts``, ``onnxblock``
and ``api``) needs none of that, and torch is not a dependency of specc. So a bare package
object pointing at the same directory is registered as ``onnxruntime.training`` before the
submodules are imported: Python then finds them on that path without running the
``__init__`` (``docs/engine-notes.md#import-without-torch``). If the real package was already
imported (torch installed, someone imported it first), that one is used as it is.

This module is the one place that knows about the work-around, so that another training
backend can replace onnxruntime-training later (1.19.2 is its last release).
"""

from __future__ import annotations

import os
import re
import sys
import types
from collections.abc import Iterator
from contextlib import contextmanager

import onnxruntime

from specc.train.backend import EngineError

_PACKAGE = "onnxruntime.training"

if _PACKAGE not in sys.modules:
    _stub = types.ModuleType(_PACKAGE)
    _stub.__path__ = [os.path.join(os.path.dirname(onnxruntime.__file__), "training")]
    sys.modules[_PACKAGE] = _stub

# The imports must follow the stub, which is why they are not at the top (E402).
from onnxruntime.training import artifacts, onnxblock  # noqa: E402
from onnxruntime.training.api import CheckpointState, Module, Optimizer  # noqa: E402

__all__ = [
    "CheckpointState",
    "EngineError",
    "Module",
    "Optimizer",
    "artifacts",
    "engine_message",
    "onnxblock",
    "quiet_stderr",
]

# The engine's C++ errors read "[ONNXRuntimeError] : 1 : FAIL : /onnxruntime_src/x.cc:104
# <the C++ function's full signature> <message>", over several lines: only the message
# is for a user.
_STATUS_PREFIX = re.compile(r"^\[ONNXRuntimeError\] : \d+ : \w+ : ")
_SOURCE_PREFIX = re.compile(r"^\S+\.(?:cc|cpp|h):\d+ .*?\)(?: const)? ")


def engine_message(error: BaseException) -> str:
    """One readable line from an engine exception: its first line, without the C++
    source location and function signature."""
    if isinstance(error, OSError) and error.strerror:
        where = f" ({error.filename})" if error.filename else ""
        return f"{error.strerror}{where}"
    lines = str(error).strip().splitlines()
    text = lines[0].strip() if lines else type(error).__name__
    text = _STATUS_PREFIX.sub("", text)
    text = _SOURCE_PREFIX.sub("", text).strip()
    return text or type(error).__name__


@contextmanager
def quiet_stderr() -> Iterator[None]:
    """Silence file descriptor 2 (not just ``sys.stderr``) for the duration of the block.

    ``artifacts.generate_artifacts`` makes the C++ runtime print about 20 ``[I:onnxruntime
    ... GraphTransformer ...]`` lines straight to fd 2, which no log-severity setting
    silences; only redirecting the descriptor does. Python-level writes to ``sys.stderr``
    inside the block are dropped too.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 2)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
