"""Layer entries that mix the shapes of two kinds of entry (a layer and a share)."""

from __future__ import annotations

from tests.hostile.case import Case

FAMILY = "spec entries"

_HEAD = "specc: 1\nname: m\ninputs: {x: {shape: [3]}}\nlayers:\n"
_DENSE = "  - {name: d, type: Dense, units: 4, inputs: x}\n"

CASES = [
    Case(
        FAMILY,
        "an entry with both type and shares",
        ["validate", "spec.yaml"],
        {
            "spec.yaml": _HEAD
            + _DENSE
            + "  - {name: e, type: Dense, units: 4, inputs: d, shares: d}\n"
        },
        output_has=(r"spec\.yaml:6:\d+: error: unknown key 'type'",),
    ),
    Case(
        FAMILY,
        "a share with a layer's arguments",
        ["validate", "spec.yaml"],
        {"spec.yaml": _HEAD + _DENSE + "  - {name: e, shares: d, inputs: d, units: 4, unit: 3}\n"},
        output_has=(r"spec\.yaml:6:\d+: error: unknown key 'units?'",),
    ),
]
