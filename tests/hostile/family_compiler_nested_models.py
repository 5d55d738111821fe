"""Sub-models that would never finish inlining: a few lines that apply a model twice at
each of forty levels (2**40 layers), models that apply themselves, and a nested model
named like a sub-model; each refused, with where and why, before anything is built."""

from __future__ import annotations

from tests.hostile.case import Case
from tests.hostile.compiler_inputs import build_case

FAMILY = "nested models"


def _doubling(levels: int) -> str:
    lines = ["specc: 1", "inputs:", "  x: {shape: [2]}", "models:"]
    lines += ["  m0:", "    layers:", "      - {type: Dense, units: 2}"]
    for k in range(1, levels + 1):
        lines += [
            f"  m{k}:",
            "    layers:",
            f"      - {{name: one, model: m{k - 1}}}",
            f"      - {{name: two, model: m{k - 1}}}",
        ]
    lines += ["layers:", f"  - {{name: top, model: m{levels}, inputs: x}}"]
    return "\n".join(lines) + "\n"


_SELF = """\
specc: 1
inputs:
  x: {shape: [2]}
models:
  loop:
    layers:
      - {name: again, model: loop}
layers:
  - {name: top, model: loop, inputs: x}
"""

_SAME_NAME = """\
specc: 1
inputs:
  x: {shape: [2]}
models:
  block:
    layers:
      - {type: Dense, units: 2}
layers:
  - {name: first, model: block, inputs: x}
  - {name: block, type: Sequential, layers: [{type: Dense, units: 2}]}
"""


def _build(name: str, spec: str, *patterns: str) -> Case:
    return build_case(FAMILY, name, spec, *patterns)


CASES = [
    _build(
        "build: a model applied twice at each of 40 levels",
        _doubling(40),
        r"applying the sub-models makes more than 1,000,000 layers",
        r"SPC110-limit",
    ),
    _build(
        "build: a model that applies itself",
        _SELF,
        r"spec\.yaml:7:\d+: error: a model cannot use itself: loop -> loop",
        r"SPC231-model-cycle",
    ),
    _build(
        "build: a nested model named like a sub-model",
        _SAME_NAME,
        r"nested model 'block' has the name of another model",
        r"SPC203-duplicate-name",
    ),
]
