"""The Lambda expression language's tokens and tree: a tokenizer written here, no Python.

An expression is a short formula (docs/lambda.md): numbers, input names, operators,
calls, and lists as call arguments. Any character outside that is an ``ExpressionError``
at its offset, with a word on why it is not allowed. ``specc.lambda_syntax`` parses the
tokens into ``Node`` trees.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any, NoReturn

MAX_LENGTH = 1000
# Parentheses, calls, lists, unary signs and exponents inside one another; bounds the
# parser's recursion (about seven frames a level).
MAX_NESTING = 32
# Operators and calls above one another in the tree (a sum of many terms is a deep left
# spine); bounds the recursion of every later pass over the tree.
MAX_DEPTH = 100

COMPARISONS = ("<", "<=", ">", ">=", "==", "!=")
_OPERATORS = ("**", "<=", ">=", "==", "!=", "+", "-", "*", "/", "<", ">", "(", ")", "[", "]")
_OPERATORS += (",", "=")
_NUMBER = re.compile(r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

# Characters users may reach for, and why each is not in the grammar.
_CHARACTER_HINTS = {
    "'": "strings are not part of the expression grammar",
    '"': "strings are not part of the expression grammar",
    ".": "attribute access is not part of the expression grammar",
    ";": "an expression is a single formula; ';' is not allowed",
    "\\": "backslashes are not allowed",
    "@": "matrix multiplication ('@') is not supported",
    "%": "the modulo operator is not supported",
    ":": "':' is not allowed (no slices, lambdas or mappings)",
    "{": "braces are not allowed",
    "}": "braces are not allowed",
    "#": "comments are not allowed",
    "!": "'!' is only allowed in '!='",
    "&": "bitwise and logical operators are not supported; use comparisons and where()",
    "|": "bitwise and logical operators are not supported; use comparisons and where()",
    "~": "bitwise and logical operators are not supported; use comparisons and where()",
    "^": "'^' is not a power; use '**' with a constant exponent",
    "`": "backticks are not allowed",
    "$": "'$' is not allowed",
    "?": "'?' is not allowed",
}


class ExpressionError(ValueError):
    """A problem with an expression, at character ``offset`` (0-based) of it."""

    def __init__(self, problem: str, offset: int) -> None:
        super().__init__(problem)
        self.problem = problem
        self.offset = offset

    def render(self, expression: str) -> str:
        """The problem, its 1-based column, and the expression with a caret under it."""
        start = max(0, min(self.offset - 30, len(expression) - 60))
        end = min(len(expression), start + 60)
        excerpt = "".join(c if c.isprintable() else " " for c in expression[start:end])
        caret = self.offset - start
        if start > 0:
            excerpt, caret = "..." + excerpt, caret + 3
        if end < len(expression):
            excerpt += "..."
        column = self.offset + 1
        return (
            f"{self.problem} (at column {column} of the expression)\n  {excerpt}\n  {' ' * caret}^"
        )


@dataclass(frozen=True)
class Token:
    """One token: ``number``, ``name``, ``op`` or ``end``, and where it starts."""

    kind: str
    text: str
    pos: int


@dataclass(frozen=True)
class Node:
    """A node of the parsed expression.

    ``kind`` is ``number`` (``value``), ``input`` (``value`` is the index, ``op`` the name
    written), ``unary``/``binary`` (``op`` the operator), or ``call`` (``op`` the function,
    ``args`` its tensor arguments, ``options`` its static ones as (name, value, offset)).
    ``constant`` says whether the node depends on no input.
    """

    kind: str
    op: str = ""
    args: tuple[Node, ...] = ()
    value: Any = 0
    options: tuple[tuple[str, Any, int], ...] = ()
    pos: int = 0
    depth: int = 1
    constant: bool = True

    def option(self, name: str) -> Any:
        """A static argument's value."""
        return next(v for n, v, _ in self.options if n == name)

    def option_pos(self, name: str) -> int:
        """Where a static argument was written (the call itself for a default)."""
        return next(p for n, _, p in self.options if n == name)


def walk(tree: Node) -> list[Node]:
    """Every node of ``tree``, parents first (iteratively: trees may be deep)."""
    nodes, stack = [], [tree]
    while stack:
        node = stack.pop()
        nodes.append(node)
        stack.extend(reversed(node.args))
    return nodes


def _bad_character(text: str, i: int) -> NoReturn:
    # Name what the user probably meant, so the message says why and not only where.
    char = text[i]
    if ord(char) > 127:
        name = unicodedata.name(char, "unnamed character")
        problem = f"only ASCII characters are allowed; got {char!r} (U+{ord(char):04X} {name})"
    elif char == "." and i > 0 and (text[i - 1].isalnum() or text[i - 1] in "_)]"):
        problem = "attribute access ('.') is not part of the expression grammar"
    elif char in _CHARACTER_HINTS:
        problem = f"unexpected {char!r}: {_CHARACTER_HINTS[char]}"
    elif not char.isprintable():
        problem = f"control character U+{ord(char):04X} is not allowed"
    else:
        problem = f"unexpected character {char!r}"
    raise ExpressionError(problem, i)


def tokenize(text: str) -> list[Token]:
    """Split ``text`` into tokens; any character outside the grammar is an error."""
    tokens: list[Token] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char in " \t\r\n":
            i += 1
            continue
        if char == "/" and text.startswith("//", i):
            raise ExpressionError("floor division ('//') is not supported", i)
        if char == "." and i > 0 and (text[i - 1].isalnum() or text[i - 1] in "_)]"):
            _bad_character(text, i)  # x.shape, f(x).y: attribute access, not a number
        number = _NUMBER.match(text, i) if char in "0123456789." else None
        if number is not None:
            end = number.end()
            # "1e", "0x10", "1_000", "1.2.3", "2x": one token, not a number and a name.
            if (
                end < len(text)
                and text[end].isascii()
                and (text[end].isalnum() or text[end] in "_.")
            ):
                raise ExpressionError(f"malformed number {text[i : end + 1]!r}", end)
            tokens.append(Token("number", number.group(), i))
            i = end
            continue
        name = _NAME.match(text, i)
        if name is not None:
            tokens.append(Token("name", name.group(), i))
            i = name.end()
            continue
        op = next((o for o in _OPERATORS if text.startswith(o, i)), None)
        if op is None:
            _bad_character(text, i)
        tokens.append(Token("op", op, i))
        i += len(op)
    tokens.append(Token("end", "", len(text)))
    return tokens
