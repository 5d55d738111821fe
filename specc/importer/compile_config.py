"""A saved model's ``compile_config`` (optimizer, loss, loss weights, metrics) as the
spec's ``compile`` section."""

from __future__ import annotations

from typing import Any

from specc.diagnostics import SpecPath
from specc.importer.objects import convert_value, is_neutral
from specc.importer.problems import UNKNOWN_KEY, ConfigProblems

_CARRIED = ("optimizer", "loss", "loss_weights", "metrics")
# How Keras runs the step: nothing of what it computes.
_RUNTIME = ("run_eagerly", "steps_per_execution", "jit_compile", "auto_scale_loss")


def compile_section(config: Any, path: SpecPath, problems: ConfigProblems) -> dict[str, Any] | None:
    """The spec's ``compile`` mapping, or None when the model was saved uncompiled."""
    if not isinstance(config, dict) or not config:
        return None
    section: dict[str, Any] = {}
    for key, value in config.items():
        where = (*path, key)
        if key in _CARRIED:
            if value is not None:
                section[key] = convert_value(value, where, problems)
        elif key not in _RUNTIME and not is_neutral(value):
            problems.error(UNKNOWN_KEY, f"compile argument '{key}' is not supported", where)
    return section if "optimizer" in section or "loss" in section else None
