"""Resource limits: what specc refuses before allocating, and how a user raises each one.

A small hostile file must not make specc allocate gigabytes or run for minutes: every size
that comes from a file (a spec's length and layer count, a model's parameters and
activations, an array's header in a weights or data file, a CSV field) is checked against a
limit before anything of that size is built. The defaults are far above any model this
tool is for; a user with a bigger one raises a limit with ``--limit NAME=VALUE``.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass

_UNITS = {
    "": 1,
    "k": 10**3,
    "m": 10**6,
    "g": 10**9,
    "t": 10**12,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "tb": 10**12,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
    "tib": 2**40,
}
_QUANTITY = re.compile(r"^\s*([0-9]+(?:\.[0-9]*)?(?:[eE][+]?[0-9]+)?)\s*([A-Za-z]*)\s*$")


@dataclass(frozen=True)
class Limits:
    """Every resource limit, with its default. Field names are the ``--limit`` names."""

    # Bytes of a spec file.
    file_size: int = 64 * 2**20
    # Layers in a spec (nested ones counted).
    layers: int = 1_000_000
    # Parameters of a model (trainable and not): 2 GB of float32, the most one ONNX file holds.
    params: int = 500_000_000
    # Elements of any one value in the graph, per sample (the batch axis left out): 1 GiB.
    activation_elements: int = 2**28
    # Bytes of any one array in a weights or data file, as its header claims.
    array_bytes: int = 16 * 2**30
    # Bytes of all the arrays read from one weights or data file together.
    data_bytes: int = 32 * 2**30
    # Bytes of one field of a CSV data file.
    csv_field: int = 1 * 2**20
    # Columns of a CSV data file (a 224x224 RGB image flattened is 150,528).
    csv_columns: int = 1_000_000
    # Bytes of one line of a CSV data file: a line is read whole before it is split.
    csv_line: int = 64 * 2**20

    @classmethod
    def names(cls) -> list[str]:
        """The ``--limit`` names."""
        return [f.name for f in dataclasses.fields(cls)]

    def raised(self, assignments: list[str]) -> Limits:
        """These limits with ``NAME=VALUE`` assignments applied; ``ValueError`` with a
        message for a user on an unknown name or a value that is not a positive size."""
        changes: dict[str, int] = {}
        for assignment in assignments:
            name, sep, value = assignment.partition("=")
            name = name.strip().replace("-", "_")
            if not sep:
                raise ValueError(f"--limit takes NAME=VALUE; got {assignment!r}")
            if name not in self.names():
                known = ", ".join(self.names())
                raise ValueError(f"unknown limit {name!r}; expected one of {known}")
            changes[name] = parse_quantity(value, name)
        return dataclasses.replace(self, **changes)

    def hint(self, name: str, needed: int | None = None) -> str:
        """How to raise a limit: ``raise it with --limit params=5000000000``."""
        current = getattr(self, name)
        wanted = max(needed or 0, current * 2)
        return f"the limit is {current:,}; raise it with --limit {name}={wanted}"


def parse_quantity(text: str, name: str = "value") -> int:
    """A positive whole quantity: ``1000``, ``1e9``, ``64MiB``, ``2GB``."""
    match = _QUANTITY.match(text)
    unit = match.group(2).lower() if match else ""
    if match is None or unit not in _UNITS:
        raise ValueError(
            f"{name} must be a positive number, optionally with a unit "
            f"(k, M, G, KiB, MiB, GiB); got {text!r}"
        )
    number = float(match.group(1)) * _UNITS[unit]
    if not math.isfinite(number) or number < 1 or number != int(number):
        raise ValueError(f"{name} must be a positive whole number; got {text!r}")
    return int(number)


DEFAULT_LIMITS = Limits()
