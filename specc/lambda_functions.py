"""The Lambda expression language's functions: their parameters, and binding a call.

``FUNCTIONS`` maps each name to a family (how ``specc.lambda_ops`` computes it) and its
parameters in Keras's order and names. Binding checks what can be checked without
shapes: argument counts and names, integer literals for axes, no batch axis, and the
arguments of activations (validated by the activation registry's own models).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from specc.activations import ACTIVATIONS
from specc.diagnostics import suggest
from specc.lambda_tokens import ExpressionError, Node

BOOLEANS = {"true": True, "false": False, "True": True, "False": False}


@dataclass(frozen=True)
class Param:
    """An argument of a function: ``tensor`` (an expression), ``tensors`` (a list of them),
    ``axis`` (an integer), ``axes`` (an integer or a list), ``ints`` (a list of integers),
    ``bool`` (true/false) or ``number`` (a number literal); ``default`` ``...`` if required."""

    name: str
    kind: str
    default: Any = ...


@dataclass(frozen=True)
class Signature:
    """A function's family (how ``lambda_ops`` treats it) and its parameters."""

    family: str
    params: tuple[Param, ...]

    def usage(self, name: str) -> str:
        """``sum(x, axis=None, keepdims=false)``."""
        parts = []
        for p in self.params:
            default = "false" if p.default is False else "true" if p.default is True else p.default
            parts.append(p.name if p.default is ... else f"{p.name}={default}")
        return f"{name}({', '.join(parts)})"


UNARY = (
    "abs",
    "exp",
    "log",
    "log1p",
    "expm1",
    "sqrt",
    "rsqrt",
    "square",
    "reciprocal",
    "sin",
    "cos",
    "erf",
)
REDUCTIONS = ("sum", "mean", "max", "min", "logsumexp", "norm", "var", "std")
_X = Param("x", "tensor")


def _signatures() -> dict[str, Signature]:
    table = {name: Signature("unary", (_X,)) for name in UNARY}
    for name in ("minimum", "maximum"):
        table[name] = Signature("binary", (Param("x1", "tensor"), Param("x2", "tensor")))
    table["clip"] = Signature("clip", (_X, Param("x_min", "tensor"), Param("x_max", "tensor")))
    table["where"] = Signature(
        "where", (Param("condition", "tensor"), Param("x1", "tensor"), Param("x2", "tensor"))
    )
    for name in REDUCTIONS:
        params = (_X, Param("axis", "axes", None), Param("keepdims", "bool", False))
        table[name] = Signature("reduce", params)
    for name in ("softmax", "log_softmax"):
        table[name] = Signature("softmax", (_X, Param("axis", "axis", -1)))
    table["reshape"] = Signature("reshape", (_X, Param("newshape", "ints")))
    table["transpose"] = Signature("transpose", (_X, Param("axes", "ints", None)))
    table["expand_dims"] = Signature("expand_dims", (_X, Param("axis", "axis")))
    table["squeeze"] = Signature("squeeze", (_X, Param("axis", "axes", None)))
    for name in ("concat", "concatenate"):
        table[name] = Signature("concat", (Param("xs", "tensors"), Param("axis", "axis", -1)))
    # Every pointwise activation of the registry, its arguments as keywords.
    for name in ACTIVATIONS.names():
        model = ACTIVATIONS.get(name)
        if name in table or not model.pointwise:
            continue
        params = [_X]
        for key, info in model.model_fields.items():
            if key != "type":
                kind = "bool" if info.annotation in (bool, "bool") else "number"
                params.append(Param(key, kind, info.default))
        table[name] = Signature("activation", tuple(params))
    return table


FUNCTIONS: dict[str, Signature] = _signatures()
# Functions whose tensor arguments must depend on an input (they need a shape).
_NEEDS_TENSOR = ("reduce", "softmax", "reshape", "transpose", "expand_dims", "squeeze", "concat")


@dataclass(frozen=True)
class Arg:
    """One call argument as written: an expression, a list of them, or a boolean."""

    keyword: str | None
    pos: int
    key_pos: int
    node: Node | None = None
    items: tuple[Node, ...] | None = None
    flag: bool | None = None


def _int_literal(node: Node | None) -> int | None:
    if node is not None and node.kind == "number" and isinstance(node.value, int):
        return node.value
    if node is not None and node.kind == "unary" and node.args[0].kind == "number":
        inner = node.args[0].value
        return -inner if isinstance(inner, int) else None
    return None


def _number_literal(node: Node | None) -> int | float | None:
    if node is not None and node.kind == "number":
        return node.value
    if node is not None and node.kind == "unary" and node.args[0].kind == "number":
        return -node.args[0].value
    return None


