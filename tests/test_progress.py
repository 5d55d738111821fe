"""Training progress: a Keras-like bar on a terminal, one line per epoch in a log."""

from __future__ import annotations

import io

from specc.train.fit import EpochLog
from specc.train.progress import Progress


def _run(interactive: bool) -> str:
    stream = io.StringIO()
    progress = Progress(stream, interactive=interactive)
    for epoch in (1, 2):
        for step in (1, 2, 3):
            log = EpochLog(epoch, 2, step, 3, 0.5 * step, {"loss": 1.0 / (epoch * step)})
            progress(log, False)
        done = EpochLog(epoch, 2, 3, 3, 1.5, {"loss": 0.25, "val_loss": 0.5})
        progress(done, True)
    return stream.getvalue()


def test_log_gets_one_line_per_epoch() -> None:
    lines = _run(interactive=False).splitlines()
    assert lines == [
        "Epoch 1/2 - 3/3 - 2s - loss: 0.2500 - val_loss: 0.5000",
        "Epoch 2/2 - 3/3 - 2s - loss: 0.2500 - val_loss: 0.5000",
    ]


def test_a_per_class_metric_shows_its_mean() -> None:
    stream = io.StringIO()
    Progress(stream, interactive=False)(EpochLog(1, 1, 2, 2, 0.5, {"f1": [0.5, 1.0]}), True)
    assert stream.getvalue() == "Epoch 1/1 - 2/2 - 500ms - f1: 0.7500\n"


def test_terminal_gets_a_bar_with_eta_and_running_loss() -> None:
    text = _run(interactive=True)
    assert text.count("Epoch 1/2\n") == 1
    assert "\r1/3 [=========>....................] - ETA: 1s - loss: 1.0000" in text
    assert (
        "\r3/3 [==============================] - 2s 500ms/step - loss: 0.2500 - val_loss: 0.5000\n"
        in text
    )
