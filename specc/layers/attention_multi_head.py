"""MultiHeadAttention: softmax(q k^T / sqrt(key_dim)) v over heads, projected back.

Shapes: query (B, T, dq), value (B, S, dv), key (B, S, dk) -> (B, T, output_shape or dq);
scores (B, num_heads, T, S). Inputs of higher rank attend over ``attention_axes`` (by
default every axis but the batch and feature ones): (B, d1..dm, dq) -> (B, d1..dm, ...),
scores (B, other axes..., num_heads, attended query axes..., attended key axes...).
Weights, as Keras's EinsumDense sub-layers: ``query/kernel``
[dq, heads, key_dim], ``key/kernel`` [dk, heads, key_dim], ``value/kernel`` [dv, heads,
value_dim], ``attention_output/kernel`` [heads, value_dim, *output_shape], and a bias of
each kernel's trailing shape when ``use_bias``.
"""

from __future__ import annotations

import string
from typing import Annotated, Any, Literal

from pydantic import Field

from specc.layers.attention_heads import HeadsAttention
from specc.layers.attention_ops import same_batch_axes
from specc.layers.base import LAYERS, ShapeError
from specc.layers.einsum_plan import EinsumPlan, plan_einsum
from specc.lazy_numpy import np
from specc.types import TensorType

LETTERS = string.ascii_lowercase
PositiveInt = Annotated[int, Field(gt=0)]


def projection_equation(free: int, bound: int, output: int) -> tuple[str, str]:
    """Keras's ``_build_proj_equation``: the equation and its output letters (the bias
    axes), ``free`` axes kept, ``bound`` contracted and ``output`` added."""
    kept, contracted = LETTERS[:free], LETTERS[free : free + bound]
    added = LETTERS[free + bound : free + bound + output]
    return f"{kept}{contracted},{contracted}{added}->{kept}{added}", added


def attention_equations(rank: int, attention: tuple[int, ...]) -> tuple[str, str]:
    """Keras's ``_build_attention_equation``: the dot product (key, query) and the
    combination (probabilities, value) for projections of ``rank``."""
    target = LETTERS[:rank]
    batch = [a for a in range(rank) if a not in attention and a != rank - 1]
    source, offset = "", rank
    for a in range(rank):
        if a in batch or a == rank - 1:
            source += target[a]
        else:
            source += LETTERS[offset]
            offset += 1
    product = "".join(
        [target[a] for a in batch] + [target[a] for a in attention] + [source[a] for a in attention]
    )
    return f"{source},{target}->{product}", f"{product},{source}->{target}"


