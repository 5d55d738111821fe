"""Where each part of a model's picture goes, as Keras's ``plot_model`` draws one.

One box per input and per layer (a wrapper and what it wraps are one box) with its name,
type and, optionally, output shapes; one arrow per connection, so a merge of three
values has three arrows in, and a value used twice has two. Boxes stand in rows by
topological depth (an input at depth 0, a layer one row below the deepest value it
takes); an arrow that passes rows gets a lane in each, so it runs between boxes; each row
is ordered by where what it takes stands (the barycentre rule of layered graph drawing),
so that arrows cross little. Sizes are in pixels; ``specc.plot_model`` draws the result.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from specc.passes.nested import top_entries
from specc.passes.shapes import TypedGraph
from specc.plotting import figure_label
from specc.types import TensorType

# Sizes in pixels. Text is monospace, so its width is known without a font: a character
# is 0.6 of the font size in the usual monospace faces (DejaVu Sans Mono, Menlo, Consolas).
FONT_SIZE = 12
_CHAR_WIDTH = 0.6 * FONT_SIZE
LINE_HEIGHT = 16
PADDING = 8
_MARGIN = 20
_COLUMN_GAP = 24
_ROW_GAP = 48


@dataclass(frozen=True)
class Box:
    """A drawn input or layer: its lines of text, and where it stands (top-left corner)."""

    name: str
    lines: tuple[str, ...]
    x: float
    y: float
    width: float
    height: float
    is_output: bool


@dataclass(frozen=True)
class Arrow:
    """One connection: output ``index`` of ``source`` into input ``slot`` of ``target``.

    ``route`` runs from a point on the source's bottom edge to one on the target's top
    edge. An arrow that passes rows on its way has, for each, the top and bottom of the
    lane kept free for it there, so it goes between the boxes, not through them: the
    route alternates curves between rows (start to the first lane's top, each lane's
    bottom to the next one's top, the last to the end) and straight lines down lanes.
    """

    source: str
    index: int
    target: str
    slot: int
    route: tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class Layout:
    """Where every box and arrow of a model's picture goes; width and height in pixels."""

    title: str
    boxes: tuple[Box, ...]
    arrows: tuple[Arrow, ...]
    width: float
    height: float


# A row member: a box, by its input's or layer's name, or a lane an arrow passes a row in,
# by (the arrow's number, the row).
_Key = str | tuple[int, int]
_LANE_WIDTH = 10.0
_MAX_LANES = 20_000


def _shape_lines(types: list[TensorType]) -> list[str]:
    if len(types) == 1:
        return [f"Output shape: {types[0]}"]
    return [f"Output shape [{k}]: {t}" for k, t in enumerate(types)]


def _type_text(layer: object) -> str:
    """``Dense``; a wrapper with what it wraps: ``Bidirectional(LSTM)``."""
    type_name = type(layer).type_name()  # type: ignore[attr-defined]
    # Not isinstance of the wrappers' base: a loaded wrapper module loads every layer type.
    if getattr(layer, "wraps_layer", False):
        return f"{type_name}({_type_text(layer.layer)})"
    return type_name


def _box_texts(typed: TypedGraph, show_shapes: bool) -> dict[str, list[str]]:
    """Each input's and layer's lines of text, in topological order."""
    texts: dict[str, list[str]] = {}
    for name, tensor in typed.resolved.inputs.items():
        shapes = _shape_lines([tensor]) if show_shapes else []
        texts[name] = [f"{figure_label(name)} (InputLayer)", *shapes]
    for entry in top_entries(typed.resolved):  # a sub-model use is one box
        if entry.name in typed.output_types:
            shapes = _shape_lines(typed.output_types[entry.name]) if show_shapes else []
            kind = entry.kind if entry.layer is None else _type_text(entry.layer)
            texts[entry.name] = [f"{figure_label(entry.name)} ({kind})", *shapes]
    return texts


def layout_model(typed: TypedGraph, show_shapes: bool = True) -> Layout:
    """Lay out the graph of a checked spec (``specc.pipeline.check_spec``)."""
    resolved = typed.resolved
    texts = _box_texts(typed, show_shapes)
    # Every connection, as (source, output index, target, input slot).
    edges = [
        (ref.name, ref.index, entry.name, slot)
        for entry in top_entries(resolved)
        if entry.name in texts
        for slot, ref in enumerate(entry.inputs)
        if ref.name in texts
    ]
    depth = dict.fromkeys(texts, 0)
    for source, _, target, _ in edges:  # edges come in topological order of their targets
        depth[target] = max(depth[target], depth[source] + 1)

    rows: list[list[_Key]] = [[] for _ in range(1 + max(depth.values()))]
    sizes: dict[_Key, tuple[float, float]] = {}
    for name, lines in texts.items():
        rows[depth[name]].append(name)
        sizes[name] = _box_size(lines)
    # What a row member stands under: a box under its inputs (or their last lanes), a
    # lane under the box or lane above it.
    above: dict[_Key, list[_Key]] = {name: [] for name in texts}
    lanes: list[list[tuple[int, int]]] = []
    # A hostile spec (a thousand layers each taking the input) would need millions of
    # lanes; past a bound its long arrows are drawn straight through, as curves.
    passed = sum(depth[target] - depth[source] - 1 for source, _, target, _ in edges)
    with_lanes = passed <= _MAX_LANES
    for number, (source, _, target, _) in enumerate(edges):
        rows_passed = range(depth[source] + 1, depth[target]) if with_lanes else range(0)
        chain = [(number, row) for row in rows_passed]
        previous: _Key = source
        for lane in chain:
            rows[lane[1]].append(lane)
            sizes[lane] = (_LANE_WIDTH, 0.0)
            above[lane] = [previous]
            previous = lane
        above[target].append(previous)
        lanes.append(chain)

    centres: dict[_Key, float] = {}
    tops: list[float] = []
    heights: list[float] = []
    widest = max(_row_width(row, sizes) for row in rows)
    y = float(_MARGIN)
    for row in rows:
        # Barycentre ordering: a member goes under the mean of the centres of what it
        # stands under; the sort is stable, so ties keep the spec's order.
        def barycentre(key: _Key) -> float:
            xs = [centres[k] for k in above[key]]
            return sum(xs) / len(xs) if xs else 0.0

        row.sort(key=barycentre)
        x = _MARGIN + (widest - _row_width(row, sizes)) / 2
        for key in row:
            centres[key] = x + sizes[key][0] / 2
            x += sizes[key][0] + _COLUMN_GAP
        tops.append(y)
        heights.append(max(sizes[key][1] for key in row) or float(LINE_HEIGHT))
        y += heights[-1] + _ROW_GAP

    outputs = {ref.name for ref in resolved.outputs}
    boxes = {
        name: Box(
            name,
            tuple(lines),
            centres[name] - sizes[name][0] / 2,
            tops[depth[name]],
            *sizes[name],
            name in outputs,
        )
        for name, lines in texts.items()
    }
    slots = Counter(target for _, _, target, _ in edges)
    arrows = []
    for (source, index, target, slot), chain in zip(edges, lanes, strict=True):
        start, end = boxes[source], boxes[target]
        across = (index + 1) / (len(typed.output_types[source]) + 1)
        route = [(start.x + start.width * across, start.y + start.height)]
        for lane in chain:
            row = lane[1]
            route += [(centres[lane], tops[row]), (centres[lane], tops[row] + heights[row])]
        route.append((end.x + end.width * (slot + 1) / (slots[target] + 1), end.y))
        arrows.append(Arrow(source, index, target, slot, tuple(route)))
    title = figure_label(resolved.model_name)
    height = y - _ROW_GAP + _MARGIN
    return Layout(title, tuple(boxes.values()), tuple(arrows), widest + 2 * _MARGIN, height)


def _box_size(lines: list[str]) -> tuple[float, float]:
    width = max(len(line) for line in lines) * _CHAR_WIDTH + 2 * PADDING
    return width, len(lines) * LINE_HEIGHT + 2 * PADDING - (LINE_HEIGHT - FONT_SIZE)


def _row_width(row: list[_Key], sizes: dict[_Key, tuple[float, float]]) -> float:
    return sum(sizes[key][0] for key in row) + _COLUMN_GAP * (len(row) - 1)


def segments(arrow: Arrow) -> list[tuple[tuple[float, float], ...]]:
    """The arrow's route as pieces: cubic Beziers (four points: down from one point, into
    the next) between rows, straight lines (two points) down the lanes."""
    route = arrow.route
    pieces: list[tuple[tuple[float, float], ...]] = []
    for k in range(len(route) - 1):
        (x1, y1), (x2, y2) = route[k], route[k + 1]
        if k % 2:
            pieces.append(((x1, y1), (x2, y2)))
        else:
            middle = (y1 + y2) / 2
            pieces.append(((x1, y1), (x1, middle), (x2, middle), (x2, y2)))
    return pieces
