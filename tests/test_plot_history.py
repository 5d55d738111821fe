"""Learning curves: history.json read back as untrusted input, and drawn one line per key."""

from __future__ import annotations

import json
import math
import struct
import sys
import warnings
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from specc.history_file import MAX_KEYS, HistoryError, parse_history, read_history
from specc.limits import Limits
from specc.plot_history import history_figure, panels, write_history_picture
from specc.plotting import PlotError, figure_bytes, matplotlib_installed

HISTORY = {
    "loss": [1.0, 0.6, None],
    "accuracy": [0.5, 0.7, 0.8],
    "f1_score": [[0.1, 0.2, 0.3], [0.2, 0.3, 0.4], [0.3, 0.4, 0.5]],
    "val_loss": [1.1, 0.8, 0.7],
    "val_f1_score": [[0.1, 0.1, 0.1], [0.2, 0.2, 0.2], [0.3, None, 0.3]],
    "val_only": [2.0, 1.0, 0.5],
}


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk, after checking the signature."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_a_history_reads_back_as_series() -> None:
    series = {one.key: one for one in parse_history(json.dumps(HISTORY))}
    assert list(series) == list(HISTORY)
    assert series["loss"].classes is None and series["loss"].values[:2] == [1.0, 0.6]
    assert math.isnan(series["loss"].values[2])  # null: a non-finite value when written
    assert series["f1_score"].classes == 3 and series["f1_score"].epochs == 3


def test_each_key_pairs_with_its_val_twin_loss_first() -> None:
    drawn = panels(parse_history(json.dumps(HISTORY)))
    pairs = [(p.title, p.train and p.train.key, p.validation and p.validation.key) for p in drawn]
    assert pairs == [
        ("loss", "loss", "val_loss"),
        ("accuracy", "accuracy", None),
        ("f1_score", "f1_score", "val_f1_score"),
        ("val_only", None, "val_only"),
    ]


def test_one_line_per_key_and_per_class() -> None:
    figure = history_figure(parse_history(json.dumps(HISTORY)))
    lines = {line.get_label(): line for axes in figure.axes for line in axes.get_lines()}
    expected = {"loss", "val_loss", "accuracy", "val_only"}
    expected |= {f"{key}[{c}]" for key in ("f1_score", "val_f1_score") for c in range(3)}
    assert set(lines) == expected
    assert len(lines) == sum(len(axes.get_lines()) for axes in figure.axes)
    assert [axes.get_title() for axes in figure.axes] == [
        "loss",
        "accuracy",
        "f1_score",
        "val_only",
    ]
    assert lines["val_loss"].get_linestyle() == "--" and lines["loss"].get_linestyle() == "-"
    assert list(lines["loss"].get_xdata()) == [1, 2, 3]  # epochs count from 1, as Keras's


def test_curves_as_png_and_svg(tmp_path: Path) -> None:
    series = parse_history(json.dumps(HISTORY))
    write_history_picture(series, tmp_path / "curves.png")
    width, height = png_size((tmp_path / "curves.png").read_bytes())
    assert 600 <= width <= 2000 and 300 <= height <= 2000
    write_history_picture(series, tmp_path / "curves.svg")
    root = ET.parse(tmp_path / "curves.svg").getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"