@LAYERS.register
class MultiHeadAttention(HeadsAttention):
    """MultiHeadAttention: y = concat_h(softmax(q_h k_h^T / sqrt(key_dim)) v_h) W_o.

    q, k, v are the EinsumDense projections of query, key and value; (B, T, dq) and
    (B, S, dv) -> (B, T, dq), or (B, T, *output_shape).
    """

    type: Literal["MultiHeadAttention"]
    num_heads: int = Field(gt=0)
    key_dim: int = Field(gt=0)
    value_dim: int | None = Field(None, gt=0)
    output_shape: PositiveInt | Annotated[list[PositiveInt], Field(min_length=1)] | None = None
    attention_axes: int | list[int] | None = None

    @property
    def head_value_dim(self) -> int:
        """Keras's ``value_dim if value_dim else key_dim``."""
        return self.value_dim or self.key_dim

    def head_counts(self) -> tuple[int, int]:
        return self.num_heads, self.num_heads

    def score_dim(self) -> int:
        return self.key_dim

    def _output_axes(self, query: TensorType) -> list[int]:
        if self.output_shape is None:
            return [int(query.shape[-1])]  # type: ignore[arg-type]
        return [self.output_shape] if isinstance(self.output_shape, int) else self.output_shape

    def attention_axes_for(self, rank: int) -> tuple[int, ...]:
        # Keras's _build_attention: every data axis by default; a negative axis counts
        # from the projections' feature axis (their rank, rank + 1, minus one).
        if self.attention_axes is None:
            return tuple(range(1, rank - 1))
        given = (
            [self.attention_axes] if isinstance(self.attention_axes, int) else self.attention_axes
        )
        return tuple(a if a >= 0 else rank + a for a in given)

    def _check_axes(self, query: TensorType, value: TensorType) -> tuple[int, ...]:
        axes = self.attention_axes_for(query.rank)
        if (
            not axes
            or len(set(axes)) != len(axes)
            or not all(1 <= a <= query.rank - 2 for a in axes)
        ):
            raise ShapeError(
                f"attention_axes must name distinct axes of the query other than the batch "
                f"and feature ones (1..{query.rank - 2}, or negative counting from the "
                f"heads axis) for query {query}; got attention_axes={self.attention_axes}",
                field="attention_axes",
            )
        for name, given in (
            ("use_causal_mask", self.use_causal_mask),
            ("sliding_window", self.sliding_window),
        ):
            if given and axes != (1,):
                raise ShapeError(
                    f"{name} needs attention over the sequence axis alone (axis 1 of "
                    f"(batch, sequence, features) inputs); got query {query} and attention "
                    f"axes {list(axes)}",
                    field=name,
                )
        for a in range(1, query.rank - 1):
            q, v = query.full_shape[a], value.full_shape[a]
            if a not in axes and q is not None and v is not None and q != v:
                raise ShapeError(
                    f"MultiHeadAttention needs query and value equal on the axes it does "
                    f"not attend over; got {q} and {v} on axis {a} (query {query}, value {value})"
                )
        return axes

    def plans(self, inputs: list[TensorType]) -> dict[str, EinsumPlan]:
        query, value, key = self.query_value_key(inputs)
        same_batch_axes("MultiHeadAttention", query, value, key)
        if query.rank < 3:
            raise ShapeError(
                f"MultiHeadAttention needs inputs of rank >= 3 (batch, ..., features); got {query}"
            )
        self._check_axes(query, value)
        for name, t in (("query", query), ("value", value), ("key", key)):
            if t.shape[-1] is None:
                raise ShapeError(
                    f"MultiHeadAttention needs a known last dimension of its {name}; got {t}"
                )
        heads, key_dim, value_dim = self.num_heads, self.key_dim, self.head_value_dim
        projection, added = projection_equation(query.rank - 1, 1, 2)
        bias = added if self.use_bias else None
        axes = self._output_axes(query)
        output, output_added = projection_equation(query.rank - 1, 2, len(axes))
        data = [None] * (query.rank - 2)  # the data axes, from the input
        projected = TensorType("float32", (*query.shape[:-1], heads, value_dim))
        plans = {
            "query": plan_einsum(projection, bias, query, [*data, heads, key_dim]),
            "key": plan_einsum(projection, bias, key, [*data, heads, key_dim]),
        }
        if self.use_gate:
            plans["gate"] = plan_einsum(projection, bias, query, [*data, heads, value_dim])
        plans["value"] = plan_einsum(projection, bias, value, [*data, heads, value_dim])
        plans["attention_output"] = plan_einsum(
            output, output_added if self.use_bias else None, projected, [*data, *axes]
        )
        return plans

    def equations(self, inputs: list[np.ndarray]) -> dict[str, str]:
        rank = inputs[0].ndim
        axes = len(self._output_axes(TensorType("float32", inputs[0].shape[1:])))
        projection, _ = projection_equation(rank - 1, 1, 2)
        dot_product, combine = attention_equations(rank + 1, self.attention_axes_for(rank))
        return {
            "query": projection,
            "key": projection,
            "value": projection,
            "attention_output": projection_equation(rank - 1, 2, axes)[0],
            "dot_product": dot_product,
            "combine": combine,
        }

    @classmethod
    def examples(cls) -> list[tuple[dict[str, Any], list[TensorType]]]:
        seq = TensorType("float32", (4, 6))
        return [
            ({"num_heads": 2, "key_dim": 3}, [seq, seq]),
            (
                {"num_heads": 3, "key_dim": 2, "value_dim": 4, "use_causal_mask": True},
                [TensorType("float32", (None, 5)), TensorType("float32", (3, 4))],
            ),
            (
                {"num_heads": 2, "key_dim": 2, "use_bias": False, "output_shape": [2, 3]},
                [seq, TensorType("float32", (5, 3)), TensorType("float32", (5, 2))],
            ),
            (
                {
                    "num_heads": 2,
                    "key_dim": 3,
                    "return_attention_scores": True,
                    "dropout": 0.25,
                    "seed": 5,
                },
                [seq, TensorType("float16", (3, 6))],
            ),
            # Attention over two axes (the default for rank 4), and over one of them.
            (
                {"num_heads": 2, "key_dim": 2, "return_attention_scores": True},
                [TensorType("float32", (3, None, 4)), TensorType("float32", (2, 3, 5))],
            ),
            (
                {"num_heads": 2, "key_dim": 3, "attention_axes": [2], "output_shape": 5},
                [TensorType("float32", (3, 4, 4)), TensorType("float32", (3, 2, 6))],
            ),
            (
                {
                    "num_heads": 2,
                    "key_dim": 2,
                    "value_dim": 3,
                    "use_gate": True,
                    "sliding_window": 2,
                },
                [TensorType("float32", (5, 4)), TensorType("float32", (4, 3))],
            ),
        ]
