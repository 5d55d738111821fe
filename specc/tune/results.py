"""What a sweep leaves in DIR besides the trials: the table, the best spec, the picture.

``results.csv``  one row per trial: its id, each parameter by its spec path, the metric's
                 last and best value, the epochs it ran, and how it ended (completed,
                 stopped early, error)
``best.yaml``    the best trial's spec (the original file, comments kept, with the best
                 values written in), ready for ``specc train``
``trials.png``   the metric per epoch of every trial, where matplotlib is installed

Each trial's own numbers come from its folder (``trials/<id>/history.json`` and
``run.json``, as ``specc train`` writes them), so the table says what the files say.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from specc.atomic import write_bytes, write_text
from specc.plotting import figure_bytes, figure_label, new_figure
from specc.train.outputs import HISTORY_FILE, RUN_FILE
from specc.tune.plan import TRIAL_ERROR, TRIAL_SPEC, TRIALS_FOLDER

RESULTS_FILE = "results.csv"
BEST_FILE = "best.yaml"
PICTURE_FILE = "trials.png"
COMPLETED, STOPPED, ERROR = "completed", "stopped early", "error"
# A trial of an interrupted sweep that had not ended (``--resume`` runs it again).
UNFINISHED = "not finished"


@dataclass
class TrialRow:
    """One trial as the table shows it."""

    id: str
    parameters: dict[str, Any]
    status: str
    history: list[float] = field(default_factory=list)  # the metric, one value per epoch

    @property
    def epochs(self) -> int:
        """Epochs the trial ran to their end."""
        return len(self.history)

    @property
    def last(self) -> float | None:
        """The metric at the last epoch."""
        return self.history[-1] if self.history else None

    def best(self, mode: str) -> float | None:
        """The metric at its best epoch, as ``mode`` (max or min) says."""
        finite = [value for value in self.history if math.isfinite(value)]
        if not finite:
            return None
        return max(finite) if mode == "max" else min(finite)


def trial_row(
    trial_id: str, parameters: dict[str, Any], ray_status: str, out: Path, metric: str
) -> TrialRow:
    """A trial's row, from what its folder holds and its status in Ray Tune (``ERROR``,
    ``TERMINATED``, or a state of a trial still to run)."""
    folder = out / TRIALS_FOLDER / trial_id
    history = _read_json(folder / HISTORY_FILE)
    values = history.get(metric, []) if isinstance(history, dict) else []
    numbers = [float(v) if isinstance(v, (int, float)) else math.nan for v in values]
    record = _read_json(folder / RUN_FILE)
    if ray_status == "ERROR" or (folder / TRIAL_ERROR).exists():
        # The second: training ended, and writing its folder failed after Tune's last
        # result.
        status = ERROR
    elif ray_status != "TERMINATED" or not isinstance(record, dict):
        status = UNFINISHED
    elif record.get("status") == "completed" and record.get("epochs_completed") == record.get(
        "epochs"
    ):
        status = COMPLETED
    else:
        status = STOPPED
    return TrialRow(trial_id, parameters, status, numbers)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def best_trial(rows: Sequence[TrialRow], mode: str) -> TrialRow | None:
    """The trial whose last value of the metric is best (Ray Tune's default scope), of
    those that did not fail."""
    scored = [
        r
        for r in rows
        if r.status in (COMPLETED, STOPPED) and r.last is not None and math.isfinite(r.last)
    ]
    if not scored:
        return None
    pick = max if mode == "max" else min
    return pick(scored, key=lambda r: r.last)  # type: ignore[arg-type, return-value]


def results_csv(rows: Sequence[TrialRow], parameters: Sequence[str], metric: str, mode: str) -> str:
    """The table's text: a header, then one row per trial in id order."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["trial", *parameters, f"last_{metric}", f"best_{metric}", "epochs", "status"])
    for row in sorted(rows, key=lambda r: r.id):
        cells = [_cell(row.parameters.get(name)) for name in parameters]
        writer.writerow(
            [row.id, *cells, _cell(row.last), _cell(row.best(mode)), row.epochs, row.status]
        )
    return buffer.getvalue()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return str(value)


def write_results(
    rows: Sequence[TrialRow], parameters: Sequence[str], metric: str, mode: str, out: Path
) -> list[Path]:
    """Write ``results.csv`` and ``best.yaml`` (when a trial succeeded) atomically; the
    paths written."""
    written = [out / RESULTS_FILE]
    write_text(out / RESULTS_FILE, results_csv(rows, parameters, metric, mode))
    best = best_trial(rows, mode)
    if best is not None:
        spec = out / TRIALS_FOLDER / best.id / TRIAL_SPEC
        write_text(out / BEST_FILE, spec.read_text(encoding="utf-8"))
        written.append(out / BEST_FILE)
    return written


def write_trials_picture(rows: Sequence[TrialRow], metric: str, path: Path) -> None:
    """The metric per epoch, one line per trial (``PlotError`` without matplotlib)."""
    figure = new_figure(7, 4.5)
    axes = figure.add_subplot(1, 1, 1)
    for k, row in enumerate(sorted(rows, key=lambda r: r.id)):
        if not row.history:
            continue
        epochs = list(range(1, row.epochs + 1))
        style = "-" if row.status == COMPLETED else ":"
        axes.plot(
            epochs,
            row.history,
            style,
            marker="o",
            markersize=3,
            color=f"C{k % 10}",
            label=figure_label(row.id),
        )
    axes.set_title(figure_label(metric), parse_math=False)
    axes.set_xlabel("epoch")
    axes.grid(alpha=0.3)
    lines = axes.get_lines()
    if lines:
        legend = axes.legend(
            lines,
            [line.get_label() for line in lines],
            fontsize="small",
            ncol=math.ceil(len(lines) / 12),
        )
        for text in legend.get_texts():
            text.set_parse_math(False)
    figure.set_layout_engine("constrained")
    write_bytes(path, figure_bytes(figure, "png"))


def parameters_of(config: Mapping[str, Any] | None, names: Sequence[str]) -> dict[str, Any]:
    """A trial's sampled values by the search file's keys."""
    config = config or {}
    return {name: config[name] for name in names if name in config}
