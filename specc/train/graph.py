"""build_training_graph: the inference graph plus Keras's total loss, in standard ONNX ops.

The total loss is sum(weight_i * loss_i) over the outputs plus every kernel, bias and
activity regularization penalty, as Keras's ``compute_loss`` adds them. A softmax or
sigmoid head whose crossentropy loss takes probabilities is folded into the loss on its
logits (the numerically stable form); the inference model keeps the activation. The
training flag that Dropout-like layers read becomes a graph input: True to train, False to
evaluate. The result goes to onnxruntime-training's artifact generation, which
differentiates its first output.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from specc.diagnostics import Diagnostic, SpecError
from specc.graph import Graph, GraphBuilder, Value
from specc.layers.base import TRAINING_FLAG
from specc.layers.normalization_batch import MovingUpdate, moving_updates
from specc.losses import Loss
from specc.passes.lower import parameter_name
from specc.pipeline import CompiledModel
from specc.regularizers import RegularizerShapeError
from specc.spec.compile import CompileConfig, loss_weights_by_output, losses_by_output
from specc.types import TensorType, scalar

TOTAL_LOSS = "loss"
# The ONNX op of each activation a loss can fold into itself.
_ACTIVATION_OPS = {"softmax": "Softmax", "sigmoid": "Sigmoid"}


@dataclass
class TrainingGraph:
    """The forward graph with its losses, and how its inputs and outputs are named."""

    graph: Graph
    model_inputs: list[str]
    # output name -> the graph input holding its targets, and that input's type
    targets: dict[str, tuple[str, TensorType]]
    # output name -> the graph output holding its (unweighted) loss
    output_losses: dict[str, str]
    predictions: list[str]
    flag: str | None
    trainable: list[str] = field(default_factory=list)
    frozen: list[str] = field(default_factory=list)
    # BatchNormalization's moving statistics, updated after each training step from the
    # batch statistics the graph outputs, as Keras's layer assigns them.
    moving: list[MovingUpdate] = field(default_factory=list)

    @property
    def input_names(self) -> list[str]:
        """Graph inputs in the order the training module takes them."""
        names = [*self.model_inputs, *(name for name, _ in self.targets.values())]
        return [*names, self.flag] if self.flag else names


def target_input_name(output: str) -> str:
    """The graph input that holds an output's targets."""
    return f"{output}.target"


def _producer(graph: Graph, value: str) -> tuple[str, str, dict] | None:
    """(op type, first input, attributes) of the node computing ``value``."""
    for node in graph.nodes:
        if value in node.outputs:
            return node.op_type, node.inputs[0], node.attributes
    return None


def _logits_of(graph: Graph, output: str, loss: Loss, prediction: TensorType) -> Value | None:
    """The pre-activation of a softmax/sigmoid head, when ``loss`` should use it."""
    wanted = loss.logits_activation(prediction)
    if wanted is None:
        return None
    found = _producer(graph, output)
    while found is not None and found[0] == "Identity":
        found = _producer(graph, found[1])
    if found is None:
        return None
    op_type, source, attributes = found
    if op_type != _ACTIVATION_OPS[wanted]:
        return None
    if op_type == "Softmax" and attributes.get("axis", -1) not in (-1, prediction.rank - 1):
        return None
    return Value(source)


