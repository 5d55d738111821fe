"""build_training_graph: the inference graph plus Keras's total loss, in standard ONNX ops.

The total loss is sum(weight_i * loss_i) over the outputs plus every kernel, bias and
activity regularization penalty, as Keras's ``compute_loss`` adds them. A softmax or
sigmoid head (``LoweredModel.heads``) whose crossentropy loss takes probabilities is folded
into the loss on its logits (the numerically stable form); the inference model keeps the
activation. The training flag that Dropout-like layers read is a graph input of the training
lowering: True to train, False to evaluate. The result goes to onnxruntime-training's
artifact generation, which differentiates its first output.

Each compiled metric adds its batch statistics as outputs (``Metric.lower``: a mean's total
and count, confusion counts at thresholds), so a step returns a few numbers per metric and
the model's predictions stay inside the graph; ``fit`` adds the statistics up and reads the
metric's value from the totals. A caller that computes metrics itself (the mobile training
artifacts' app) asks for the predictions as outputs instead.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

import numpy as np

from specc.diagnostics import Diagnostic, SpecError
from specc.graph import Graph, GraphBuilder, Value
from specc.layers.base import MovingUpdate
from specc.losses import Loss
from specc.metrics import Metric, MetricInputs
from specc.passes.lower import Head, LoweredModel
from specc.pipeline import CompiledModel
from specc.regularizers import RegularizerShapeError
from specc.spec.compile import (
    CompileConfig,
    loss_weights_by_output,
    losses_by_output,
    metric_history_keys,
)
from specc.types import FLOAT, TensorType, scalar

TOTAL_LOSS = "loss"


@dataclass(frozen=True)
class MetricOutputs:
    """One metric of one output in the training graph."""

    output: str
    # The history key: the metric's name, prefixed by the output's with several outputs.
    key: str
    # The metric that runs: ``accuracy`` resolved to Keras's kind for the output's types.
    metric: Metric
    # The graph outputs holding the batch's statistics, in ``metric.lower``'s order.
    statistics: list[str]


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
    # output name -> the graph input holding its samples' loss weights (weighted runs only)
    sample_weights: dict[str, str] = field(default_factory=dict)
    # The compiled metrics, whose statistics the graph outputs (none with predictions).
    metrics: list[MetricOutputs] = field(default_factory=list)

    @property
    def batch_inputs(self) -> list[str]:
        """The inputs a batch feeds: model inputs, targets, then sample weights."""
        targets = [name for name, _ in self.targets.values()]
        return [*self.model_inputs, *targets, *self.sample_weights.values()]

    @property
    def input_names(self) -> list[str]:
        """Graph inputs in the order the training module takes them."""
        names = self.batch_inputs
        return [*names, self.flag] if self.flag else names


def target_input_name(output: str) -> str:
    """The graph input that holds an output's targets."""
    return f"{output}.target"


def sample_weight_input_name(output: str) -> str:
    """The graph input that holds the loss weight of each sample for an output."""
    return f"{output}.sample_weight"


def _logits_of(head: Head | None, loss: Loss, prediction: TensorType) -> Value | None:
    """The pre-activation of a softmax/sigmoid head, when ``loss`` should use it."""
    wanted = loss.logits_activation(prediction)
    if head is None or head.activation != wanted:
        return None
    if head.activation == "softmax" and head.axis not in (-1, prediction.rank - 1):
        return None
    return head.pre_activation


def build_training_graph(
    compiled: CompiledModel,
    config: CompileConfig,
    weighted: Collection[str] = (),
    predictions: bool = False,
) -> TrainingGraph:
    """Add targets, per-output losses, penalties, the total loss and the metrics' batch
    statistics to the model's graph; with ``predictions``, output the model's predictions
    instead of the statistics.

    ``compiled`` is a training lowering (``for_training``): its training flag, if any layer
    reads one, is already a graph input. Each output in ``weighted`` takes a loss weight
    per sample (``sample_weight_input_name``): Keras's ``sample_weight`` and
    ``class_weight``.
    """
    lowered = compiled.lowered
    if not lowered.for_training:
        raise ValueError("a training graph is built from a training lowering (for_training)")
    b = GraphBuilder.extending(lowered.graph)
    graph = b.graph
    flag = lowered.training_flag.name if lowered.training_flag is not None else None

    outputs = [name for name, _ in graph.outputs]
    output_types = dict(graph.outputs)
    losses = losses_by_output(config, outputs)
    weights = loss_weights_by_output(config, outputs)
    targets: dict[str, tuple[str, TensorType]] = {}
    output_losses: dict[str, str] = {}
    sample_weights: dict[str, str] = {}
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
            logits = _logits_of(lowered.heads.get(output), loss, prediction)
            weight = None
            if output in weighted:
                weight = b.input(sample_weight_input_name(output), TensorType("float32", ()))
                sample_weights[output] = weight.name
            # Keras weighs a masked output's steps by its mask (losses.loss.apply_mask).
            mask = lowered.output_masks.get(output)
            value = loss.lower(b, Value(output), target, prediction, logits, weight, mask)
            output_losses[output] = b.alias(value, f"{output}_loss").name
            terms.append(b.op("Mul", b.constant(weights[output]), value))
        terms.extend(_penalties(b, lowered))
    if not terms:
        raise SpecError([Diagnostic("SPC501-no-loss", "compile.loss gives no output a loss")])
    total = terms[0]
    for term in terms[1:]:
        total = b.op("Add", total, term)
    b.alias(total, TOTAL_LOSS)
    metrics: list[MetricOutputs] = []
    statistics: list[tuple[str, TensorType]] = []
    if not predictions:
        metrics, statistics = _metric_statistics(
            b, config, output_types, targets, lowered.output_masks
        )
    # The training module takes the model inputs, the targets, the sample weights, the flag.
    weight_inputs = set(sample_weights.values())
    graph.inputs.sort(key=lambda item: (item[0] == flag, item[0] in weight_inputs))

    # The first output is the one differentiated; the others ride along for the history.
    loss_outputs = [(TOTAL_LOSS, scalar()), *((n, scalar()) for n in output_losses.values())]
    graph.outputs = [*loss_outputs, *(graph.outputs if predictions else statistics)]
    moving = list(lowered.moving_updates)
    for update in moving:
        graph.outputs.append((update.batch_statistic, _statistic_type(graph, update.parameter)))
    trainable_set = {p.onnx_name for p in lowered.parameters if p.trainable}
    trainable = [p for p in graph.parameters if p in trainable_set]
    frozen = [p for p in graph.parameters if p not in trainable_set]
    model_inputs = list(compiled.typed.resolved.inputs)
    return TrainingGraph(
        graph,
        model_inputs,
        targets,
        output_losses,
        outputs,
        flag,
        trainable,
        frozen,
        moving,
        sample_weights,
        metrics,
    )


