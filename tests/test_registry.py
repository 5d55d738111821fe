"""Rules every spec model shares: numbers must fit the int64 or float32 the model holds
them in, and no float may be NaN or infinite."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from specc.layers.base import LAYERS
from specc.registry import FLOAT32_MAX, number_problem


def layer_errors(config: dict[str, Any]) -> list[dict[str, Any]]:
    """Pydantic's errors for one layer entry."""
    model = LAYERS.get(config["type"])
    with pytest.raises(ValidationError) as info:
        model.model_validate(config)
    return info.value.errors()


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (2**63 - 1, None),
        (-(2**63), None),
        (2**63, "64-bit integer"),
        (-(2**63) - 1, "64-bit integer"),
        (FLOAT32_MAX, None),
        (1e39, "32-bit float"),
        (-1e39, "32-bit float"),
        (1e-50, None),  # underflows to 0 in float32, as it does in Keras
        ([1, 2, 2**64], "64-bit integer"),
        ((1.0, 1e39), "32-bit float"),
        (True, None),
        ("99999999999999999999", None),
    ],
)
def test_number_problem(value: Any, problem: str | None) -> None:
    found = number_problem(value)
    assert (found is None) if problem is None else (problem in (found or ""))


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"type": "Dense", "units": 2**64}, "units"),
        (
            {"type": "Conv1D", "filters": 1, "kernel_size": 3, "dilation_rate": [2**63]},
            "dilation_rate",
        ),
        ({"type": "ZeroPadding1D", "padding": 2**70}, "padding"),
        (
            {"type": "Dense", "units": 2, "bias_initializer": {"type": "Constant", "value": 1e39}},
            "bias_initializer",
        ),
    ],
)
def test_numbers_past_the_model_types_are_refused_at_their_key(
    config: dict[str, Any], field: str
) -> None:
    (error,) = layer_errors(config)
    assert error["loc"][0] == field
    assert "must fit in a" in str(error["ctx"]["error"])


@pytest.mark.parametrize(
    "config",
    [
        {
            "type": "Dense",
            "units": 2,
            "activation": {"type": "leaky_relu", "negative_slope": float("nan")},
        },
        {"type": "Dense", "units": 2, "activation": {"type": "relu", "threshold": float("inf")}},
        {"type": "Dense", "units": 2, "activation": {"type": "elu", "alpha": float("nan")}},
        {
            "type": "Dense",
            "units": 2,
            "kernel_initializer": {"type": "RandomNormal", "stddev": float("inf")},
        },
        {"type": "Dense", "units": 2, "kernel_regularizer": {"type": "L1", "l1": float("nan")}},
        {
            "type": "Dense",
            "units": 2,
            "kernel_constraint": {"type": "MaxNorm", "max_value": float("nan")},
        },
        {"type": "Dropout", "rate": float("nan")},
        {"type": "BatchNormalization", "momentum": float("inf")},
    ],
)
def test_non_finite_floats_are_refused_everywhere(config: dict[str, Any]) -> None:
    assert "finite_number" in [e["type"] for e in layer_errors(config)]


@pytest.mark.parametrize(
    "layer", ["Dropout", "GaussianDropout", "AlphaDropout", "SpatialDropout1D"]
)
@pytest.mark.parametrize(("seed", "error_type"), [(-1, "greater_than_equal"), (2**32, "less_than")])
def test_layer_seeds_are_uint32_as_in_keras(layer: str, seed: int, error_type: str) -> None:
    errors = layer_errors({"type": layer, "rate": 0.5, "seed": seed})
    assert [e["type"] for e in errors] == [error_type]
