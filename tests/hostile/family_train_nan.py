"""Training whose loss becomes NaN or infinite: by default it stops at once with a clear
message and writes nothing, as Keras's TerminateOnNaN stops; history.json is strict JSON."""

from __future__ import annotations

from tests.hostile.case import Case, Outcome
from tests.hostile.train_inputs import (
    DIVERGING_SPEC,
    TRAIN,
    absent,
    check_all,
    one_line,
    regression_data,
    strict_json,
    tiny_files,
    tiny_weights,
)

FAMILY = "nan training"


def _history_has_null(outcome: Outcome) -> str | None:
    try:
        history = strict_json(outcome.folder / "trained" / "history.json")
    except (OSError, ValueError) as exc:
        return f"history.json is not strict JSON: {exc}"
    return None if None in history["loss"] else f"no null in {history['loss']}"


CASES = [
    Case(
        FAMILY,
        "NaN in the initial weights",
        [*TRAIN, "--weights", "nan.npz", "--out", "trained", "-q"],
        tiny_files(**{"nan.npz": tiny_weights(float("nan"))}),
        exit_code=1,
        output_has=(r"(?i)\bnan\b|not finite",),
        check=check_all(one_line, absent("trained")),
    ),
    Case(
        FAMILY,
        "learning rate that diverges",
        ["train", "diverging.yaml", "--data", "data.npz", "--out", "trained", "-q"],
        {"diverging.yaml": DIVERGING_SPEC, "data.npz": regression_data()},
        exit_code=1,
        output_has=(r"loss became (nan|inf) at epoch 1/2, batch 2/4", r"SPC540"),
        check=check_all(one_line, absent("trained")),
    ),
    Case(
        FAMILY,
        "targets whose squared error overflows",
        ["train", "diverging.yaml", "--data", "data.npz", "--out", "trained", "-q"],
        {
            "diverging.yaml": DIVERGING_SPEC.replace("1.0e+30", "0.01"),
            "data.npz": regression_data(target=1e30),
        },
        exit_code=1,
        output_has=(r"loss became inf at epoch 1/2, batch 1/4", r"SPC540"),
        check=check_all(one_line, absent("trained")),
    ),
    Case(
        FAMILY,
        "no-terminate-on-nan writes strict JSON",
        [
            *["train", "diverging.yaml", "--data", "data.npz", "--out", "trained", "-q"],
            "--no-terminate-on-nan",
        ],
        {"diverging.yaml": DIVERGING_SPEC, "data.npz": regression_data()},
        exit_code=0,
        check=_history_has_null,
    ),
]
