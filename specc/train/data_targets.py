"""What the data must hold beyond its types, from the model: the input to the checks.

An output's labels: the label type comes from the loss (``Loss.label_type``); the rest is
what the checks need for their hints: whether the loss takes class indices or one-hot rows,
and for class indices how many classes there are. An input's values: those an Embedding
looks rows up with must be row numbers of its table (the engine stops mid-training on any
other).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from specc.losses import CategoricalCrossentropy, Loss
from specc.passes.shapes import TypedGraph
from specc.types import TensorType

LabelForm = Literal["values", "one_hot", "sparse"]


@dataclass(frozen=True)
class Target:
    """What one output's labels must be: the loss's label type, plus what checks need.

    ``form`` is ``sparse`` for class indices (then ``classes`` is the number of classes,
    when known, and ``ignore_class`` a label value exempt from the range check), ``one_hot``
    for categorical cross-entropy, ``values`` for every other loss.
    """

    type: TensorType
    form: LabelForm = "values"
    classes: int | None = None
    ignore_class: int | None = None

    @classmethod
    def for_loss(cls, loss: Loss, prediction: TensorType) -> Target:
        """The labels ``loss`` takes for an output of type ``prediction``."""
        label = loss.label_type(prediction)
        if loss.expects_sparse_labels:
            classes = prediction.shape[-1] if prediction.shape else None
            return cls(label, "sparse", classes, getattr(loss, "ignore_class", None))
        if isinstance(loss, CategoricalCrossentropy):
            return cls(label, "one_hot")
        return cls(label)


def targets_for(
    losses: Mapping[str, Loss | None], predictions: Mapping[str, TensorType]
) -> dict[str, Target]:
    """The label requirements of every output that has a loss (outputs without one need no
    labels, as in Keras)."""
    return {
        name: Target.for_loss(loss, predictions[name])
        for name, loss in losses.items()
        if loss is not None
    }


@dataclass(frozen=True)
class IdRange:
    """The values of an input that indexes an Embedding's table: ids 0 to ``count - 1``,
    ``count`` being the ``input_dim`` of ``layer``."""

    count: int
    layer: str


def id_ranges(typed: TypedGraph) -> dict[str, IdRange]:
    """The model inputs that an Embedding (or a TimeDistributed one) takes directly, each
    with the smallest table among those it feeds."""
    ranges: dict[str, IdRange] = {}
    for node in typed.resolved.nodes:
        # By type name: importing the Embedding and wrapper modules here would make every
        # run load them, and a loaded wrapper loads every layer type (specc.layers).
        wrapped = getattr(node.layer, "type", None) == "TimeDistributed"
        layer = node.layer.layer if wrapped else node.layer
        source = node.inputs[0].name
        if getattr(layer, "type", None) != "Embedding" or source not in typed.resolved.inputs:
            continue
        known = ranges.get(source)
        if known is None or layer.input_dim < known.count:
            ranges[source] = IdRange(layer.input_dim, node.name)
    return ranges
