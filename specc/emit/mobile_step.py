"""On-device training on stock onnxruntime: ``specc train``'s own step graph in ORT format.

The default training engine of ``specc export --target mobile --with-training``. It ships
the graphs ``specc train`` runs on its default backend (``specc.train.step_graph``, built
by ``specc.emit.step_export``): one run of ``train_step.ort`` is a whole training step
(forward pass, losses, gradients, the optimizer's Keras update with its schedule and
clipping, constraints, BatchNormalization's moving statistics; Dropout draws from
``optimizer.iterations``), taking the whole state as inputs and giving its next value as
``next/<name>`` outputs. Any onnxruntime inference build runs it (onnxruntime-android,
onnxruntime-objc, a minimal build from ``required_operators.config``): no training package,
every optimizer, nothing the app computes but the swap of the state.

training/ holds ``train_step.ort``, ``evaluate.ort``, ``predict.ort`` (the inference model
with its weights as inputs, so that an app predicts with the weights it trained),
``metrics.ort`` (with metrics: their statistics summed over the batches in, every metric's
value out, ``specc.emit.step_files.metrics_graph``),
``state.bin`` (the initial state) and ``training.json``, which says how to drive them:
the files and the layout the web bundle has too (``specc.emit.step_files``).
"""

from __future__ import annotations

from pathlib import Path

from specc.atomic import scratch_folder, write_bytes
from specc.autodiff import GradientForms
from specc.emit.mobile_ort import INFERENCE_PACKAGES, to_ort
from specc.emit.mobile_training import TRAINING_DIR, TrainingBundle
from specc.emit.source import ExportSource
from specc.emit.step_export import build_step_export, model_weights
from specc.emit.step_files import STATE_FILE, StepFileNames, step_bundle
from specc.limits import DEFAULT_LIMITS, Limits
from specc.onnx_model import DEFAULT_OPSET, write_model

STEP_MODEL = "train_step.ort"
EVALUATION_MODEL = "evaluate.ort"
PREDICT_MODEL = "predict.ort"
METRICS_MODEL = "metrics.ort"
FILE_NAMES = StepFileNames(STEP_MODEL, EVALUATION_MODEL, PREDICT_MODEL, METRICS_MODEL)
# The step is saved in ORT format, optimized: no weight-sized zeros for onnxruntime to fold
# into the file.
GRADIENT_FORMS = GradientForms(foldable_zeros=False)


def export_step_training(
    source: ExportSource, spec: Path, out: Path, limits: Limits = DEFAULT_LIMITS
) -> TrainingBundle:
    """Write ``out/training/`` for the standard engine, starting from ``source``'s weights
    (the trained ones for a trained folder); ``spec`` is the spec they belong to."""
    weights = model_weights(source.model)
    export = build_step_export(spec, weights, limits, str(source.origin), GRADIENT_FORMS)
    target = out / TRAINING_DIR
    target.mkdir(parents=True, exist_ok=True)
    bundle = step_bundle(export, source.model, DEFAULT_OPSET, FILE_NAMES)
    files: list[Path] = []
    with scratch_folder("specc-mobile-") as tmp:
        for name, model in bundle.models.items():
            onnx_path = Path(tmp) / Path(name).with_suffix(".onnx")
            write_model(model, onnx_path)
            files.append(to_ort(onnx_path, target / name))
    write_bytes(target / STATE_FILE, bundle.state)
    # training.json: the layout the web bundle writes too, with the engine's name and the
    # onnxruntime packages that run it.
    info = {**bundle.description, "engine": "standard", "packages": INFERENCE_PACKAGES}
    return TrainingBundle([*files, target / STATE_FILE], info, files)
