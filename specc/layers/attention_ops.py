"""What the attention layers share: their call arguments, the causal mask, the masked
softmax and the dropout on the attention probabilities, in ONNX and in NumPy.

Masks enter as a float ``keep`` tensor (1 where a query may attend to a key, 0 where it
may not) that broadcasts against the scores ``(..., T, S)``: the causal mask is (T, S);
a padding mask on the value/key positions would be (B, 1, S) (B, 1, 1, S for the heads
axis), multiplied into it. Both Keras masking rules are written with Mul and Add by
``keep``, not ONNX Where (slow on large tensors on onnxruntime's CPU provider); they equal
Keras's ``where`` exactly for finite scores.
"""

from __future__ import annotations

from typing import ClassVar

from specc.graph import GraphBuilder, Value
from specc.layers.base import (
    Layer,
    LowerContext,
    Seed,
    ShapeError,
    dropout_mask,
    expect_float,
    trivial_dropout,
)
from specc.lazy_numpy import np
from specc.types import FLOAT, TensorType

# Keras's ``_large_negative_number`` for float32 (the Softmax layer's mask) and the
# ``max_value`` its Attention layers subtract: the same 1e9.
LARGE_NEGATIVE = -1e9


class AttentionCall(Layer):
    """Keras's call arguments of the attention layers, given as layer keys: inputs
    ``[query, value]`` or ``[query, value, key]`` (key defaults to value)."""

    use_causal_mask: bool = False
    return_attention_scores: bool = False
    min_inputs: ClassVar[int] = 2
    max_inputs: ClassVar[int | None] = 3

    def query_value_key(
        self, inputs: list[TensorType]
    ) -> tuple[TensorType, TensorType, TensorType]:
        """The three inputs, key defaulting to value; ``ShapeError`` for a wrong count
        or a non-float input."""
        if not 2 <= len(inputs) <= 3:
            raise ShapeError(
                f"{self.type_name()} takes [query, value] or [query, value, key]; "
                f"got {len(inputs)} input(s)"
            )
        for t in inputs:
            expect_float(self.type_name(), t)
        query, value = inputs[0], inputs[1]
        return query, value, inputs[2] if len(inputs) == 3 else value

    def with_scores(self, result: TensorType, scores: TensorType) -> list[TensorType]:
        """The output types: the result, and the scores when the layer returns them."""
        return [result, scores] if self.return_attention_scores else [result]


class SeededDropout(AttentionCall):
    """Attention layers with dropout on the attention probabilities (``seed`` as Keras's
    ``Dropout`` takes it)."""

    seed: Seed | None = None


def same_batch_axes(layer: str, query: TensorType, value: TensorType, key: TensorType) -> None:
    """Keras's value/key rule: every axis but the last equal; queries of the same rank."""
    if value.shape[:-1] != key.shape[:-1] and None not in value.shape[:-1] + key.shape[:-1]:
        raise ShapeError(
            f"{layer} needs value and key equal on every axis but the last; "
            f"got value {value} and key {key}"
        )
    if not query.rank == value.rank == key.rank:
        raise ShapeError(
            f"{layer} needs query, value and key of the same rank; "
            f"got query {query}, value {value} and key {key}"
        )


# -- ONNX ------------------------------------------------------------------------------


def position_keep(
    b: GraphBuilder, scores: Value, causal: bool, window: int | None = None
) -> Value | None:
    """Float (T, S) keep mask for scores (..., T, S) from the positions alone, as Keras
    builds it (both axes counted from the first position): with ``causal`` query i sees
    keys j <= i; with a sliding ``window`` keys with |i - j| < window; None without
    either. Built from the scores' shape at run time, so sequence lengths may vary."""
    if not causal and window is None:
        return None
    shape = b.op("Shape", scores)
    zero, one = b.constant(0, np.int64, hint="zero"), b.constant(1, np.int64, hint="one")
    ranges = []
    for axis in (-2, -1):
        length = b.op("Gather", shape, b.constant(axis, np.int64, hint="axis"))
        ranges.append(b.op("Cast", b.op("Range", zero, length, one), to=FLOAT))
    rows = b.op("Unsqueeze", ranges[0], b.constant([1], np.int64, hint="axes"))
    offset = b.op("Sub", rows, ranges[1])  # i - j, exact in float32 for any real length
    keep = None
    if causal:
        keep = b.op("Cast", b.op("GreaterOrEqual", offset, b.constant(0.0)), to=FLOAT)
    if window is not None:
        band = b.op("Less", b.op("Abs", offset), b.constant(float(window), hint="window"))
        band = b.op("Cast", band, to=FLOAT)
        keep = band if keep is None else b.op("Mul", keep, band)
    return keep


