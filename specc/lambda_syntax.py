"""The Lambda layer's expression language: tokens, grammar and parser. Never Python.

An expression is read by a tokenizer and a recursive-descent parser written here; nothing
in it is evaluated by Python. The grammar, lowest precedence first::

    expression := additive [("<" | "<=" | ">" | ">=" | "==" | "!=") additive]
    additive   := term (("+" | "-") term)*
    term       := unary (("*" | "/") unary)*
    unary      := ("-" | "+") unary | power
    power      := primary ["**" unary]       (so -x ** 2 = -(x ** 2), 2 ** 3 ** 2 = 2 ** 9)
    primary    := NUMBER | INPUT | FUNCTION "(" [argument ("," argument)*] ")"
                | "(" expression ")"
    argument   := [NAME "="] (expression | "[" [expression ("," expression)*] "]"
                | "true" | "false")

Inputs are ``x, y, z, w`` (the first four, in ``inputs`` order) or ``x0, x1, ...``. The
functions and their arguments are the table ``FUNCTIONS``; shapes and ONNX lowering live
in ``specc.lambda_ops``. Every error names the character offset it is about.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, NoReturn

from specc.diagnostics import suggest
from specc.lambda_functions import BOOLEANS, FUNCTIONS, Arg, bind
from specc.lambda_tokens import (
    COMPARISONS,
    MAX_DEPTH,
    MAX_LENGTH,
    MAX_NESTING,
    ExpressionError,
    Node,
    Token,
    tokenize,
    walk,
)

_INPUT = re.compile(r"x(?:0|[1-9][0-9]{0,5})")
INPUT_LETTERS = ("x", "y", "z", "w")
# Words a Python habit brings in; named as such so the message says why they fail.
_PYTHON_WORDS = frozenset(
    "and as assert async await break class continue def del elif else except finally for "  # noqa: SIM905
    "from global if import in is lambda nonlocal not or pass raise return try while with "
    "yield None".split()
)


def _number_value(token: Token) -> int | float:
    text = token.text
    try:
        value: int | float = float(text) if any(c in text for c in ".eE") else int(text)
        if abs(float(value)) == float("inf"):
            raise OverflowError
    except (OverflowError, ValueError):
        raise ExpressionError(f"number {text} is out of range", token.pos) from None
    return value


def input_index(name: str) -> int | None:
    """The input a name refers to (``y`` -> 1, ``x3`` -> 3), or None."""
    if name in INPUT_LETTERS:
        return INPUT_LETTERS.index(name)
    return int(name[1:]) if _INPUT.fullmatch(name) else None


@dataclass
class _Parser:
    text: str
    tokens: list[Token] = field(default_factory=list)
    i: int = 0
    nesting: int = 0

    def peek(self, ahead: int = 0) -> Token:
        return self.tokens[min(self.i + ahead, len(self.tokens) - 1)]

    def take(self) -> Token:
        token = self.peek()
        self.i = min(self.i + 1, len(self.tokens) - 1)
        return token

    def is_op(self, token: Token, *ops: str) -> bool:
        return token.kind == "op" and token.text in ops

    def enter(self, pos: int) -> None:
        self.nesting += 1
        if self.nesting > MAX_NESTING:
            raise ExpressionError(f"the expression nests more than {MAX_NESTING} levels", pos)

    def make(self, kind: str, op: str, args: tuple[Node, ...], pos: int, **more: Any) -> Node:
        depth = 1 + max((a.depth for a in args), default=0)
        if depth > MAX_DEPTH:
            raise ExpressionError(
                f"the expression is too deep (more than {MAX_DEPTH} operators and calls "
                "above one another)",
                pos,
            )
        constant = all(a.constant for a in args)
        return Node(kind, op, args, pos=pos, depth=depth, constant=constant, **more)

    def parse(self) -> Node:
        node = self.expression()
        token = self.peek()
        if token.kind != "end":
            self.trailing(token)
        return node

    def trailing(self, token: Token) -> NoReturn:
        problems = {
            ",": "',' only separates function arguments; a bare list or tuple is not allowed",
            "=": "'=' (assignment) is not allowed; use '==' to compare",
            ")": "unmatched ')'",
            "]": "unmatched ']'",
            "(": "only functions can be called",
            "[": "indexing and slicing ('[...]') are not supported",
        }
        if token.kind == "op" and token.text in problems:
            raise ExpressionError(problems[token.text], token.pos)
        if token.kind == "op" and token.text in COMPARISONS:
            raise ExpressionError(
                "comparisons cannot be chained; use parentheses, e.g. (a < b) * (b < c)",
                token.pos,
            )
        if token.text in _PYTHON_WORDS:
            raise ExpressionError(self.python_word(token.text), token.pos)
        raise ExpressionError(f"missing operator before {token.text!r}", token.pos)

    @staticmethod
    def python_word(word: str) -> str:
        return f"'{word}' is a Python keyword; an expression is a formula, not Python code"

    def expression(self) -> Node:
        left = self.additive()
        token = self.peek()
        if not self.is_op(token, *COMPARISONS):
            return left
        self.take()
        right = self.additive()
        return self.make("binary", token.text, (left, right), token.pos)

    def additive(self) -> Node:
        node = self.term()
        while self.is_op(self.peek(), "+", "-"):
            token = self.take()
            node = self.make("binary", token.text, (node, self.term()), token.pos)
        return node

    def term(self) -> Node:
        node = self.unary()
        while self.is_op(self.peek(), "*", "/"):
            token = self.take()
            node = self.make("binary", token.text, (node, self.unary()), token.pos)
        return node

    def unary(self) -> Node:
        token = self.peek()
        if not self.is_op(token, "-", "+"):
            return self.power()
        self.take()
        self.enter(token.pos)
        operand = self.unary()
        self.nesting -= 1
        if token.text == "+":
            return operand
        return self.make("unary", "-", (operand,), token.pos)

    def power(self) -> Node:
        base = self.primary()
        after = self.peek()
        if self.is_op(after, "[", "("):
            self.trailing(after)
        if not self.is_op(after, "**"):
            return base
        self.take()
        self.enter(after.pos)
        exponent = self.unary()
        self.nesting -= 1
        if not base.constant and not exponent.constant:
            raise ExpressionError(
                "'**' needs a constant exponent (x ** 2) or a constant base (2 ** x); "
                "both sides here depend on inputs",
                after.pos,
            )
        return self.make("binary", "**", (base, exponent), after.pos)

    def primary(self) -> Node:
        token = self.take()
        if token.kind == "number":
            return Node("number", value=_number_value(token), pos=token.pos)
        if token.kind == "name":
            if self.is_op(self.peek(), "("):
                return self.call(token)
            return self.name(token)
        if self.is_op(token, "("):
            self.enter(token.pos)
            node = self.expression()
            self.close(")", token)
            self.nesting -= 1
            return node
        if self.is_op(token, "["):
            raise ExpressionError(
                "a list is only allowed as a function argument, as in reshape(x, [2, -1])",
                token.pos,
            )
        if token.kind == "end":
            raise ExpressionError(
                "the expression ends early; expected a number, an input, a call or '('",
                token.pos,
            )
        raise ExpressionError(
            f"expected a number, an input, a function call or '('; got {token.text!r}", token.pos
        )

    def close(self, bracket: str, opening: Token) -> None:
        token = self.take()
        if self.is_op(token, bracket):
            return
        if token.kind == "end":
            raise ExpressionError(
                f"missing {bracket!r} for the {opening.text!r} at column {opening.pos + 1}",
                token.pos,
            )
        self.i -= 1
        if self.is_op(token, ",") and bracket == ")":
            raise ExpressionError("',' only separates function arguments", token.pos)
        self.trailing(token)

    def name(self, token: Token) -> Node:
        name = token.text
        index = input_index(name)
        if index is not None:
            return Node("input", name, value=index, pos=token.pos, constant=False)
        if name in FUNCTIONS:
            problem = f"'{name}' is a function; call it as {FUNCTIONS[name].usage(name)}"
        elif name in BOOLEANS:
            problem = f"'{name}' is only allowed as an argument value, as in keepdims=true"
        elif name in _PYTHON_WORDS:
            problem = self.python_word(name)
        else:
            best = suggest(name, [*INPUT_LETTERS, "x0", "x1", *FUNCTIONS])
            hint = f"; did you mean '{best}'?" if best else "; inputs are x, y, z, w or x0, x1, ..."
            problem = f"unknown name '{name}'{hint}"
        raise ExpressionError(problem, token.pos)

    def call(self, token: Token) -> Node:
        name = token.text
        if name not in FUNCTIONS:
            if input_index(name) is not None:
                raise ExpressionError(f"'{name}' is an input, not a function", token.pos)
            best = suggest(name, list(FUNCTIONS))
            hint = f"; did you mean '{best}'?" if best else " (see docs/lambda.md for the list)"
            raise ExpressionError(f"unknown function '{name}'{hint}", token.pos)
        opening = self.take()
        self.enter(opening.pos)
        args: list[Arg] = []
        if self.is_op(self.peek(), ")"):
            self.take()
        else:
            while True:
                args.append(self.argument())
                separator = self.peek()
                if self.is_op(separator, ",") and self.is_op(self.peek(1), ")"):
                    raise ExpressionError("trailing ',' before ')'", separator.pos)
                if self.is_op(separator, ","):
                    self.take()
                    continue
                self.close(")", opening)
                break
        self.nesting -= 1
        return bind(self.make, name, token.pos, args)

    def argument(self) -> Arg:
        keyword = None
        start = self.peek()
        if start.kind == "name" and self.is_op(self.peek(1), "="):
            keyword = start.text
            self.take()
            self.take()
        token = self.peek()
        pos = token.pos
        if token.kind == "name" and token.text in BOOLEANS and self.is_op(self.peek(1), ",", ")"):
            self.take()
            return Arg(keyword, pos, start.pos, flag=BOOLEANS[token.text])
        if not self.is_op(token, "["):
            return Arg(keyword, pos, start.pos, node=self.expression())
        self.take()
        self.enter(pos)
        items: list[Node] = []
        if not self.is_op(self.peek(), "]"):
            while True:
                items.append(self.expression())
                separator = self.peek()
                if self.is_op(separator, ",") and self.is_op(self.peek(1), "]"):
                    raise ExpressionError("trailing ',' before ']'", separator.pos)
                if not self.is_op(separator, ","):
                    break
                self.take()
        self.close("]", token)
        self.nesting -= 1
        return Arg(keyword, pos, start.pos, items=tuple(items))


def parse(text: str) -> Node:
    """Parse an expression; ``ExpressionError`` at the first problem."""
    if len(text) > MAX_LENGTH:
        raise ExpressionError(
            f"the expression is {len(text)} characters long; at most {MAX_LENGTH} are allowed",
            MAX_LENGTH,
        )
    if not text.strip():
        raise ExpressionError("the expression is empty", 0)
    parser = _Parser(text, tokenize(text))
    tree = parser.parse()
    if tree.constant:
        raise ExpressionError("the expression does not use any input (x, y, ... or x0, ...)", 0)
    return tree


def check_input_count(tree: Node, count: int) -> None:
    """Every input name must name one of the layer's ``count`` inputs."""
    for node in walk(tree):
        if node.kind == "input" and node.value >= count:
            raise ExpressionError(
                f"'{node.op}' names input {node.value + 1}, but the layer has {count} input(s)",
                node.pos,
            )
