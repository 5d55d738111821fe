"""Data-parallel training on Ray: ``specc train --workers N [--address ADDR]``.

``ParallelSession`` is a training backend (``specc.train.backend.TrainingBackend``) whose
steps run on N Ray actors (``specc.train.parallel_worker``), each with its own onnxruntime
sessions. Every global batch is cut into N consecutive shards; worker k runs the gradient
graph on shard k, the workers sum their share-weighted gradients with one all-reduce and
each applies the same update. The losses are the shards' means weighted by their shares,
the metric statistics their sums, so the history and the weights are those of one process
on the same global batch, up to the order of float additions. The random layers draw at
each row's place in the global batch (``specc.random_ops.RANDOM_ROW``), so Dropout's masks
are one process's too.

BatchNormalization normalizes each shard by the shard's own statistics (as Keras's
data-parallel distribution without synchronized batch normalization); the moving
statistics move towards the shards' statistics averaged by share, the same on every
worker. Such a model differs from one trained in one process.

Worker 0's state is the run's: checkpoints, callbacks and the trained weights read it.
A worker that dies ends the run with ``EngineError``; the checkpoints written so far
resume it.
"""

from __future__ import annotations

import uuid
from contextlib import ExitStack
from typing import Any

import numpy as np

from specc.constraints import Constraint
from specc.onnx_model import to_model_proto
from specc.optimizers import Optimizer
from specc.train.backend import EngineError, another_optimizer
from specc.train.graph import TOTAL_LOSS, TrainingGraph
from specc.train.parallel_worker import StepWorker, WorkerPlan
from specc.train.step_graph import ITERATIONS, LEARNING_RATE, StepGraphs, build_step_graphs

# Seconds the workers have to start and join their group.
START_SECONDS = 120


def shard_bounds(rows: int, workers: int) -> list[tuple[int, int]]:
    """``workers`` consecutive (start, stop) row ranges covering ``rows``, the first
    ``rows % workers`` one row longer (empty ones when there are fewer rows than workers)."""
    base, extra = divmod(rows, workers)
    bounds, start = [], 0
    for k in range(workers):
        stop = start + base + (1 if k < extra else 0)
        bounds.append((start, stop))
        start = stop
    return bounds


