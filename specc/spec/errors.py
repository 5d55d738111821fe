"""Translate Pydantic validation errors into spec diagnostics, by error type code.

Pydantic's ``loc`` mixes data keys with schema artefacts (union branch names, discriminator
tags); ``data_path`` keeps only the parts that exist in the user's data, so each error
points at the very key or value in the file. Several errors at one place (the branches of
a union) become one message.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from specc.diagnostics import Diagnostic, SpecPath, format_path, suggest
from specc.layers.base import NAME_PATTERN, REFERENCE_PATTERN
from specc.spec.source import quote

# What each Pydantic type error expected, in words.
_EXPECTED = {
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "float_parsing": "a number",
    "string_type": "a string",
    "bool_type": "a boolean (true or false)",
    "bool_parsing": "a boolean (true or false)",
    "list_type": "a list",
    "tuple_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "none_required": "null",
    "literal_error": "",
    "wrong_form": "",
}


def describe(value: Any) -> str:
    """A short rendering of a user's value for messages: ``'abc' (a string)``."""
    kinds = {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}
    if value is None:
        return "null"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        text = quote(value, 40)
    elif isinstance(value, bool):
        text = str(value).lower()
    elif isinstance(value, int) and abs(value) >= 10**40:
        # str() of a huge int is slow, and refused past 4,300 digits.
        return f"an integer of {value.bit_length():,} bits"
    else:
        text = str(value)
        text = text if len(text) <= 40 else text[:37] + "..."
    return f"{text} ({kinds.get(type(value), type(value).__name__)})"


def data_path(loc: Sequence[int | str], data: Any) -> SpecPath:
    """The part of a Pydantic ``loc`` that names nodes in ``data``."""
    path: list[int | str] = []
    node = data
    for part in loc:
        if (isinstance(node, dict) and isinstance(part, str) and part in node) or (
            isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        ):
            node = node[part]
            path.append(part)
        elif isinstance(node, dict) and isinstance(part, str) and part.startswith("[") is False:
            # A missing key, or a union branch / discriminator tag; only the first is data.
            continue
    return tuple(path)


# Patterns of the schema, in words.
_PATTERN_WORDS = {
    REFERENCE_PATTERN: "name a layer or input, as 'name' or 'name[i]' (letters, digits, _ . -)",
    NAME_PATTERN: "start with a letter or _ and hold only letters, digits, _ . and -",
}


def _field_name(path: SpecPath) -> str:
    # The key itself reads best ("units must be ..."); the full path follows in "(at ...)".
    for part in reversed(path):
        if isinstance(part, str):
            return part
    return format_path(path) or "the spec"


