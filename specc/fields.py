"""Field types shared by layer configs: initializers, regularizers, constraints, activations.

Each takes a Keras name (``he_uniform``, ``HeUniform``) or a mapping with ``type`` and
arguments, and validates to that entry's config model.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from specc.activations import ACTIVATIONS
from specc.constraints import CONSTRAINTS
from specc.initializers import INITIALIZERS
from specc.regularizers import REGULARIZERS

InitializerField = INITIALIZERS.discriminated_union()
RegularizerField = REGULARIZERS.discriminated_union()
ConstraintField = CONSTRAINTS.discriminated_union()
ActivationField = ACTIVATIONS.discriminated_union()


def initializer(default: str) -> Any:
    """A field defaulting to the named initializer, validated like a user's value."""
    return Field(default, validate_default=True)