class ParallelSession:
    """A ``TrainingGraph`` trained by ``workers`` Ray actors (see the module's docs)."""

    # Its state is the standard backend's, name for name: their checkpoints are the same.
    route = "standard"
    route_reason = "data-parallel: the workers sum their gradients, then each updates"

    def __init__(
        self,
        training: TrainingGraph,
        workers: int,
        address: str | None = None,
        opset: int = 17,
        device: str = "cpu",
    ) -> None:
        self.training, self.workers, self.address = training, workers, address
        self.opset, self.device = opset, device
        self.optimizer: Optimizer | None = None
        self.graphs: StepGraphs | None = None
        self._actors: list[Any] = []
        self._ray = ExitStack()
        self._losses = {TOTAL_LOSS, *training.output_losses.values()}

    # -- set-up --------------------------------------------------------------------------

    def use_optimizer(
        self,
        optimizer: Optimizer,
        numpy_updates: bool = False,
        constraints: dict[str, Constraint] | None = None,
    ) -> str:
        """Build the split step graph, start Ray and the workers, join them in a group."""
        if self.graphs is not None:
            if optimizer == self.optimizer:
                return self.route
            raise another_optimizer(self.optimizer, self.route)
        del numpy_updates  # the update runs in the update graph
        graphs = build_step_graphs(self.training, optimizer, constraints or {}, split=True)
        assert graphs.split is not None
        self.optimizer, self.graphs = optimizer, graphs
        split = graphs.split
        plan = WorkerPlan(
            *(
                to_model_proto(g, self.opset).SerializeToString()
                for g in (split.gradient, split.update, graphs.evaluation)
            ),
            state=graphs.state,
            gradients=split.gradients,
            batch_statistics=split.batch_statistics,
            row_input=split.row_input,
            step_outputs=graphs.step_outputs,
            evaluation_outputs=graphs.evaluation_outputs,
            batch_inputs=graphs.batch_inputs,
            world=self.workers,
            group=f"specc-{uuid.uuid4().hex[:12]}",
            device=self.device,
            threads=1,
        )
        self._start(plan)
        return self.route

    def _start(self, plan: WorkerPlan) -> None:
        import ray

        from specc.distributed.ray_start import ray_started

        try:
            self._ray.enter_context(ray_started(self.address, cpus=self.workers))
        except ConnectionError as error:
            raise EngineError(f"cannot reach the Ray cluster at {self.address}: {error}") from None
        gpus = 1 if self.device == "cuda" else 0
        actor = ray.remote(num_cpus=1, num_gpus=gpus, max_restarts=0)(StepWorker)
        self._actors = [actor.remote(k, plan) for k in range(self.workers)]
        joins = [a.join.remote() for a in self._actors]
        # An actor waits for a free CPU (GPU) without end: a cluster too small would hang.
        _, waiting = ray.wait(joins, num_returns=len(joins), timeout=START_SECONDS)
        if waiting:
            unit = "GPU" if gpus else "CPU"
            raise EngineError(
                f"{len(waiting)} of {self.workers} workers did not start in {START_SECONDS} s: "
                f"each needs a {unit} of its own (ray status shows the cluster's)"
            )
        self._all(joins)

    # -- steps ---------------------------------------------------------------------------

    def train_step(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """One step on a global batch, its shards on the workers: the losses (the shards'
        means weighted by share) and the metric statistics (summed) before the update;
        the update waits in each worker until ``commit``."""
        graphs = self._graphs()
        batch = {name: np.ascontiguousarray(feeds[name]) for name in graphs.batch_inputs}
        rows = len(next(iter(batch.values())))
        calls = []
        for actor, (start, stop) in zip(
            self._actors, shard_bounds(rows, self.workers), strict=True
        ):
            shard = {name: array[start:stop] for name, array in batch.items()}
            calls.append(actor.train_step.remote(shard, (stop - start) / rows, start))
        shards = self._all(calls)
        results: dict[str, np.ndarray] = {}
        for name in graphs.step_outputs:
            parts = [
                np.asarray(out[name])
                * (np.float32((stop - start) / rows) if name in self._losses else 1)
                for out, (start, stop) in zip(shards, shard_bounds(rows, self.workers), strict=True)
                if out is not None
            ]
            results[name] = np.sum(parts, axis=0).astype(np.asarray(parts[0]).dtype)
        return results

    def commit(self, outputs: dict[str, np.ndarray] | None = None) -> None:
        """Every worker keeps the state its last ``train_step`` computed."""
        del outputs
        self._all([a.commit.remote() for a in self._actors])

    def eval_step(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Forward only, in inference mode, on worker 0."""
        graphs = self._graphs()
        batch = {name: np.ascontiguousarray(feeds[name]) for name in graphs.batch_inputs}
        return self._all([self._actors[0].evaluate.remote(batch)])[0]

    # -- state ---------------------------------------------------------------------------

    @property
    def iterations(self) -> int:
        """Updates applied so far (Keras's ``optimizer.iterations``)."""
        if self.graphs is None:
            return 0
        return int(self._read([ITERATIONS])[ITERATIONS])

    def snapshot(self) -> dict[str, np.ndarray]:
        """Copies of every parameter, trainable and frozen."""
        names = [*self.training.trainable, *self.training.frozen]
        if self.graphs is None:
            return {name: np.array(self.training.graph.initializers[name]) for name in names}
        return self._read(names)

    def restore(self, parameters: dict[str, np.ndarray]) -> None:
        """Put parameters back into every worker's state (Keras's ``set_weights``)."""
        self._load(parameters)

    def training_state(self) -> dict[str, np.ndarray]:
        """The whole training state (worker 0's): what a checkpoint saves."""
        return self._read(None)

    def training_state_types(self) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
        """The shape and dtype of each ``training_state()`` entry."""
        return {
            name: (np.shape(a), np.asarray(a).dtype) for name, a in self._graphs().state.items()
        }

    def load_training_state(self, state: dict[str, np.ndarray]) -> None:
        """Put back a ``training_state()`` on every worker."""
        self._load({name: state[name] for name in self._graphs().state})

    @property
    def learning_rate(self) -> float:
        """The rate of the next update (Keras's ``optimizer.learning_rate``)."""
        graphs = self._graphs()
        if LEARNING_RATE in graphs.state:
            return float(self._read([LEARNING_RATE])[LEARNING_RATE])
        assert self.optimizer is not None
        return float(np.float32(self.optimizer.learning_rate_at(self.iterations)))

    def set_learning_rate(self, value: float) -> None:
        """Assign a constant learning rate, rounded to float32, on every worker."""
        if LEARNING_RATE not in self._graphs().state:
            raise TypeError("the learning rate follows a schedule and cannot be set")
        self._load({LEARNING_RATE: np.array(value, np.float32)})

    def close(self) -> None:
        """Stop the workers and Ray."""
        if self._actors:
            import ray

            for actor in self._actors:
                ray.kill(actor)
            self._actors = []
        self._ray.close()

    # -- workers -------------------------------------------------------------------------

    def _read(self, names: list[str] | None) -> dict[str, np.ndarray]:
        return self._all([self._actors[0].arrays.remote(names)])[0]

    def _load(self, arrays: dict[str, np.ndarray]) -> None:
        self._graphs()
        self._all([a.load.remote(arrays) for a in self._actors])

    def _all(self, calls: list[Any]) -> list[Any]:
        """The calls' results, in order; the first worker to fail ends the run, without
        waiting for the others (which wait in the all-reduce for it)."""
        import ray

        pending = list(calls)
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            try:
                ray.get(ready[0])
            except ray.exceptions.RayError as error:
                rank = calls.index(ready[0])
                raise EngineError(
                    f"data-parallel worker {rank} of {self.workers} stopped: "
                    f"{_reason(error)}; training stops here (the run's last checkpoint in "
                    "--out goes on with --resume)"
                ) from None
        return ray.get(calls)

    def _graphs(self) -> StepGraphs:
        if self.graphs is None:
            raise RuntimeError("no optimizer: call use_optimizer() first")
        return self.graphs


def _reason(error: Exception) -> str:
    """The first line of a Ray error: what happened, without Ray's traceback."""
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__