def test_hostile_keys_are_drawn_as_text(tmp_path: Path) -> None:
    # A "$" would start matplotlib's mathtext (and fail to parse); markup must stay text.
    hostile = '$\\frac{<script>alert("x")</script>&' + "\x1b[31m"
    series = parse_history(json.dumps({hostile: [1.0, 2.0], "_hidden": [3.0, 1.0]}))
    figure = history_figure(series)
    labels = [text.get_text() for axes in figure.axes for text in axes.get_legend().get_texts()]
    assert labels == ['$\\frac{<script>alert("x")</script>&\\x1b[31m', "_hidden"]
    write_history_picture(series, tmp_path / "hostile.svg")
    text = (tmp_path / "hostile.svg").read_text()
    ET.fromstring(text.encode())  # still well-formed XML
    assert "<script>" not in text


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"loss": [1, ', "h.json:1:14: error: not valid JSON: Expecting value"),
        ("[1, 2]", "h.json: error: a history is a JSON object mapping each key"),
        ("{}", "h.json: error: the history holds no keys"),
        ('{"loss": 3}', 'h.json: error: "loss" must be a list with a value per epoch; got int'),
        ('{"loss": [1, "a"]}', 'h.json: error: "loss"[1] must be a number or null; got the'),
        ('{"loss": [true]}', 'h.json: error: "loss"[0] must be a number or null; got true'),
        ('{"f1": [[1, 2], [1]]}', 'h.json: error: "f1"[1] must be a list of 2 values'),
        ('{"f1": [[1, 2], 3]}', 'h.json: error: "f1"[1] must be a list of 2 values'),
        ('{"f1": [[]]}', 'h.json: error: "f1"[0] must list one value per class; got 0'),
        ('{"f1": [[1, {}]]}', 'h.json: error: "f1"[0][1] must be a number or null; got an'),
        ('{"loss": ' + "[" * 100_000 + "]" * 100_000 + "}", "h.json: error: not valid JSON"),
        ('{"loss": [' + "9" * 5000 + "]}", "h.json: error: not valid JSON: "),
    ],
)
def test_a_bad_history_is_one_located_message(text: str, message: str) -> None:
    with pytest.raises(HistoryError) as caught:
        parse_history(text, "h.json")
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


def test_history_sizes_are_bounded(tmp_path: Path) -> None:
    many = json.dumps({f"k{n}": [1.0] for n in range(MAX_KEYS + 1)})
    with pytest.raises(HistoryError, match="at most 1,000 are drawn"):
        parse_history(many)
    path = tmp_path / "history.json"
    path.write_text(json.dumps({"loss": [1.0] * 100}))
    with pytest.raises(HistoryError, match="raise it with --limit file_size="):
        read_history(path, Limits(file_size=100))


def test_the_picture_format_comes_from_the_name(tmp_path: Path) -> None:
    with pytest.raises(PlotError, match=r"give a file name ending in \.png or \.svg"):
        write_history_picture(parse_history('{"loss": [1]}'), tmp_path / "curves.gif")
    assert not (tmp_path / "curves.gif").exists()


def test_without_matplotlib_the_error_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for module in ("matplotlib", "matplotlib.figure", "matplotlib.backends.backend_agg"):
        monkeypatch.setitem(sys.modules, module, None)  # import then raises ImportError
    assert not matplotlib_installed()
    with pytest.raises(PlotError, match=r'needs matplotlib: pip install "specc\[plot\]"'):
        history_figure(parse_history('{"loss": [1]}'))


@pytest.mark.parametrize(
    "text",
    [
        '{"loss": []}',
        '{"loss": [null, null]}',
        '{"loss": [1e308, -1e308, NaN, Infinity, -Infinity, 1]}',
        '{"loss": [3.4e38, -3.4e38]}',
        '{"loss": [1e-320, 0, 5e-324]}',
        '{"f1": [[null, 1e39], [1, 2]]}',
    ],
)
def test_extreme_values_draw(text: str, tmp_path: Path) -> None:
    series = parse_history(text)
    values = [v for one in series for row in one.values for v in (row if one.classes else [row])]
    # What no training run writes (past float32's range, not finite) is a gap.
    assert all(math.isnan(v) or abs(v) <= 3.5e38 for v in values)
    write_history_picture(series, tmp_path / "curves.png")
    png_size((tmp_path / "curves.png").read_bytes())


_VALUES = st.one_of(st.none(), st.floats(allow_nan=False, allow_infinity=False), st.integers())


@pytest.mark.slow
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.dictionaries(
        st.text(min_size=1, max_size=80),
        st.one_of(
            st.lists(_VALUES, max_size=6),
            st.integers(1, 3).flatmap(
                lambda n: st.lists(st.lists(_VALUES, min_size=n, max_size=n), max_size=4)
            ),
        ),
        min_size=1,
        max_size=5,
    )
)
def test_any_history_of_numbers_draws(history: dict) -> None:
    text = json.dumps(history)
    figure = history_figure(parse_history(text))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a missing glyph, or anything else, is not printed
        png_size(figure_bytes(figure, "png"))
    classes = [len(v[0]) if v and isinstance(v[0], list) else 1 for v in history.values()]
    assert sum(len(axes.get_lines()) for axes in figure.axes) == sum(classes)
