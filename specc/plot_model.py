"""A picture of a model's graph (``specc plot SPEC``), with no graphviz: the layout is
computed by ``specc.model_layout`` and written as SVG text (every name escaped with
``xml_text``, no dependency) or drawn as PNG with matplotlib (``specc.plotting``).
"""

from __future__ import annotations

from pathlib import Path

from specc.atomic import write_bytes, write_text
from specc.escape import xml_text
from specc.model_layout import FONT_SIZE, LINE_HEIGHT, PADDING, Layout, layout_model, segments
from specc.passes.shapes import TypedGraph
from specc.plotting import MAX_PIXELS, figure_bytes, new_figure, picture_format

_FONTS = "DejaVu Sans Mono, Menlo, Consolas, monospace"


def render_svg(layout: Layout) -> str:
    """The picture as an SVG document; every text from the spec escaped."""
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{layout.width:.0f}" '
        f'height="{layout.height:.0f}" viewBox="0 0 {layout.width:.1f} {layout.height:.1f}">',
        f"<title>{xml_text(layout.title)}</title>",
        '<defs><marker id="arrowhead" viewBox="0 0 10 10" refX="10" refY="5" '
        'markerWidth="8" markerHeight="8" orient="auto-start-reverse">'
        '<path d="M 0 0 L 10 5 L 0 10 z" fill="#444"/></marker></defs>',
        '<rect width="100%" height="100%" fill="white"/>',
        f'<g font-family="{_FONTS}" font-size="{FONT_SIZE}">',
    ]
    for arrow in layout.arrows:
        x, y = arrow.route[0]
        path = [f"M {x:.1f} {y:.1f}"]
        for piece in segments(arrow):
            points = " ".join(f"{px:.1f} {py:.1f}" for px, py in piece[1:])
            path.append(("C " if len(piece) == 4 else "L ") + points)
        parts.append(
            f'<path class="connection" d="{" ".join(path)}" fill="none" stroke="#444" '
            'stroke-width="1.2" marker-end="url(#arrowhead)"/>'
        )
    for box in layout.boxes:
        stroke = "2.5" if box.is_output else "1"
        parts.append(
            f'<rect class="layer" x="{box.x:.1f}" y="{box.y:.1f}" width="{box.width:.1f}" '
            f'height="{box.height:.1f}" rx="3" fill="#f4f6fb" stroke="#333" '
            f'stroke-width="{stroke}"/>'
        )
        for k, line in enumerate(box.lines):
            baseline = box.y + PADDING + FONT_SIZE + k * LINE_HEIGHT - 2
            weight = ' font-weight="bold"' if k == 0 else ""
            parts.append(
                f'<text x="{box.x + PADDING:.1f}" y="{baseline:.1f}"{weight} '
                f'xml:space="preserve">{xml_text(line)}</text>'
            )
    parts += ["</g>", "</svg>", ""]
    return "\n".join(parts)


def render_png(layout: Layout) -> bytes:
    """The picture as PNG, drawn with matplotlib; ``PlotError`` without it."""
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch
    from matplotlib.path import Path as CurvePath

    # One pixel of the layout is one point (1/72 inch), drawn at twice that resolution,
    # less for a picture that would pass MAX_PIXELS.
    dpi = min(144.0, MAX_PIXELS * 72 / max(layout.width, layout.height))
    figure = new_figure(layout.width / 72, layout.height / 72, dpi=dpi)
    axes = figure.add_axes((0, 0, 1, 1))
    axes.set_xlim(0, layout.width)
    axes.set_ylim(layout.height, 0)
    axes.set_axis_off()
    for arrow in layout.arrows:
        points = [arrow.route[0]]
        codes = [CurvePath.MOVETO]
        for piece in segments(arrow):
            points += piece[1:]
            codes += [CurvePath.CURVE4] * 3 if len(piece) == 4 else [CurvePath.LINETO]
        curve = CurvePath(points, codes)
        axes.add_patch(
            FancyArrowPatch(
                path=curve, arrowstyle="-|>", mutation_scale=10, color="#444", linewidth=1.2
            )
        )
    for box in layout.boxes:
        axes.add_patch(
            FancyBboxPatch(
                (box.x, box.y),
                box.width,
                box.height,
                boxstyle="round,pad=0,rounding_size=3",
                facecolor="#f4f6fb",
                edgecolor="#333",
                linewidth=2.5 if box.is_output else 1,
            )
        )
        for k, line in enumerate(box.lines):
            axes.text(
                box.x + PADDING,
                box.y + PADDING + k * LINE_HEIGHT,
                line,
                fontsize=FONT_SIZE,
                family="monospace",
                weight="bold" if k == 0 else "normal",
                va="top",
                parse_math=False,
            )
    return figure_bytes(figure, "png")


def write_model_picture(typed: TypedGraph, path: Path, show_shapes: bool = True) -> None:
    """Draw a checked spec's graph to ``path`` (``.svg``, or ``.png`` with matplotlib),
    atomically; ``PlotError`` for another suffix or a PNG without matplotlib."""
    fmt = picture_format(path)
    layout = layout_model(typed, show_shapes)
    if fmt == "svg":
        write_text(path, render_svg(layout))
    else:
        write_bytes(path, render_png(layout))
