"""Which tests need onnxruntime-training, and whether it is installed here.

onnxruntime-training (the ``ort-training`` extra, Python 3.10 to 3.12) runs the
ort-training backend and writes the mobile export's training artifacts; the base install
has stock onnxruntime only. The same suite runs in both: a test that needs the training
build is marked ``@pytest.mark.ort_training`` (a whole module: ``pytestmark``), and
``tests/conftest.py`` skips it, giving the reason, where ``specc.train.engine`` does not
import. A module that imports the engine at its top does it under ``if HAVE_ORT_TRAINING:``
so that its other tests still run; a test that uses the engine without the marker fails
there with a NameError, never passes unseen.

With ``SPECC_REQUIRE_ORT_TRAINING=1`` (CI's environment with the extra) a missing training
build stops the run instead: there, skipping would hide a broken install.
"""

from __future__ import annotations

from specc.train.ort_training import training_engine_problem

#: Why the training build cannot be used here (None when it can).
PROBLEM = training_engine_problem()
HAVE_ORT_TRAINING = PROBLEM is None
REQUIRE_ENV = "SPECC_REQUIRE_ORT_TRAINING"
MARKER = "ort_training"
