"""The graph builder's names: unique, in the order ops are made, and cheap to hand out."""

from __future__ import annotations

import time

from specc.graph import GraphBuilder
from specc.types import TensorType


def test_repeated_ops_get_numbered_names_skipping_taken_ones() -> None:
    b = GraphBuilder("g")
    x = b.input("x", TensorType("float32", (2,)))
    b.input("dense/Relu_1", TensorType("float32", (2,)))  # taken before the layer asks
    with b.scope("dense"):
        values = [b.op("Relu", x) for _ in range(3)]
    assert [n.name for n in b.graph.nodes] == ["dense/Relu", "dense/Relu_2", "dense/Relu_3"]
    assert [v.name for v in values] == ["dense/Relu:0", "dense/Relu_2:0", "dense/Relu_3:0"]


def test_thousands_of_ops_of_one_type_are_named_in_linear_time() -> None:
    # An unrolled sequence or a variable-size pooling window makes this many in one layer;
    # rescanning every suffix took 54 s for 10,000 window slices.
    b = GraphBuilder("g")
    x = b.input("x", TensorType("float32", (2,)))
    start = time.perf_counter()
    with b.scope("pool"):
        for _ in range(20_000):
            b.op("Slice", x)
    assert time.perf_counter() - start < 5
    assert len({n.name for n in b.graph.nodes}) == 20_000
