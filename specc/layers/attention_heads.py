"""What MultiHeadAttention and GroupedQueryAttention share: Keras's constructor arguments
for their EinsumDense sub-layers, their weights, and one lowering.

Query heads are gathered in groups, one per key/value head (MultiHeadAttention: groups of
one). Rather than repeating each key/value head for its group, as Keras's
GroupedQueryAttention does, the lowering folds every group's query heads into its query
rows: (B, N, T, H) -> (B, G, N/G * T, H), one MatMul per key/value head, and unfolds the
scores back to (B, N, T, S).
"""

from __future__ import annotations

import math
from typing import ClassVar

from pydantic import Field

from specc.fields import ConstraintField, InitializerField, RegularizerField, initializer
from specc.graph import GraphBuilder, Value
from specc.layers.attention_layout import HeadLayout
from specc.layers.attention_ops import (
    LARGE_NEGATIVE,
    SeededDropout,
    attention_dropout,
    check_sequence_masks,
    masked_softmax,
    masked_softmax_np,
    padding_keep,
    padding_keep_np,
    position_keep,
    position_keep_np,
    softmax_np,
)
from specc.layers.base import LowerContext, WeightSpec, float_input
from specc.layers.einsum_plan import (
    EinsumPlan,
    einsum_dense,
    einsum_dense_np,
    einsum_weights,
)
from specc.layers.masks import MaskRule
from specc.lazy_numpy import np
from specc.types import TensorType

SUBLAYERS = ("query", "key", "value", "attention_output")


