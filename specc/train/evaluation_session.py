"""An evaluation-only session of the standard backend: what ``specc evaluate`` runs.

It loads the evaluation graph alone (``specc.train.evaluation_graph``) with the training
graph's weights, so that evaluating never differentiates the model nor builds an
optimizer's update, which a ``StandardSession`` does before its first batch. The ways to
start onnxruntime and to run the evaluation graph on a batch are shared with that session.
"""

from __future__ import annotations

import numpy as np
import onnxruntime

from specc.onnx_model import to_model_proto
from specc.train.backend import PROVIDERS, EngineError
from specc.train.evaluation_graph import build_evaluation_graph
from specc.train.graph import TrainingGraph
from specc.train.native import engine_message
from specc.types import DTYPES


class EvaluationSession:
    """The losses and the metrics' statistics of a ``TrainingGraph``'s forward pass in
    inference mode, batch by batch, with the weights the training graph holds."""

    def __init__(self, training: TrainingGraph, opset: int, device: str = "cpu") -> None:
        graph = build_evaluation_graph(training)
        self._session = start_session(to_model_proto(graph, opset), device)
        self.outputs = [name for name, _ in graph.outputs]
        # The weights are bound once: no step ever changes them.
        self._weights = {
            name: onnxruntime.OrtValue.ortvalue_from_numpy(
                np.array(training.graph.initializers[name], copy=True), device, 0
            )
            for name in training.graph.parameters
        }
        inputs = dict(training.graph.inputs)
        self._batch_dtypes = {n: DTYPES[inputs[n].dtype] for n in training.batch_inputs}

    def eval_step(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Forward only, in inference mode: the evaluation graph's outputs on a batch."""
        batch = batch_arrays(feeds, self._batch_dtypes)
        return run_evaluation(self._session, batch, self._weights, self.outputs)

    def close(self) -> None:
        """Nothing to remove: the session holds no files."""


def start_session(
    model: object, device: str, session_options: onnxruntime.SessionOptions | None = None
) -> onnxruntime.InferenceSession:
    """An onnxruntime session of ``model`` (an ``onnx.ModelProto``) on ``device``, its log
    quiet; ``EngineError`` when onnxruntime cannot start."""
    options = session_options or onnxruntime.SessionOptions()
    options.log_severity_level = 3
    serialized = model.SerializeToString()  # type: ignore[attr-defined]
    try:
        return onnxruntime.InferenceSession(serialized, options, providers=[PROVIDERS[device]])
    except Exception as error:
        # Memory, or a provider listed but unloadable (the CUDA build without CUDA's
        # libraries): nothing the spec can fix.
        message = f"cannot start onnxruntime on {device}: {engine_message(error)}"
        raise EngineError(message) from error


def batch_arrays(
    feeds: dict[str, np.ndarray], dtypes: dict[str, np.dtype]
) -> dict[str, np.ndarray]:
    """The batch inputs of ``feeds``, contiguous and of the dtypes the graph takes."""
    return {name: np.ascontiguousarray(feeds[name], dtype=dtype) for name, dtype in dtypes.items()}


def run_evaluation(
    session: onnxruntime.InferenceSession,
    batch: dict[str, np.ndarray],
    state: dict[str, onnxruntime.OrtValue],
    outputs: list[str],
) -> dict[str, np.ndarray]:
    """Run an evaluation graph on ``batch``, its weights bound from ``state`` (by name, as
    they live on the device), and return ``outputs``."""
    binding = session.io_binding()
    for name, array in batch.items():
        binding.bind_cpu_input(name, array)
    for name, value in state.items():
        binding.bind_ortvalue_input(name, value)
    for name in outputs:
        binding.bind_output(name, "cpu")
    session.run_with_iobinding(binding)
    return {n: v.numpy() for n, v in zip(outputs, binding.get_outputs(), strict=True)}
