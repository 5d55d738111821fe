"""What a sweep writes without Ray: a trial's spec text (the original file, edited) and the
results table and best spec read back from the trials' folders."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from specc.spec.loader import load_text
from specc.spec.source import PositionMap
from specc.spec.yaml_reader import read_yaml
from specc.tune.plan import safe_id
from specc.tune.results import (
    COMPLETED,
    ERROR,
    STOPPED,
    UNFINISHED,
    TrialRow,
    best_trial,
    results_csv,
    trial_row,
    write_results,
)
from specc.tune.spec_text import spec_text
from tests.spec_helpers import ROOT

ORIGINAL = ROOT.joinpath("models", "digits_mlp.yaml").read_text()


def edited(values: dict, text: str = ORIGINAL, is_json: bool = False) -> str:
    loaded = load_text(text, "spec.yaml", is_json)
    return spec_text(text, loaded.data, values, is_json)


def data_of(text: str):
    return read_yaml(text, "spec.yaml", PositionMap())


def test_values_are_written_in_place_and_comments_kept() -> None:
    text = edited({("layers", 0, "units"): 48, ("compile", "optimizer", "learning_rate"): 0.0031})
    changed = [
        (a, b) for a, b in zip(ORIGINAL.splitlines(), text.splitlines(), strict=True) if a != b
    ]
    assert [b for _, b in changed] == [
        "  - {type: Dense, units: 48, activation: relu, kernel_initializer: "
        "{type: he_uniform, seed: 1}, inputs: pixels}",
        "  optimizer: {type: Adam, learning_rate: 0.0031}",
    ]
    assert text.startswith("# yaml-language-server")


def test_a_missing_key_is_added_to_its_flow_and_block_mappings() -> None:
    text = edited({("layers", 1, "noise_shape"): None, ("train", "shuffle"): False})
    data = data_of(text)
    assert data["layers"][1] == {"type": "Dropout", "rate": 0.1, "seed": 2, "noise_shape": None}
    assert data["train"]["shuffle"] is False
    assert "  shuffle: false\n" in text
    assert "# A small MLP" in text


def test_a_missing_section_is_added_whole() -> None:
    text = ORIGINAL.split("train:")[0]
    result = edited({("train", "seed"): 0}, text)
    assert data_of(result)["train"] == {"seed": 0}
    assert "# A small MLP" in result


def test_values_that_need_quoting_read_back_as_given() -> None:
    for value in ["yes", "a: b", "1e3", [3, 3], {"type": "L2", "l2": 0.01}, 1e-7, True]:
        text = edited({("layers", 0, "activation"): value})
        assert data_of(text)["layers"][0]["activation"] == value


def test_a_value_added_after_a_block_list_reads_back() -> None:
    text = "specc: 1\nlayers:\n  - type: Dense\n    units: 3\n    input_shape:\n      - 4\n"
    result = edited({("layers", 0, "use_bias"): False}, text)
    assert data_of(result)["layers"][0] == {
        "type": "Dense",
        "units": 3,
        "input_shape": [4],
        "use_bias": False,
    }


def test_a_json_spec_is_edited_too() -> None:
    text = json.dumps({"specc": 1, "layers": [{"type": "Dense", "units": 3, "input_shape": [4]}]})
    result = edited({("layers", 0, "units"): 5}, text, is_json=True)
    assert data_of(result)["layers"][0]["units"] == 5


def write_trial(out: Path, trial: str, values: list[float], status: str, epochs: int) -> None:
    folder = out / "trials" / trial
    folder.mkdir(parents=True)
    (folder / "history.json").write_text(json.dumps({"val_accuracy": values}))
    record = {"status": status, "epochs": epochs, "epochs_completed": len(values)}
    (folder / "run.json").write_text(json.dumps(record))
    (folder / "spec.yaml").write_text(f"# trial {trial}\n")


def test_rows_say_how_each_trial_ended(tmp_path: Path) -> None:
    write_trial(tmp_path, "a_00000", [0.5, 0.7, 0.8], "completed", 3)
    write_trial(tmp_path, "a_00001", [0.4], "interrupted", 3)  # stopped by the scheduler
    write_trial(tmp_path, "a_00002", [0.6, 0.65], "completed", 3)  # EarlyStopping
    rows = [
        trial_row("a_00000", {"p": 1}, "TERMINATED", tmp_path, "val_accuracy"),
        trial_row("a_00001", {"p": 2}, "TERMINATED", tmp_path, "val_accuracy"),
        trial_row("a_00002", {"p": 3}, "TERMINATED", tmp_path, "val_accuracy"),
        trial_row("a_00003", {"p": 4}, "ERROR", tmp_path, "val_accuracy"),
        trial_row("a_00004", {"p": 5}, "PENDING", tmp_path, "val_accuracy"),
    ]
    assert [r.status for r in rows] == [COMPLETED, STOPPED, STOPPED, ERROR, UNFINISHED]
    assert [r.epochs for r in rows] == [3, 1, 2, 0, 0]


def test_the_table_and_the_best_spec(tmp_path: Path) -> None:
    write_trial(tmp_path, "a_00000", [0.5, 0.9, 0.8], "completed", 3)
    write_trial(tmp_path, "a_00001", [0.85, 0.85, 0.85], "completed", 3)
    rows = [
        trial_row("a_00001", {"lr": 0.01}, "TERMINATED", tmp_path, "val_accuracy"),
        trial_row("a_00000", {"lr": 0.001}, "TERMINATED", tmp_path, "val_accuracy"),
    ]
    table = list(csv.reader(io.StringIO(results_csv(rows, ["lr"], "val_accuracy", "max"))))
    assert table == [
        ["trial", "lr", "last_val_accuracy", "best_val_accuracy", "epochs", "status"],
        ["a_00000", "0.001", "0.8", "0.9", "3", "completed"],
        ["a_00001", "0.01", "0.85", "0.85", "3", "completed"],
    ]
    # The best last value, as Ray Tune compares trials by default.
    assert best_trial(rows, "max").id == "a_00001"
    assert best_trial(rows, "min").id == "a_00000"
    written = write_results(rows, ["lr"], "val_accuracy", "max", tmp_path)
    assert [p.name for p in written] == ["results.csv", "best.yaml"]
    assert (tmp_path / "best.yaml").read_text() == "# trial a_00001\n"


def test_no_best_spec_when_no_trial_succeeded(tmp_path: Path) -> None:
    rows = [TrialRow("a", {}, ERROR), TrialRow("b", {}, UNFINISHED)]
    assert best_trial(rows, "max") is None
    assert [p.name for p in write_results(rows, [], "loss", "min", tmp_path)] == ["results.csv"]


@pytest.mark.parametrize("mode", ["max", "min"])
def test_non_finite_values_are_never_best(mode: str) -> None:
    rows = [
        TrialRow("a", {}, COMPLETED, [0.5, float("nan")]),
        TrialRow("b", {}, COMPLETED, [0.4]),
    ]
    assert best_trial(rows, mode).id == "b"
    assert rows[0].best(mode) == 0.5


def test_trial_ids_reach_the_file_system_sanitised() -> None:
    assert safe_id("3f2a1_00004") == "3f2a1_00004"
    assert safe_id("../../etc/x") == "______etc_x"
    assert safe_id("a\nb\x1b[31m") == "a_b__31m"
    assert safe_id("") == "trial"
    assert len(safe_id("x" * 500)) == 64
