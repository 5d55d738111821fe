"""The standard backend: specc's own training step on stock onnxruntime.

The step graph (``specc.train.step_graph``) computes the forward pass, the gradients, the
optimizer's update, the constraints and the moving statistics in one run, taking the whole
training state as inputs and giving its next value as outputs. This session keeps two
copies of the state on the device and two I/O bindings over them: a step reads one copy and
writes the other, and ``commit`` swaps the roles, so a step copies no state at all (only the
batch goes in, the losses and the metrics' statistics come out). A step whose loss is not finite is
simply not committed: the state stays as it was before the batch.
"""

from __future__ import annotations

import numpy as np
import onnxruntime

from specc.constraints import Constraint
from specc.onnx_model import to_model_proto
from specc.optimizers import Optimizer
from specc.train.backend import another_optimizer, check_provider
from specc.train.evaluation_session import batch_arrays, run_evaluation, start_session
from specc.train.graph import TrainingGraph
from specc.train.step_graph import (
    ITERATIONS,
    LEARNING_RATE,
    StepGraphs,
    build_step_graphs,
    next_name,
)
from specc.types import DTYPES, TensorType

# The OrtValue device of each --device.
DEVICE_TYPES = {"cpu": "cpu", "cuda": "cuda"}


def check_standard_device(device: str, file: str = "<spec>") -> None:
    """Refuse a device the installed onnxruntime cannot run on, saying what to install."""
    install = 'install onnxruntime\'s CUDA build: pip install "specc[cuda]"'
    check_provider(device, file, "this onnxruntime", install)


