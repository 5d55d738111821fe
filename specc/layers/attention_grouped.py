"""GroupedQueryAttention: multi-head attention whose key/value heads serve groups of
query heads (query head u reads key/value head u // (num_query_heads //
num_key_value_heads), as Keras's ``ops.repeat`` along the heads axis gives).

Shapes: query (B, T, d), value (B, S, dv), key (B, S, dk) -> (B, T, d); scores (B,
num_query_heads, T, S). Weights, as Keras's sub-layers: ``query/kernel`` [d, num_query_heads,
head_dim], ``key/kernel`` and ``value/kernel`` [d_in, num_key_value_heads, head_dim],
``attention_output/kernel`` [num_query_heads, head_dim, d], biases of the trailing shapes.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from specc.layers.attention_heads import HeadsAttention
from specc.layers.attention_ops import same_batch_axes
from specc.layers.base import LAYERS, ShapeError
from specc.layers.einsum_plan import EinsumPlan, plan_einsum
from specc.lazy_numpy import np
from specc.types import TensorType

# Keras's sub-layer equations.
QUERY, KEY_VALUE, OUTPUT = "bqm,muh->bquh", "bkm,mvh->bkvh", "bquh,uhm->bqm"
# Keras's attention equations, the dot product's operands swapped to (key, query).
DOT_PRODUCT, COMBINE = "bkuh,bquh->buqk", "buqk,bkuh->bquh"


@LAYERS.register
class GroupedQueryAttention(HeadsAttention):
    """GroupedQueryAttention: y = concat_u(softmax(q_u k_g(u)^T / sqrt(head_dim)) v_g(u)) W_o.

    g(u) is query head u's key/value head; (B, T, d), (B, S, dv) -> (B, T, d).
    """

    # Keras's class name, and the name it exports the class under.
    type: Literal["GroupedQueryAttention", "GroupQueryAttention"]
    regularizes_outputs: ClassVar[bool] = True
    head_dim: int = Field(gt=0)
    num_query_heads: int = Field(gt=0)
    num_key_value_heads: int = Field(gt=0)

    def head_counts(self) -> tuple[int, int]:
        return self.num_query_heads, self.num_key_value_heads

    def score_dim(self) -> int:
        return self.head_dim

    def plans(self, inputs: list[TensorType]) -> dict[str, EinsumPlan]:
        query, value, key = self.query_value_key(inputs)
        same_batch_axes("GroupedQueryAttention", query, value, key)
        if self.num_query_heads % self.num_key_value_heads != 0:
            raise ShapeError(
                "num_query_heads must be divisible by num_key_value_heads; got "
                f"{self.num_query_heads} and {self.num_key_value_heads}",
                field="num_key_value_heads",
            )
        if query.rank != 3 or any(t.shape[-1] is None for t in (query, value, key)):
            raise ShapeError(
                "GroupedQueryAttention takes (batch, sequence, features) inputs with known "
                f"features; got query {query}, value {value}, key {key}"
            )
        bias = self.use_bias
        q_heads, kv_heads, dim = self.num_query_heads, self.num_key_value_heads, self.head_dim
        projected = TensorType("float32", (query.shape[0], q_heads, dim))
        plans = {
            "query": plan_einsum(QUERY, "uh" if bias else None, query, [None, q_heads, dim]),
            "key": plan_einsum(KEY_VALUE, "vh" if bias else None, key, [None, kv_heads, dim]),
        }
        if self.use_gate:
            plans["gate"] = plan_einsum(QUERY, "uh" if bias else None, query, [None, q_heads, dim])
        plans["value"] = plan_einsum(
            KEY_VALUE, "vh" if bias else None, value, [None, kv_heads, dim]
        )
        plans["attention_output"] = plan_einsum(
            OUTPUT, "m" if bias else None, projected, [None, query.shape[-1]]
        )
        return plans

    def equations(self, inputs: list[np.ndarray]) -> dict[str, str]:
        return {
            "query": QUERY,
            "key": KEY_VALUE,
            "value": KEY_VALUE,
            "attention_output": OUTPUT,
            "dot_product": DOT_PRODUCT,
            "combine": COMBINE,
        }

    @classmethod
    def examples(cls) -> list[tuple[dict[str, Any], list[TensorType]]]:
        seq = TensorType("float32", (4, 6))
        return [
            ({"head_dim": 3, "num_query_heads": 4, "num_key_value_heads": 2}, [seq, seq]),
            (
                {
                    "head_dim": 2,
                    "num_query_heads": 3,
                    "num_key_value_heads": 1,
                    "use_causal_mask": True,
                    "use_bias": False,
                },
                [TensorType("float32", (None, 5)), TensorType("float32", (3, 4))],
            ),
            (
                {
                    "head_dim": 2,
                    "num_query_heads": 2,
                    "num_key_value_heads": 2,
                    "return_attention_scores": True,
                    "dropout": 0.5,
                },
                [seq, TensorType("float32", (5, 3)), TensorType("float32", (5, 2))],
            ),
            (
                {
                    "head_dim": 2,
                    "num_query_heads": 4,
                    "num_key_value_heads": 2,
                    "use_gate": True,
                    "sliding_window": 3,
                    "use_causal_mask": True,
                },
                [TensorType("float32", (6, 4)), TensorType("float32", (6, 3))],
            ),
        ]