def build_training_graph(compiled: CompiledModel, config: CompileConfig) -> TrainingGraph:
    """Add targets, per-output losses, penalties and the total loss to the model's graph."""
    typed = compiled.typed
    b = GraphBuilder.extending(compiled.graph)
    graph = b.graph
    flag = None
    if TRAINING_FLAG in graph.initializers:
        del graph.initializers[TRAINING_FLAG]
        graph.inputs.append((TRAINING_FLAG, scalar("bool")))
        flag = TRAINING_FLAG

    outputs = [name for name, _ in graph.outputs]
    output_types = dict(graph.outputs)
    losses = losses_by_output(config, outputs)
    weights = loss_weights_by_output(config, outputs)
    targets: dict[str, tuple[str, TensorType]] = {}
    output_losses: dict[str, str] = {}
    terms: list[Value] = []
    with b.scope("loss"):
        for output in outputs:
            loss = losses[output]
            if loss is None:
                continue
            prediction = output_types[output]
            target_type = loss.label_type(prediction)
            target = b.input(target_input_name(output), target_type)
            targets[output] = (target.name, target_type)
            logits = _logits_of(graph, output, loss, prediction)
            value = loss.lower(b, Value(output), target, prediction, logits)
            output_losses[output] = b.alias(value, f"{output}_loss").name
            terms.append(b.op("Mul", b.constant(weights[output]), value))
        terms.extend(_penalties(b, compiled))
    if not terms:
        raise SpecError([Diagnostic("SPC501-no-loss", "compile.loss gives no output a loss")])
    total = terms[0]
    for term in terms[1:]:
        total = b.op("Add", total, term)
    b.alias(total, TOTAL_LOSS)

    # The first output is the one differentiated; the others ride along for the history.
    loss_outputs = [(TOTAL_LOSS, scalar()), *((n, scalar()) for n in output_losses.values())]
    graph.outputs = [*loss_outputs, *graph.outputs]
    layers = {n.owner: n.layer for n in typed.resolved.nodes}
    moving = moving_updates(graph, layers)
    for update in moving:
        graph.outputs.append((update.batch_statistic, _statistic_type(compiled, update.parameter)))
    trainable_set = _trainable_parameters(compiled)
    trainable = [p for p in graph.parameters if p in trainable_set]
    frozen = [p for p in graph.parameters if p not in trainable_set]
    model_inputs = list(typed.resolved.inputs)
    return TrainingGraph(
        graph, model_inputs, targets, output_losses, outputs, flag, trainable, frozen, moving
    )


def _statistic_type(compiled: CompiledModel, parameter: str) -> TensorType:
    """A batch statistic has its moving statistic's shape, with no batch axis."""
    shape = compiled.graph.initializers[parameter].shape
    return TensorType("float32", tuple(shape), batched=False)


def _trainable_parameters(compiled: CompiledModel) -> set[str]:
    """The ONNX names of the weights training updates."""
    typed = compiled.typed
    return {
        parameter_name(owner, spec.name)
        for owner, specs in typed.weights.items()
        for spec in specs
        if typed.is_trainable(owner, spec)
    }


def _penalties(b: GraphBuilder, compiled: CompiledModel) -> list[Value]:
    """Every weight and activity regularization penalty, as Keras adds them to the loss."""
    typed = compiled.typed
    penalties: list[Value] = []
    problems: list[Diagnostic] = []
    for owner, specs in typed.weights.items():
        for spec in specs:
            # Keras regularizes trainable weights only (Layer.losses).
            if spec.regularizer is None or not typed.is_trainable(owner, spec):
                continue
            weight = Value(parameter_name(owner, spec.name))
            with b.scope(f"{owner}/{spec.name}_regularizer"):
                try:
                    penalties.append(spec.regularizer.lower(b, weight, spec.shape))
                except RegularizerShapeError as error:
                    problems.append(Diagnostic("SPC502-regularizer", f"layer '{owner}': {error}"))
    for node in typed.resolved.nodes:
        regularizer = getattr(node.layer, "activity_regularizer", None)
        produced = b.graph.layer_outputs.get(node.name)
        if regularizer is None or not produced:
            continue
        # Keras adds the penalty of every output tensor of the layer, undivided.
        for value, tensor in zip(produced, typed.output_types[node.name], strict=True):
            with b.scope(f"{node.name}/activity_regularizer"):
                try:
                    penalties.append(regularizer.lower(b, Value(value), tensor.full_shape))
                except (RegularizerShapeError, TypeError) as error:
                    problems.append(
                        Diagnostic("SPC502-regularizer", f"layer '{node.name}' activity: {error}")
                    )
    if problems:
        raise SpecError(problems)
    return penalties
