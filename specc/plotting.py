"""What every picture specc draws shares: the formats an ``--out`` name picks, matplotlib
on its non-interactive Agg canvas (an optional install), and text made safe for a figure.

matplotlib is imported only when a picture needs it: the base install has no drawing
library, and SVG pictures of a model are written without one (``specc.plot_model``).
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from specc.escape import excerpt, unpaired_escaped

if TYPE_CHECKING:
    from matplotlib.figure import Figure

INSTALL_HINT = 'pip install "specc[plot]"'
# The formats a picture is written in, by the suffix of its file name.
PICTURE_FORMATS = {".png": "png", ".svg": "svg"}
# The longest text (a layer's or a history key's name) shown in a picture; longer text is
# cut, so that one hostile name cannot make a picture kilometres wide.
LABEL_WIDTH = 60
# matplotlib refuses images past 2**16 pixels a side; a picture of a huge model is drawn
# at a lower resolution rather than refused.
MAX_PIXELS = 16_000


class PlotError(Exception):
    """A picture cannot be made: matplotlib is missing, or the file name's format is not
    one specc writes. The message says what to do."""


def picture_format(path: Path, allowed: tuple[str, ...] = ("png", "svg")) -> str:
    """The format ``path``'s suffix picks (``png`` or ``svg``); ``PlotError`` for another."""
    fmt = PICTURE_FORMATS.get(path.suffix.lower())
    if fmt is None or fmt not in allowed:
        choices = " or ".join(f".{name}" for name in allowed)
        raise PlotError(
            f"cannot tell the picture's format from {excerpt(path.name)!s}: "
            f"give a file name ending in {choices}"
        )
    return fmt


def new_figure(width_inches: float, height_inches: float, dpi: float = 100) -> Figure:
    """A matplotlib figure on the Agg canvas, named explicitly: no GUI backend is ever
    chosen (CI has no display) and pyplot's global state is never touched.
    ``PlotError`` when matplotlib is not installed."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise PlotError(f"drawing this picture needs matplotlib: {INSTALL_HINT}") from None
    figure = Figure(figsize=(width_inches, height_inches), dpi=dpi)
    FigureCanvasAgg(figure)
    return figure


def matplotlib_installed() -> bool:
    """Whether matplotlib can be imported (``specc[plot]``)."""
    try:
        new_figure(1, 1)
    except PlotError:
        return False
    return True


def figure_bytes(figure: Figure, fmt: str) -> bytes:
    """The figure as a PNG or SVG file's bytes. No date or software version is embedded,
    so the same figure gives the same file."""
    buffer = io.BytesIO()
    metadata = {"Software": None} if fmt == "png" else {"Date": None, "Creator": None}
    with warnings.catch_warnings():
        # A name in a script the font lacks is drawn as a box; matplotlib's warning about
        # each such character would only clutter the command's output.
        warnings.filterwarnings("ignore", "Glyph .* missing from", UserWarning)
        figure.savefig(buffer, format=fmt, metadata=metadata)
    return buffer.getvalue()


def figure_label(text: str) -> str:
    """Text from a file (a history key, a layer name) for a matplotlib label: control
    characters and lone surrogates (which matplotlib cannot render) escaped, cut to
    ``LABEL_WIDTH``. Callers also pass ``parse_math=False``, so a ``$`` starts no
    formula."""
    return unpaired_escaped(excerpt(text, LABEL_WIDTH))
