"""Attention (Luong, dot or concat scores) and AdditiveAttention (Bahdanau).

Shapes: query (B, ..., Tq, dim), value (B, ..., Tv, dv), key (B, ..., Tv, dim) -> (B, ...,
Tq, dv); scores (B, ..., Tq, Tv). Weights: Attention ``scale`` [] (use_scale) and
``concat_score_weight`` [] (score_mode concat), both ones; AdditiveAttention ``scale``
[dim] (use_scale), glorot_uniform.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from specc.graph import GraphBuilder, Value
from specc.initializers import GlorotUniform, Ones
from specc.layers.attention_ops import (
    SeededDropout,
    attention_dropout,
    check_sequence_masks,
    position_keep,
    position_keep_np,
    same_batch_axes,
    softmax_np,
    subtract_masked,
    subtract_masked_np,
)
from specc.layers.base import LAYERS, LowerContext, ShapeError, WeightSpec, float_input
from specc.layers.masks import MaskRule
from specc.lazy_numpy import np
from specc.types import TensorType


class _ScoredAttention(SeededDropout):
    """Keras's ``Attention`` call: scores, the causal mask subtracted, softmax, dropout,
    then the probabilities times value. Subclasses say how query and key are scored."""

    # Keras's masks: the value's on the scores (a padded value step gets no weight), the
    # query's on the result (zeros at padded query steps); the result carries the query's.
    supports_masking = True
    dropout: float = Field(0.0, ge=0, le=1, allow_inf_nan=False)

    def mask_rule(self) -> MaskRule:
        return MaskRule("propagate", outputs=(0,))  # Keras: not the scores

    def check_masks(self, inputs: list[TensorType], masked: list[bool]) -> None:
        check_sequence_masks(self, inputs, masked)

    def output_types(self, inputs: list[TensorType]) -> list[TensorType]:
        query, value, key = self.query_value_key(inputs)
        if query.rank < 3 or not query.rank == value.rank == key.rank:
            raise ShapeError(
                f"{self.type_name()} needs query, value and key of one rank >= 3 "
                f"(batch, ..., steps, features); got query {query}, value {value}, key {key}"
            )
        same_batch_axes(self.type_name(), query, value, key)
        dq, dk = query.shape[-1], key.shape[-1]
        if dq is None or dk is None or dq != dk:
            raise ShapeError(
                f"{self.type_name()} needs query and key with the same known last "
                f"dimension; got query {query} and key {key}"
            )
        result = TensorType("float32", (*query.shape[:-1], value.shape[-1]))
        scores = TensorType("float32", (*query.shape[:-1], key.shape[-2]))
        return self.with_scores(result, scores)

    def work_values(self, inputs: list[TensorType]) -> list[tuple[str, TensorType]]:
        query, _, key = self.query_value_key(inputs)
        return [("attention scores", TensorType("float32", (*query.shape[:-1], key.shape[-2])))]

    def score(
        self, b: GraphBuilder, q: Value, k: Value, rank: int, weights: dict[str, Value]
    ) -> Value:
        """Scores (B, ..., Tq, Tv) of query and key, both of ``rank``."""
        raise NotImplementedError

    def score_np(self, q: np.ndarray, k: np.ndarray, weights: dict[str, np.ndarray]) -> np.ndarray:
        """NumPy twin of ``score``."""
        raise NotImplementedError

    def lower(
        self,
        ctx: LowerContext,
        inputs: list[Value],
        input_types: list[TensorType],
        weights: dict[str, Value],
    ) -> list[Value]:
        b = ctx.builder
        values = [float_input(ctx, v, t) for v, t in zip(inputs, input_types, strict=True)]
        query, value = values[0], values[1]
        key = values[2] if len(values) == 3 else value
        rank = input_types[0].rank
        scores = self.score(b, query, key, rank, weights)
        keep = position_keep(b, scores, self.use_causal_mask)
        masks = ctx.input_masks or [None, None]
        if masks[1] is not None:  # Keras reads the value's mask, not the key's
            columns = b.op("Unsqueeze", masks[1], b.constant([1], np.int64, hint="axes"))
            keep = columns if keep is None else b.op("Mul", keep, columns)
        probabilities = b.op("Softmax", subtract_masked(b, scores, keep), axis=-1)
        dropped = attention_dropout(ctx, probabilities, rank, self.dropout, self.seed)
        result = b.op("MatMul", dropped, value)
        if masks[0] is not None:
            rows = b.op("Unsqueeze", masks[0], b.constant([-1], np.int64, hint="axes"))
            result = b.op("Mul", result, rows)
        return [result, probabilities] if self.return_attention_scores else [result]

    def reference(
        self,
        inputs: list[np.ndarray],
        weights: dict[str, np.ndarray],
        masks: list[np.ndarray | None] | None = None,
    ) -> list[np.ndarray]:
        """Keras's call in float64; ``masks`` the inputs' Keras masks (see ``lower``)."""
        query, value = (x.astype(np.float64) for x in inputs[:2])
        key = inputs[2].astype(np.float64) if len(inputs) == 3 else value
        scores = self.score_np(query, key, {k: w.astype(np.float64) for k, w in weights.items()})
        keep = position_keep_np(*scores.shape[-2:], self.use_causal_mask)
        masks = masks or [None, None]
        if masks[1] is not None:
            columns = np.asarray(masks[1], bool)[:, None, :]
            keep = columns if keep is None else keep & columns
        probabilities = softmax_np(subtract_masked_np(scores, keep))
        result = probabilities @ value
        if masks[0] is not None:
            result = result * np.asarray(masks[0], bool)[:, :, None]
        return [result, probabilities] if self.return_attention_scores else [result]


def _pairwise_sum(b: GraphBuilder, q: Value, k: Value) -> Value:
    """q (..., Tq, d) + k (..., Tv, d) as (..., Tq, Tv, d), Keras's expand_dims pair."""
    q = b.op("Unsqueeze", q, b.constant([-2], np.int64, hint="axes"))
    k = b.op("Unsqueeze", k, b.constant([-3], np.int64, hint="axes"))
    return b.op("Add", q, k)


