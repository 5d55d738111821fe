"""The model graph picture: one box per input and layer, one arrow per connection, rows by
depth, every text from the spec escaped; SVG without a dependency, PNG with matplotlib."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from specc import model_layout
from specc.model_layout import Box, Layout, layout_model
from specc.pipeline import check_spec, check_text
from specc.plot_model import render_svg, write_model_picture
from specc.plotting import PlotError
from tests.spec_helpers import ROOT
from tests.test_plot_history import png_size

SVG = "{http://www.w3.org/2000/svg}"

# Two inputs, two outputs; a layer with three outputs (an LSTM with its states) whose
# second and third feed other layers; a merge taking the same value twice.
BRANCHING = """\
specc: 1
name: branching
inputs:
  sequence: {shape: [5, 3]}
  extra: {shape: [4]}
layers:
  - {name: lstm, type: LSTM, units: 4, return_state: true, inputs: sequence}
  - {name: state_dense, type: Dense, units: 4, inputs: "lstm[1]"}
  - {name: extra_dense, type: Dense, units: 4, inputs: extra}
  - {name: total, type: Add, inputs: [lstm, "lstm[2]", state_dense, extra_dense, extra_dense]}
  - {name: head, type: Dense, units: 2, inputs: total}
outputs: [head, state_dense]
"""
BRANCHING_CONNECTIONS = [
    ("sequence", 0, "lstm", 0),
    ("lstm", 1, "state_dense", 0),
    ("extra", 0, "extra_dense", 0),
    ("lstm", 0, "total", 0),
    ("lstm", 2, "total", 1),
    ("state_dense", 0, "total", 2),
    ("extra_dense", 0, "total", 3),
    ("extra_dense", 0, "total", 4),
    ("total", 0, "head", 0),
]


def _svg(layout: Layout) -> ET.Element:
    return ET.fromstring(render_svg(layout).encode("utf-8"))


def test_one_box_per_layer_and_one_arrow_per_connection() -> None:
    layout = layout_model(check_text(BRANCHING))
    root = _svg(layout)
    rects = root.findall(f".//{SVG}rect[@class='layer']")
    arrows = root.findall(f".//{SVG}path[@class='connection']")
    names = ["sequence", "extra", "lstm", "state_dense", "extra_dense", "total", "head"]
    assert sorted(box.name for box in layout.boxes) == sorted(names)
    assert len(rects) == len(names)
    assert [(a.source, a.index, a.target, a.slot) for a in layout.arrows] == (BRANCHING_CONNECTIONS)
    assert len(arrows) == len(BRANCHING_CONNECTIONS)
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "lstm (LSTM)" in texts and "total (Add)" in texts
    assert "Output shape [2]: (None, 4)" in texts and "Output shape: (None, 5, 3)" in texts
    assert {box.name for box in layout.boxes if box.is_output} == {"head", "state_dense"}


def test_rows_follow_depth_and_arrows_point_down_between_boxes() -> None:
    layout = layout_model(check_text(BRANCHING))
    boxes = {box.name: box for box in layout.boxes}
    assert boxes["sequence"].y == boxes["extra"].y  # both inputs on the first row
    assert boxes["lstm"].y == boxes["extra_dense"].y
    assert boxes["sequence"].y < boxes["lstm"].y < boxes["state_dense"].y < boxes["total"].y
    for arrow in layout.arrows:
        source, target = boxes[arrow.source], boxes[arrow.target]
        (x0, y0), (x1, y1) = arrow.route[0], arrow.route[-1]
        assert y0 == source.y + source.height and source.x <= x0 <= source.x + source.width
        assert y1 == target.y and target.x <= x1 <= target.x + target.width
    # Boxes of a row never overlap.
    for a in layout.boxes:
        for b in layout.boxes:
            if a is not b and a.y == b.y:
                assert a.x + a.width <= b.x or b.x + b.width <= a.x
    # The two arrows from extra_dense into total end at different points.
    ends = [a.route[-1] for a in layout.arrows if a.source == "extra_dense" and a.target == "total"]
    assert len(set(ends)) == 2


def test_an_arrow_passing_a_row_goes_around_its_boxes() -> None:
    layout = layout_model(check_spec(ROOT / "models" / "two_inputs_two_outputs.yaml"))
    boxes = {box.name: box for box in layout.boxes}
    long = next(a for a in layout.arrows if (a.source, a.target) == ("feature_dense", "merged"))
    assert len(long.route) == 4  # start, the lane's top and bottom in token_flat's row
    lane_x = long.route[1][0]
    flat = boxes["token_flat"]
    assert not flat.x <= lane_x <= flat.x + flat.width


def test_wrappers_are_one_box_and_shapes_can_be_left_out() -> None:
    layout = layout_model(check_spec(ROOT / "models" / "imdb_bilstm.yaml"), show_shapes=False)
    lines = [box.lines for box in layout.boxes]
    assert ("bidirectional (Bidirectional(LSTM))",) in lines
    assert all(len(box_lines) == 1 for box_lines in lines)


def test_text_from_the_spec_is_escaped_in_svg(tmp_path: Path) -> None:
    hostile = "<script>alert(\"x\")</script> & 'quoted' \ud800"
    spec = tmp_path / "hostile.json"
    spec.write_text(
        # A model name may hold anything but control characters and "/" (as Keras's).
        '{"specc": 1, "name": "<script>alert(\\"x\\") & \'q\'", "layers": '
        '[{"type": "Dense", "units": 2, "input_shape": [3]}]}'
    )
    write_model_picture(check_spec(spec), tmp_path / "model.svg")
    text = (tmp_path / "model.svg").read_text()
    assert "<script>" not in text
    assert "<title>&lt;script&gt;alert(&quot;x&quot;) &amp; &#x27;q&#x27;</title>" in text
    root = ET.fromstring(text.encode())
    assert root.find(f"{SVG}title").text == "<script>alert(\"x\") & 'q'"
    # Layer names cannot hold markup, but the writer escapes every line it is given.
    layout = Layout(hostile, (Box("x", (hostile,), 0, 0, 10, 10, False),), (), 20, 20)
    root = _svg(layout)
    assert [t.text for t in root.iter(f"{SVG}text")] == [
        "<script>alert(\"x\")</script> & 'quoted' \\ud800"
    ]


def test_png_is_a_picture_of_sensible_size(tmp_path: Path) -> None:
    typed = check_text(BRANCHING)
    write_model_picture(typed, tmp_path / "model.png")
    width, height = png_size((tmp_path / "model.png").read_bytes())
    layout = layout_model(typed)
    # Drawn at twice the layout's size (one layout pixel is one point at 144 dpi).
    assert abs(width - 2 * layout.width) <= 2 and abs(height - 2 * layout.height) <= 2
    assert 400 <= width <= 4000 and 400 <= height <= 4000


def test_other_formats_are_refused(tmp_path: Path) -> None:
    with pytest.raises(PlotError, match=r"ending in \.png or \.svg"):
        write_model_picture(check_text(BRANCHING), tmp_path / "model.pdf")
    assert list(tmp_path.iterdir()) == []


def test_past_the_lane_bound_long_arrows_are_drawn_direct(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spec = check_spec(ROOT / "models" / "two_inputs_two_outputs.yaml")
    assert max(len(arrow.route) for arrow in layout_model(spec).arrows) == 4
    monkeypatch.setattr(model_layout, "_MAX_LANES", 0)
    layout = layout_model(spec)
    assert len(layout.arrows) == 9
    assert all(len(arrow.route) == 2 for arrow in layout.arrows)
