"""onnxruntime-training's runtime and training API load without importing torch, even where
torch is installed (the ray extra brings it): importing it cost every process about 2 s."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.ort_training

# Imports specc, onnxruntime and the training API, then says whether torch was loaded,
# and imports torch itself: what specc hid while loading must still import afterwards.
SCRIPT = """
import json, sys
import specc, onnxruntime
probe = "torch" in sys.modules
import specc.train.engine
loaded = "torch" in sys.modules
import torch
print(json.dumps([probe, loaded, torch.__name__]))
"""


@pytest.mark.skipif(
    importlib.util.find_spec("torch") is None,
    reason="torch is not installed here, so nothing could import it (the ray extra brings it)",
)
def test_the_training_api_loads_without_torch_which_still_imports_after() -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [False, False, "torch"]
