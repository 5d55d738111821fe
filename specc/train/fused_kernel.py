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

from specc.graph import GraphBuilder, Value
from specc.onnx_model import initializer_protos, node_protos
from specc.optimizers import FusedKernel, Optimizer
from specc.optimizers.base import lower_gradient_clip
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
    b = GraphBuilder("specc.optimizer")
    with b.scope("specc.optimizer"):
        gradients = [b.op("SequenceAt", Value(GRADIENTS), _index(b, i)) for i in range(count)]
        gradients = lower_gradient_clip(b, clip, gradients)
        if decay is not None:
            # Keras's w -= w * wd * lr before an SGD step is w -= lr * (g + wd * w).
            weight_decay = b.constant(decay)
            gradients = [
                b.op(
                    "Add",
                    g,
                    b.op("Mul", b.op("SequenceAt", Value(PARAMS), _index(b, i)), weight_decay),
                )
                for i, g in enumerate(gradients)
            ]
        if clip is not None or decay is not None:
            kernel.input[slot] = b.op("SequenceConstruct", *gradients).name
        if factor != 1.0:
            kernel.input[0] = b.op("Mul", Value(kernel.input[0]), b.constant(factor)).name
    position = list(graph.node).index(kernel)
    for offset, node in enumerate(node_protos(b.graph)):
        graph.node.insert(position + offset, node)
    graph.initializer.extend(initializer_protos(b.graph))
    onnx.checker.check_model(model)
    return model


def _index(b: GraphBuilder, i: int) -> Value:
    return b.constant(i, np.int64, hint="index")
