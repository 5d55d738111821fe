"""Lambda expressions whose constant parts fold to infinity or NaN (or past float32): the
model would output inf/NaN, so each is refused at the operator or call that gives it,
while the literal ``1e999`` already was; finite folds still build."""

from __future__ import annotations

from tests.hostile.case import Case
from tests.hostile.compiler_inputs import lambda_spec, nothing_written

FAMILY = "lambda constants"
_FINITE = r"must work out to a finite number"
_FLOAT32 = r"beyond float32's range"


def _build(name: str, expression: str, column: int, *patterns: str) -> Case:
    return Case(
        FAMILY,
        f"build: {expression}",
        ["build", "spec.yaml", "-o", "model.onnx"],
        {"spec.yaml": lambda_spec(expression)},
        1,
        (rf"\(at column {column} of the expression\)", r"SPC101-schema", *patterns),
        check=nothing_written,
    )


CASES = [
    _build("division by zero", "x * (1 / 0)", 8, r"'/' on constants gives inf", _FINITE),
    _build("square root of -1", "sqrt(0 - 1) + x", 1, r"sqrt\(\) on constants gives nan"),
    _build("log of 0", "x + log(0)", 5, r"log\(\) on constants gives -inf"),
    _build("0 / 0", "x + 0 / 0", 7, r"gives nan"),
    _build("exp(1000)", "x * exp(1000)", 5, _FINITE),
    _build("2 ** 10000", "x * 2 ** 10000", 7, r"'\*\*' on constants gives inf"),
    _build("0 ** -1", "x + 0 ** -1", 7, _FINITE),
    _build("reciprocal(0)", "x + reciprocal(0)", 5, _FINITE),
    _build("rsqrt(0)", "x + rsqrt(0)", 5, _FINITE),
    _build("a cube root of -8", "x * (0 - 8) ** (1 / 3)", 13, r"gives nan"),
    _build("inf - inf", "x + (exp(1000) - exp(1000))", 6, r"exp\(\) on constants gives inf"),
    _build("1e308 * 10", "x * (1e308 * 10)", 12, _FINITE),
    _build("a NaN clip bound", "clip(x, 0, 0 / 0)", 14, _FINITE),
    _build("exp(100), past float32", "x * exp(100)", 5, _FLOAT32),
    _build("1e39, past float32", "x * 1e39", 5, _FLOAT32),
    _build("exponent 1e39, past float32", "x ** 1e39", 6, _FLOAT32),
    Case(
        FAMILY,
        "validate: x * (1 / 0)",
        ["validate", "spec.yaml"],
        {"spec.yaml": lambda_spec("x * (1 / 0)")},
        1,
        (
            r"spec\.yaml:\d+:\d+: error: '/' on constants gives inf",
            r"\(at layers\[0\]\.expression\)",
        ),
    ),
    Case(
        FAMILY,
        "build: exp(100) / exp(99) is e, as in Python",
        ["build", "spec.yaml", "-o", "model.onnx", "-q"],
        {"spec.yaml": lambda_spec("x * (exp(100) / exp(99))")},
        exit_code=0,
    ),
]