def _metric_statistics(
    b: GraphBuilder,
    config: CompileConfig,
    output_types: dict[str, TensorType],
    targets: dict[str, tuple[str, TensorType]],
    masks: dict[str, Value],
) -> tuple[list[MetricOutputs], list[tuple[str, TensorType]]]:
    """Each compiled metric's batch statistics, from its output and that output's targets
    (``check_compile_types`` refused a metric on an output without a loss), and the graph
    outputs that hold them (``metrics/<history key>/<k>``)."""
    metrics: list[MetricOutputs] = []
    statistics: list[tuple[str, TensorType]] = []
    used: set[str] = set()
    for output, entry, key in metric_history_keys(config, list(output_types)):
        # Keras's keys can still meet (a metric named ``auc_1`` beside two AUCs); the
        # graph's output names must not.
        prefix, n = key, 1
        while prefix in used:
            prefix, n = f"{key}_{n}", n + 1
        used.add(prefix)
        target, labels = targets[output]
        prediction = output_types[output]
        metric = entry.for_types(labels, prediction)
        with b.scope(f"metrics/{prefix}"):
            mask = masks.get(output)
            inputs = MetricInputs(Value(target), Value(output), labels, prediction, mask)
            lowered = metric.lower(b, inputs)
        names = []
        for k, statistic in enumerate(lowered):
            named = b.alias(statistic.value, f"metrics/{prefix}/{k}")
            names.append(named.name)
            statistics.append((named.name, TensorType("float32", statistic.shape, False)))
        metrics.append(MetricOutputs(output, key, metric, names))
    return metrics, statistics


def _statistic_type(graph: Graph, parameter: str) -> TensorType:
    """A batch statistic has its moving statistic's shape, with no batch axis."""
    shape = graph.initializers[parameter].shape
    return TensorType("float32", tuple(shape), batched=False)


def _penalties(b: GraphBuilder, lowered: LoweredModel) -> list[Value]:
    """Every weight and activity regularization penalty, as Keras adds them to the loss."""
    penalties: list[Value] = []
    problems: list[Diagnostic] = []
    for parameter in lowered.parameters:
        # Keras regularizes trainable weights only (Layer.losses).
        if parameter.regularizer is None or not parameter.trainable:
            continue
        with b.scope(f"{parameter.owner}/{parameter.name}_regularizer"):
            try:
                penalty = parameter.regularizer.lower(
                    b, Value(parameter.onnx_name), parameter.shape
                )
                penalties.append(penalty)
            except RegularizerShapeError as error:
                message = f"layer '{parameter.owner}': {error}"
                problems.append(Diagnostic("SPC502-regularizer", message))
    for activity in lowered.activity_penalties:
        for value, tensor in activity.outputs:
            with b.scope(f"{activity.layer}/activity_regularizer"):
                try:
                    penalty = activity.regularizer.lower(b, value, tensor.full_shape)
                except (RegularizerShapeError, TypeError) as error:
                    message = f"layer '{activity.layer}' activity: {error}"
                    problems.append(Diagnostic("SPC502-regularizer", message))
                    continue
                penalties.append(_per_sample(b, penalty, value, tensor))
    if problems:
        raise SpecError(problems)
    return penalties


def _per_sample(b: GraphBuilder, penalty: Value, value: Value, tensor: TensorType) -> Value:
    """An activity penalty divided by the batch size, as Keras 3.14 and later add it
    (``Layer.__call__``: ``divide_no_nan(loss, shape(output)[0])`` for a non-scalar
    output, so that its strength does not depend on the batch size)."""
    if not tensor.full_shape:
        return penalty
    batch = b.op("Gather", b.op("Shape", value), b.constant(0, np.int64, hint="batch_axis"))
    batch = b.op("Cast", batch, to=FLOAT)
    # divide_no_nan: an empty batch (penalty 0) gives 0, not 0/0.
    return b.op("Div", penalty, b.op("Max", batch, b.constant(1.0)))
