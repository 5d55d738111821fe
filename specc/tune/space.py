"""Spec paths as a search file writes them (``layers[1].units``), and values put there.

A path is dotted keys, each optionally followed by list indexes: ``layers[0].units``,
``compile.optimizer.learning_rate``, ``layers[2].layer.units``. It names a place in the
spec's loaded data: every step but the last must exist there; the last may be a key the
spec leaves out (``use_bias`` on a Dense that does not write it), which the schema then
judges once a value is put in.
"""

from __future__ import annotations

import copy
import itertools
import re
from collections.abc import Mapping
from typing import Any

from specc.diagnostics import SpecPath, did_you_mean, format_path

_STEP = re.compile(r"([A-Za-z0-9_\-]+)((?:\[\d{1,9}\])*)")
_INDEX = re.compile(r"\[(\d+)\]")


class PathError(ValueError):
    """A search path that cannot name a place in the spec; the message says why."""


def parse_path(text: str) -> SpecPath:
    """``layers[1].units`` as ``("layers", 1, "units")``; ``PathError`` when malformed."""
    path: list[str | int] = []
    for step in text.split("."):
        match = _STEP.fullmatch(step)
        if match is None:
            raise PathError(
                f"{text!r} is not a spec path: write keys joined by '.', with list "
                "indexes in brackets (layers[1].units, compile.optimizer.learning_rate)"
            )
        path.append(match.group(1))
        path += [int(index) for index in _INDEX.findall(match.group(2))]
    return tuple(path)


def resolve_path(data: Any, path: SpecPath) -> None:
    """Check that ``path`` leads into ``data``: each step but the last exists, and the last
    is a key of a mapping or an index within a list. ``PathError`` says where it stops."""
    node = data
    for depth, step in enumerate(path):
        last = depth == len(path) - 1
        here = format_path(path[:depth]) or "the spec"
        if isinstance(step, int):
            if not isinstance(node, list):
                raise PathError(f"{here} is not a list, so [{step}] names nothing")
            if step >= len(node):
                raise PathError(f"{here} has {len(node)} entries, so [{step}] names none")
            node = node[step]
            continue
        if not isinstance(node, dict):
            raise PathError(f"{here} is not a mapping, so '{step}' names nothing")
        if step not in node:
            if last:
                return  # a key the spec leaves out: the schema decides
            raise PathError(
                f"{here} has no key '{step}'{did_you_mean(step, [str(k) for k in node])}"
            )
        node = node[step]


def with_values(data: Any, values: Mapping[SpecPath, Any]) -> Any:
    """A deep copy of ``data`` with each path set to its value; mappings missing on the
    way are made (``train.seed`` in a spec without ``train``)."""
    result = copy.deepcopy(data)
    for path, value in values.items():
        node = result
        for step, following in itertools.pairwise(path):
            if isinstance(node, dict) and step not in node:
                node[step] = [] if isinstance(following, int) else {}
            node = node[step]
        node[path[-1]] = plain(value)
    return result


def plain(value: Any) -> Any:
    """``value`` as plain Python data: NumPy's scalars (which Ray's samplers may hand out)
    become ints, floats and bools, so the value can be validated and written as YAML."""
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    if isinstance(value, dict):
        return {str(key): plain(item) for key, item in value.items()}
    item = getattr(value, "item", None)
    if callable(item) and type(value).__module__ == "numpy":
        return item()
    return value
