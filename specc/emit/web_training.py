"""``specc export --target web --with-training``: the files that let the bundle train.

Beside the inference model, a training bundle holds:

- ``train_step.onnx``: ``specc train``'s step graph (``specc.emit.step_export``): the
  batch and the whole training state in, the losses, the metrics' statistics and every
  state tensor's next value (``next/<name>``) out;
- ``evaluate.onnx``: the evaluation graph (inference mode, the losses and statistics);
- ``predict.onnx``: the inference model with its parameters as inputs, so that predictions
  use the weights trained in the page;
- ``metrics.onnx`` (with metrics): the metrics graph, their statistics summed over the
  batches in, their values out (``specc.emit.step_files.metrics_graph``);
- ``state.bin``: the initial state, each tensor's little-endian bytes at an offset that is
  a multiple of 8 (``training.json`` indexes it);
- ``training.json``: how to drive them, in the layout the mobile bundle writes too.

The state, the prediction model and ``training.json`` come from ``specc.emit.step_files``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import onnx

from specc.atomic import write_bytes, write_text
from specc.autodiff import GradientForms
from specc.emit.source import ExportSource
from specc.emit.step_export import StepExport, export_step
from specc.emit.step_files import (
    STATE_FILE,
    TRAINING_JSON,
    StepBundle,
    StepFileNames,
    step_bundle,
)
from specc.limits import DEFAULT_LIMITS, Limits
from specc.onnx_model import write_model

STEP_MODEL = "train_step.onnx"
EVALUATION_MODEL = "evaluate.onnx"
PREDICT_MODEL = "predict.onnx"
METRICS_MODEL = "metrics.onnx"
FILE_NAMES = StepFileNames(STEP_MODEL, EVALUATION_MODEL, PREDICT_MODEL, METRICS_MODEL)
# The gradients every provider of onnxruntime-web runs: WebAssembly and WebGPU, which
# has no MaxPool Indices output.
GRADIENT_FORMS = GradientForms(max_pool_indices=False)
# The demo page's example rows (``specc.emit.web_examples``), with --data.
EXAMPLES_JSON = "examples.json"
TRAINING_FILES = (
    STEP_MODEL,
    EVALUATION_MODEL,
    PREDICT_MODEL,
    METRICS_MODEL,
    STATE_FILE,
    TRAINING_JSON,
    EXAMPLES_JSON,
)


def export_web_step(
    source: ExportSource, spec: Path, limits: Limits = DEFAULT_LIMITS
) -> StepExport:
    """``spec``'s step graphs from ``source``'s weights, in the gradient forms every
    provider of onnxruntime-web runs (``export_step``)."""
    return export_step(source, spec, limits, GRADIENT_FORMS)


@dataclass
class TrainingFiles:
    """The models and the state of a training bundle, ready to write."""

    bundle: StepBundle
    examples: dict[str, Any] | None = field(default=None)

    @property
    def step(self) -> onnx.ModelProto:
        """The training step's model."""
        return self.bundle.models[STEP_MODEL]

    @property
    def evaluation(self) -> onnx.ModelProto:
        """The evaluation graph's model."""
        return self.bundle.models[EVALUATION_MODEL]


def training_files(
    exported: StepExport,
    model: onnx.ModelProto,
    opset: int,
    examples: dict[str, Any] | None = None,
) -> TrainingFiles:
    """The training bundle's files for ``exported``, whose inference model is ``model``;
    ``examples`` the demo page's rows (``specc.emit.web_examples``), if any."""
    return TrainingFiles(step_bundle(exported, model, opset, FILE_NAMES), examples)


def write_training_files(folder: Path, files: TrainingFiles) -> list[Path]:
    """Write ``files`` into ``folder`` (each atomically); return their paths."""
    written = []
    bundle = files.bundle
    for name, model in bundle.models.items():
        write_model(model, folder / name)
        written.append(folder / name)
    write_bytes(folder / STATE_FILE, bundle.state)
    write_text(folder / TRAINING_JSON, json.dumps(bundle.description, indent=2) + "\n")
    written += [folder / STATE_FILE, folder / TRAINING_JSON]
    if files.examples is not None:
        # Compact: thousands of numbers.
        write_text(folder / EXAMPLES_JSON, json.dumps(files.examples, separators=(",", ":")))
        written.append(folder / EXAMPLES_JSON)
    return written
