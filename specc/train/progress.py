"""Keras-style progress on stderr: a bar per epoch on a terminal, one line per epoch in a log."""

from __future__ import annotations

import sys
from typing import TextIO

import numpy as np

from specc.train.fit import EpochLog, HistoryValue

BAR_WIDTH = 30


def _values(values: dict[str, HistoryValue]) -> str:
    # A per-class metric shows its mean over the classes, as Keras's progress bar does.
    means = {
        key: float(np.mean(value)) if isinstance(value, list) else value
        for key, value in values.items()
    }
    return "".join(f" - {key}: {value:.4f}" for key, value in means.items())


def _duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{int(seconds // 3600)}:{int(seconds % 3600 // 60):02d}:{int(seconds % 60):02d}"
    if seconds >= 60:
        return f"{int(seconds // 60)}:{int(seconds % 60):02d}"
    return f"{seconds:.0f}s" if seconds >= 1 else f"{seconds * 1000:.0f}ms"


class Progress:
    """Prints training progress; ``interactive`` picks the bar (a terminal) or lines (a log)."""

    def __init__(self, stream: TextIO | None = None, interactive: bool | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.interactive = self.stream.isatty() if interactive is None else interactive
        # A bar's line is open (no newline yet) between an epoch's first batch and its end.
        self._line_open = False

    def __call__(self, log: EpochLog, epoch_done: bool) -> None:
        """Report one batch (``epoch_done`` False) or the end of an epoch."""
        if self.interactive:
            self._bar(log, epoch_done)
        elif epoch_done:
            self.stream.write(
                f"Epoch {log.epoch}/{log.epochs} - {log.steps}/{log.steps} - "
                f"{_duration(log.seconds)}{_values(log.values)}\n"
            )
            self.stream.flush()

    def _bar(self, log: EpochLog, epoch_done: bool) -> None:
        if log.step == 1 and not epoch_done:
            self.stream.write(f"Epoch {log.epoch}/{log.epochs}\n")
        done = int(BAR_WIDTH * log.step / max(log.steps, 1))
        arrow = ">" if done < BAR_WIDTH else "="
        bar = "=" * max(done - 1, 0) + (arrow if done else "") + "." * (BAR_WIDTH - done)
        width = len(str(log.steps))
        if epoch_done:
            timing = f"{_duration(log.seconds)} {_duration(log.seconds / max(log.steps, 1))}/step"
        else:
            eta = log.seconds / log.step * (log.steps - log.step)
            timing = f"ETA: {_duration(eta)}"
        line = f"\r{log.step:>{width}}/{log.steps} [{bar}] - {timing}{_values(log.values)}"
        self.stream.write(line + ("\n" if epoch_done else ""))
        self.stream.flush()
        self._line_open = not epoch_done

    def end_line(self) -> None:
        """End a bar's open line (training stopped mid-epoch), so that a message printed
        next starts on a line of its own."""
        if self._line_open:
            self.stream.write("\n")
            self.stream.flush()
            self._line_open = False
