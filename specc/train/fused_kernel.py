"""The engine's optimizer model for an optimizer's ``FusedKernel`` declaration.

onnxruntime-training updates parameters with one fused kernel in its optimizer model,
``AdamWOptimizer`` or ``SGDOptimizerV2`` (``docs/engine-notes.md#optimizer-kernel``). Each
optimizer declares whether one of them computes its Keras update exactly, and how it is
configured (``Optimizer.fused_kernel`` in ``specc.optimizers``); this module turns that
declaration into the engine's graph, for ``specc train``'s fused route (``specc.train.fused``)
and for the mobile training export (``specc.emit.mobile_optimizer``).

Stateless ops before the kernel are accepted, so gradient clipping and SGD's weight decay
are written in front of it in standard ONNX ops, by Keras's formulas. The engine's own
``ClipGradNorm`` is not used: it divides by ``norm + 1e-6``, torch-style.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx
from onnx import helper, numpy_helper

from specc.optimizers import FusedKernel, Optimizer
from specc.train.engine import onnxblock

# The engine's operator for each kind of kernel an optimizer can declare.
KERNELS = {"adamw": "AdamWOptimizer", "sgd": "SGDOptimizerV2"}
# The optimizer graph's inputs, as onnxblock names them and the engine requires them.
GRADIENTS, PARAMS = "gradients", "params"


@dataclass
class KernelPlan:
    """An optimizer's declared kernel, with the engine's operator and onnxblock block."""

    keras: str
    declared: FusedKernel
    kernel: str
    block: onnxblock.Block

    def describe(self) -> dict[str, Any]:
        """A JSON-friendly summary for the mobile bundle's training.json."""
        clip = self.declared.clip
        return {
            "keras": self.keras,
            "kernel": f"com.microsoft.{self.kernel}",
            "clip": None if clip is None else {clip[0]: clip[1]},
            "weight_decay": self.declared.weight_decay,
            "learning_rate_factor": self.declared.lr_factor,
            "notes": [] if self.declared.note is None else [self.declared.note],
        }


def kernel_plan(config: Optimizer, declared: FusedKernel) -> KernelPlan:
    """The engine's kernel for ``declared``, the ``fused_kernel()`` of ``config``."""
    if declared.kind == "sgd":
        block = onnxblock.optim.SGD()
    else:
        # The kernel's own weight decay acts after the Adam step, Keras's before it: never
        # used (an optimizer folds its decay into the gradients, or declares no kernel).
        block = onnxblock.optim.AdamW(
            bias_correction=declared.bias_correction,
            betas=declared.betas,
            eps=declared.epsilon,
            weight_decay=0.0,
        )
    return KernelPlan(type(config).__name__, declared, KERNELS[declared.kind], block)


def add_gradient_steps(model: onnx.ModelProto, plan: KernelPlan, count: int) -> onnx.ModelProto:
    """Put ``plan``'s clipping, weight decay and learning-rate factor before the kernel.

    ``count`` is the number of trainable parameters (the length of the ``gradients`` and
    ``params`` sequences). Each gradient is taken out of the sequence, transformed and put
    back in a new sequence, unrolled, so no Loop is needed in the mobile runtime.
    """
    clip, decay, factor = plan.declared.clip, plan.declared.weight_decay, plan.declared.lr_factor
    if clip is None and decay is None and factor == 1.0:
        return model
    graph = model.graph
    kernel = next(n for n in graph.node if n.op_type == plan.kernel)
    # AdamWOptimizer takes (lr, step, params, gradients, ...), SGDOptimizerV2 (lr, params,
    # gradients): find the gradients by name rather than by position.
    slot = list(kernel.input).index(GRADIENTS)
    steps = _Steps()
    gradients = [steps.op("SequenceAt", GRADIENTS, steps.index(i)) for i in range(count)]
    gradients = _clipped(steps, gradients, clip)
    if decay is not None:
        # Keras's w -= w * wd * lr before an SGD step is w -= lr * (g + wd * w).
        weight_decay = steps.const(decay)
        gradients = [
            steps.op(
                "Add",
                g,
                steps.op("Mul", steps.op("SequenceAt", PARAMS, steps.index(i)), weight_decay),
            )
            for i, g in enumerate(gradients)
        ]
    if clip is not None or decay is not None:
        kernel.input[slot] = steps.op("SequenceConstruct", *gradients)
    if factor != 1.0:
        kernel.input[0] = steps.op("Mul", kernel.input[0], steps.const(factor))
    position = list(graph.node).index(kernel)
    for offset, node in enumerate(steps.nodes):
        graph.node.insert(position + offset, node)
    graph.initializer.extend(steps.constants)
    onnx.checker.check_model(model)
    return model


def _clipped(steps: _Steps, gradients: list[str], clip: tuple[str, float] | None) -> list[str]:
    """Keras's ``_clip_gradients``, one formula per option."""
    if clip is None:
        return gradients
    kind, value = clip
    limit = steps.const(value)
    if kind == "clipvalue":
        return [steps.op("Clip", g, steps.const(-value), limit) for g in gradients]
    squares = [steps.op("ReduceSum", steps.op("Mul", g, g), keepdims=0) for g in gradients]
    if kind == "clipnorm":
        # values * clipnorm / max(l2norm, clipnorm), per variable
        return [
            steps.op("Div", steps.op("Mul", g, limit), steps.op("Max", steps.op("Sqrt", s), limit))
            for g, s in zip(gradients, squares, strict=True)
        ]
    # clip_by_global_norm: clip * min(1/norm, 1/clip), plus (norm - norm) so that an
    # infinite or NaN norm gives NaN as in Keras.
    total = squares[0]
    for s in squares[1:]:
        total = steps.op("Add", total, s)
    norm = steps.op("Sqrt", total)
    inverse_clip = steps.const(float(np.float32(1.0) / np.float32(value)))
    scale = steps.op("Mul", limit, steps.op("Min", steps.op("Reciprocal", norm), inverse_clip))
    scale = steps.op("Add", scale, steps.op("Sub", norm, norm))
    return [steps.op("Mul", g, scale) for g in gradients]


class _Steps:
    """Nodes and constants added to the optimizer graph, under ``specc.clip/...`` names."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.constants: list[onnx.TensorProto] = []

    def op(self, op_type: str, *inputs: str, **attributes: Any) -> str:
        output = f"specc.optimizer/{op_type}_{len(self.nodes)}"
        self.nodes.append(helper.make_node(op_type, list(inputs), [output], output, **attributes))
        return output

    def const(self, value: float) -> str:
        return self._constant(np.array(value, dtype=np.float32))

    def index(self, i: int) -> str:
        return self._constant(np.array(i, dtype=np.int64))

    def _constant(self, array: np.ndarray) -> str:
        name = f"specc.optimizer/const_{len(self.constants)}"
        self.constants.append(numpy_helper.from_array(array, name))
        return name
