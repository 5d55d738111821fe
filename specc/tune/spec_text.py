"""A trial's spec as text: the original file with the sampled values written in.

Each value is replaced where the file holds it, so the comments, key order and layout
of the original survive into ``trials/<id>/spec.yaml`` and ``best.yaml``. A key the file
leaves out is added to its mapping. The result is read back and compared with the data
it must hold; where the edit cannot be made or reads back differently (an unusual
layout), the data is written out whole instead, as YAML, without the comments.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import yaml

from specc.diagnostics import SpecError, SpecPath
from specc.spec.source import PositionMap
from specc.spec.yaml_reader import COMPOSERS, read_yaml
from specc.tune.space import plain, with_values


class _CannotEdit(Exception):
    """The file's layout leaves no safe place for an edit."""


def spec_text(original: str, data: Any, values: Mapping[SpecPath, Any], is_json: bool) -> str:
    """The spec ``original`` (whose loaded data is ``data``) with ``values`` written in,
    as YAML text (JSON is YAML too: a JSON spec is edited the same way)."""
    wanted = with_values(data, values)
    try:
        edited = _edited(original, values)
        if _reads_as(edited, wanted):
            return edited
    except _CannotEdit:
        pass
    dumped = yaml.safe_dump(wanted, sort_keys=False, allow_unicode=True, width=100)
    if _reads_as(dumped, wanted):
        return dumped
    # YAML 1.1's dumper and the 1.2 reader disagree on some scalar: JSON reads the same.
    return json.dumps(wanted, indent=2, allow_nan=False) + "\n"


def flow(value: Any) -> str:
    """``value`` as one line of YAML, fit for a flow or block context."""
    text = yaml.safe_dump(plain(value), default_flow_style=True, width=10**9, allow_unicode=True)
    return text.removesuffix("\n...\n").removesuffix("\n")


def _reads_as(text: str, wanted: Any) -> bool:
    try:
        return read_yaml(text, "<trial spec>", PositionMap()) == wanted
    except SpecError:
        return False


def _edited(text: str, values: Mapping[SpecPath, Any]) -> str:
    """``text`` with each value replaced in place or added to its mapping; the edits are
    made from the end of the file backwards, so earlier offsets stay right."""
    root = yaml.compose(text, Loader=COMPOSERS[-1])
    edits: list[tuple[int, int, str]] = []
    for path, value in values.items():
        edits.append(_edit(text, root, path, value))
    edits.sort(reverse=True)
    for start, end, replacement in edits:
        if any(s < end and start < e for s, e, _ in edits if (s, e) != (start, end)):
            raise _CannotEdit  # two edits in one place (a value inside another)
        text = text[:start] + replacement + text[end:]
    return text


def _edit(text: str, root: yaml.Node, path: SpecPath, value: Any) -> tuple[int, int, str]:
    node = root
    for depth, step in enumerate(path):
        if isinstance(step, int):
            if not isinstance(node, yaml.SequenceNode) or step >= len(node.value):
                raise _CannotEdit
            node = node.value[step]
            continue
        if not isinstance(node, yaml.MappingNode):
            raise _CannotEdit
        found = [v for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == step]
        if not found:
            return _insertion(text, node, step, _nested(path[depth + 1 :], value))
        node = found[0]
    return node.start_mark.index, node.end_mark.index, flow(value)


def _nested(rest: SpecPath, value: Any) -> Any:
    """The value to add for a key whose mappings below are missing too."""
    for step in reversed(rest):
        if isinstance(step, int):
            raise _CannotEdit
        value = {step: value}
    return value


def _insertion(text: str, mapping: yaml.MappingNode, key: str, value: Any) -> tuple[int, int, str]:
    """Where and what to insert to add ``key: value`` to ``mapping``."""
    entry = f"{flow(key)}: {flow(value)}"
    if mapping.flow_style:
        # ``{type: Dense, units: 8}``: before the closing brace.
        close = mapping.end_mark.index - 1
        if text[close] != "}":
            raise _CannotEdit
        separator = ", " if mapping.value else ""
        return close, close, f"{separator}{entry}"
    if not mapping.value:
        raise _CannotEdit
    # A block mapping: a line of its own after the line its last value ends on, indented
    # as its keys are (after any comment on that line, which the newline ends).
    indent = mapping.value[0][0].start_mark.column
    last = mapping.value[-1][1]
    if isinstance(last, yaml.CollectionNode) and not last.flow_style:
        # A block collection ends where the next line at a lesser indent starts (or
        # where the file does): the entry goes there.
        at, line = mapping.end_mark.index, " " * indent + entry + "\n"
        if at >= len(text):
            return len(text), len(text), ("" if text.endswith("\n") else "\n") + line
        if mapping.end_mark.column != 0:
            raise _CannotEdit
        return at, at, line
    newline = text.find("\n", last.end_mark.index)
    if newline < 0:
        return len(text), len(text), "\n" + " " * indent + entry + "\n"
    return newline + 1, newline + 1, " " * indent + entry + "\n"
