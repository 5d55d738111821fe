"""A training session on onnxruntime-training: artifacts, parameters, train and eval steps.

This is the one place that drives the engine, so another backend can take its place. The
graph's first output is the total loss, which the engine differentiates; the optimizer
update happens outside the engine, on its parameter buffers (see ``specc.train.updates``).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from specc.diagnostics import Diagnostic, SpecError
from specc.emit.onnx_model import to_model_proto
from specc.train.engine import CheckpointState, Module, artifacts, quiet_stderr
from specc.train.graph import TrainingGraph
from specc.types import DTYPES, TensorType

DEVICES = ("cpu", "cuda")


class TrainingSession:
    """The training and eval models of a ``TrainingGraph``, loaded in the engine."""

    def __init__(
        self,
        training: TrainingGraph,
        opset: int = 17,
        device: str = "cpu",
        workdir: Path | None = None,
    ) -> None:
        self.training = training
        self._tmp = tempfile.TemporaryDirectory(prefix="specc-train-") if workdir is None else None
        self.workdir = Path(self._tmp.name) if self._tmp else Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        model = to_model_proto(training.graph, opset)
        with quiet_stderr():
            artifacts.generate_artifacts(
                model,
                requires_grad=training.trainable,
                frozen_params=training.frozen,
                loss=None,
                optimizer=None,
                artifact_directory=str(self.workdir),
            )
        self.state = CheckpointState.load_checkpoint(str(self.workdir / "checkpoint"))
        try:
            self.module = Module(
                str(self.workdir / "training_model.onnx"),
                self.state,
                str(self.workdir / "eval_model.onnx"),
                device=device,
            )
        except Exception as error:  # the engine reports a missing CUDA provider this way
            if device == "cpu":
                raise
            message = f"cannot train on device '{device}': {error}".splitlines()[0]
            raise SpecError([Diagnostic("SPC503-device", message)]) from None
        self.input_names = list(self.module.input_names())
        self.output_names = list(self.module.output_names())
        self.input_types = dict(training.graph.inputs)

    def _feeds(self, feeds: dict[str, np.ndarray], training: bool) -> list[np.ndarray]:
        values = []
        for name in self.input_names:
            if name == self.training.flag:
                values.append(np.array(training))
                continue
            tensor: TensorType = self.input_types[name]
            values.append(np.ascontiguousarray(feeds[name], dtype=DTYPES[tensor.dtype]))
        return values

    def train_step(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Forward and backward on one batch; gradients are left in ``gradients()``."""
        self.module.train()
        outputs = self.module(*self._feeds(feeds, training=True))
        return dict(zip(self.output_names, _as_list(outputs), strict=True))

    def eval_step(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Forward only, in inference mode (no dropout, moving statistics)."""
        self.module.eval()
        outputs = self.module(*self._feeds(feeds, training=False))
        return dict(zip(self.output_names, _as_list(outputs), strict=True))

    def parameters(self, names: list[str]) -> dict[str, np.ndarray]:
        """Views into the engine's parameter buffers: writing into them changes the model."""
        return {name: self.state.parameters[name].data for name in names}

    def gradients(self) -> dict[str, np.ndarray]:
        """Views of the accumulated gradients of the trainable parameters."""
        return {name: self.state.parameters[name].grad for name in self.training.trainable}

    def reset_gradients(self) -> None:
        """Start the next step's gradients at zero."""
        self.module.lazy_reset_grad()

    def snapshot(self) -> dict[str, np.ndarray]:
        """Copies of every parameter, trainable and frozen."""
        names = [*self.training.trainable, *self.training.frozen]
        return {name: np.array(self.state.parameters[name].data) for name in names}

    def close(self) -> None:
        """Remove the artifacts' temporary folder."""
        if self._tmp is not None:
            self._tmp.cleanup()


def _as_list(outputs: object) -> list[np.ndarray]:
    return list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]  # type: ignore[list-item]
