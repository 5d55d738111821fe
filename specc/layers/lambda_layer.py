"""Lambda: a declarative elementwise-and-reshaping expression over the layer's inputs.

Keras's Lambda wraps a Python function; a spec never runs Python, so here the function is
an ``expression`` in a small language of its own (docs/lambda.md), read by specc's own
parser: ``{type: Lambda, expression: "x * 2 + 1"}`` or, with several inputs,
``{type: Lambda, inputs: [a, b], expression: "tanh(x) * y"}``. Anything outside the
grammar is a schema error at the offending character; shape mismatches are shape errors.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from specc.graph import Value
from specc.lambda_constants import check_constants
from specc.lambda_lower import lower_expression
from specc.lambda_ops import evaluate, infer, node_shape
from specc.lambda_syntax import check_input_count, parse
from specc.lambda_tokens import MAX_LENGTH, ExpressionError, Node
from specc.layers.base import LAYERS, Layer, LowerContext, ShapeError
from specc.lazy_numpy import np
from specc.types import Dim, TensorType


def parsed(expression: str) -> Node:
    """The expression's tree, checked as far as it can be without input types.

    Parsing takes well under a millisecond, so each pass parses again rather than keep
    trees in global state.
    """
    tree = parse(expression)
    check_constants(tree)
    return tree


def _input_count(inputs: Any) -> int | None:
    """How many inputs the entry names, when it names them (else shape inference checks)."""
    if isinstance(inputs, list):
        return len(inputs)
    return 1 if isinstance(inputs, str) else None


@LAYERS.register
class Lambda(Layer):
    """Lambda: y = expression(x, y, ...), computed in float32; the shape follows the expression.

    Inputs are named ``x, y, z, w`` or ``x0, x1, ...`` in ``inputs`` order. Elementwise
    operators broadcast as NumPy on the axes after the batch axis.
    """

    type: Literal["Lambda"]
    expression: str = Field(
        description="A formula over the inputs x, y, z, w (or x0, x1, ...); see docs/lambda.md.",
        json_schema_extra={"minLength": 1, "maxLength": MAX_LENGTH},
    )
    min_inputs: ClassVar[int] = 1
    max_inputs: ClassVar[int | None] = None

    @field_validator("expression")
    @classmethod
    def _parse_expression(cls, value: str, info: ValidationInfo) -> str:
        # ``offset`` lets the diagnostic point at the very character (see docs/lambda.md).
        try:
            tree = parsed(value)
            count = _input_count(info.data["inputs"]) if "inputs" in info.data else None
            if count is not None:
                check_input_count(tree, count)
        except ExpressionError as error:
            raise PydanticCustomError(
                "value_error", "{error}", {"error": error.render(value), "offset": error.offset}
            ) from None
        return value

    def _tree(self, inputs: list[TensorType]) -> Node:
        try:
            tree = parsed(self.expression)
            check_input_count(tree, len(inputs))
        except ExpressionError as error:
            raise ShapeError(error.render(self.expression), field="expression") from None
        return tree

    def output_types(self, inputs: list[TensorType]) -> list[TensorType]:
        tree = self._tree(inputs)
        try:
            shape = infer(tree, inputs)
        except ExpressionError as error:
            raise ShapeError(error.render(self.expression), field="expression") from None
        return [TensorType("float32", shape)]

    def work_values(self, inputs: list[TensorType]) -> list[tuple[str, TensorType]]:
        # Each intermediate tensor of the expression (a reshape inside a sum) is built too.
        tree = self._tree(inputs)
        found: list[tuple[str, TensorType]] = []

        def visit(node: Node) -> tuple[Dim, ...] | None:
            try:
                shape = node_shape(node, [visit(a) for a in node.args], inputs)
            except ExpressionError as error:
                raise ShapeError(error.render(self.expression), field="expression") from None
            if shape is not None and node is not tree and node.kind != "input":
                what = f"the value at column {node.pos + 1} of its expression"
                found.append((what, TensorType("float32", shape)))
            return shape

        visit(tree)
        return found

    def lower(
        self,
        ctx: LowerContext,
        inputs: list[Value],
        input_types: list[TensorType],
        weights: dict[str, Value],
    ) -> list[Value]:
        return [lower_expression(ctx.builder, self._tree(input_types), inputs, input_types)]

    def reference(
        self, inputs: list[np.ndarray], weights: dict[str, np.ndarray]
    ) -> list[np.ndarray]:
        types = [TensorType("float32", x.shape[1:]) for x in inputs]
        return [np.asarray(evaluate(self._tree(types), inputs), np.float64)]

    @classmethod
    def examples(cls) -> list[tuple[dict[str, Any], list[TensorType]]]:
        f32 = "float32"
        return [
            ({"expression": "x * 2 + 1"}, [TensorType(f32, (3,))]),
            # Broadcasting: y (batch, 5) against x (batch, 2, 5).
            (
                {"expression": "tanh(x) * y - y / (1 + x ** 2)"},
                [TensorType(f32, (2, 5)), TensorType(f32, (5,))],
            ),
            (
                {"expression": "x - logsumexp(x, axis=-1, keepdims=true) + sum(x, axis=[1, 2])"},
                [TensorType(f32, (2, 4))],
            ),
            (
                {
                    "expression": "max(x, axis=[1, 2], keepdims=true) - min(x, axis=1) "
                    "+ norm(x, axis=1) + std(x, axis=-2) * var(x)"
                },
                [TensorType(f32, (3, 4))],
            ),
            ({"expression": "x / mean(x * x + 1, keepdims=true)"}, [TensorType(f32, (None, 3))]),
            (
                {"expression": "transpose(reshape(x, [6, -1]), [2, 1]) * 2"},
                [TensorType(f32, (2, 3, 4))],
            ),
            (
                {
                    "expression": "squeeze(expand_dims(x, 1), [1]) "
                    "+ expand_dims(sum(x, axis=-1), -1)"
                },
                [TensorType(f32, (2, 3))],
            ),
            (
                {"expression": "where(x > 0, x, 0.1 * x) + (y >= 0.5) * y - where(x, 1, y)"},
                [TensorType(f32, (4,)), TensorType(f32, (4,))],
            ),
            (
                {"expression": "(x * x + 1) ** 1.5 - 2 ** x + x ** 3 - (x * x + 1) ** -0.5 * 0.5"},
                [TensorType(f32, (5,))],
            ),
            (
                {"expression": "softmax(x, axis=1) * y + log_softmax(x)"},
                [TensorType(f32, (3, 2)), TensorType(f32, (3, 1))],
            ),
            (
                {"expression": "concat([x, tanh(y), x * y], axis=-1)"},
                [TensorType(f32, (2, 3)), TensorType(f32, (2, 3))],
            ),
            (
                {
                    "expression": "gelu(x) + leaky_relu(x, negative_slope=0.1) + swish(x) "
                    "+ selu(x) + hard_sigmoid(x) + relu(x, max_value=0.5) + softplus(x)"
                },
                [TensorType(f32, (6,))],
            ),
            (
                {
                    "expression": "clip(x, -0.5, 0.5) + maximum(x, y) - minimum(abs(x), exp(y)) "
                    "+ erf(x) + sin(y) * cos(x) + clip(y, x, 1) + sigmoid(x)"
                },
                [TensorType(f32, (2, 3)), TensorType(f32, (3,))],
            ),
            (
                {
                    "expression": "sqrt(x * x + 1) + log(1 + square(x)) + log1p(x * x) "
                    "+ expm1(-x * x)"
                },
                [TensorType(f32, (4,))],
            ),
            ({"expression": "y * x + x"}, [TensorType("int32", (3,)), TensorType("float16", (3,))]),
            (
                {"expression": "x0 + x1 * x2 - x3 / (1 + x4 * x4) + w"},
                [TensorType(f32, (3,))] * 5,
            ),
        ]