def check_sequence_masks(layer: Layer, inputs: list[TensorType], masked: list[bool]) -> None:
    """The attention layers read the masks of (batch, steps, features) inputs only."""
    if any(masked) and inputs[0].rank != 3:
        raise ShapeError(
            f"{layer.type_name()} reads the masks of (batch, steps, features) inputs "
            f"only; got a masked input of rank {inputs[0].rank}"
        )


def padding_keep(b: GraphBuilder, masks: list[Value | None]) -> Value | None:
    """The keep tensor (B, 1, T, S) of Keras's ``_compute_attention_mask`` from the inputs'
    masks (query, value, key; float32 (B, steps)): a query step that is padding attends to
    nothing, and no query attends to a padded value or key step. None without masks."""
    keep = None
    for k, mask in enumerate(masks):
        if mask is None:
            continue
        # The query's (B, T) becomes (B, 1, T, 1); a value's or key's (B, S), (B, 1, 1, S).
        axes = [1, 3] if k == 0 else [1, 2]
        grid = b.op(
            "Unsqueeze", mask, b.constant(np.asarray(axes, np.int64), np.int64, hint="axes")
        )
        keep = grid if keep is None else b.op("Mul", keep, grid)
    return keep


def padding_keep_np(masks: list[np.ndarray | None]) -> np.ndarray | None:
    """NumPy twin of ``padding_keep`` (boolean)."""
    keep = None
    for k, mask in enumerate(masks):
        if mask is None:
            continue
        m = np.asarray(mask, bool)
        grid = m[:, None, :, None] if k == 0 else m[:, None, None, :]
        keep = grid if keep is None else keep & grid
    return keep


def masked_softmax(b: GraphBuilder, scores: Value, keep: Value | None) -> Value:
    """Keras's ``Softmax`` layer with a mask, over the last axis: masked scores replaced by
    -1e9, softmax. (Keras then zeroes masked probabilities; that changes nothing unless
    a whole row is masked, which the causal mask never does. A padding mask must zero
    them: ``ops.dot_product_attention``, which MultiHeadAttention uses when it neither
    returns scores nor drops out, does not, so a fully masked row attends uniformly there.)
    """
    if keep is not None:
        scores = b.op("Add", b.op("Mul", scores, keep), _penalty(b, keep))
    return b.op("Softmax", scores, axis=-1)


def subtract_masked(b: GraphBuilder, scores: Value, keep: Value | None) -> Value:
    """Keras's ``Attention._apply_scores`` mask: 1e9 subtracted from masked scores."""
    return scores if keep is None else b.op("Add", scores, _penalty(b, keep))


def _penalty(b: GraphBuilder, keep: Value) -> Value:
    """-1e9 where ``keep`` is 0, 0 where it is 1: (1 - keep) * -1e9."""
    return b.op("Mul", b.op("Sub", b.constant(1.0), keep), b.constant(LARGE_NEGATIVE))


def attention_dropout(
    ctx: LowerContext, probabilities: Value, rank: int, rate: float, seed: int | None
) -> Value:
    """Keras's Dropout on the attention probabilities: in training, a mask drawn from the
    counter-based generator like the Dropout layer's; the probabilities unchanged otherwise."""
    trivial = trivial_dropout(ctx, probabilities, rate)
    if trivial is not None:
        return trivial
    b = ctx.builder
    mask = dropout_mask(ctx, b.op("Shape", probabilities), rank, rate, seed)
    return b.op("Mul", probabilities, mask)


# -- NumPy -----------------------------------------------------------------------------


def position_keep_np(
    queries: int, keys: int, causal: bool, window: int | None = None
) -> np.ndarray | None:
    """NumPy twin of ``position_keep`` (boolean), None without a mask."""
    if not causal and window is None:
        return None
    offset = np.arange(queries)[:, None] - np.arange(keys)[None, :]
    keep = np.ones((queries, keys), bool)
    if causal:
        keep &= offset >= 0
    if window is not None:
        keep &= np.abs(offset) < window
    return keep


def softmax_np(x: np.ndarray, axes: int = 1) -> np.ndarray:
    """Softmax over the last ``axes`` axes together (float64), as Keras's Softmax layer
    with several axes: exp(x - logsumexp(x))."""
    over = tuple(range(-axes, 0))
    shifted = np.exp(x - x.max(axis=over, keepdims=True))
    return shifted / shifted.sum(axis=over, keepdims=True)


def masked_softmax_np(scores: np.ndarray, keep: np.ndarray | None, axes: int = 1) -> np.ndarray:
    """Keras's Softmax layer over the last ``axes`` axes with a mask, if any (one axis
    then): where, softmax, where."""
    if keep is None:
        return softmax_np(scores, axes)
    return np.where(keep, softmax_np(np.where(keep, scores, LARGE_NEGATIVE)), 0.0)


def subtract_masked_np(scores: np.ndarray, keep: np.ndarray | None) -> np.ndarray:
    """NumPy twin of ``subtract_masked``."""
    return scores if keep is None else np.where(keep, scores, scores + LARGE_NEGATIVE)
