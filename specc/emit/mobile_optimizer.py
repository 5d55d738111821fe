"""The spec's Keras optimizer as the mobile training packages' optimizer model, when exact.

On a phone the update must run inside the engine's optimizer model, so only optimizers
that declare a fused kernel (``Optimizer.fused_kernel``, in each module of
``specc.optimizers``) can be exported; ``specc.train.fused_kernel`` builds the kernel and
the clipping, weight decay and learning-rate factor in front of it. The others are refused
with ``SPC512-mobile-optimizer``, giving the optimizer's own reason.
``tests/test_export_mobile.py`` compares the exported updates with specc's NumPy Keras
rules; ``docs/export-mobile.md`` tabulates what runs and why.
"""

from __future__ import annotations

from specc.diagnostics import Diagnostic, SpecError
from specc.optimizers import NoFusedKernel, Optimizer
from specc.train.fused_kernel import KernelPlan, kernel_plan

MOBILE_OPTIMIZER = "SPC512-mobile-optimizer"
WORKING = (
    "Adam and AdamW with weight_decay 0 (no amsgrad), SGD without momentum, and SGD with "
    "momentum (not nesterov) at a constant learning_rate; with or without clipnorm, "
    "clipvalue or global_clipnorm"
)


def mobile_optimizer(config: Optimizer) -> KernelPlan:
    """The engine's form of ``config``; a ``SpecError`` when no exact form exists."""
    declared = config.fused_kernel()
    if isinstance(declared, NoFusedKernel):
        message = (
            f"optimizer {type(config).__name__} cannot run exactly in the mobile training "
            f"packages: {declared.reason}. These can: {WORKING}. Use one of them in "
            "compile.optimizer, or train with specc train and export the trained folder "
            "without --with-training"
        )
        raise SpecError([Diagnostic(MOBILE_OPTIMIZER, message, ("compile", "optimizer"))])
    return kernel_plan(config, declared)
