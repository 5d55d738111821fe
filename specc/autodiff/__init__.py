"""specc's own reverse-mode differentiation, to standard ONNX ops (see ``core``)."""

from specc.autodiff.core import (
    DEFAULT_FORMS,
    GradientForms,
    Gradients,
    NoGradientRule,
    differentiate,
)

__all__ = ["DEFAULT_FORMS", "GradientForms", "Gradients", "NoGradientRule", "differentiate"]