class HeadsAttention(SeededDropout):
    """Base of the multi-head layers: (B, T, d), (B, S, dv)[, (B, S, dk)] -> (B, T, ...);
    scores (B, query heads, T, S) (more axes where MultiHeadAttention's attention_axes
    say).

    Keras masks: the query's, value's and key's masks shape the attention (see
    ``padding_keep``); the result carries the query's mask (the scores none).
    """

    supports_masking = True

    def mask_rule(self) -> MaskRule:
        return MaskRule("propagate", outputs=(0,))

    dropout: float = Field(0.0, ge=0, le=1, allow_inf_nan=False)
    use_bias: bool = True
    # Keras's banded mask: query i attends to keys j with |i - j| < sliding_window.
    sliding_window: int | None = Field(None, gt=0)
    # Keras's gated attention: the heads' outputs times sigmoid(a projection of query)
    # (the ``gate`` sub-layer) before the output projection.
    use_gate: bool = False
    kernel_initializer: InitializerField = initializer("glorot_uniform")
    bias_initializer: InitializerField = initializer("zeros")
    kernel_regularizer: RegularizerField | None = None
    bias_regularizer: RegularizerField | None = None
    kernel_constraint: ConstraintField | None = None
    bias_constraint: ConstraintField | None = None

    # -- what each layer says -------------------------------------------------------------

    # Whether the layer's activity_regularizer also penalises its own outputs, besides its
    # sub-layers' (Keras's GroupedQueryAttention sets it on itself; MultiHeadAttention
    # does not).
    regularizes_outputs: ClassVar[bool] = False

    def plans(self, inputs: list[TensorType]) -> dict[str, EinsumPlan]:
        """The plan of each of ``SUBLAYERS``, and of ``gate`` (after ``key``, as Keras
        builds it) with ``use_gate`` (``ShapeError`` on inputs it cannot take)."""
        raise NotImplementedError

    def head_counts(self) -> tuple[int, int]:
        """(query heads, key/value heads)."""
        raise NotImplementedError

    def score_dim(self) -> int:
        """The per-head size whose square root divides the scores."""
        raise NotImplementedError

    def attention_axes_for(self, rank: int) -> tuple[int, ...]:
        """The projections' attention axes for inputs of ``rank`` (batch axis included)."""
        return (1,)

    def equations(self, inputs: list[np.ndarray]) -> dict[str, str]:
        """Keras's einsum equation of each sub-layer, and of ``dot_product`` (operands
        key, query) and ``combine`` (probabilities, value), for the NumPy reference."""
        raise NotImplementedError

    # -- shared ---------------------------------------------------------------------------

    def _scores_type(self, inputs: list[TensorType]) -> TensorType:
        """Keras's scores: (B, other axes..., heads, query's attention axes..., key's)."""
        heads, _ = self.head_counts()
        query, key = inputs[0].full_shape, inputs[-1].full_shape
        layout = HeadLayout(len(query) + 1, self.attention_axes_for(len(query)))
        shape = [query[a] for a in layout.other] + [heads]
        shape += [query[a] for a in layout.attention] + [key[a] for a in layout.attention]
        return TensorType("float32", tuple(shape))

    def output_types(self, inputs: list[TensorType]) -> list[TensorType]:
        plans = self.plans(inputs)
        result = TensorType("float32", plans["attention_output"].output_shape[1:])
        return self.with_scores(result, self._scores_type(inputs))

    def work_values(self, inputs: list[TensorType]) -> list[tuple[str, TensorType]]:
        # The scores exist whether or not the layer returns them.
        return [("attention scores", self._scores_type(inputs))]

    def weights(self, inputs: list[TensorType]) -> list[WeightSpec]:
        plans = self.plans(inputs).items()
        return [w for name, plan in plans for w in einsum_weights(self, plan, f"{name}/")]

    def lower(
        self,
        ctx: LowerContext,
        inputs: list[Value],
        input_types: list[TensorType],
        weights: dict[str, Value],
    ) -> list[Value]:
        b = ctx.builder
        plans = self.plans(input_types)
        values = [float_input(ctx, v, t) for v, t in zip(inputs, input_types, strict=True)]
        sources = {"query": values[0], "value": values[1], "key": values[-1]}
        q, k, v = (einsum_dense(b, plans[n], sources[n], weights, f"{n}/") for n in SUBLAYERS[:3])
        sublayer_outputs = {"query": q, "key": k, "value": v}
        # q (B, ..., N, H), k and v (B, ..., G, H); Keras scales the projected query.
        q = b.op("Mul", q, b.constant(1.0 / math.sqrt(float(self.score_dim())), hint="scale"))
        rank = input_types[0].rank
        layout = HeadLayout(rank + 1, self.attention_axes_for(rank))
        heads, groups = self.head_counts()
        q_dim, v_dim = plans["query"].kernel_shape[-1], plans["value"].kernel_shape[-1]
        rows = _fold(b, layout.rows(b, q, q_dim), groups, heads)
        scores = _fold(b, b.op("MatMul", rows, layout.columns(b, k)), heads, groups)
        keep = position_keep(b, scores, self.use_causal_mask, self.sliding_window)
        padding = padding_keep(b, ctx.input_masks)
        if padding is not None:
            keep = padding if keep is None else b.op("Mul", keep, padding)
        probabilities = masked_softmax(b, scores, keep)  # (B, other..., N, T, S)
        if padding is not None and not self.dot_product_path():
            # Keras's Softmax layer zeroes a row whose every key is masked (a padded
            # query step); ops.dot_product_attention leaves it uniform.
            probabilities = b.op("Mul", probabilities, keep)
        dropped = attention_dropout(ctx, probabilities, layout.flat_rank, self.dropout, self.seed)
        combined = b.op("MatMul", _fold(b, dropped, groups, heads), layout.rows(b, v, v_dim))
        combined = layout.back(b, _fold(b, combined, heads, groups), q, v_dim)
        if self.use_gate:
            gate = einsum_dense(b, plans["gate"], values[0], weights, "gate/")
            sublayer_outputs["gate"] = b.op("Sigmoid", gate)
            combined = b.op("Mul", combined, sublayer_outputs["gate"])
        result = einsum_dense(b, plans["attention_output"], combined, weights, "attention_output/")
        sublayer_outputs["attention_output"] = result
        outputs = [result]
        if self.return_attention_scores:
            outputs.append(layout.scores(b, probabilities, q, k))
        if self.activity_regularizer is not None:
            self._declare_activity(ctx, plans, sublayer_outputs, outputs, input_types)
        return outputs

    def _declare_activity(
        self,
        ctx: LowerContext,
        plans: dict[str, EinsumPlan],
        sublayer_outputs: dict[str, Value],
        outputs: list[Value],
        input_types: list[TensorType],
    ) -> None:
        """Keras gives the layer's activity_regularizer to each EinsumDense sub-layer, which
        penalises its output (the gate's after its sigmoid); GroupedQueryAttention also
        keeps it on itself (``regularizes_outputs``), penalising its own outputs too."""
        for name, plan in plans.items():
            ctx.penalize_activity(
                sublayer_outputs[name], TensorType("float32", plan.output_shape[1:])
            )
        if self.regularizes_outputs:
            for value, tensor in zip(outputs, self.output_types(input_types), strict=True):
                ctx.penalize_activity(value, tensor)

    def dot_product_path(self) -> bool:
        """Whether Keras computes the attention with ``ops.dot_product_attention`` (no
        dropout, no scores returned; rank-3 inputs) rather than its Softmax layer: the two
        differ only on a row whose every key is masked."""
        return self.dropout == 0 and not self.return_attention_scores

    def check_masks(self, inputs: list[TensorType], masked: list[bool]) -> None:
        check_sequence_masks(self, inputs, masked)

    def reference(
        self,
        inputs: list[np.ndarray],
        weights: dict[str, np.ndarray],
        masks: list[np.ndarray | None] | None = None,
    ) -> list[np.ndarray]:
        """Keras's call in float64; ``masks`` the inputs' Keras masks (see ``lower``)."""
        query, value = (x.astype(np.float64) for x in inputs[:2])
        key = inputs[-1].astype(np.float64)
        equations = self.equations(inputs)
        heads, groups = self.head_counts()
        q = einsum_dense_np(equations["query"], query, weights, "query/")
        # Keras's GroupedQueryAttention repeats each key/value head for its group (along
        # the heads axis, the projections' second to last).
        repeats = heads // groups
        k = np.repeat(einsum_dense_np(equations["key"], key, weights, "key/"), repeats, -2)
        v = np.repeat(einsum_dense_np(equations["value"], value, weights, "value/"), repeats, -2)
        q = q * (1.0 / math.sqrt(float(self.score_dim())))
        scores = np.einsum(equations["dot_product"], k, q)
        axes = len(self.attention_axes_for(query.ndim))
        keep = position_keep_np(*scores.shape[-2:], self.use_causal_mask, self.sliding_window)
        padding = None if masks is None else padding_keep_np(masks)
        if padding is not None:
            keep = padding if keep is None else keep & padding
        probabilities = masked_softmax_np(scores, keep, axes)
        if padding is not None and self.dot_product_path():
            probabilities = softmax_np(np.where(keep, scores, LARGE_NEGATIVE), axes)
        combined = np.einsum(equations["combine"], probabilities, v)
        if self.use_gate:
            gate = einsum_dense_np(equations["query"], query, weights, "gate/")
            combined = combined / (1.0 + np.exp(-gate))
        result = einsum_dense_np(
            equations["attention_output"], combined, weights, "attention_output/"
        )
        return [result, probabilities] if self.return_attention_scores else [result]


def _fold(b: GraphBuilder, x: Value, heads: int, other: int) -> Value:
    """(B, A, R, C) -> (B, heads, A * R / heads, C), the heads axis regrouped and the rows
    following it; nothing when A is already ``heads`` (``other``), as for every layout
    with more axes (MultiHeadAttention's). 0 keeps an axis's size, so the batch and
    column sizes may be unknown."""
    if heads == other:
        return x
    return b.op("Reshape", x, b.constant([0, heads, -1, 0], np.int64, hint="shape"))
