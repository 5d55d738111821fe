"""The onnxruntime training API (1.19.2), imported without torch.

``import onnxruntime.training`` runs the package's ``__init__``, which imports its ``optim``
subpackage, which imports torch. The on-device training API (``artifacts``, ``onnxblock``
and ``api``) needs none of that, and torch is not a dependency of specc. So a bare package
object pointing at the same directory is registered as ``onnxruntime.training`` before the
submodules are imported: Python then finds them on that path without running the
``__init__`` (``docs/engine-notes.md#import-without-torch``). If the real package was already
imported (someone imported it first), that one is used as it is. Where torch is installed
(the ray extra brings it), torch is also kept from being found while the API loads, and
``specc/__init__.py`` keeps ``import onnxruntime`` from probing for the PyTorch front end:
each cost every process about 2 s.

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

# onnxruntime.tools (which artifacts imports) loads its PyTorch export helpers, and so
# torch, wherever it finds torch installed: 2 s for nothing specc calls. Where torch is not
# loaded yet, it is not found while the API loads (a None entry makes find_spec say so),
# as if it were not installed, the set-up the suite's Python 3.11 run without torch checks.
_hidden = "torch" not in sys.modules
if _hidden:
    sys.modules["torch"] = None  # type: ignore[assignment]

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
finally:
    if _hidden and "torch" in sys.modules and sys.modules["torch"] is None:
        del sys.modules["torch"]

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
