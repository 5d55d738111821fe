"""The engine's fused optimizer kernel, for the Keras optimizers it computes exactly.

onnxruntime-training updates parameters with one fused kernel in its optimizer model,
``AdamWOptimizer`` or ``SGDOptimizerV2`` (``docs/engine-notes.md#optimizer-kernel``). Where
that kernel alone computes the spec's Keras optimizer, ``specc train`` lets the engine do
the update ("fused" route); everywhere else Keras's update runs in NumPy on the engine's
parameter buffers (``specc.train.updates``, the "numpy" route). Each optimizer declares
which kernel computes it exactly, and how it is configured (``Optimizer.fused_kernel`` in
``specc.optimizers``); ``specc.train.fused_kernel`` builds that graph, here and for the
mobile training export. Fused:

* Adam, and AdamW with ``weight_decay: 0``, without AMSGrad: ``AdamWOptimizer`` in its
  Hugging Face mode with ``bias_correction=True``, Keras's betas and epsilon and no weight
  decay computes ``p -= lr * sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + epsilon)`` after
  ``m = b1*m + (1-b1)*g``, ``v = b2*v + (1-b2)*g^2``: Keras 3's Adam, term for term;
* SGD without momentum or weight decay: ``SGDOptimizerV2``, ``p -= lr * g``.

The declarations also express clipping (``clipnorm``, ``clipvalue``,
``global_clipnorm``) and SGD's weight decay as ONNX ops in front of the kernel, and momentum
SGD at a constant learning rate through the AdamW kernel. Those are exact too, but measured
slower than the NumPy route on the 784-512-512-10 MLP (update alone, 2 threads: clipnorm
3.5 ms fused against 2.8 ms NumPy, SGD weight decay 1.5 against 1.0, momentum 1.2 against
0.4; the fused Adam 0.7 ms against 1.5, SGD 0.09 against 0.21): the ops before the kernel
run one at a time per gradient (SequenceAt, the arithmetic, SequenceConstruct), and the
AdamW kernel keeps a second moment, a square root and a division that momentum does not
need. So they take the NumPy route.

The learning rate is Keras's: ``learning_rate_at(iterations)`` set before every step, where
``iterations`` counts the updates already applied (the engine's ``LinearLRScheduler`` is
not used: it is buggy in 1.19.2, ``docs/engine-notes.md#learning-rate``). Constraints and
BatchNormalization's moving statistics stay in NumPy on the parameter views; the kernel
updates the parameters in place, so those views see its result.

Set the environment variable ``SPECC_NUMPY_UPDATES=1`` (or ``FitOptions.numpy_updates``)
to force the NumPy route, e.g. to measure both.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx

from specc.optimizers import FusedKernel, NoFusedKernel
from specc.optimizers import Optimizer as KerasOptimizer
from specc.optimizers.update import current_learning_rate
from specc.train.engine import Module, Optimizer, onnxblock, quiet_stderr
from specc.train.fused_kernel import KernelPlan, add_gradient_steps, kernel_plan

FUSED, NUMPY = "fused", "numpy"
#: Set to 1 (or true/yes/on) to send every optimizer through the NumPy route.
NUMPY_UPDATES_ENV = "SPECC_NUMPY_UPDATES"
OPTIMIZER_MODEL = "optimizer_model.onnx"
ERROR = 3  # onnxruntime's log severity levels: 0 verbose ... 3 error, 4 fatal


def numpy_updates_forced() -> bool:
    """Whether ``SPECC_NUMPY_UPDATES`` asks for the NumPy route."""
    return os.environ.get(NUMPY_UPDATES_ENV, "").strip().lower() in ("1", "true", "yes", "on")


@dataclass
class Route:
    """Which route an optimizer takes, and why; ``plan`` is set for the fused route."""

    name: str
    reason: str
    plan: KernelPlan | None = None


def choose_route(
    config: KerasOptimizer, parameters: dict[str, np.ndarray], numpy_updates: bool = False
) -> Route:
    """The fused route when the kernel computes ``config``'s Keras update exactly.

    ``parameters`` are the trainable parameters (name -> array); the kernels update
    float32 tensors only.
    """
    if numpy_updates or numpy_updates_forced():
        return Route(NUMPY, f"NumPy updates requested ({NUMPY_UPDATES_ENV} or numpy_updates)")
    if not parameters:
        return Route(NUMPY, "no trainable parameters")
    others = sorted(n for n, p in parameters.items() if np.asarray(p).dtype != np.float32)
    if others:
        return Route(NUMPY, f"the fused kernels update float32 only; not {others}")
    name = type(config).__name__
    declared = config.fused_kernel()
    if isinstance(declared, NoFusedKernel):
        return Route(NUMPY, f"{name}: {declared.reason}")
    steps = _steps_before_kernel(declared)
    if steps:
        return Route(
            NUMPY,
            f"{name}: exact in the engine only with {' and '.join(steps)}, which measured "
            "slower than the NumPy update",
        )
    plan = kernel_plan(config, declared)
    return Route(FUSED, f"{name} as com.microsoft.{plan.kernel}", plan)


def _steps_before_kernel(declared: FusedKernel) -> list[str]:
    """What the declaration adds to the bare kernel."""
    steps = []
    if declared.clip is not None:
        steps.append(f"{declared.clip[0]} in ONNX ops before the kernel")
    if declared.weight_decay is not None:
        steps.append("the weight decay folded into the gradients before the kernel")
    if declared.lr_factor != 1.0:
        steps.append("momentum through the AdamW kernel (betas (momentum, 1))")
    return steps


def write_optimizer_model(
    path: Path, plan: KernelPlan, parameters: dict[str, np.ndarray], opset: int
) -> Path:
    """The engine's optimizer model for ``plan``, as ``generate_artifacts`` builds it.

    The training and eval models do not depend on the optimizer, so the optimizer model can
    be added to artifacts generated without one: the same onnxblock block is built over an
    empty base (it reads only the parameters' element type), then ``plan``'s clipping,
    weight decay and learning-rate factor go in front of the kernel.
    """
    trainable = [
        onnx.TensorProto(name=name, data_type=onnx.TensorProto.FLOAT, dims=np.shape(p))
        for name, p in parameters.items()
    ]
    with quiet_stderr(), onnxblock.empty_base(opset_version=opset):
        plan.block((trainable, []))
        model = plan.block.to_model_proto()
    model = add_gradient_steps(model, plan, len(trainable))
    onnx.save(model, str(path))
    return path


class FusedUpdate:
    """Keras's optimizer step through the engine's fused kernel.

    Mirrors ``OptimizerUpdate``: ``step()`` applies one update to the engine's parameters,
    at the learning rate of update number ``iterations``, then ``iterations += 1``.
    """

    def __init__(self, config: KerasOptimizer, model: Path, module: Module) -> None:
        self.config = config
        #: Updates applied so far (Keras's ``optimizer.iterations``).
        self.iterations = 0
        #: A constant rate assigned during training, as ``OptimizerUpdate``'s.
        self.assigned_learning_rate: float | None = None
        # Loading SGDOptimizerV2 makes the engine warn that the kernel's flag output has
        # shape [1] where its schema infers [] (harmless; with ops before the kernel it
        # warns on every step). The optimizer's session copies the module's session options
        # when it is created: raise their logging threshold for that moment only, so the
        # module's own warnings still show.
        options = getattr(module, "_session_options", None)
        if options is None:
            self.optimizer = Optimizer(str(model), module)
            return
        saved = options.log_severity_level
        options.log_severity_level = ERROR
        try:
            self.optimizer = Optimizer(str(model), module)
        finally:
            options.log_severity_level = saved

    def step(self) -> None:
        """One update from the gradients the module accumulated."""
        rate = current_learning_rate(self.config, self.iterations, self.assigned_learning_rate)
        self.optimizer.set_learning_rate(rate)
        self.optimizer.step()
        self.iterations += 1
