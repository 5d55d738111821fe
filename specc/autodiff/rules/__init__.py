"""Every op family's gradient rules; importing this package registers them all."""

from specc.autodiff.rules import elementwise, linalg, recurrent, reduce  # noqa: F401
