"""What a package of registry entries holds, read from its modules' source without
importing them: which module registers which names (``module_index``), and the order a
fresh import of all of them runs in (``import_order``). ``specc.registry`` uses both to
import an entry's module only when the entry is first needed.
"""

from __future__ import annotations

import pkgutil
import re
from collections.abc import Iterable
from pathlib import Path

# A registered entry in a module's source: the decorator, its class, and the class's first
# ``type: Literal[...]`` (its names, canonical first). Formatting may wrap the Literal.
_REGISTERED = re.compile(
    r"^@\w+\.register\s*\nclass \w+\b.*?^\s+type: Literal\[(?P<names>.*?)\]", re.M | re.S
)


def module_index(path: Iterable[str]) -> dict[str, str]:
    """Which module of a package (found in ``path``) registers which names, read from the
    modules' source without importing them; a test holds it equal to the registry."""
    index: dict[str, str] = {}
    for module, text in _module_sources(path).items():
        for found in _REGISTERED.finditer(text):
            for name in re.findall(r"[\"']([^\"']+)[\"']", found["names"]):
                index.setdefault(name, module)
    return index


def _module_sources(path: Iterable[str]) -> dict[str, str]:
    """The source of each plain module of a package (found in ``path``), by name, sorted."""
    sources: dict[str, str] = {}
    for module in sorted(pkgutil.iter_modules(path), key=lambda m: m.name):
        if module.ispkg:
            continue
        source = Path(getattr(module.module_finder, "path", ""), f"{module.name}.py")
        try:
            sources[module.name] = source.read_text(encoding="utf-8")
        except OSError:
            continue  # not a plain source file: found by import_modules only
    return sources


def import_order(package: str, path: Iterable[str]) -> list[str]:
    """The order ``import_modules`` runs a package's modules in: by name, each after the
    sibling modules it imports at its top level (read from the source)."""
    sources = _module_sources(path)
    sibling = re.compile(
        rf"^(?:from {re.escape(package)}\.(\w+) import|import {re.escape(package)}\.(\w+)"
        rf"|from {re.escape(package)} import (\w+))",
        re.M,
    )
    order: list[str] = []
    seen: set[str] = set()

    def visit(name: str) -> None:
        if name in seen or name not in sources:
            return
        seen.add(name)
        for found in sibling.finditer(sources[name]):
            visit(next(group for group in found.groups() if group))
        order.append(name)

    for name in sources:
        visit(name)
    return order
