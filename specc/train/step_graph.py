"""The whole training step as one standard-ONNX graph, and the evaluation graph beside it.

``build_step_graphs`` turns a ``TrainingGraph`` (forward pass, per-output losses, penalties
and total loss) into two graphs that run on stock onnxruntime:

- the **step graph**: forward in training mode, the total loss, its gradients with respect
  to every trainable parameter (``specc.autodiff``), the optimizer's Keras update
  (``Optimizer.lower_update``: clipping, weight decay, the update rule, the learning rate or
  its schedule computed from the iteration counter), each weight's constraint after the
  update, and BatchNormalization's moving statistics moved towards the batch's;
- the **evaluation graph**: the same forward pass in inference mode, with the losses
  (``specc.train.evaluation_graph``, which ``specc evaluate`` builds alone).

With ``split``, the step graph is also cut in two for data-parallel training
(``specc.train.parallel``): the **gradient graph** (forward and backward: the losses, the
metrics' statistics, each trainable parameter's gradient and BatchNormalization's batch
statistics) and the **update graph** (the state, the gradients and the batch statistics
averaged over the workers -> the next state). Run one after the other on the same batch,
they compute what the fused step does.

The random layers' step counter (``specc.random_step``) is ``iterations`` itself, so the
draws of a step depend on the saved state alone: a run resumed from it continues the
sequence.

All state is explicit: every parameter (trainable and frozen), every optimizer slot, the
optimizer-wide state and ``iterations`` are graph inputs, and the step graph outputs their
next values (``next/<name>``). The runtime (``specc.train.standard``) keeps the state on the
device and feeds each step's outputs to the next, so no update runs on the host.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from specc.autodiff import DEFAULT_FORMS, GradientForms, differentiate
from specc.constraints import Constraint
from specc.graph import Graph, GraphBuilder, Value
from specc.optimizers import Optimizer
from specc.optimizers.base import UpdateContext
from specc.random_ops import RANDOM_ROW, RANDOM_STEP
from specc.schedules import LearningRateSchedule
from specc.train.evaluation_graph import build_evaluation_graph
from specc.train.evaluation_graph import fixed_input as _fixed_input
from specc.train.evaluation_graph import parameters_as_inputs as _parameters_as_inputs
from specc.train.evaluation_graph import state_type as _fixed
from specc.train.graph import TOTAL_LOSS, TrainingGraph
from specc.types import scalar

ITERATIONS = "optimizer.iterations"
# A constant learning rate is state (Keras's float32 variable), so that a callback can
# assign it between steps (ReduceLROnPlateau); a schedule computes it from ITERATIONS.
LEARNING_RATE = "optimizer.learning_rate"


def next_name(state: str) -> str:
    """The step graph output holding the next value of state input ``state``."""
    return f"next/{state}"


def slot_name(parameter: str, slot: str) -> str:
    """The state input of an optimizer slot of a parameter: ``optimizer/dense.kernel/m``."""
    return f"optimizer/{parameter}/{slot}"


def shared_name(slot: str) -> str:
    """The state input of optimizer-wide state (Nadam's ``u_product``)."""
    return f"optimizer/{slot}"


@dataclass
class StepGraphs:
    """The step and evaluation graphs, and the state they carry."""

    step: Graph
    evaluation: Graph
    # State input name -> its initial value: parameters (their current values), slots,
    # optimizer-wide state and iterations. The step graph outputs next_name(name) for each.
    state: dict[str, np.ndarray]
    # The batch inputs both graphs take (model inputs and targets); the flag is not one.
    batch_inputs: list[str]
    # What a step returns besides the state, and what an evaluation returns.
    step_outputs: list[str]
    evaluation_outputs: list[str]
    flag: str | None
    # With ``split``: the step cut in two, and the values that pass between the halves.
    split: SplitStep | None = None


@dataclass
class SplitStep:
    """The step graph as a gradient graph and an update graph (see the module's docs)."""

    gradient: Graph
    update: Graph
    # Trainable parameter -> the gradient graph output (and update graph input) holding
    # its gradient.
    gradients: dict[str, str]
    # BatchNormalization's batch statistics, passed the same way.
    batch_statistics: list[str]
    # The gradient graph's int64 scalar input: the global batch's row where its batch
    # starts (``specc.random_ops.RANDOM_ROW``), or None when the model draws nothing.
    row_input: str | None


def build_step_graphs(
    training: TrainingGraph,
    optimizer: Optimizer,
    constraints: dict[str, Constraint],
    split: bool = False,
    forms: GradientForms = DEFAULT_FORMS,
) -> StepGraphs:
    """The step and evaluation graphs of ``training`` with ``optimizer``; ``constraints``
    maps a parameter's ONNX name to the constraint applied after each update. ``split``
    also cuts the step into a gradient and an update graph (``StepGraphs.split``);
    ``forms`` are the gradient forms the runtime can run (``GradientForms``)."""
    forward = _parameters_as_inputs(training.graph)
    # One process draws at row 0: without the row offset's ops, as if it had none.
    single = _without_row_offset(forward, [m.batch_statistic for m in training.moving])
    evaluation = build_evaluation_graph(training, single)
    step_forward = _fixed_input(forward if split else single, training.flag, True)
    grads = differentiate(step_forward, TOTAL_LOSS, list(training.trainable), forms=forms)
    b = GraphBuilder.extending(grads.graph)
    graph = b.graph
    state: dict[str, np.ndarray] = {
        name: np.asarray(training.graph.initializers[name])
        for name in [*training.trainable, *training.frozen]
    }

    iterations = b.input(ITERATIONS, scalar("int64"))
    state[ITERATIONS] = np.array(0, np.int64)
    if any(name == RANDOM_STEP for name, _ in graph.inputs):
        # Step k draws the random numbers of step k, whichever session runs it: a run
        # resumed from saved state goes on with the same sequence, with no new state.
        graph.inputs = [(name, t) for name, t in graph.inputs if name != RANDOM_STEP]
        b.alias(iterations, RANDOM_STEP)
        # The alias is appended after the random ops that read it: it goes first, so that
        # the nodes stay in the topological order ONNX asks for (onnxruntime sorts a graph
        # for itself; other readers of an exported step graph may not).
        graph.nodes.insert(0, graph.nodes.pop())
    slots: dict[str, dict[str, Value]] = {}
    for name in training.trainable:
        slots[name] = {}
        for slot in optimizer.slots(state[name].shape):
            input_name = slot_name(name, slot.name)
            slots[name][slot.name] = b.input(input_name, _fixed(slot.initial))
            state[input_name] = slot.initial
    shared: dict[str, Value] = {}
    for slot in optimizer.shared_slots():
        input_name = shared_name(slot.name)
        shared[slot.name] = b.input(input_name, _fixed(slot.initial))
        state[input_name] = slot.initial

    learning_rate: Value | None = None
    if not isinstance(optimizer.learning_rate, LearningRateSchedule):
        learning_rate = b.input(LEARNING_RATE, scalar("float32"))
        state[LEARNING_RATE] = np.array(optimizer.learning_rate, np.float32)

    parameters = {name: Value(name) for name in training.trainable}
    gradients = {name: Value(grads.of[name]) for name in training.trainable}
    context = UpdateContext(iterations, shared, learning_rate=learning_rate)
    update = optimizer.lower_update(b, context, parameters, gradients, slots)

    nexts: dict[str, Value] = {ITERATIONS: update.iterations}
    if learning_rate is not None:
        nexts[LEARNING_RATE] = learning_rate  # unchanged by a step
    for name in training.trainable:
        value = update.parameters[name]
        constraint = constraints.get(name)
        if constraint is not None:
            with b.scope(f"constraint/{name}"):
                value = constraint.lower(b, value, state[name].shape)
        nexts[name] = value
        for slot, value in update.slots[name].items():
            nexts[slot_name(name, slot)] = value
    for slot, value in update.shared.items():
        nexts[shared_name(slot)] = value
    for moving in training.moving:
        # Keras's BatchNormalization: moving = moving * momentum + batch * (1 - momentum)
        with b.scope(f"moving/{moving.parameter}"):
            kept = b.op("Mul", Value(moving.parameter), b.constant(moving.momentum))
            batch = b.op("Mul", Value(moving.batch_statistic), b.constant(1 - moving.momentum))
            nexts[moving.parameter] = b.op("Add", kept, batch)
    for name in training.frozen:
        nexts.setdefault(name, Value(name))  # a frozen weight goes through unchanged

    results = [name for name, _ in training.graph.outputs]
    output_types = dict(training.graph.outputs)
    graph.outputs = [(name, output_types[name]) for name in results]
    renamed = _name_node_outputs(graph, [(v.name, next_name(n)) for n, v in nexts.items()])
    for name, value in nexts.items():
        graph.outputs.append((next_name(name), _fixed(state[name])))
        if value.name not in renamed:
            b.alias(value, next_name(name))
    halves = None
    if split:
        gradient_names = {name: grads.of[name] for name in training.trainable}
        halves = _split(graph, state, results, gradient_names, training)
    return StepGraphs(
        graph,
        evaluation,
        state,
        training.batch_inputs,
        results,
        [name for name, _ in evaluation.outputs],
        training.flag,
        halves,
    )


def _split(
    step: Graph,
    state: dict[str, np.ndarray],
    results: list[str],
    gradients: dict[str, str],
    training: TrainingGraph,
) -> SplitStep:
    """Cut the fused ``step`` where the gradients and the batch statistics are computed."""
    types = dict(step.outputs)
    passed = [(gradients[name], _fixed(state[name])) for name in training.trainable]
    statistics = [m.batch_statistic for m in training.moving]
    passed += [(m.batch_statistic, _fixed(state[m.parameter])) for m in training.moving]
    inputs = list(step.inputs)
    row_input = None
    if RANDOM_ROW in step.initializers:
        row_input = RANDOM_ROW
        inputs.append((RANDOM_ROW, scalar("int64")))
    initializers = {k: v for k, v in step.initializers.items() if k != RANDOM_ROW}
    gradient = _cut(
        dataclasses.replace(step, inputs=inputs, initializers=initializers),
        f"{step.name}_gradient",
        [(name, types[name]) for name in results] + passed,
    )
    source = dataclasses.replace(step, inputs=[*step.inputs, *passed])
    update = _cut(
        source, f"{step.name}_update", [(next_name(n), types[next_name(n)]) for n in state]
    )
    return SplitStep(gradient, update, gradients, statistics, row_input)


def _without_row_offset(graph: Graph, kept: list[str]) -> Graph:
    """``graph`` with each draw's ``index + RANDOM_ROW * per_row`` (``specc.random_ops``)
    back to ``index``, and the ops that computed the offset gone: the row is 0 in one
    process, and a step there pays nothing for the data-parallel workers' offset. The
    values in ``kept`` (batch statistics that are no outputs) keep what computes them."""
    if RANDOM_ROW not in graph.initializers:
        return graph
    offsets = {n.outputs[0] for n in graph.nodes if n.op_type == "Mul" and RANDOM_ROW in n.inputs}
    moved = {
        n.outputs[0]: n.inputs[0]
        for n in graph.nodes
        if n.op_type == "Add" and len(n.inputs) == 2 and n.inputs[1] in offsets
    }
    nodes = [
        dataclasses.replace(n, inputs=[moved.get(i, i) for i in n.inputs])
        for n in graph.nodes
        if n.outputs[0] not in moved and n.outputs[0] not in offsets
    ]
    wanted = [*graph.outputs, *((name, None) for name in kept)]
    pruned = _cut(dataclasses.replace(graph, nodes=nodes), graph.name, wanted)
    # Every input stays, used or not: a session binds them all.
    return dataclasses.replace(pruned, inputs=list(graph.inputs), outputs=list(graph.outputs))


def _cut(graph: Graph, name: str, outputs: list[tuple[str, object]]) -> Graph:
    """The part of ``graph`` that computes ``outputs`` from its inputs: the nodes, inputs
    and initializers they need; a value that is an input is never computed."""
    given = {n for n, _ in graph.inputs}
    producers = {out: node for node in graph.nodes for out in node.outputs if out not in given}
    wanted, chosen = set(), set()
    # Depth-first from the outputs: the nodes are not in topological order (an alias
    # added after the forward pass feeds it).
    todo = [n for n, _ in outputs]
    while todo:
        value = todo.pop()
        if value in wanted:
            continue
        wanted.add(value)
        node = producers.get(value)
        if node is not None and id(node) not in chosen:
            chosen.add(id(node))
            todo.extend(i for i in node.inputs if i)
    nodes = [n for n in graph.nodes if id(n) in chosen]
    return dataclasses.replace(
        graph,
        name=name,
        inputs=[(n, t) for n, t in graph.inputs if n in wanted],
        outputs=list(outputs),  # type: ignore[arg-type]
        nodes=nodes,
        initializers={k: v for k, v in graph.initializers.items() if k in wanted},
    )


def _name_node_outputs(graph: Graph, wanted: list[tuple[str, str]]) -> set[str]:
    """Rename node outputs to the state output names they become, so the step writes each
    next value straight into its bound buffer instead of copying it there through an
    Identity (a copy of every parameter and slot, each step). A value computed by no node
    (a frozen weight passed through) or wanted under two names keeps its Identity."""
    counts: dict[str, int] = {}
    for old, _ in wanted:
        counts[old] = counts.get(old, 0) + 1
    produced = {out for node in graph.nodes for out in node.outputs}
    names = {old: new for old, new in wanted if old in produced and counts[old] == 1}
    if not names:
        return set()
    for node in graph.nodes:
        node.inputs = [names.get(name, name) for name in node.inputs]
        node.outputs = [names.get(name, name) for name in node.outputs]
    graph.outputs = [(names.get(name, name), t) for name, t in graph.outputs]
    return set(names)
