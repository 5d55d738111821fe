"""TerminateOnNaN: stop at the first NaN or infinite batch loss.

``specc train`` does this by default (``--no-terminate-on-nan`` turns it off); listing the
callback asks for it whatever the flag says. The check runs after the batch's forward pass
and before its update, so the weights are the last finite ones; the run then stops with
SPC540 and writes nothing, with ``raise_error`` or without (Keras's ``raise_error`` only
chooses between an exception and a graceful stop, and either way a run that met a
non-finite loss is not written).
"""

from __future__ import annotations

from typing import Literal

from specc.callbacks.base import CALLBACKS, Callback, CallbackConfig


@CALLBACKS.register
class TerminateOnNaN(CallbackConfig):
    """Stop training at a NaN or infinite loss (``fit``'s own check, made explicit)."""

    type: Literal["TerminateOnNaN"] = "TerminateOnNaN"
    raise_error: bool = False

    def start(self) -> Callback:
        """No hooks: ``fit`` checks every batch's loss itself."""
        return Callback()
