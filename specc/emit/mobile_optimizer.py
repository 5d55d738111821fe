"""The spec's Keras optimizer as onnxruntime-training's fused optimizer graph, when exact.

On a phone the update must run inside the engine's optimizer model, and the engine accepts
exactly one fused kernel there: ``AdamWOptimizer`` or ``SGDOptimizerV2``
(``docs/engine-notes.md#optimizer-kernel``). Stateless ops before the kernel are accepted,
so gradient clipping and SGD's weight decay are written in front of it in standard ONNX
ops, by Keras's formulas. What maps exactly (same formula, up to float32 rounding;
``tests/test_export_mobile.py`` compares the updates with specc's NumPy Keras rules):

* Adam, and AdamW with ``weight_decay: 0``, without AMSGrad: ``AdamWOptimizer`` in its
  Hugging Face mode is Keras 3's Adam, ``lr * sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) +
  epsilon)``, with ``epsilon`` passed as it is.
* SGD without momentum: ``SGDOptimizerV2``, ``w -= lr * g``. Keras's weight decay (``w -=
  w * wd * lr`` before the update) becomes ``g + wd * w`` in front of the kernel.
* SGD with momentum (not Nesterov) at a constant learning rate: ``AdamWOptimizer`` with
  betas ``(momentum, 1)``, epsilon 1 and no bias correction keeps ``m = mu*m + (1-mu)*g``
  and ``v = 0``, so ``w -= lr/(1-mu) * m`` equals Keras's velocity update; the factor
  ``1/(1-mu)`` is applied to the learning rate inside the graph.
* ``clipnorm``, ``clipvalue`` and ``global_clipnorm``, by Keras's formulas (the engine's
  own ``ClipGradNorm`` divides by ``norm + 1e-6``, torch-style, so it is not used).

Not exact, hence refused (``SPC512-mobile-optimizer``): Adam/AdamW with a weight decay
(Keras decays before the Adam step, the kernel after it), AMSGrad, Nesterov, SGD momentum
with a learning-rate schedule or a weight decay, RMSprop (Keras puts epsilon inside the
square root, the kernel outside), Adagrad, Adadelta, Adamax and Nadam.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx
from onnx import helper, numpy_helper

from specc.diagnostics import Diagnostic, SpecError
from specc.optimizers import SGD, Adam, AdamW, Optimizer
from specc.schedules import LearningRateSchedule
from specc.train.engine import onnxblock

MOBILE_OPTIMIZER = "SPC512-mobile-optimizer"
WORKING = (
    "Adam and AdamW with weight_decay 0 (no amsgrad), SGD without momentum, and SGD with "
    "momentum (not nesterov) at a constant learning_rate; with or without clipnorm, "
    "clipvalue or global_clipnorm"
)
_NO_KERNEL = "onnxruntime-training has no fused kernel that computes its update"
_REASONS = {
    "RMSprop": "Keras's RMSprop divides by sqrt(v + epsilon), the engine's kernel by "
    "sqrt(v) + epsilon",
    "Adagrad": _NO_KERNEL,
    "Adadelta": _NO_KERNEL,
    "Adamax": _NO_KERNEL,
    "Nadam": _NO_KERNEL,
}
# The optimizer graph's inputs, as onnxblock names them and the engine requires them.
GRADIENTS, PARAMS = "gradients", "params"


@dataclass
class MobileOptimizer:
    """How a Keras optimizer runs in the engine's optimizer model."""

    keras: str
    kernel: str
    block: onnxblock.Block
    # Stateless steps in front of the kernel, in Keras's order.
    clip: tuple[str, float] | None = None
    weight_decay: float | None = None
    lr_scale: float = 1.0
    notes: list[str] = field(default_factory=list)

    def describe(self) -> dict[str, Any]:
        """A JSON-friendly summary for the bundle's training.json."""
        return {
            "keras": self.keras,
            "kernel": f"com.microsoft.{self.kernel}",
            "clip": None if self.clip is None else {self.clip[0]: self.clip[1]},
            "weight_decay": self.weight_decay,
            "learning_rate_factor": self.lr_scale,
            "notes": self.notes,
        }


