"""specc's own reverse-mode differentiation, to standard ONNX ops (see ``core``)."""

from specc.autodiff.core import Gradients, NoGradientRule, differentiate

__all__ = ["Gradients", "NoGradientRule", "differentiate"]
