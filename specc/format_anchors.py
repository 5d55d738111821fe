"""The anchors and aliases of a YAML spec, by spec path, so ``specc format`` keeps them.

A spec may name a part once (``kernel_initializer: &init {type: HeUniform, seed: 1}``) and
repeat it (``kernel_initializer: *init``). The formatter writes the data back in a new key
order, so the anchor goes on whichever of the repeats comes first in the formatted text,
and the others become aliases of it: the same data, the same names. Anchors inside an
anchored or aliased part are refused, with their position: which of them would come first
is no longer a question of one path.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from specc.diagnostics import Position, SpecPath
from specc.spec.source import spec_error

# libyaml's scanner where PyYAML has it: ten times faster, with the same marks (counted in
# characters, as PyYAML's own are).
SCANNER = yaml.CSafeLoader if yaml.__with_libyaml__ else yaml.SafeLoader


NESTED = "SPC108-alias"


@dataclass
class Anchors:
    """Each anchored part's name and every path it appears at (its anchor's first), and
    where each alias was written."""

    groups: list[tuple[str, list[SpecPath]]] = field(default_factory=list)
    alias_marks: dict[SpecPath, Position] = field(default_factory=dict)

    def inside_alias(self, path: SpecPath) -> bool:
        """Whether ``path`` lies strictly inside an alias (is part of its expansion)."""
        return any(path[: len(alias)] == alias and path != alias for alias in self.alias_marks)


def find_anchors(text: str, file: str) -> Anchors:
    """The anchors and aliases of YAML ``text`` (which has parsed already)."""
    anchors = Anchors()
    latest: dict[str, int] = {}  # anchor name -> its group (a name may be defined again)
    marks: dict[SpecPath, Position] = {}
    stack: list[_Open] = []
    for event in yaml.parse(text.removeprefix("\ufeff"), Loader=SCANNER):
        if isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            stack.pop()
            continue
        if not isinstance(event, (yaml.NodeEvent, yaml.CollectionStartEvent)):
            continue  # stream and document events
        path = _path_of(stack, event)
        at = Position(event.start_mark.line + 1, event.start_mark.column + 1)
        if path is None:  # a mapping key
            if isinstance(event, yaml.AliasEvent) or event.anchor is not None:
                message = "specc format does not keep anchors and aliases on mapping keys"
                raise spec_error(file, at, message, NESTED)
            continue
        if isinstance(event, yaml.AliasEvent):
            anchors.groups[latest[event.anchor]][1].append(path)
            anchors.alias_marks[path] = at
        elif event.anchor is not None:
            latest[event.anchor] = len(anchors.groups)
            anchors.groups.append((event.anchor, [path]))
            marks[path] = at
        if isinstance(event, yaml.MappingStartEvent):
            stack.append(_Open(path, is_mapping=True))
        elif isinstance(event, yaml.SequenceStartEvent):
            stack.append(_Open(path, is_mapping=False))
    _refuse_nested(anchors, marks, file)
    return anchors


@dataclass
class _Open:
    """A collection being read: its path, and where its next entry goes."""

    path: SpecPath
    is_mapping: bool
    index: int = 0
    key: Any = None
    expecting_key: bool = True


def _path_of(stack: list[_Open], event: yaml.Event) -> SpecPath | None:
    """The path of the node ``event`` starts; None for a mapping key (kept as the next
    value's last part)."""
    if not stack:
        return ()
    top = stack[-1]
    if not top.is_mapping:
        top.index += 1
        return (*top.path, top.index - 1)
    if top.expecting_key:
        # A spec's keys are plain scalars (the loader refuses any other before this runs).
        top.key = getattr(event, "value", None)
        top.expecting_key = False
        return None
    top.expecting_key = True
    return (*top.path, top.key)


def _refuse_nested(anchors: Anchors, marks: dict[SpecPath, Position], file: str) -> None:
    spans = [path for _, paths in anchors.groups for path in paths]
    for path, at in marks.items():
        if not path or any(path[: len(outer)] == outer and path != outer for outer in spans):
            message = (
                "specc format keeps anchors only on parts of a spec that hold no other "
                "anchor, and not on the whole spec; write this part out, or its anchor"
            )
            raise spec_error(file, at, message, NESTED)
