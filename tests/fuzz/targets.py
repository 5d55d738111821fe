"""The fuzz targets: how one input becomes a file, and which specc entry point reads it.

Each target module (named in ``NAMES``) defines ``TARGET``. A worker writes
``prepare(data)`` to a file named ``file_name`` in a scratch folder and calls
``check(path)``; ``oracle`` judges what happens. ``tokens`` feed libFuzzer's
dictionary, so that mutations insert whole keywords (``Conv2D``, ``<<:``, ``logsumexp(``)
rather than only bytes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path

NAMES = ("spec_yaml", "spec_json", "lambda_expr", "weights_npz", "data_npz", "data_csv")
CORPUS = Path(__file__).parent / "corpus"
CRASHES = Path(__file__).parent / "crashes"


def _same(data: bytes) -> bytes:
    return data


def _no_tokens() -> list[str]:
    return []


@dataclass(frozen=True)
class Target:
    """One fuzz target (see the module docstring)."""

    name: str
    summary: str
    file_name: str
    check: Callable[[Path], object]
    # Spec diagnostics must carry a line and column; data-file ones name the file only.
    positioned: bool
    prepare: Callable[[bytes], bytes] = _same
    tokens: Callable[[], list[str]] = _no_tokens
    # Modules outside specc whose functions the fuzzer should also see covered (the
    # readers that a target's input meets first), by name; missing ones are skipped.
    instrument: tuple[str, ...] = ()


def load(name: str) -> Target:
    """The target called ``name`` (this imports specc: see ``worker`` on instrumentation)."""
    if name not in NAMES:
        raise ValueError(f"unknown fuzz target {name!r}; expected one of {', '.join(NAMES)}")
    return import_module(f"tests.fuzz.{name}").TARGET


def spec_tokens() -> list[str]:
    """Every name a spec can hold: layer types and their arguments, registry entries,
    top-level and compile keys."""
    from specc.activations import ACTIVATIONS
    from specc.constraints import CONSTRAINTS
    from specc.initializers import INITIALIZERS
    from specc.layers.base import LAYERS
    from specc.losses import LOSSES
    from specc.metrics import METRICS
    from specc.optimizers import OPTIMIZERS
    from specc.regularizers import REGULARIZERS
    from specc.schedules import SCHEDULES
    from specc.spec.compile import CompileConfig, TrainConfig
    from specc.spec.model import InputSpec, ModelSpec

    registries = [ACTIVATIONS, CONSTRAINTS, INITIALIZERS, LAYERS, LOSSES, METRICS]
    registries += [OPTIMIZERS, REGULARIZERS, SCHEDULES]
    found: set[str] = set()
    for registry in registries:
        found.update(registry.names())
        for model in registry:
            found.update(model.model_fields)
    for model in (CompileConfig, TrainConfig, InputSpec, ModelSpec):
        found.update(model.model_fields)
    return sorted(found)


def write_dictionary(tokens: list[str], path: Path) -> Path:
    """A libFuzzer dictionary: one quoted token a line, bytes outside printable ASCII as
    ``\\xNN``."""
    lines = []
    for token in dict.fromkeys(tokens):
        quoted = "".join(
            chr(b) if 0x20 <= b < 0x7F and b not in b'"\\' else f"\\x{b:02x}"
            for b in token.encode("utf-8")
        )
        if quoted:
            lines.append(f'"{quoted}"')
    path.write_text("\n".join(lines) + "\n", encoding="ascii")
    return path