def _convert(fn: str, param: Param, arg: Arg) -> Any:
    """A written argument as its parameter's kind wants it, or an error at it."""
    what = f"{fn}() argument '{param.name}'"
    kind = param.kind
    if kind == "tensor":
        if arg.node is None:
            raise ExpressionError(f"{what} must be an expression", arg.pos)
        if FUNCTIONS[fn].family in _NEEDS_TENSOR and arg.node.constant:
            raise ExpressionError(f"{what} must depend on an input; got a constant", arg.pos)
        return arg.node
    if kind == "tensors":
        if not arg.items:
            raise ExpressionError(f"{what} must be a non-empty list, as in [x, y]", arg.pos)
        for item in arg.items:
            if item.constant:
                raise ExpressionError(f"{what}: every item must depend on an input", item.pos)
        return arg.items
    if kind == "bool":
        if arg.flag is None:
            raise ExpressionError(f"{what} must be true or false", arg.pos)
        return arg.flag
    if kind == "number":
        value = _number_literal(arg.node)
        if value is None:
            raise ExpressionError(f"{what} must be a number like 0.1", arg.pos)
        return value
    # axis, axes and ints: integer literals, alone or in a list.
    items = arg.items if arg.items is not None else None
    if items is None:
        value = _int_literal(arg.node)
        if kind == "ints" or value is None:
            form = "a list of integers like [2, -1]" if kind == "ints" else "an integer like -1"
            if kind == "axes":
                form = "an integer or a list of integers"
            raise ExpressionError(f"{what} must be {form}", arg.pos)
        values: tuple[int, ...] = (value,)
    elif kind == "axis":
        raise ExpressionError(f"{what} must be a single integer like -1", arg.pos)
    else:
        values = ()
        for item in items:
            value = _int_literal(item)
            if value is None:
                raise ExpressionError(f"{what} must hold integers only", item.pos)
            values += (value,)
    return _check_ints(fn, param, values, arg)


def _check_ints(fn: str, param: Param, values: tuple[int, ...], arg: Arg) -> Any:
    what = f"{fn}() argument '{param.name}'"
    if FUNCTIONS[fn].family == "reshape":
        if values.count(-1) > 1 or any(v == 0 or v < -1 for v in values):
            raise ExpressionError(
                f"{what} must hold positive sizes and at most one -1; got {list(values)}", arg.pos
            )
        return values
    if 0 in values:
        raise ExpressionError(
            f"{what}: axis 0 is the batch axis, which an expression may not touch; "
            "count axes from 1, or from the end with -1",
            arg.pos,
        )
    if len(set(values)) != len(values):
        raise ExpressionError(f"{what} repeats an axis: {list(values)}", arg.pos)
    if param.kind == "axes" and not values:
        raise ExpressionError(f"{what} must not be empty", arg.pos)
    if FUNCTIONS[fn].family == "transpose" and any(v < 0 for v in values):
        raise ExpressionError(
            f"{what} must hold axes 1, 2, ... (as Permute's dims); got {list(values)}", arg.pos
        )
    return values[0] if param.kind == "axis" else values


def bind(make: Callable[..., Node], fn: str, pos: int, args: list[Arg]) -> Node:
    """Match written arguments to ``fn``'s parameters; the call's node, built by ``make``."""
    signature = FUNCTIONS[fn]
    params = {p.name: p for p in signature.params}
    usage = signature.usage(fn)
    given: dict[str, Arg] = {}
    positional = 0
    for arg in args:
        if arg.keyword is None:
            if given and any(a.keyword is not None for a in given.values()):
                raise ExpressionError("a positional argument cannot follow a keyword", arg.pos)
            if positional >= len(signature.params):
                raise ExpressionError(f"too many arguments; the form is {usage}", arg.pos)
            given[signature.params[positional].name] = arg
            positional += 1
            continue
        if arg.keyword not in params:
            best = suggest(arg.keyword, list(params))
            hint = f"did you mean '{best}'? " if best else ""
            raise ExpressionError(
                f"{fn}() has no argument '{arg.keyword}'; {hint}the form is {usage}", arg.key_pos
            )
        if arg.keyword in given:
            raise ExpressionError(f"{fn}() got argument '{arg.keyword}' twice", arg.key_pos)
        given[arg.keyword] = arg
    tensors: list[Node] = []
    options: list[tuple[str, Any, int]] = []
    for param in signature.params:
        arg = given.get(param.name)
        if arg is None:
            if param.default is ...:
                raise ExpressionError(f"{fn}() needs argument '{param.name}': {usage}", pos)
            if signature.family != "activation":
                options.append((param.name, param.default, pos))
            continue
        value = _convert(fn, param, arg)
        if param.kind == "tensor":
            tensors.append(value)
        elif param.kind == "tensors":
            tensors.extend(value)
        else:
            options.append((param.name, value, arg.pos))
    if signature.family == "activation":
        options = [("activation", _activation(fn, options, pos), pos)]
    return make("call", fn, tuple(tensors), pos, options=tuple(options))


def _activation(fn: str, options: list[tuple[str, Any, int]], pos: int) -> Any:
    config = {"type": fn, **{name: value for name, value, _ in options}}
    try:
        return ACTIVATIONS.get(fn).model_validate(config)
    except ValidationError as error:
        first = error.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        at = next((p for n, _, p in options if n == where), pos)
        raise ExpressionError(
            f"{fn}(): {where + ': ' if where else ''}{first['msg']}", at
        ) from None
