"""MultiHeadAttention: softmax(q k^T / sqrt(key_dim)) v over heads, projected back.

Shapes: query (B, T, dq), value (B, S, dv), key (B, S, dk) -> (B, T, output_shape or dq);
scores (B, num_heads, T, S). Weights, as Keras's EinsumDense sub-layers: ``query/kernel``
[dq, heads, key_dim], ``key/kernel`` [dk, heads, key_dim], ``value/kernel`` [dv, heads,
value_dim], ``attention_output/kernel`` [heads, value_dim, *output_shape], and a bias of
each kernel's trailing shape when ``use_bias``.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import Field

from specc.layers.attention_heads import HeadsAttention
from specc.layers.attention_ops import same_batch_axes
from specc.layers.base import LAYERS, ShapeError
from specc.layers.einsum_plan import EinsumPlan, plan_einsum
from specc.types import TensorType

# Keras's ``_build_proj_equation`` for rank-3 inputs: the three input projections, and
# the output projection for one and for several output_shape axes.
PROJECTION = "abc,cde->abde"
# Keras's ``_build_attention_equation`` for attention over axis 1 of rank-4 projections.
DOT_PRODUCT = "aecd,abcd->acbe"
COMBINE = "acbe,aecd->abcd"


def output_equation(axes: int) -> str:
    """Keras's ``_build_proj_equation(2, bound_dims=2, output_dims=axes)``."""
    out = "efghijklmnop"[:axes]
    return f"abcd,cd{out}->ab{out}"


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
    output_shape: int | list[int] | None = None
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
        axes = [self.output_shape] if isinstance(self.output_shape, int) else self.output_shape
        if not axes or any(d <= 0 for d in axes):
            raise ShapeError(
                f"output_shape must be positive sizes; got output_shape={self.output_shape}",
                field="output_shape",
            )
        return axes

    def _check_axes(self) -> None:
        if self.attention_axes is None:
            return
        given = (
            [self.attention_axes] if isinstance(self.attention_axes, int) else self.attention_axes
        )
        # Keras normalises a negative axis against the projections' rank minus one (3).
        if [a if a >= 0 else 3 + a for a in given] != [1]:
            raise ShapeError(
                "specc's MultiHeadAttention attends over the sequence axis only "
                f"(attention_axes null or [1]); got attention_axes={self.attention_axes}",
                field="attention_axes",
            )

    def plans(self, inputs: list[TensorType]) -> dict[str, EinsumPlan]:
        query, value, key = self.query_value_key(inputs)
        same_batch_axes("MultiHeadAttention", query, value, key)
        if query.rank != 3:
            raise ShapeError(
                "specc's MultiHeadAttention takes (batch, sequence, features) inputs; "
                f"got query {query}"
            )
        self._check_axes()
        for name, t in (("query", query), ("value", value), ("key", key)):
            if t.shape[-1] is None:
                raise ShapeError(
                    f"MultiHeadAttention needs a known last dimension of its {name}; got {t}"
                )
        heads, key_dim, value_dim = self.num_heads, self.key_dim, self.head_value_dim
        bias = "de" if self.use_bias else None
        axes = self._output_axes(query)
        output = output_equation(len(axes))
        projected = TensorType("float32", (query.shape[0], heads, value_dim))
        return {
            "query": plan_einsum(PROJECTION, bias, query, [None, heads, key_dim]),
            "key": plan_einsum(PROJECTION, bias, key, [None, heads, key_dim]),
            "value": plan_einsum(PROJECTION, bias, value, [None, heads, value_dim]),
            "attention_output": plan_einsum(
                output, output[-len(axes) :] if self.use_bias else None, projected, [None, *axes]
            ),
        }

    def equations(self, inputs: list[np.ndarray]) -> dict[str, str]:
        axes = len(self._output_axes(TensorType("float32", inputs[0].shape[1:])))
        return {
            "query": PROJECTION,
            "key": PROJECTION,
            "value": PROJECTION,
            "attention_output": output_equation(axes),
            "dot_product": DOT_PRODUCT,
            "combine": COMBINE,
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
        ]
