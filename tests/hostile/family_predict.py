"""``specc predict`` and ``specc evaluate`` on hostile input: a trained folder from a download
(read as export reads it), labels made to break a CSV or a terminal, data and file names
with escape sequences, an --out of the wrong kind. Each is one located error, exit 1, or,
for text that is only shown or stored, a clean run with that text escaped."""

from __future__ import annotations

import csv
import os

import numpy as np
from onnx import numpy_helper

from tests.hostile.case import Case, Outcome
from tests.hostile.export_inputs import (
    SPEC,
    model_bytes,
    output_described,
    spec_text,
    trained_folder,
    trained_model,
)
from tests.hostile.npz_files import npz

FAMILY = "predict and evaluate"
INPUTS = npz(input_layer=np.ones((3, 4), np.float32))
# One sample per class: each row is a class's kernel column, scaled, so that class wins.
_KERNEL = {t.name: numpy_helper.to_array(t) for t in trained_model().graph.initializer}
EACH_CLASS = npz(input_layer=(10 * _KERNEL["dense.kernel"].T).astype(np.float32))
PREDICT = ["predict", "run", "--data", "x.npz", "--out", "out.csv"]
HOSTILE_LABELS = ['=HYPERLINK("http://x")', "a,b\r\nc", "\x1b]0;pwned\x07"]


def _no_out(outcome: Outcome) -> str | None:
    leftovers = [p.name for p in outcome.folder.iterdir() if p.name.startswith(("out", ".out"))]
    return f"wrote {leftovers}" if leftovers else None


def _labels_stored_as_text(outcome: Outcome) -> str | None:
    with open(outcome.folder / "out.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    if rows[0][-1] != "dense_label" or len(rows) != 4:
        return f"unexpected table {rows[:2]}"
    shown = {"'" + HOSTILE_LABELS[0], HOSTILE_LABELS[1], HOSTILE_LABELS[2]}
    found = {row[-1] for row in rows[1:]}
    return f"labels read back as {sorted(found)}" if found != shown else None


def _case(name: str, argv: list[str], files: dict, pattern: str, check=_no_out) -> Case:
    return Case(FAMILY, name, argv, files, output_has=(pattern,), check=check)


CASES = [
    _case(
        "trained model is not protobuf",
        PREDICT,
        {**trained_folder(model=os.urandom(4096)), "x.npz": INPUTS},
        r"run/model\.onnx: error: .*is not an ONNX model",
    ),
    _case(
        "metadata naming an output the graph lacks",
        PREDICT,
        {**trained_folder(model=output_described(name="other")), "x.npz": INPUTS},
        r"metadata lists the outputs",
    ),
    Case(
        FAMILY,
        "labels made to break a CSV and a terminal",
        PREDICT,
        {**trained_folder(model=output_described(labels=HOSTILE_LABELS)), "x.npz": EACH_CLASS},
        exit_code=0,
        output_has=(r"wrote out\.csv: dense, dense_class, dense_label for 3 samples",),
        check=_labels_stored_as_text,
    ),
    _case(
        "out with an escape sequence and no known extension",
        ["predict", "run", "--data", "x.npz", "--out", "out\x1b[2J.txt"],
        {**trained_folder(), "x.npz": INPUTS},
        r"--out must end in \.npz or \.csv.*\\x1b\[2J",
    ),
    _case(
        "data holding only an array with an escape sequence in its name",
        PREDICT,
        {**trained_folder(), "x.npz": npz(**{"\x1b[31mx": np.ones((3, 4), np.float32)})},
        r"no array 'input_layer'.*\\x1b\[31mx.*\[SPC522-missing-data\]",
    ),
    _case(
        "data of the wrong shape",
        PREDICT,
        {**trained_folder(), "x.npz": npz(input_layer=np.ones((3, 5), np.float32))},
        r"x\.npz: error: .*\[SPC524-data-shape\]",
    ),
    _case(
        "evaluate a trained folder without its spec",
        ["evaluate", "run", "--data", "x.npz"],
        {**trained_folder(), "x.npz": INPUTS},
        r"run: error: .*needs the spec it was trained from \(--spec SPEC\)",
    ),
    _case(
        "evaluate a trained folder whose spec.json is no spec",
        ["evaluate", "run", "--data", "x.npz"],
        {
            **trained_folder(),
            "run/spec.json": '{"specc": 1, "layers": "<script>"}',
            "x.npz": INPUTS,
        },
        r"run/spec\.json:\d+:\d+: error: ",
    ),
    _case(
        "evaluate a trained folder whose weights do not fit the spec",
        ["evaluate", "run", "--spec", SPEC, "--data", "x.npz"],
        {
            **trained_folder(),
            SPEC: spec_text(loss=True),
            "x.npz": npz(input_layer=np.ones((3, 4), np.float32), dense=np.zeros(3, np.int64)),
        },
        r"run/weights\.npz: error: .*\[SPC41[234]-",
    ),
    _case(
        "predict a spec into a folder",
        ["predict", SPEC, "--data", "x.npz", "--out", "out.npz"],
        {SPEC: spec_text(), "x.npz": INPUTS, "out.npz/keep": model_bytes()[:10]},
        r"out\.npz: error: --out names a folder",
        check=None,
    ),
]
