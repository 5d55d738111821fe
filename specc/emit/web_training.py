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
from specc.emit.step_export import StepExport
from specc.emit.step_files import (
    STATE_FILE,
    TRAINING_JSON,
    StepFileNames,
    metrics_graph,
    state_bytes,
    training_description,
    weights_as_inputs,
)
from specc.onnx_model import to_model_proto, write_model

STEP_MODEL = "train_step.onnx"
EVALUATION_MODEL = "evaluate.onnx"
PREDICT_MODEL = "predict.onnx"
METRICS_MODEL = "metrics.onnx"
FILE_NAMES = StepFileNames(STEP_MODEL, EVALUATION_MODEL, PREDICT_MODEL, METRICS_MODEL)
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


@dataclass
class TrainingFiles:
    """The models and the state of a training bundle, ready to write."""

    step: onnx.ModelProto
    evaluation: onnx.ModelProto
    predict: onnx.ModelProto
    state: bytes
    description: dict[str, Any]
    examples: dict[str, Any] | None = field(default=None)
    # None for a spec without metrics.
    metrics: onnx.ModelProto | None = field(default=None)


def training_files(
    exported: StepExport,
    model: onnx.ModelProto,
    opset: int,
    examples: dict[str, Any] | None = None,
) -> TrainingFiles:
    """The training bundle's files for ``exported``, whose inference model is ``model``;
    ``examples`` the demo page's rows (``specc.emit.web_examples``), if any."""
    graphs = exported.graphs
    step = to_model_proto(graphs.step, opset)
    evaluation = to_model_proto(graphs.evaluation, opset)
    predict = weights_as_inputs(model, [*exported.training.trainable, *exported.training.frozen])
    state, index = state_bytes(graphs.state)
    description = training_description(exported, index, FILE_NAMES)
    results = metrics_graph(exported)
    metrics = None if results is None else to_model_proto(results, opset)
    return TrainingFiles(step, evaluation, predict, state, description, examples, metrics)


def write_training_files(folder: Path, files: TrainingFiles) -> list[Path]:
    """Write ``files`` into ``folder`` (each atomically); return their paths."""
    written = []
    for name, model in (
        (STEP_MODEL, files.step),
        (EVALUATION_MODEL, files.evaluation),
        (PREDICT_MODEL, files.predict),
        (METRICS_MODEL, files.metrics),
    ):
        if model is None:
            continue
        write_model(model, folder / name)
        written.append(folder / name)
    write_bytes(folder / STATE_FILE, files.state)
    write_text(folder / TRAINING_JSON, json.dumps(files.description, indent=2) + "\n")
    written += [folder / STATE_FILE, folder / TRAINING_JSON]
    if files.examples is not None:
        # Compact: thousands of numbers.
        write_text(folder / EXAMPLES_JSON, json.dumps(files.examples, separators=(",", ":")))
        written.append(folder / EXAMPLES_JSON)
    return written
