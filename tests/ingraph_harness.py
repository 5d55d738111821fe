"""Running the in-graph updates, schedules and constraints on stock onnxruntime.

``run_graph`` checks a built graph against the ONNX checker at every opset specc emits
(17..21), checks that it uses only default-domain ops and no ``axes`` attribute (which
ReduceMean and ReduceMax take only up to opset 17), and runs it with onnxruntime at one
of them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
import onnxruntime as ort

from specc.graph import Graph
from specc.onnx_model import DEFAULT_OPSET, MAX_OPSET, to_model_proto


def check_standard(graph: Graph) -> None:
    """Default-domain ops only, no ``axes`` attribute, and the checker passes at 17..21."""
    for node in graph.nodes:
        assert node.domain == "", f"{node.name}: domain {node.domain!r}"
        assert "axes" not in node.attributes, f"{node.name}: axes as an attribute"
    for opset in range(DEFAULT_OPSET, MAX_OPSET + 1):
        onnx.checker.check_model(to_model_proto(graph, opset), full_check=True)


class GraphRunner:
    """An onnxruntime session of ``graph``, checked once, run with ``run(feeds)``."""

    def __init__(self, graph: Graph, opset: int = DEFAULT_OPSET, check: bool = True) -> None:
        if check:
            check_standard(graph)
        options = ort.SessionOptions()
        options.log_severity_level = 3
        model = to_model_proto(graph, opset)
        self.session = ort.InferenceSession(
            model.SerializeToString(), options, providers=["CPUExecutionProvider"]
        )
        self.outputs = [name for name, _ in graph.outputs]

    def run(self, feeds: dict[str, Any]) -> dict[str, np.ndarray]:
        """The outputs by name."""
        values = self.session.run(self.outputs, feeds)
        return dict(zip(self.outputs, values, strict=True))
