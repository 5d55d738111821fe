"""Every activation, lowered to ONNX and run in onnxruntime, against Keras's formulas.

The expected values here are written from Keras 3's documented formulas, separately from
each activation's own ``reference``, and checked both through a Dense layer with weights
loaded from a weights file and through the Activation layer.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest

from specc.activations import ACTIVATIONS
from tests.spec_helpers import compile_with_random_weights, run_compiled


def _softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


_erf = np.vectorize(math.erf)
_sigmoid = lambda x: 1 / (1 + np.exp(-x))  # noqa: E731
_softplus = lambda x: np.log1p(np.exp(-np.abs(x))) + np.maximum(x, 0)  # noqa: E731

# (spec value, Keras formula)
FORMULAS: list[tuple[object, Callable[[np.ndarray], np.ndarray]]] = [
    ("linear", lambda x: x),
    ("relu", lambda x: np.maximum(x, 0)),
    (
        {"type": "relu", "negative_slope": 0.1, "max_value": 1.5, "threshold": 0.2},
        lambda x: np.where(x > 0.2, np.minimum(x, 1.5), 0.0) - 0.1 * np.maximum(0.2 - x, 0),
    ),
    ({"type": "relu", "max_value": 0.5}, lambda x: np.clip(x, 0, 0.5)),
    ("relu6", lambda x: np.clip(x, 0, 6)),
    ("leaky_relu", lambda x: np.where(x > 0, x, 0.2 * x)),
    ({"type": "leaky_relu", "negative_slope": 0.01}, lambda x: np.where(x > 0, x, 0.01 * x)),
    ("elu", lambda x: np.where(x > 0, x, np.exp(x) - 1)),
    ({"type": "elu", "alpha": 0.5}, lambda x: np.where(x > 0, x, 0.5 * (np.exp(x) - 1))),
    (
        "selu",
        lambda x: 1.0507009873554805 * np.where(x > 0, x, 1.6732632423543772 * (np.exp(x) - 1)),
    ),
    ("softplus", lambda x: np.log(np.exp(x) + 1)),
    ("softsign", lambda x: x / (np.abs(x) + 1)),
    ("softmax", _softmax),
    ("log_softmax", lambda x: np.log(_softmax(x))),
    ("sigmoid", _sigmoid),
    ("tanh", np.tanh),
    ("hard_sigmoid", lambda x: np.clip(x / 6 + 0.5, 0, 1)),
    ("hard_silu", lambda x: x * np.clip(x / 6 + 0.5, 0, 1)),
    ("hard_swish", lambda x: x * np.clip(x / 6 + 0.5, 0, 1)),
    ("exponential", np.exp),
    ("gelu", lambda x: 0.5 * x * (1 + _erf(x / np.sqrt(2)))),
    (
        {"type": "gelu", "approximate": True},
        lambda x: 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3))),
    ),
    ("silu", lambda x: x * _sigmoid(x)),
    ("swish", lambda x: x * _sigmoid(x)),
    ("mish", lambda x: x * np.tanh(_softplus(x))),
]


def _id(value: object) -> str:
    return value if isinstance(value, str) else "-".join(str(v) for v in value.values())  # type: ignore[union-attr]


def test_every_activation_is_covered() -> None:
    covered = {v if isinstance(v, str) else v["type"] for v, _ in FORMULAS}  # type: ignore[index]
    assert covered == set(ACTIVATIONS.names())


@pytest.mark.parametrize(("activation", "formula"), FORMULAS, ids=[_id(v) for v, _ in FORMULAS])
def test_dense_activation_matches_keras_formula(
    activation: object, formula: Callable[[np.ndarray], np.ndarray]
) -> None:
    spec = {
        "specc": 1,
        "layers": [{"type": "Dense", "units": 7, "activation": activation, "input_shape": [5]}],
    }
    compiled, weights = compile_with_random_weights(spec, seed=3)
    x = np.random.default_rng(4).normal(scale=2.0, size=(6, 5)).astype(np.float32)
    (got,) = run_compiled(compiled, [x])
    z = x.astype(np.float64) @ weights["dense/kernel"] + weights["dense/bias"]
    np.testing.assert_allclose(got, formula(z), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(("activation", "formula"), FORMULAS, ids=[_id(v) for v, _ in FORMULAS])
def test_activation_layer_on_3d_input(
    activation: object, formula: Callable[[np.ndarray], np.ndarray]
) -> None:
    spec = {
        "specc": 1,
        "layers": [{"type": "Activation", "activation": activation, "input_shape": [3, 4]}],
    }
    compiled, _ = compile_with_random_weights(spec)
    x = np.random.default_rng(5).normal(scale=3.0, size=(2, 3, 4)).astype(np.float32)
    (got,) = run_compiled(compiled, [x])
    np.testing.assert_allclose(got, formula(x.astype(np.float64)), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(("activation", "formula"), FORMULAS, ids=[_id(v) for v, _ in FORMULAS])
def test_module_reference_agrees_with_formula(
    activation: object, formula: Callable[[np.ndarray], np.ndarray]
) -> None:
    config = {"type": activation} if isinstance(activation, str) else activation
    model = ACTIVATIONS.get(config["type"]).model_validate(config)  # type: ignore[index]
    x = np.linspace(-6, 6, 97).reshape(1, 97)
    np.testing.assert_allclose(model.reference(x), formula(x), rtol=1e-12, atol=1e-12)
