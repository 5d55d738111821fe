"""Error volume: a spec with thousands of mistakes gets all of them reported, in time
proportional to their number (comparing every error with every other took minutes)."""

from __future__ import annotations

from tests.hostile.case import Case

FAMILY = "error volume"
COUNT = 5_000
FIRST = "specc: 1\nlayers:\n  - {type: Dense, units: 2, input_shape: [2]}\n"


def _misspelled_keys() -> str:
    # Two errors a layer (the unknown key, the missing one): the pairs took 30 s.
    return FIRST + "  - {type: Dense, unit: 2}\n" * 8_000


def _broken_references() -> str:
    lines = [
        f"  - {{type: Dense, units: 2, name: d{i}, inputs: missing_{i}}}" for i in range(COUNT)
    ]
    return FIRST + "\n".join(lines) + "\n"


def _unknown_types() -> str:
    return FIRST + "  - {type: Dnese, units: 2}\n" * COUNT


CASES = [
    Case(
        FAMILY,
        "8k misspelled keys",
        ["validate", "spec.yaml"],
        {"spec.yaml": _misspelled_keys()},
        output_has=(
            r"spec\.yaml:4:19: error: unknown key 'unit'; did you mean 'units'\? "
            r"\(at layers\[1\]\.unit\) \[SPC103-unknown-key\]",
            r"spec\.yaml:8003:19: error: unknown key 'unit'",
            r"16000 error\(s\) in 1 file\(s\)",
        ),
        seconds=12,
    ),
    Case(
        FAMILY,
        "5k broken references",
        ["validate", "spec.yaml"],
        {"spec.yaml": _broken_references()},
        output_has=(
            r"spec\.yaml:4:47: error: layer 'd0' takes input 'missing_0', which is not defined",
            r"spec\.yaml:5003:\d+: error: layer 'd4999' takes input 'missing_4999'",
            r"5000 error\(s\) in 1 file\(s\)",
        ),
        seconds=10,
    ),
    Case(
        FAMILY,
        "5k unknown layer types",
        ["validate", "spec.yaml"],
        {"spec.yaml": _unknown_types()},
        output_has=(
            r"spec\.yaml:5003:12: error: unknown layer type 'Dnese'; did you mean 'Dense'\?",
            r"5000 error\(s\) in 1 file\(s\)",
        ),
        seconds=10,
    ),
]
