"""One worker of data-parallel training: a Ray actor with its own onnxruntime sessions.

Each step, every worker runs the gradient graph (``specc.train.step_graph``'s split) on its
shard of the global batch, weighs its gradients and BatchNormalization's batch statistics
by its shard's share of the global batch (Keras's ``sum_over_batch_size``: the shares'
weighted means add up to the global batch's mean, an uneven last batch included), sums them
over the workers with one all-reduce of Ray's collective communication (gloo on CPU, NCCL
on GPU), and runs the update graph on the sums. Every worker so applies the same update to
the same state: worker 0's state is the run's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnxruntime

from specc.train.step_graph import next_name

# The collective backend of each --device.
COLLECTIVE_BACKENDS = {"cpu": "gloo", "cuda": "nccl"}
PROVIDERS = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider"}


@dataclass
class WorkerPlan:
    """What every worker is given: the three graphs (serialized ONNX) and the state."""

    gradient: bytes
    update: bytes
    evaluation: bytes
    state: dict[str, np.ndarray]
    # Trainable parameter -> the gradient graph's output holding its gradient.
    gradients: dict[str, str]
    batch_statistics: list[str]
    row_input: str | None
    step_outputs: list[str]
    evaluation_outputs: list[str]
    batch_inputs: list[str]
    world: int
    group: str
    device: str
    threads: int


class StepWorker:
    """One worker's sessions and its copy of the training state (see the module's docs)."""

    def __init__(self, rank: int, plan: WorkerPlan) -> None:
        self.rank, self.plan = rank, plan
        self.state = {name: np.array(array) for name, array in plan.state.items()}
        self.pending: dict[str, np.ndarray] | None = None
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3
        options.intra_op_num_threads = plan.threads
        providers = [PROVIDERS[plan.device]]
        self._gradient, self._update, self._evaluation = (
            onnxruntime.InferenceSession(model, options, providers=providers)
            for model in (plan.gradient, plan.update, plan.evaluation)
        )
        self._passed = [*plan.gradients.values(), *plan.batch_statistics]
        shapes = {**{g: plan.state[p].shape for p, g in plan.gradients.items()}}
        update_inputs = {i.name: i.shape for i in self._update.get_inputs()}
        shapes.update({s: tuple(update_inputs[s]) for s in plan.batch_statistics})
        self._shapes = [tuple(shapes[name]) for name in self._passed]
        self._sizes = [int(np.prod(shape)) for shape in self._shapes]

    def join(self) -> int:
        """Join the collective group (every worker at once); the rank."""
        from ray.util import collective

        backend = COLLECTIVE_BACKENDS[self.plan.device]
        collective.init_collective_group(
            self.plan.world, self.rank, backend=backend, group_name=self.plan.group
        )
        return self.rank

    def train_step(
        self, shard: dict[str, np.ndarray], share: float, row: int
    ) -> dict[str, np.ndarray] | None:
        """The gradients of ``shard`` (starting at row ``row`` of the global batch, ``share``
        of it), summed over the workers, and the next state from them (kept until
        ``commit``); the shard's losses and metric statistics, None for an empty shard."""
        from ray.util import collective

        rows = len(next(iter(shard.values())))
        results = None
        flat = np.zeros(sum(self._sizes), np.float32)
        if rows:
            feeds = {**self._inputs(self._gradient), **shard}
            if self.plan.row_input is not None:
                feeds[self.plan.row_input] = np.array(row, np.int64)
            names = [*self.plan.step_outputs, *self._passed]
            outputs = dict(zip(names, self._gradient.run(names, feeds), strict=True))
            parts = [np.asarray(outputs[name], np.float32).ravel() for name in self._passed]
            if parts:
                np.multiply(np.concatenate(parts), np.float32(share), out=flat)
            results = {name: outputs[name] for name in self.plan.step_outputs}
        collective.allreduce(flat, group_name=self.plan.group)
        summed = dict(zip(self._passed, self._unflatten(flat), strict=True))
        names = [next_name(name) for name in self.state]
        nexts = self._update.run(names, {**self._inputs(self._update), **summed})
        self.pending = {
            name: np.asarray(value, self.state[name].dtype).reshape(self.state[name].shape)
            for name, value in zip(self.state, nexts, strict=True)
        }
        return results

    def commit(self) -> None:
        """Keep the state the last ``train_step`` computed."""
        if self.pending is not None:
            self.state, self.pending = self.pending, None

    def evaluate(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Forward only, in inference mode, on the current state."""
        names = self.plan.evaluation_outputs
        values = self._evaluation.run(names, {**self._inputs(self._evaluation), **feeds})
        return dict(zip(names, values, strict=True))

    def arrays(self, names: list[str] | None = None) -> dict[str, np.ndarray]:
        """Copies of the state's arrays (all of them without ``names``)."""
        return {n: np.array(self.state[n]) for n in (names if names is not None else self.state)}

    def load(self, arrays: dict[str, np.ndarray]) -> None:
        """Replace state arrays by name (parameters, slots, the learning rate, all)."""
        for name, array in arrays.items():
            current = self.state[name]
            self.state[name] = np.asarray(array, current.dtype).reshape(current.shape).copy()

    def _inputs(self, session: onnxruntime.InferenceSession) -> dict[str, np.ndarray]:
        return {i.name: self.state[i.name] for i in session.get_inputs() if i.name in self.state}

    def _unflatten(self, flat: np.ndarray) -> list[np.ndarray]:
        ends = np.cumsum(self._sizes)
        return (
            [
                part.reshape(shape)
                for part, shape in zip(np.split(flat, ends[:-1]), self._shapes, strict=True)
            ]
            if self._sizes
            else []
        )