def _pairwise_sum_np(q: np.ndarray, k: np.ndarray) -> np.ndarray:
    return q[..., :, None, :] + k[..., None, :, :]


def _key_transposed(b: GraphBuilder, k: Value, rank: int) -> Value:
    """``k`` with its last two axes swapped."""
    perm = [*range(rank - 2), rank - 1, rank - 2]
    return b.op("Transpose", k, perm=perm)


@LAYERS.register
class Attention(_ScoredAttention):
    """Attention: y = softmax(scores) @ value, scores from q k^T (dot) or tanh(q + k) (concat).

    dot: scores = scale * q k^T; concat: scores = concat_score_weight * sum(tanh(scale *
    (q + k)), -1); scale is 1 without use_scale.
    """

    type: Literal["Attention"]
    use_scale: bool = False
    score_mode: Literal["dot", "concat"] = "dot"

    def weights(self, inputs: list[TensorType]) -> list[WeightSpec]:
        ones = Ones(type="ones")
        specs = [WeightSpec("scale", (), ones)] if self.use_scale else []
        if self.score_mode == "concat":
            specs.append(WeightSpec("concat_score_weight", (), ones))
        return specs

    def score(
        self, b: GraphBuilder, q: Value, k: Value, rank: int, weights: dict[str, Value]
    ) -> Value:
        if self.score_mode == "dot":
            # Keras's matmul(query, swapaxes(key, -2, -1)).
            scores = b.op("MatMul", q, _key_transposed(b, k, rank))
            return scores if "scale" not in weights else b.op("Mul", scores, weights["scale"])
        summed = _pairwise_sum(b, q, k)
        if "scale" in weights:
            summed = b.op("Mul", weights["scale"], summed)
        total = b.reduce_sum(b.op("Tanh", summed), -1)
        return b.op("Mul", weights["concat_score_weight"], total)

    def score_np(self, q: np.ndarray, k: np.ndarray, weights: dict[str, np.ndarray]) -> np.ndarray:
        scale = weights.get("scale", 1.0)
        if self.score_mode == "dot":
            return (q @ np.swapaxes(k, -2, -1)) * scale
        summed = np.tanh(scale * _pairwise_sum_np(q, k)).sum(axis=-1)
        return weights["concat_score_weight"] * summed

    @classmethod
    def examples(cls) -> list[tuple[dict[str, Any], list[TensorType]]]:
        seq = TensorType("float32", (4, 3))
        return [
            ({}, [seq, TensorType("float32", (5, 2)), TensorType("float32", (5, 3))]),
            ({"use_scale": True, "use_causal_mask": True}, [seq, seq]),
            (
                {"score_mode": "concat", "use_scale": True, "return_attention_scores": True},
                [TensorType("float32", (None, 3)), TensorType("float32", (5, 3))],
            ),
            ({"score_mode": "concat", "dropout": 0.5, "seed": 2}, [seq, seq]),
        ]


@LAYERS.register
class AdditiveAttention(_ScoredAttention):
    """AdditiveAttention: y = softmax(sum(scale * tanh(q + k), -1)) @ value.

    scale is 1 without use_scale.
    """

    type: Literal["AdditiveAttention"]
    use_scale: bool = True

    def weights(self, inputs: list[TensorType]) -> list[WeightSpec]:
        dim = inputs[0].shape[-1]
        if not self.use_scale or dim is None:
            return []
        return [WeightSpec("scale", (dim,), GlorotUniform(type="glorot_uniform"))]

    def score(
        self, b: GraphBuilder, q: Value, k: Value, rank: int, weights: dict[str, Value]
    ) -> Value:
        activated = b.op("Tanh", _pairwise_sum(b, q, k))
        if "scale" in weights:
            activated = b.op("Mul", weights["scale"], activated)
        return b.reduce_sum(activated, -1)

    def score_np(self, q: np.ndarray, k: np.ndarray, weights: dict[str, np.ndarray]) -> np.ndarray:
        return (weights.get("scale", 1.0) * np.tanh(_pairwise_sum_np(q, k))).sum(axis=-1)

    @classmethod
    def examples(cls) -> list[tuple[dict[str, Any], list[TensorType]]]:
        seq = TensorType("float32", (4, 3))
        return [
            ({}, [seq, TensorType("float32", (5, 2)), TensorType("float32", (5, 3))]),
            (
                {"use_scale": False, "use_causal_mask": True, "return_attention_scores": True},
                [seq, seq],
            ),
            ({"dropout": 0.25, "use_causal_mask": True}, [TensorType("float16", (None, 3)), seq]),
        ]