class StandardSession:
    """A ``TrainingGraph`` trained by its standard-ONNX step graph on stock onnxruntime."""

    route = "standard"
    route_reason = "the optimizer's update runs inside the training step graph"

    def __init__(
        self,
        training: TrainingGraph,
        opset: int = 17,
        device: str = "cpu",
        session_options: onnxruntime.SessionOptions | None = None,
    ) -> None:
        self.training = training
        self.opset = opset
        self.device = device
        self.session_options = session_options
        self.optimizer: Optimizer | None = None
        self.graphs: StepGraphs | None = None

    # -- set-up --------------------------------------------------------------------------

    def use_optimizer(
        self,
        optimizer: Optimizer,
        numpy_updates: bool = False,
        constraints: dict[str, Constraint] | None = None,
    ) -> str:
        """Build and load the step graph for ``optimizer`` (once per session: the
        optimizer's state lives as long as the session, as in Keras)."""
        if self.graphs is not None:
            if optimizer == self.optimizer:
                return self.route
            raise another_optimizer(self.optimizer, self.route)
        del numpy_updates  # there is no host-side update to choose
        graphs = build_step_graphs(self.training, optimizer, constraints or {})
        self.optimizer, self.graphs = optimizer, graphs
        self._step = self._session(graphs.step.name, to_model_proto(graphs.step, self.opset))
        model = to_model_proto(graphs.evaluation, self.opset)
        self._evaluation = self._session(graphs.evaluation.name, model)
        device = DEVICE_TYPES[self.device]
        self._copies = [
            {name: _ortvalue(array, device) for name, array in graphs.state.items()}
            for _ in range(2)
        ]
        self._current = 0
        # Results of a known shape (losses, metric statistics) are written into buffers
        # bound once and copied out; only those with a batch axis (predictions, when the
        # graph outputs them) are bound each step.
        results = dict(graphs.step.outputs)
        fixed = [n for n in graphs.step_outputs if _known_shape(results[n])]
        self._fixed_results = {
            name: _ortvalue(np.zeros(results[name].shape, DTYPES[results[name].dtype]), device)
            for name in fixed
        }
        self._batched_results = [n for n in graphs.step_outputs if n not in self._fixed_results]
        # One binding per direction: binding k reads copy k and writes the other, so a
        # step binds only its batch.
        self._bindings = [self._step_binding(k) for k in range(2)]
        inputs = dict(self.training.graph.inputs)
        self._batch_dtypes = {n: DTYPES[inputs[n].dtype] for n in graphs.batch_inputs}
        self._eval_inputs = {i.name for i in self._evaluation.get_inputs()}
        return self.route

    def _step_binding(self, reads: int) -> onnxruntime.IOBinding:
        binding = self._step.io_binding()
        for name, value in self._copies[reads].items():
            binding.bind_ortvalue_input(name, value)
        for name, value in self._copies[1 - reads].items():
            binding.bind_ortvalue_output(next_name(name), value)
        for name, value in self._fixed_results.items():
            binding.bind_ortvalue_output(name, value)
        return binding

    def _session(self, name: str, model: object) -> onnxruntime.InferenceSession:
        del name  # the model carries its graph's name
        return start_session(model, self.device, self.session_options)

    # -- steps ---------------------------------------------------------------------------

    def _batch(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        self._graphs()
        return batch_arrays(feeds, self._batch_dtypes)

    def train_step(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """One training step on a batch: losses and metric statistics before the update; the
        updated state waits in the other copy until ``commit``."""
        graphs = self._graphs()
        binding = self._bindings[self._current]
        for name, array in self._batch(feeds).items():
            binding.bind_cpu_input(name, array)
        # Bound anew each step, so onnxruntime allocates them afresh: a bound output is
        # reused by the next run, and the arrays returned here view its memory.
        for name in self._batched_results:
            binding.bind_output(name, "cpu")
        self._step.run_with_iobinding(binding)
        results = {name: np.array(v.numpy()) for name, v in self._fixed_results.items()}
        if self._batched_results:
            # In binding order: the state, the fixed results, then these.
            skip = len(graphs.state) + len(self._fixed_results)
            batched = binding.get_outputs()[skip:]
            results.update(
                (name, v.numpy()) for name, v in zip(self._batched_results, batched, strict=True)
            )
        return {name: results[name] for name in graphs.step_outputs}

    def commit(self, outputs: dict[str, np.ndarray] | None = None) -> None:
        """Keep the state the last ``train_step`` computed."""
        del outputs  # the update happened inside the step
        self._current = 1 - self._current

    def eval_step(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Forward only, in inference mode, on the current state."""
        graphs = self._graphs()
        state = self._copies[self._current]
        weights = {name: state[name] for name in self._eval_inputs if name in state}
        return run_evaluation(
            self._evaluation, self._batch(feeds), weights, graphs.evaluation_outputs
        )

    # -- state ---------------------------------------------------------------------------

    @property
    def iterations(self) -> int:
        """Updates applied so far (Keras's ``optimizer.iterations``)."""
        if self.graphs is None:
            return 0
        return int(self._copies[self._current][ITERATIONS].numpy())

    def snapshot(self) -> dict[str, np.ndarray]:
        """Copies of every parameter, trainable and frozen."""
        state = self._copies[self._current] if self.graphs is not None else {}
        names = [*self.training.trainable, *self.training.frozen]
        if not state:
            return {name: np.array(self.training.graph.initializers[name]) for name in names}
        return {name: np.array(state[name].numpy()) for name in names}

    def restore(self, parameters: dict[str, np.ndarray]) -> None:
        """Put parameters (a ``snapshot``, or part of one) back into the current state;
        the optimizer's slots and ``iterations`` are left as they are (Keras's
        ``set_weights``)."""
        self._graphs()
        state = self._copies[self._current]
        for name, array in parameters.items():
            value = state[name]
            value.update_inplace(np.ascontiguousarray(array, dtype=value.numpy().dtype))

    def training_state(self) -> dict[str, np.ndarray]:
        """Copies of the whole training state, by name: the parameters, the optimizer's
        slots, ``iterations`` (which is also the dropout generator's counter) and the
        learning rate in use; what a checkpoint saves."""
        declared = self._graphs().state
        # A step may give a scalar back as [1]: the declared shape is the one saved.
        return {
            name: np.array(value.numpy()).reshape(np.shape(declared[name]))
            for name, value in self._copies[self._current].items()
        }

    def training_state_types(self) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
        """The shape and dtype of each ``training_state()`` entry, for checking a checkpoint's."""
        return {
            name: (np.shape(a), np.asarray(a).dtype) for name, a in self._graphs().state.items()
        }

    def load_training_state(self, state: dict[str, np.ndarray]) -> None:
        """Put back a ``training_state()`` (already checked against ``training_state_types``)."""
        self._graphs()
        for copy in self._copies:
            for name, value in copy.items():
                array = np.ascontiguousarray(state[name], dtype=value.numpy().dtype)
                value.update_inplace(array.reshape(value.shape()))

    @property
    def learning_rate(self) -> float:
        """The rate of the next update (Keras's ``optimizer.learning_rate``)."""
        graphs = self._graphs()
        if LEARNING_RATE in graphs.state:
            return float(self._copies[self._current][LEARNING_RATE].numpy())
        assert self.optimizer is not None
        return float(np.float32(self.optimizer.learning_rate_at(self.iterations)))

    def set_learning_rate(self, value: float) -> None:
        """Assign a constant learning rate, rounded to float32; an optimizer with a
        schedule refuses, as Keras's does."""
        graphs = self._graphs()
        if LEARNING_RATE not in graphs.state:
            raise TypeError("the learning rate follows a schedule and cannot be set")
        rate = np.array(value, np.float32)
        for copy in self._copies:
            copy[LEARNING_RATE].update_inplace(rate)

    def end_profiling(self) -> str:
        """Stop the step graph's onnxruntime profiler (``enable_profiling`` in the session
        options) and return the file it wrote."""
        self._graphs()
        return self._step.end_profiling()

    def close(self) -> None:
        """Nothing to remove: the session holds no files."""

    def _graphs(self) -> StepGraphs:
        if self.graphs is None:
            raise RuntimeError("no optimizer: call use_optimizer() first")
        return self.graphs


def _known_shape(tensor: TensorType) -> bool:
    """Whether a value's whole shape is known when the graph is built (no batch axis)."""
    return not tensor.batched and all(dim is not None for dim in tensor.shape)


def _ortvalue(array: np.ndarray, device: str) -> onnxruntime.OrtValue:
    return onnxruntime.OrtValue.ortvalue_from_numpy(np.array(array, copy=True), device, 0)
