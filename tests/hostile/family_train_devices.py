"""``specc train --device`` for a device the installed engine cannot use: one line naming
the problem and what to install, no engine text."""

from __future__ import annotations

import onnxruntime

from tests.hostile.case import Case, Outcome
from tests.hostile.train_inputs import TRAIN, absent, check_all, one_line, tiny_files

FAMILY = "devices"


def _no_engine_text(outcome: Outcome) -> str | None:
    for text in ("onnxruntime_src", "<spec>", "std::"):
        if text in outcome.output:
            return f"the message holds engine text {text!r}"
    return None


CASES = (
    []
    if "CUDAExecutionProvider" in onnxruntime.get_available_providers()
    else [
        Case(
            FAMILY,
            "cuda without a CUDA build",
            [*TRAIN, "--device", "cuda", "--out", "trained"],
            tiny_files(),
            exit_code=1,
            output_has=(
                r"^tiny\.yaml: error: cannot train on device 'cuda'",
                # The default backend runs on stock onnxruntime: its CUDA build is the extra.
                r'pip install "specc\[cuda\]"',
                r"SPC503-device",
            ),
            check=check_all(one_line, _no_engine_text, absent("trained")),
        )
    ]
)
