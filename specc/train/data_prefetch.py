"""Batches prepared ahead on a background thread, so that a training step never waits for
data it could have had: reading a memory-mapped array or the next shard, shuffling and
converting happen while the previous step runs in onnxruntime (which releases the GIL).

The queue is bounded (``depth`` batches), so at most that many batches wait in memory. An
error while preparing a batch is raised where the batch is taken; a consumer that stops
early (Ctrl-C, a non-finite loss) stops the thread when the generator is closed.
"""

from __future__ import annotations

import queue
import sys
import threading
from collections.abc import Generator, Iterable
from typing import TypeVar

T = TypeVar("T")

#: Batches prepared ahead by default: one being taken while the next is read.
DEPTH = 2
_POLL_SECONDS = 0.1


class _End:
    """The last item of the queue: the source is exhausted, or raised ``error``."""

    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error


def prefetched(items: Iterable[T], depth: int = DEPTH) -> Generator[T, None, None]:
    """The items of ``items``, produced up to ``depth`` ahead on a background thread."""
    if depth < 1:
        raise ValueError(f"depth must be a positive integer; got {depth}")
    ready: queue.Queue[T | _End] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: T | _End) -> bool:
        # Waits for room, but gives up once the consumer has gone.
        while not stop.is_set():
            try:
                ready.put(item, timeout=_POLL_SECONDS)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put(item):
                    return
        except BaseException as error:  # handed to the consumer, raised there
            put(_End(error))
            return
        put(_End())

    worker = threading.Thread(target=produce, name="specc-batches", daemon=True)
    worker.start()
    try:
        while True:
            item = ready.get()
            if isinstance(item, _End):
                if item.error is not None:
                    raise item.error
                return
            yield item
    finally:
        stop.set()
        # A generator still open when the interpreter shuts down is closed after its
        # daemon thread has been frozen for good: joining it then would wait forever.
        if not sys.is_finalizing():
            worker.join()
