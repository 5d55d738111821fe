"""Learning curves of a training history, as Keras users draw ``History.history``.

One panel per quantity: ``loss`` with ``val_loss``, each metric with its ``val_`` twin,
the loss first and the rest in the history's order. A per-class metric (a list per epoch)
gets one line per class. Validation lines are dashed. Missing values (a non-finite loss,
written as ``null``) leave a gap.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from specc.atomic import write_bytes
from specc.history_file import Series
from specc.plotting import MAX_PIXELS, figure_bytes, figure_label, new_figure, picture_format

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

VALIDATION_PREFIX = "val_"
_PANEL_INCHES = (5.5, 3.4)
# Past this many panels constrained layout takes seconds per panel; a plain grid is drawn.
_LAYOUT_PANELS = 24
# Curves this short are drawn with a marker at each epoch, so one epoch is still a point.
_MARKED_EPOCHS = 30


@dataclass(frozen=True)
class Panel:
    """One quantity: its training series and, when the history has it, its ``val_`` twin."""

    title: str
    train: Series | None
    validation: Series | None


def panels(series: list[Series]) -> list[Panel]:
    """The panels a history is drawn in: each key paired with its ``val_`` twin, a
    ``val_`` key without a twin alone, ``loss`` first."""
    by_key = {one.key: one for one in series}
    found = []
    for one in series:
        if one.key.startswith(VALIDATION_PREFIX):
            if one.key[len(VALIDATION_PREFIX) :] not in by_key:
                found.append(Panel(one.key, None, one))
            continue
        found.append(Panel(one.key, one, by_key.get(VALIDATION_PREFIX + one.key)))
    # sorted() is stable: only the loss moves.
    return sorted(found, key=lambda panel: panel.title != "loss")


def history_figure(series: list[Series]) -> Figure:
    """The learning curves as a matplotlib figure (Agg canvas); ``PlotError`` without
    matplotlib."""
    drawn = panels(series)
    columns = 1 if len(drawn) == 1 else 2
    rows = math.ceil(len(drawn) / columns)
    width, height = _PANEL_INCHES[0] * columns, _PANEL_INCHES[1] * rows
    figure = new_figure(width, height, dpi=min(100, MAX_PIXELS / max(width, height)))
    if len(drawn) <= _LAYOUT_PANELS:
        figure.set_layout_engine("constrained")
    for k, panel in enumerate(drawn):
        _draw_panel(figure.add_subplot(rows, columns, k + 1), panel)
    return figure


def _draw_panel(axes: Axes, panel: Panel) -> None:
    from matplotlib.ticker import MaxNLocator

    for one, dashed in ((panel.train, False), (panel.validation, True)):
        if one is None:
            continue
        epochs = list(range(1, one.epochs + 1))
        marker = "o" if one.epochs <= _MARKED_EPOCHS else None
        style = {"linestyle": "--" if dashed else "-", "marker": marker, "markersize": 3}
        if one.classes is None:
            colour = "C1" if dashed else "C0"
            axes.plot(epochs, one.values, color=colour, label=figure_label(one.key), **style)
            continue
        for c in range(one.classes):
            column = [row[c] for row in one.values]  # type: ignore[index]
            label = figure_label(one.key) + f"[{c}]"
            axes.plot(epochs, column, color=f"C{c % 10}", label=label, **style)
    axes.set_title(figure_label(panel.title), parse_math=False)
    axes.set_xlabel("epoch")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.grid(alpha=0.3)
    lines = axes.get_lines()
    # Labels are passed explicitly: matplotlib drops a line whose own label starts with
    # "_" from an automatic legend, and a key may.
    labels = [line.get_label() for line in lines]
    legend = axes.legend(lines, labels, fontsize="small", ncol=math.ceil(len(lines) / 10))
    for text in legend.get_texts():
        text.set_parse_math(False)


def write_history_picture(series: list[Series], path: Path) -> None:
    """Draw the learning curves to ``path`` (``.png`` or ``.svg``), atomically;
    ``PlotError`` for another suffix or without matplotlib."""
    fmt = picture_format(path)
    write_bytes(path, figure_bytes(history_figure(series), fmt))
