"""Fuzz target: a JSON spec, through everything ``specc validate`` does (``check_spec``).
specc parses JSON with its own position-keeping parser, so this is that parser's fuzzing
as well as the schema's. Clean: valid, or ``SpecError`` located at a line and column."""

from __future__ import annotations

from specc.pipeline import check_spec
from tests.fuzz.targets import Target, spec_tokens

# JSON syntax, and what strict JSON refuses but other parsers take.
SYNTAX = ["{", "}", "[", "]", ":", ",", '"', '\\"', "\\\\", "\\u0000", "\\ud800", "\\udc00"]
SYNTAX += ["\\u2028", "\u2028", "\\n", "\\x41", "\ufeff"]
SYNTAX += ["1e999", "-1e-999", "-0", "1.", ".5", "01"]
SYNTAX += ["NaN", "Infinity", "-Infinity", "true", "false", "null", "/*", "//", "9" * 40]
SYNTAX += ['"specc": 1', '"layers": [', '"type": ', '"inputs": ', '"outputs": [']


def tokens() -> list[str]:
    """Spec names and JSON syntax."""
    return [*spec_tokens(), *SYNTAX]


TARGET = Target(
    name="spec_json",
    summary="a JSON spec through check_spec (specc's JSON parser, then as spec_yaml)",
    file_name="spec.json",
    check=check_spec,
    positioned=True,
    tokens=tokens,
)
