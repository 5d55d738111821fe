"""Every op family's gradient rules; importing this package registers them all."""

from specc.autodiff.rules import activations, elementwise, linalg, nondiff, reduce  # noqa: F401
