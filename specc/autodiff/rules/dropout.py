"""Gradient of Dropout.

y = x * mask / (1 - ratio) in training, y = x otherwise, so dx = dy * mask / (1 - ratio) in
training and dy otherwise. onnxruntime-training's DropoutGrad scales by 1 / (1 - ratio)
even when training_mode is false; this rule does not.

specc's own layers emit no Dropout op: their masks come from ``specc.random_ops``
(``dropout_mask`` in specc/layers/base.py). This rule serves graphs that use ONNX Dropout.
"""

from __future__ import annotations

import numpy as np

from specc.autodiff.core import Backward, vjp
from specc.graph import Value

Grads = list[Value | None]


def _never_training(d: Backward) -> bool:
    """Whether training_mode is left out or a constant false."""
    if not d.has_input(2):
        return True
    fixed = d.b.graph.initializers.get(d.node.inputs[2])
    return fixed is not None and not bool(np.asarray(fixed).reshape(-1)[0])


@vjp("Dropout")
def _dropout(d: Backward, g: Grads) -> Grads:
    gy = g[0]
    if gy is None or not d.wants(0):  # only the boolean mask reached the loss
        return [None, None, None]
    if _never_training(d):
        return [gy, None, None]
    if len(d.node.outputs) < 2 or not d.node.outputs[1]:
        raise NotImplementedError(
            f"Dropout '{d.node.name}' may run in training mode but does not output its mask, "
            "which its gradient needs: declare the second output"
        )
    ratio = d.x(1) if d.has_input(1) else d.const(0.5)
    scale = d.op("Div", d.const(1.0), d.op("Sub", d.const(1.0), ratio))
    scale = d.op("Where", d.x(2), scale, d.const(1.0))
    gx = d.op("Where", d.y(1), d.op("Mul", gy, scale), d.const(0.0))
    return [gx, None, None]
