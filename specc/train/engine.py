"""The onnxruntime training API (1.19.2), imported without torch.

``import onnxruntime.training`` runs the package's ``__init__``, which imports its ``optim``
subpackage, which imports torch. The on-device training API (``artifacts``, ``onnxblock``
and ``api``) needs none of that, and torch is not a dependency of specc. So a bare package
object pointing at the same directory is registered as ``onnxruntime.training`` before the
submodules are imported: Python then finds them on that path without running the
``__init__`` (``docs/engine-notes.md#import-without-torch``). If the real package was already
imported (torch installed, someone imported it first), that one is used as it is.

This module is the one place that knows about the work-around, so that another training
backend can replace onnxruntime-training later (1.19.2 is its last release). Only the
ort-training backend and the mobile export's training artifacts import it: where the
training build is missing (the base install, Python 3.13) the import raises
``TrainingEngineMissing``, an ``ImportError`` whose message names the ``ort-training``
extra and the install recipe (``specc.train.ort_training``).
"""

from __future__ import annotations

import os
import sys
import types

import onnxruntime

from specc.train.backend import EngineError
from specc.train.native import engine_message, quiet_stderr
from specc.train.ort_training import REPLACE_STOCK, TrainingEngineMissing, install_hint

_PACKAGE = "onnxruntime.training"
_FOLDER = os.path.join(os.path.dirname(onnxruntime.__file__), "training")

# Stock onnxruntime has no training folder at all: onnxruntime-training is not installed.
if not os.path.isdir(os.path.join(_FOLDER, "api")):
    raise TrainingEngineMissing(
        f"onnxruntime-training is not installed (onnxruntime {onnxruntime.__version__} here "
        f"is the stock build); {install_hint()}"
    )

_stub = None
if _PACKAGE not in sys.modules:
    _stub = types.ModuleType(_PACKAGE)
    _stub.__path__ = [_FOLDER]
    sys.modules[_PACKAGE] = _stub

# The imports must follow the stub, which is why they are not at the top.
try:
    from onnxruntime.training import artifacts, onnxblock
    from onnxruntime.training.api import CheckpointState, Module, Optimizer
except ImportError as error:
    # The training folder is there but does not import: most often a stock onnxruntime
    # wheel (or onnxruntime-gpu) was unpacked over the training build, whose Python files
    # then call a native library without the training API.
    if sys.modules.get(_PACKAGE) is _stub:
        del sys.modules[_PACKAGE]
    raise TrainingEngineMissing(
        f"onnxruntime-training does not import ({error}): another onnxruntime build "
        f"(onnxruntime {onnxruntime.__version__}) has overwritten its files; reinstall the "
        f"ort-training extra's build alone with {REPLACE_STOCK}"
    ) from error

__all__ = [
    "CheckpointState",
    "EngineError",
    "Module",
    "Optimizer",
    "TrainingEngineMissing",
    "artifacts",
    "engine_message",
    "onnxblock",
    "quiet_stderr",
]
