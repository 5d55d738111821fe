"""Physical layouts: where channels_last tensors live as channels-first inside the graph.

Specs are channels_last, as in Keras; ONNX convolutions and pools are channels-first. A
value in the graph carries a permutation ``perm`` with ``physical = transpose(logical,
perm)`` (None: as the spec's shapes say). A layer states what it wants (``Layer.layout``):

    native          its inputs as the spec's shapes say; outputs the same
    channels_first  inputs of rank >= 3 as (batch, channels, *spatial); outputs likewise
    elementwise     any layout, as long as all inputs share it; outputs keep it

Transposes are inserted only where two layouts meet, so a chain of convolutions, pools and
activations is transposed once on the way in and once on the way out.
"""

from __future__ import annotations

from dataclasses import dataclass

from specc.graph import GraphBuilder, Value
from specc.layers.base import Layer, LowerContext
from specc.types import TensorType

Perm = tuple[int, ...] | None


@dataclass(frozen=True)
class Placed:
    """A value and its physical layout."""

    value: Value
    perm: Perm = None


def channels_first_perm(rank: int) -> Perm:
    """(0, r-1, 1, ..., r-2): channels_last data moved to ONNX's channels-first order."""
    if rank < 3:
        return None
    return (0, rank - 1, *range(1, rank - 1))


def convert(b: GraphBuilder, placed: Placed, wanted: Perm) -> Value:
    """``placed`` transposed into layout ``wanted`` (no op when it already is)."""
    if placed.perm == wanted:
        return placed.value
    rank = len(placed.perm or wanted or ())
    current = placed.perm or tuple(range(rank))
    target = wanted or tuple(range(rank))
    to_logical = sorted(range(rank), key=lambda i: current[i])  # inverse of ``current``
    # transpose(transpose(x, p1), p2) == transpose(x, [p1[i] for i in p2])
    return b.op("Transpose", placed.value, perm=[to_logical[i] for i in target])


def lower_layer(
    ctx: LowerContext,
    layer: Layer,
    inputs: list[Placed],
    input_types: list[TensorType],
    weights: dict[str, Value],
) -> list[Placed]:
    """Lower one layer, transposing its inputs into the layout it wants."""
    b = ctx.builder
    mode = layer.layout(input_types)
    output_types = layer.output_types(input_types)
    if mode == "elementwise":
        perms = {p.perm for p in inputs}
        ranks = {t.rank for t in input_types}
        if len(perms) == 1 and len(ranks) == 1:
            (perm,) = perms
            values = layer.lower(ctx, [p.value for p in inputs], input_types, weights)
            return [Placed(v, perm) for v in values]
        mode = "native"
    if mode == "channels_first":
        wanted = [channels_first_perm(t.rank) for t in input_types]
        values = [convert(b, p, w) for p, w in zip(inputs, wanted, strict=True)]
        outputs = layer.lower(ctx, values, input_types, weights)
        return [
            Placed(v, channels_first_perm(t.rank))
            for v, t in zip(outputs, output_types, strict=True)
        ]
    values = [convert(b, p, None) for p in inputs]
    return [Placed(v) for v in layer.lower(ctx, values, input_types, weights)]