def mobile_optimizer(config: Optimizer) -> MobileOptimizer:
    """The engine's form of ``config``; a ``SpecError`` when no exact form exists."""
    name = type(config).__name__
    problem = _inexact(config)
    if problem is not None:
        message = (
            f"optimizer {name} cannot run exactly in the mobile training packages: "
            f"{problem}. These can: {WORKING}. Use one of them in compile.optimizer, or "
            "train with specc train and export the trained folder without --with-training"
        )
        raise SpecError([Diagnostic(MOBILE_OPTIMIZER, message, ("compile", "optimizer"))])
    clip = _clip(config)
    decay = config.weight_decay or None
    if isinstance(config, SGD) and config.momentum == 0:
        return MobileOptimizer(name, "SGDOptimizerV2", onnxblock.optim.SGD(), clip, decay)
    if isinstance(config, SGD):
        mu = float(config.momentum)
        block = onnxblock.optim.AdamW(
            bias_correction=False, betas=(mu, 1.0), eps=1.0, weight_decay=0.0
        )
        note = (
            f"momentum {mu} as AdamWOptimizer(betas=({mu}, 1), eps=1, no bias correction); "
            "the graph multiplies the learning rate you set by 1/(1 - momentum)"
        )
        return MobileOptimizer(name, "AdamWOptimizer", block, clip, None, 1.0 / (1.0 - mu), [note])
    assert isinstance(config, Adam | AdamW)  # _inexact() let only these through
    block = onnxblock.optim.AdamW(
        bias_correction=True,
        betas=(float(config.beta_1), float(config.beta_2)),
        eps=float(config.epsilon),
        weight_decay=0.0,
    )
    return MobileOptimizer(name, "AdamWOptimizer", block, clip)


def _inexact(config: Optimizer) -> str | None:
    """Why ``config`` has no exact form in the engine, or None when it has one."""
    name = type(config).__name__
    if isinstance(config, Adam | AdamW):
        if config.amsgrad:
            return "AMSGrad keeps a running maximum of v, which the kernel does not"
        if config.weight_decay:
            return (
                f"weight_decay={config.weight_decay}: Keras decays the weights before the "
                "Adam step, the kernel after it (set weight_decay: 0)"
            )
        return None
    if isinstance(config, SGD):
        if config.momentum == 0:
            return None
        if config.nesterov:
            return "Nesterov momentum is not expressible with the kernel"
        if config.momentum >= 1:
            return f"momentum={config.momentum} leaves the kernel's moment at zero"
        if isinstance(config.learning_rate, LearningRateSchedule):
            return (
                "with momentum, Keras folds each step's learning rate into the velocity, "
                "so a schedule gives a different update (use a constant learning_rate)"
            )
        if config.weight_decay:
            return "with momentum, Keras's weight decay stays outside the velocity"
        return None
    return _REASONS.get(name, _NO_KERNEL)


def _clip(config: Optimizer) -> tuple[str, float] | None:
    for key in ("clipnorm", "global_clipnorm", "clipvalue"):
        value = getattr(config, key)
        if value is not None:
            return key, float(value)
    return None


def add_gradient_steps(
    model: onnx.ModelProto, plan: MobileOptimizer, count: int
) -> onnx.ModelProto:
    """Put ``plan``'s clipping, weight decay and learning-rate factor before the kernel.

    ``count`` is the number of trainable parameters (the length of the ``gradients`` and
    ``params`` sequences). Each gradient is taken out of the sequence, transformed and put
    back in a new sequence, unrolled, so no Loop is needed in the mobile runtime.
    """
    if plan.clip is None and plan.weight_decay is None and plan.lr_scale == 1.0:
        return model
    graph = model.graph
    kernel = next(n for n in graph.node if n.op_type == plan.kernel)
    # AdamWOptimizer takes (lr, step, params, gradients, ...), SGDOptimizerV2 (lr, params,
    # gradients): find the gradients by name rather than by position.
    slot = list(kernel.input).index(GRADIENTS)
    steps = _Steps()
    gradients = [steps.op("SequenceAt", GRADIENTS, steps.index(i)) for i in range(count)]
    gradients = _clipped(steps, gradients, plan.clip)
    if plan.weight_decay is not None:
        decay = steps.const(plan.weight_decay)
        gradients = [
            steps.op(
                "Add", g, steps.op("Mul", steps.op("SequenceAt", PARAMS, steps.index(i)), decay)
            )
            for i, g in enumerate(gradients)
        ]
    if plan.clip is not None or plan.weight_decay is not None:
        kernel.input[slot] = steps.op("SequenceConstruct", *gradients)
    if plan.lr_scale != 1.0:
        kernel.input[0] = steps.op("Mul", kernel.input[0], steps.const(plan.lr_scale))
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
