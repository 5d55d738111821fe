"""specc: neural networks written as specs in Keras's vocabulary, compiled to ONNX."""

import sys

# onnxruntime-training's `import onnxruntime` probes for its PyTorch front end by importing
# `onnxruntime.training.ortmodule`, which imports torch wherever torch is installed: about
# 2 s at the start of every process, for a front end specc never uses (the probe then
# fails anyway). A module that is None in sys.modules is not found, at once, without its
# parent package being imported; stock onnxruntime has no such probe. Set before specc
# imports onnxruntime, and left in place: `specc.train.engine` loads the training API
# without that package (docs/engine-notes.md#import-without-torch).
if "onnxruntime" not in sys.modules:
    sys.modules.setdefault("onnxruntime.training.ortmodule", None)  # type: ignore[arg-type]
