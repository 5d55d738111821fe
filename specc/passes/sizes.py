"""Model size limits, checked as shapes are inferred and before any weight is drawn.

A few characters of spec (``units: 2000000``, ``RepeatVector n: 1000000000``) can ask for
terabytes. Shape inference knows every weight's and value's size from Python integers, so
it refuses a model past ``Limits.params`` (all its weights, counted once per owner) or a
value past ``Limits.activation_elements`` (elements per sample: the batch axis left out,
a variable dimension counted as 1) at the layer responsible, with the limit to raise.
Besides outputs, a layer names the values its computation builds from its arguments
(``Layer.work_values``: a padded input, a pooling window), which are checked the same way.
"""

from __future__ import annotations

import math

from specc.layers.base import WeightSpec
from specc.limits import Limits
from specc.types import TensorType, elements

PARAMS = "SPC305-params"
VALUE_SIZE = "SPC306-value-size"


def parameter_count(weights: list[WeightSpec]) -> int:
    """Parameters of a layer's weights."""
    return sum(math.prod(w.shape) for w in weights)


def too_many_parameters(label: str, weights: list[WeightSpec], limits: Limits) -> str | None:
    """Why a layer's weights alone are over the parameter limit, or None."""
    count = parameter_count(weights)
    if count <= limits.params:
        return None
    biggest = max(weights, key=lambda w: math.prod(w.shape))
    size = math.prod(biggest.shape)
    detail = f"its {biggest.name} of shape {biggest.shape} holds {size:,}"
    return (
        f"{label} has {count:,} parameters ({detail}), more than a model may have; "
        f"{limits.hint('params', count)}"
    )


def too_many_elements(what: str, value: TensorType, limits: Limits) -> str | None:
    """Why a value of this type is over the activation limit, or None."""
    count = elements(value.shape)
    if count <= limits.activation_elements:
        return None
    per = " per sample" if value.batched else ""
    return (
        f"{what} {value}: {count:,} elements{per}, more than one value may hold; "
        f"{limits.hint('activation_elements', count)}"
    )


def total_over_limit(counts: list[tuple[str, int]], limits: Limits) -> tuple[int, str] | None:
    """Given (layer label, parameters it adds) in graph order: the index of the layer at
    which the model's total passes the limit, and the message; None when it does not."""
    total = sum(n for _, n in counts)
    if total <= limits.params:
        return None
    running = 0
    for index, (label, count) in enumerate(counts):
        running += count
        if running > limits.params:
            return index, (
                f"the model has {total:,} parameters, more than a model may have (the count "
                f"passes the limit at {label}, which adds {count:,}); "
                f"{limits.hint('params', total)}"
            )
    return None  # unreachable: the running sum reaches the total
