"""onnxruntime's native (C++) side as a user should see it: errors in one line, no log spam.

Both builds of onnxruntime specc runs on, the stock one and onnxruntime-training, raise
C++ errors with source locations and print to file descriptor 2 on their own. This module
imports neither, so that the mobile exporter and the default training backend can use it
without onnxruntime-training installed (``specc.train.engine`` re-exports it for the
ort-training backend).
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager

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