def _message(error: ErrorDetails, path: SpecPath) -> tuple[str, SpecPath, bool]:
    """Message, path and whether it points at a key, for one Pydantic error."""
    kind, ctx, value = error["type"], error.get("ctx") or {}, error.get("input")
    field = _field_name(path)
    if error["loc"] and error["loc"][-1] == "[key]":
        # A mapping's key that is not a valid name (an input's): point at the key itself.
        field = "input name" if path[:1] == ("inputs",) and len(path) == 2 else "key"
        at_key = True
    else:
        at_key = False
    if kind == "unknown_key":
        return f"unknown key {quote(str(ctx['key']))}{ctx['hint']}", (*path, ctx["key"]), True
    if kind == "unknown_name":
        at = (*path, "type") if isinstance(value, dict) else path
        return f"unknown {ctx['kind']} {quote(str(ctx['name']))}{ctx['hint']}", at, False
    if kind == "string_pattern_mismatch":
        rule = _PATTERN_WORDS.get(ctx["pattern"], f"match {ctx['pattern']}")
        return f"{field} must {rule}; got {describe(value)}", path, at_key
    if kind == "string_too_long":
        length = len(value) if isinstance(value, str) else "more"
        message = f"{field} must be at most {ctx['max_length']} characters; got {length}"
        return message, path, at_key
    if kind == "type_not_string":
        return (
            f"type must be a string naming the {ctx['kind']}; got {describe(value.get('type'))}",
            (
                *path,
                "type",
            ),
            False,
        )
    if kind == "missing_type":
        return f"the {ctx['kind']} mapping needs a 'type' key", path, False
    if kind == "missing":
        key = error["loc"][-1]
        return f"missing required key '{key}'", path, False
    if kind == "literal_error":
        hint = ""
        if isinstance(value, str):
            choices = [
                c.strip().strip("'") for c in str(ctx["expected"]).replace(" or ", ", ").split(",")
            ]
            best = suggest(value, choices)
            hint = f"; did you mean '{best}'?" if best else ""
        return f"{field} must be {ctx['expected']}; got {describe(value)}{hint}", path, False
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        bound = {"greater_than": "gt", "greater_than_equal": "ge"}.get(kind) or {
            "less_than": "lt",
            "less_than_equal": "le",
        }[kind]
        words = {"gt": "greater than", "ge": "at least", "lt": "less than", "le": "at most"}[bound]
        return f"{field} must be {words} {ctx[bound]}; got {describe(value)}", path, False
    if kind in ("too_short", "too_long"):
        words = "at least" if kind == "too_short" else "at most"
        limit = ctx.get("min_length") if kind == "too_short" else ctx.get("max_length")
        return (
            f"{field} must have {words} {limit} item(s); got {ctx.get('actual_length')}",
            path,
            False,
        )
    if kind == "string_too_short":
        return f"{field} must not be empty", path, False
    if kind == "finite_number":
        return f"{field} must be a finite number; got {describe(value)}", path, False
    if kind == "value_error":
        return str(ctx.get("error", error["msg"])), path, False
    if _EXPECTED.get(kind):
        return f"{field} must be {_EXPECTED[kind]}; got {describe(value)}", path, False
    return f"{field}: {error['msg']}; got {describe(value)}", path, False


def translate(exc: ValidationError, data: Any, code: str = "SPC101-schema") -> list[Diagnostic]:
    """One diagnostic per place in the data; union alternatives merged into one message."""
    by_place: dict[tuple[SpecPath, bool], list[tuple[str, ErrorDetails]]] = {}
    for error in exc.errors(include_url=False):
        path = data_path(error["loc"], data)
        message, at, at_key = _message(error, path)
        by_place.setdefault((at, at_key), []).append((message, error))
    # A value that fails one branch of ``int | list[int]`` as "not an integer" and another
    # branch deeper down (an item of the list) is best explained by the deeper error. Every
    # proper prefix of every place, in one set: a place has a deeper error exactly when it
    # is one of them (linear in the errors, where comparing pairs took minutes for 30k).
    enclosing = {path[:end] for path, _ in by_place for end in range(len(path))}
    for place in list(by_place):
        if place[0] in enclosing and all(_EXPECTED.get(e["type"]) for _, e in by_place[place]):
            del by_place[place]
    diagnostics = []
    for (path, at_key), entries in by_place.items():
        message = entries[0][0] if len(entries) == 1 else _merge_alternatives(path, entries)
        code_ = _code_for(entries[0][1], code)
        offset = (entries[0][1].get("ctx") or {}).get("offset")
        offset = offset if isinstance(offset, int) and not isinstance(offset, bool) else None
        diagnostics.append(Diagnostic(code_, message, path, at_key=at_key, offset=offset))
    return diagnostics


UNKNOWN_KEY = "SPC103-unknown-key"


def _code_for(error: ErrorDetails, default: str) -> str:
    kind = error["type"]
    if kind == "type_not_string":
        return "SPC101-schema"
    if kind in ("unknown_key", "unknown_name"):
        return "SPC102-unknown-name" if kind == "unknown_name" else UNKNOWN_KEY
    if kind == "missing" or kind == "missing_type":
        return "SPC104-missing-key"
    return default


def _merge_alternatives(path: SpecPath, entries: list[tuple[str, ErrorDetails]]) -> str:
    # Errors from several union branches at one place: say what any branch would accept.
    specific = [m for m, e in entries if e["type"] not in _EXPECTED or not _EXPECTED[e["type"]]]
    if specific:
        return specific[0]
    expected = []
    for _, error in entries:
        words = _EXPECTED[error["type"]]
        if words not in expected:
            expected.append(words)
    value = entries[0][1].get("input")
    return f"{_field_name(path)} must be {' or '.join(expected)}; got {describe(value)}"
