"""A Lambda's constant sub-expressions fold to finite float32 numbers, or are refused at
the operator, call or number responsible."""

from __future__ import annotations

import math

import numpy as np
import pytest
from pydantic import ValidationError

from specc.lambda_constants import check_constants
from specc.lambda_syntax import parse
from specc.lambda_tokens import ExpressionError
from specc.types import TensorType
from tests.layer_harness import make_layer, run_layer


@pytest.mark.parametrize(
    ("expression", "column", "words"),
    [
        ("x * (1 / 0)", 8, "'/' on constants gives inf"),
        ("x + 0 / 0", 7, "'/' on constants gives nan"),
        ("sqrt(0 - 1) * x", 1, "sqrt() on constants gives nan"),
        ("x + log(0)", 5, "log() on constants gives -inf"),
        ("x + log1p(0 - 1)", 5, "log1p() on constants gives -inf"),
        ("x * exp(1000)", 5, "exp() on constants gives inf"),
        ("x * 2 ** 10000", 7, "'**' on constants gives inf"),
        ("x + (0 - 8) ** (1 / 3)", 13, "'**' on constants gives nan"),
        ("x + 0 ** -1", 7, "'**' on constants gives inf"),
        ("x + reciprocal(0)", 5, "reciprocal() on constants gives inf"),
        ("x + rsqrt(0)", 5, "rsqrt() on constants gives inf"),
        ("x * (1e308 * 10)", 12, "'*' on constants gives inf"),
        ("x * -(1e308 + 1e308)", 13, "'+' on constants gives inf"),
        # The first of two: the caret goes under the leftmost innermost culprit.
        ("x + (exp(1000) - exp(1000))", 6, "exp() on constants gives inf"),
        ("clip(x, 0, 0 / 0)", 14, "gives nan"),
        ("where(x > 0, x, 1 / 0)", 19, "gives inf"),
        ("x * exp(100)", 5, "is 2.68812e+43, beyond float32's range"),
        ("x * 1e39", 5, "this number is 1e+39, beyond float32's range"),
        ("x ** 1e39", 6, "beyond float32's range"),
        ("x * 99999999999999999999999999999999999999999", 5, "beyond float32's range"),
    ],
)
def test_non_finite_constants_are_refused_at_their_operation(
    expression: str, column: int, words: str
) -> None:
    with pytest.raises(ExpressionError) as caught:
        check_constants(parse(expression))
    message = caught.value.render(expression)
    assert words in message
    assert f"(at column {column} of the expression)" in message
    # The layer's schema check reports the same, with the offset for the diagnostic.
    with pytest.raises(ValidationError) as invalid:
        make_layer("Lambda", expression=expression)
    (error,) = invalid.value.errors()
    assert error["ctx"]["offset"] == column - 1


@pytest.mark.parametrize(
    ("expression", "factor"),
    [
        ("x * (exp(100) / exp(99))", math.e),  # float64 in between, as Python computes it
        ("x * 1e38", 1e38),
        ("x * 1e-50", 0.0),  # underflows to 0 in float32, as in Keras
        ("x * (2 ** 0.5) ** 2", 2.0),
        ("x * where(1 < 2, 3, 1 / 2)", 3.0),
    ],
)
def test_finite_constants_fold_once(expression: str, factor: float) -> None:
    check_constants(parse(expression))
    x = np.array([[1.0, -2.0, 0.5]], np.float32)
    layer = make_layer("Lambda", expression=expression)
    (y,) = run_layer(layer, [TensorType("float32", (3,))], [x], {})
    assert np.all(np.isfinite(y))
    np.testing.assert_allclose(y, x * np.float32(factor), rtol=1e-6)


def test_a_constant_base_is_stored_as_its_log() -> None:
    # 1e39 itself is past float32, but c ** x only stores log(c).
    check_constants(parse("1e39 ** x"))
    with pytest.raises(ExpressionError, match="must be positive"):
        check_constants(parse("(0 - 2) ** x"))
