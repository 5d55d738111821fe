"""The training backends ``specc train`` can run a step on, behind one interface.

- ``standard`` (the default): specc's own training step in standard ONNX ops
  (``specc.train.step_graph``), run on stock onnxruntime by ``specc.train.standard``;
- ``ort-training``: onnxruntime-training 1.19.2's artifacts and engine
  (``specc.train.session``), for the optional ``specc[ort-training]`` install.

Both take a batch to ``train_step`` (losses and metric statistics computed before the update) and
``commit`` the update after ``fit`` has looked at the loss; both give the same history and
weights.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import onnxruntime

from specc.constraints import Constraint
from specc.diagnostics import Diagnostic, SpecError
from specc.optimizers import Optimizer
from specc.train.graph import TrainingGraph
from specc.train.ort_training import training_engine_problem


class EngineError(Exception):
    """The training engine failed for a reason outside the spec and the data (a file it
    could not write, memory, a device); the message is one line for a user."""


BACKENDS = ("standard", "ort-training")
# The execution provider of each --device.
PROVIDERS = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider"}


def check_provider(device: str, file: str, build: str, cuda_install: str) -> None:
    """Refuse a device that ``build`` of onnxruntime cannot run on, before any work;
    ``cuda_install`` says what to install to train on a CUDA GPU."""
    if device not in PROVIDERS:
        message = f"unknown device '{device}'; choose one of {', '.join(PROVIDERS)}"
        raise SpecError([Diagnostic("SPC503-device", message, (), file)])
    available = onnxruntime.get_available_providers()
    if PROVIDERS[device] in available:
        return
    message = (
        f"cannot train on device '{device}': {build} has no {PROVIDERS[device]} "
        f"(it has {', '.join(available)}); to train on a CUDA GPU, {cuda_install}"
    )
    raise SpecError([Diagnostic("SPC503-device", message, (), file)])


DEFAULT_BACKEND = "standard"


def another_optimizer(current: Optimizer, route: str) -> ValueError:
    """The error for a second optimizer on a session: the optimizer's state (moments,
    iterations) lives as long as the session, as in Keras."""
    return ValueError(
        f"this training session already updates with {current!r} ({route} route); start a "
        "new session to train with another optimizer"
    )


class TrainingBackend(Protocol):
    """What ``fit`` needs of a training session."""

    route: str

    def use_optimizer(
        self,
        optimizer: Optimizer,
        numpy_updates: bool = False,
        constraints: dict[str, Constraint] | None = None,
    ) -> str: ...

    def train_step(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]: ...

    def commit(self, outputs: dict[str, np.ndarray]) -> None: ...

    def eval_step(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]: ...

    def snapshot(self) -> dict[str, np.ndarray]: ...

    def restore(self, parameters: dict[str, np.ndarray]) -> None: ...

    @property
    def learning_rate(self) -> float: ...

    def set_learning_rate(self, value: float) -> None: ...

    def close(self) -> None: ...


def check_backend(backend: str, device: str, file: str = "<spec>") -> None:
    """Refuse an unknown backend, a missing install or a device it cannot use, before work."""
    if backend == "standard":
        from specc.train.standard import check_standard_device

        check_standard_device(device, file)
        return
    if backend == "ort-training":
        problem = training_engine_problem()
        if problem is not None:
            message = (
                f"the ort-training backend needs onnxruntime-training: {problem}; or train "
                "with the default backend, --backend standard"
            )
            raise SpecError([Diagnostic("SPC505-backend", message, (), file)])
        from specc.train.session import check_device

        check_device(device, file)
        return
    message = f"unknown backend '{backend}'; choose one of {', '.join(BACKENDS)}"
    raise SpecError([Diagnostic("SPC505-backend", message, (), file)])


def open_session(training: TrainingGraph, backend: str, opset: int, device: str) -> TrainingBackend:
    """A session of ``backend`` (checked with ``check_backend``) for ``training``."""
    if backend == "ort-training":
        from specc.train.session import TrainingSession

        return TrainingSession(training, opset, device)
    from specc.train.standard import StandardSession

    return StandardSession(training, opset, device)
