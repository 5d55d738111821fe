"""A training session on onnxruntime-training: artifacts, parameters, train and eval steps.

This is the one place that drives the engine, so another backend can take its place. The
graph's first output is the total loss, which the engine differentiates. The optimizer
update takes one of two routes (``use_optimizer``): the engine's fused kernel where its
formula is the Keras optimizer's (``specc.train.fused``), else Keras's update in NumPy on
the engine's parameter buffers (``specc.train.updates``).
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np

from specc.atomic import scratch_folder_on
from specc.constraints import Constraint
from specc.onnx_model import to_model_proto
from specc.optimizers import Optimizer
from specc.optimizers.update import current_learning_rate
from specc.random_ops import RANDOM_STEP
from specc.schedules import LearningRateSchedule
from specc.train.backend import another_optimizer, check_provider
from specc.train.checkpoint import CheckpointError
from specc.train.engine import (
    CheckpointState,
    EngineError,
    Module,
    artifacts,
    engine_message,
    quiet_stderr,
)
from specc.train.engine_state import engine_state_bytes, load_engine_state
from specc.train.fused import (
    OPTIMIZER_MODEL,
    FusedUpdate,
    choose_route,
    write_optimizer_model,
)
from specc.train.graph import TrainingGraph
from specc.train.updates import OptimizerUpdate, apply_constraints, make_update
from specc.types import DTYPES, TensorType

# The artifacts' temporary folders: <tmp>/specc-train-<pid>-<random>.
WORK_PREFIX = "specc-train-"
# The training_state() entry of a learning rate assigned during training (ReduceLROnPlateau).
ASSIGNED_RATE = "assigned_learning_rate"
# The training_state() entry of the fused route: the engine's checkpoint file's bytes.
ENGINE_STATE = "engine_checkpoint"


def check_device(device: str, file: str = "<spec>") -> None:
    """Refuse a device this build of the engine cannot train on, before any work."""
    install = "replace onnxruntime-training-cpu with the CUDA build, onnxruntime-training==1.19.2"
    check_provider(device, file, "this onnxruntime-training build", install)


class TrainingSession:
    """The training and eval models of a ``TrainingGraph``, loaded in the engine.

    ``optimizer`` (or a later ``use_optimizer``) sets the Keras optimizer that
    ``apply_update`` applies; ``numpy_updates`` forces its NumPy route.
    """

    def __init__(
        self,
        training: TrainingGraph,
        opset: int = 17,
        device: str = "cpu",
        workdir: Path | None = None,
        optimizer: Optimizer | None = None,
        numpy_updates: bool = False,
    ) -> None:
        self.training = training
        self.opset = opset
        self.device = device
        #: "fused" or "numpy" once an optimizer is set (``use_optimizer``), and why.
        self.route: str | None = None
        self.route_reason = ""
        self.optimizer: Optimizer | None = None
        self._numpy_updates = False
        self._update: FusedUpdate | OptimizerUpdate | None = None
        self._params: dict[str, np.ndarray] = {}
        # The artifacts' folder, removed by close() (or, after kill -9, by the next session).
        self._cleanup = contextlib.ExitStack()
        try:
            if workdir is None:
                self.workdir = scratch_folder_on(self._cleanup, WORK_PREFIX)
            else:
                self.workdir = Path(workdir)
                self.workdir.mkdir(parents=True, exist_ok=True)
            self._load(training, opset, device)
            self.input_names = list(self.module.input_names())
            self.output_names = list(self.module.output_names())
            self.input_types = dict(training.graph.inputs)
            if optimizer is not None:
                self.use_optimizer(optimizer, numpy_updates)
        except BaseException:
            # Ctrl-C, SIGTERM (see specc.cli.signals) or an engine failure half-way, up
            # to the moment the caller holds the session: leave no folder behind.
            self.close()
            raise

    def _load(self, training: TrainingGraph, opset: int, device: str) -> None:
        """Generate the artifacts in ``workdir`` and load them in the engine."""
        check_device(device)
        model = to_model_proto(training.graph, opset)
        try:
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
            self.module = Module(
                str(self.workdir / "training_model.onnx"),
                self.state,
                str(self.workdir / "eval_model.onnx"),
                device=device,
            )
        except Exception as error:
            # A full disk or a file-size limit in the temporary folder, memory, a device
            # the build has but the machine lacks: nothing the spec can fix.
            message = f"cannot start the training engine on {device}: {engine_message(error)}"
            raise EngineError(message) from error

    def use_optimizer(
        self,
        optimizer: Optimizer,
        numpy_updates: bool = False,
        constraints: dict[str, Constraint] | None = None,
    ) -> str:
        """Set the Keras optimizer of ``apply_update``; return its route, "fused" or "numpy".
        ``constraints`` (by parameter) are applied after each update by ``commit``.

        The fused route (``specc.train.fused``) when the engine's kernel computes the
        optimizer's Keras update exactly and ``numpy_updates`` is off, else the NumPy route.
        The optimizer's state (moments, ``iterations``) lives as long as the session, so
        several ``fit`` calls go on from where the last one stopped, as in Keras. Setting the
        same optimizer again keeps it; a different one is an error.
        """
        if self._update is not None:
            if optimizer == self.optimizer and numpy_updates == self._numpy_updates:
                return self.route  # type: ignore[return-value]
            raise another_optimizer(self.optimizer, str(self.route))
        self._params = self.parameters(self.training.trainable)
        self._constraints = dict(constraints or {})
        route = choose_route(optimizer, self._params, numpy_updates)
        if route.plan is not None:
            path = write_optimizer_model(
                self.workdir / OPTIMIZER_MODEL, route.plan, self._params, self.opset
            )
            self._update = FusedUpdate(optimizer, path, self.module)
        else:
            self._update = make_update(optimizer, self._params)
        self.optimizer, self._numpy_updates = optimizer, numpy_updates
        self.route, self.route_reason = route.name, route.reason
        return route.name

    @property
    def iterations(self) -> int:
        """Updates applied so far by ``apply_update`` (Keras's ``optimizer.iterations``)."""
        return 0 if self._update is None else self._update.iterations

    def apply_update(self) -> None:
        """One optimizer update from the accumulated gradients, on the route chosen.

        Constraints and gradient resets are the caller's: call ``reset_gradients`` after.
        """
        update = self._update
        if update is None:
            raise RuntimeError("no optimizer: call use_optimizer() first")
        if isinstance(update, FusedUpdate):
            update.step()
        else:
            update.step(self._params, self.gradients())

    def commit(self, outputs: dict[str, np.ndarray]) -> None:
        """Finish the step ``train_step`` began, as Keras does after its gradients: move
        BatchNormalization's moving statistics towards the batch's (from ``outputs``),
        apply the optimizer's update, then the constraints; reset the gradients."""
        for m in self.training.moving:
            # moving = moving * momentum + batch * (1 - momentum)
            view = self.state.parameters[m.parameter].data
            view *= np.float32(m.momentum)
            view += outputs[m.batch_statistic] * np.float32(1.0 - m.momentum)
        self.apply_update()
        if self._constraints:
            apply_constraints(self._params, self._constraints)
        self.reset_gradients()

    def _feeds(self, feeds: dict[str, np.ndarray], training: bool) -> list[np.ndarray]:
        values = []
        for name in self.input_names:
            if name == self.training.flag:
                values.append(np.array(training))
                continue
            if name == RANDOM_STEP:
                # The standard backend's step graph draws from optimizer.iterations: the
                # same count here gives the same random numbers (unused when evaluating).
                values.append(np.array(self.iterations if training else 0, np.int64))
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

    def restore(self, parameters: dict[str, np.ndarray]) -> None:
        """Put parameters (a ``snapshot``, or part of one) back into the engine's buffers;
        the optimizer's state is left as it is (Keras's ``set_weights``)."""
        for name, array in parameters.items():
            view = self.state.parameters[name].data
            np.copyto(view, np.asarray(array, dtype=view.dtype))

    def training_state(self) -> dict[str, np.ndarray]:
        """Copies of the whole training state, by name: ``optimizer/iterations``, a learning
        rate assigned during training (``assigned_learning_rate``: one float64, or none),
        and on the NumPy route every parameter (``param/<name>``) and the optimizer's
        slots (``optimizer/<key>``, its ``state_dict``), on the fused route the engine's
        own checkpoint of its parameters and moments (``engine_checkpoint``, its bytes:
        ``specc.train.engine_state``)."""
        update = self._require_update()
        assigned = update.assigned_learning_rate
        out = {ASSIGNED_RATE: np.array([] if assigned is None else [assigned], np.float64)}
        if isinstance(update, FusedUpdate):
            out[ENGINE_STATE] = engine_state_bytes(self.state, self.workdir)
            out["optimizer/iterations"] = np.array(update.iterations, np.int64)
            return out
        out.update((f"param/{name}", a) for name, a in self.snapshot().items())
        out.update((f"optimizer/{k}", a) for k, a in update.state_dict().items())
        return out

    def training_state_types(self) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
        """The shape and dtype of each ``training_state()`` entry, for checking a
        checkpoint's (-1: zero or one value; -2: any number)."""
        types = {name: (a.shape, a.dtype) for name, a in self.training_state().items()}
        types[ASSIGNED_RATE] = ((-1,), np.dtype(np.float64))
        if ENGINE_STATE in types:
            types[ENGINE_STATE] = ((-2,), np.dtype(np.uint8))
        return types

    def load_training_state(self, state: dict[str, np.ndarray]) -> None:
        """Put back a ``training_state()`` (already checked against
        ``training_state_types``); ``CheckpointError`` for an engine state that does not
        load."""
        update = self._require_update()
        if isinstance(update, FusedUpdate):
            names = [*self.training.trainable, *self.training.frozen]
            shapes = {n: np.shape(self.state.parameters[n].data) for n in names}
            loaded = load_engine_state(state[ENGINE_STATE], self.workdir, shapes)
            # The module and the optimizer take the loaded state (moments included).
            try:
                module = Module(
                    str(self.workdir / "training_model.onnx"),
                    loaded,
                    str(self.workdir / "eval_model.onnx"),
                    device=self.device,
                )
                fused = FusedUpdate(update.config, self.workdir / OPTIMIZER_MODEL, module)
            except Exception as error:
                message = engine_message(error)
                raise CheckpointError(f"the engine cannot use its saved state: {message}") from None
            self.state, self.module, self._update = loaded, module, fused
            self._params = self.parameters(self.training.trainable)
            update = fused
        else:
            self.restore(
                {k.removeprefix("param/"): a for k, a in state.items() if k.startswith("param/")}
            )
            optimizer = {k[10:]: a for k, a in state.items() if k.startswith("optimizer/")}
            update.load_state_dict(optimizer)
        update.iterations = int(state["optimizer/iterations"])
        assigned = np.asarray(state[ASSIGNED_RATE], np.float64).reshape(-1)
        update.assigned_learning_rate = float(assigned[0]) if assigned.size else None

    def _require_update(self) -> FusedUpdate | OptimizerUpdate:
        if self._update is None:
            raise RuntimeError("no optimizer: call use_optimizer() first")
        return self._update

    @property
    def learning_rate(self) -> float:
        """The rate of the next update, rounded to float32 as Keras's variable."""
        update = self._update
        if update is None or self.optimizer is None:
            raise RuntimeError("no optimizer: call use_optimizer() first")
        rate = current_learning_rate(
            self.optimizer, update.iterations, update.assigned_learning_rate
        )
        return float(np.float32(rate))

    def set_learning_rate(self, value: float) -> None:
        """Assign a constant learning rate (rounded to float32) for the next updates; an
        optimizer with a schedule refuses, as Keras's does."""
        if self._update is None or self.optimizer is None:
            raise RuntimeError("no optimizer: call use_optimizer() first")
        if isinstance(self.optimizer.learning_rate, LearningRateSchedule):
            raise TypeError("the learning rate follows a schedule and cannot be set")
        self._update.assigned_learning_rate = float(np.float32(value))

    def close(self) -> None:
        """Remove the artifacts' temporary folder."""
        self._cleanup.close()


def _as_list(outputs: object) -> list[np.ndarray]:
    return list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]  # type: ignore[list-item]
