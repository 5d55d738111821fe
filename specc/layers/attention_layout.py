"""Where a multi-head layer's attention axes go: Keras's MultiHeadAttention attends over
any axes of its projections (B, d1..dm, heads, features) but the batch, heads and
feature ones (``attention_axes``); the axes left are batch-like.

``HeadLayout`` moves the projections to (B, other..., heads, T, features), T the
attention axes flattened into one, so one MatMul computes the scores (B, other...,
heads, T, S) and a softmax over their last axis is Keras's softmax over all the key's
attention axes; then it puts the result, and the scores, back in Keras's shapes.
"""

from __future__ import annotations

from dataclasses import dataclass

from specc.graph import GraphBuilder, Value
from specc.lazy_numpy import np


@dataclass(frozen=True)
class HeadLayout:
    """The layout of projections of ``rank`` (batch, heads and feature axes included)
    attending over ``attention`` (indices into them, in Keras's order)."""

    rank: int
    attention: tuple[int, ...]

    @property
    def heads_axis(self) -> int:
        return self.rank - 2

    @property
    def other(self) -> list[int]:
        """The data axes attention does not run over, in order."""
        return [a for a in range(1, self.heads_axis) if a not in self.attention]

    @property
    def lead(self) -> int:
        """How many axes come before T: batch, the other axes, heads."""
        return len(self.other) + 2

    @property
    def flat_rank(self) -> int:
        """The rank of the flattened scores (B, other..., heads, T, S)."""
        return self.lead + 2

    def _query_perm(self) -> list[int]:
        return [0, *self.other, self.heads_axis, *self.attention, self.rank - 1]

    def rows(self, b: GraphBuilder, x: Value, features: int) -> Value:
        """A query or value projection as (B, other..., heads, T, features)."""
        x = b.op("Transpose", x, perm=self._query_perm())
        if len(self.attention) == 1:
            return x
        return _reshape(b, x, [0] * self.lead + [-1, features])

    def columns(self, b: GraphBuilder, k: Value) -> Value:
        """A key projection as (B, other..., heads, features, S)."""
        perm = [0, *self.other, self.heads_axis, self.rank - 1, *self.attention]
        k = b.op("Transpose", k, perm=perm)
        if len(self.attention) == 1:
            return k
        return _reshape(b, k, [0] * (self.lead + 1) + [-1])

    def back(self, b: GraphBuilder, combined: Value, query: Value, features: int) -> Value:
        """(B, other..., heads, T, features) back to the query projection's layout
        (``query`` gives the attention axes' sizes)."""
        if len(self.attention) > 1:
            sizes = [self._sizes(b, query), b.constant([features], np.int64, hint="features")]
            combined = self._unflatten(b, combined, sizes)
        inverse = list(np.argsort(self._query_perm()))
        return b.op("Transpose", combined, perm=[int(a) for a in inverse])

    def scores(self, b: GraphBuilder, scores: Value, query: Value, key: Value) -> Value:
        """The scores (B, other..., heads, T, S) in Keras's shape (B, other..., heads,
        T1..Tk, S1..Sk)."""
        if len(self.attention) == 1:
            return scores
        return self._unflatten(b, scores, [self._sizes(b, query), self._sizes(b, key)])

    def _sizes(self, b: GraphBuilder, x: Value) -> Value:
        axes = b.constant(list(self.attention), np.int64, hint="attention_axes")
        return b.op("Gather", b.op("Shape", x), axes)

    def _unflatten(self, b: GraphBuilder, x: Value, tail: list[Value]) -> Value:
        # 0 keeps the leading axes' sizes, which may be unknown.
        lead = b.constant([0] * self.lead, np.int64, hint="lead")
        return b.op("Reshape", x, b.op("Concat", lead, *tail, axis=0))


def _reshape(b: GraphBuilder, x: Value, shape: list[int]) -> Value:
    return b.op("Reshape", x, b.constant(shape, np.int64, hint="shape"))
