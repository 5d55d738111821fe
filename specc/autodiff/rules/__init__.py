"""Every op family's gradient rules; importing this package registers them all."""

from specc.autodiff.rules import (  # noqa: F401
    conv,
    dropout,
    elementwise,
    linalg,
    norm,
    pool,
    reduce,
)
