"""Whether onnxruntime-training can be used here, and what to install when it cannot.

The ort-training backend (``specc.train.session``) and the mobile export's on-device
training artifacts (``specc.emit.mobile_training``) need onnxruntime-training 1.19.2, the
optional ``ort-training`` extra, whose wheels stop at Python 3.12. Its wheel ships a whole
``onnxruntime`` module (the stock runtime plus ``onnxruntime.training``) into the same
folder as the stock ``onnxruntime`` wheel of specc's base install; with both installed,
whichever was unpacked last wins file by file. So the recipe (README.md, "Install") removes
the stock wheel and reinstalls the training build alone, which runs the default backend
too. ``specc.train.engine`` raises ``TrainingEngineMissing`` when it cannot import the
training API; everything else asks ``training_engine_problem`` before starting work.
"""

from __future__ import annotations

import functools
import importlib
import sys

EXTRA = "ort-training"
TRAINING_BUILD = "onnxruntime-training-cpu==1.19.2"
#: What puts the training build in place of stock onnxruntime, after the extra's install.
REPLACE_STOCK = (
    f"pip uninstall -y onnxruntime && pip install --force-reinstall --no-deps {TRAINING_BUILD}"
)
#: The last Python the training build has wheels for.
LAST_PYTHON = (3, 12)


class TrainingEngineMissing(ImportError):
    """onnxruntime's training API cannot be imported; the message says what to install."""


def install_hint() -> str:
    """How to get onnxruntime-training on this Python, as a clause to end a message with."""
    steps = f'pip install "specc[{EXTRA}]", then {REPLACE_STOCK}'
    if sys.version_info[:2] > LAST_PYTHON:
        here = ".".join(map(str, sys.version_info[:2]))
        return (
            f"it has no release for Python {here}: install it in a Python 3.10 to 3.12 "
            f"environment with {steps}"
        )
    return f"install it with {steps}"


@functools.cache
def training_engine_problem() -> str | None:
    """None when the onnxruntime training API imports; else one line saying why not and
    what to install. The first call imports ``specc.train.engine`` (about a second)."""
    try:
        importlib.import_module("specc.train.engine")
    except TrainingEngineMissing as error:
        return str(error)
    return None
