"""A Lambda expression's constant sub-expressions: folded once, and refused unless finite.

A sub-expression that uses no input is computed once, in float64, by the NumPy reference
(``specc.lambda_ops.evaluate``), and the model stores the result as a float32 scalar. A
literal too large for a float (``1e999``) is refused by the parser; so is anything folded
to infinity or NaN (``1 / 0``, ``0 / 0``, ``sqrt(0 - 1)``, ``log(0)``, ``exp(1000)``,
``2 ** 10000``), at the innermost operator or call that gives it, and any folded value the
model stores that float32 cannot hold (``exp(100)``, ``1e39``), since the model would
compute with infinity in its place. Intermediate values only need float64's range, as in
Python: ``exp(100) / exp(99)`` is e.
"""

from __future__ import annotations

import math

from specc.lambda_ops import evaluate
from specc.lambda_tokens import ExpressionError, Node, walk
from specc.registry import FLOAT32_MAX


def _what(node: Node) -> str:
    """How a message names the operator or call at ``node.pos``."""
    if node.kind in ("binary", "unary"):
        return f"'{node.op}'"
    return f"{node.op}()"


def _stored(tree: Node) -> list[Node]:
    """The folded constants the model stores as float32 scalars: each constant argument of
    a node that uses an input (but not the base of ``c ** x``, stored as log(c), nor a
    ``where`` condition, stored as a boolean)."""
    found = []
    for node in walk(tree):
        if node.constant:
            continue
        args = list(node.args)
        if node.op == "**" and args[0].constant:
            args = args[1:]
        if node.kind == "call" and node.op == "where":
            args = args[1:]
        found += [arg for arg in args if arg.constant]
    return found


def _post_order(tree: Node) -> list[Node]:
    """Every node after its arguments, left to right (iteratively: trees may be deep)."""
    nodes: list[Node] = []
    stack: list[tuple[Node, bool]] = [(tree, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            nodes.append(node)
            continue
        stack.append((node, True))
        stack.extend((arg, False) for arg in reversed(node.args))
    return nodes


def _check_finite(tree: Node) -> None:
    # Innermost and leftmost first, so the caret sits under the first operation that
    # turned finite numbers into a non-finite one.
    for node in _post_order(tree):
        if node.constant and node.kind != "number":
            value = float(evaluate(node, []))
            if not math.isfinite(value):
                raise ExpressionError(
                    f"{_what(node)} on constants gives {value}; a constant sub-expression "
                    "must work out to a finite number",
                    node.pos,
                )


def _check_powers(tree: Node) -> None:
    for node in walk(tree):
        if node.op != "**" or node.kind != "binary":
            continue
        base_node, exponent = node.args
        if base_node.constant and not exponent.constant:
            base = float(evaluate(base_node, []))
            if not base > 0:
                raise ExpressionError(
                    f"a constant base with an input-dependent exponent must be positive "
                    f"(c ** x is computed as exp(x * log(c))); got base {base:g}",
                    node.pos,
                )


def check_constants(tree: Node) -> None:
    """Every constant sub-expression is finite, every stored one fits float32, and a
    constant base with a tensor exponent is positive (c ** x = exp(x * log c));
    ``ExpressionError`` at the offending operator, call or number otherwise."""
    _check_finite(tree)
    _check_powers(tree)
    for node in _stored(tree):
        # A number is its own value; only sub-expressions need NumPy to work out.
        value = float(node.value) if node.kind == "number" else float(evaluate(node, []))
        if abs(value) > FLOAT32_MAX:
            what = "this number" if node.kind == "number" else "this constant sub-expression"
            raise ExpressionError(
                f"{what} is {value:g}, beyond float32's range (magnitude at most "
                f"{FLOAT32_MAX:.4g}), the precision the model computes in",
                node.pos,
            )
