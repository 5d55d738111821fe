"""Fuzz target: a YAML spec, through everything ``specc validate`` does (``check_spec``):
reading the file, parsing with positions, the schema, references, the compile section and
shapes. Clean: the spec is valid, or ``SpecError`` located at a line and column."""

from __future__ import annotations

from specc.pipeline import check_spec
from tests.fuzz.targets import Target, spec_tokens

# YAML syntax that reaches corners of the loader: anchors and aliases, merge keys, tags
# (allowed, forbidden and unknown), directives, documents, block scalars, odd numbers.
SYNTAX = ["&a ", "*a", "<<: ", "<<: *a", "!!int ", "!!float ", "!!str ", "!!binary ", "!!set "]
SYNTAX += ["!!omap ", "!!python/object/apply:os.system ", "!custom ", "%YAML 1.1\n", "%TAG ! !x\n"]
SYNTAX += ["---\n", "\n...\n", "? ", "- ", ": ", "{", "}", "[", "]", '"', "'", "|\n", ">-\n", "#"]
SYNTAX += ["\\u2028", "\u2028", "\ufeff", "\x1b]0;t\x07", "\x00"]
SYNTAX += ["0x", "0o", "1e999", "-.inf", ".nan"]
SYNTAX += ["~", "null", "true", "yes", "1_000", "9" * 40, "specc: 1\n", "layers:\n", "  - "]


def tokens() -> list[str]:
    """Spec names and YAML syntax."""
    return [*spec_tokens(), *SYNTAX]


TARGET = Target(
    name="spec_yaml",
    summary="a YAML spec through check_spec (load, schema, references, compile, shapes)",
    file_name="spec.yaml",
    check=check_spec,
    positioned=True,
    tokens=tokens,
)
