"""A spec's data written as canonical YAML, with its comments in place.

The layout, as ruff and prettier lay out code: two-space indents, and a mapping or a list
on one line in flow style (``- {type: Dense, units: 64, activation: relu}``,
``shape: [28, 28, 1]``) when it holds no comment, no anchor or alias and no multi-line
string, and that line fits in the line length (a comment at its end does not count);
otherwise in block style, each entry on its own line, where the same rule applies again.
The spec itself and each model under ``models`` are always block, and so are their
sections that hold mappings or lists (``inputs``, ``layers``, ``compile``, ``train``):
a spec reads as a list of sections, each entry of a section on its own line. Scalars are
spelled by ``format_scalars``.
"""

from __future__ import annotations

from typing import Any

from specc.diagnostics import SpecPath
from specc.format_anchors import Anchors
from specc.format_comments import BLANK, Comments
from specc.format_scalars import printable, scalar, scalar_key

INDENT = 2
# Wide enough for the layer entries people write on one line (a Dense layer with its
# initializer, or a named layer with its inputs: 80 to 115 columns in models/), narrow
# enough to read without wrapping in a split diff or a terminal beside an editor.
LINE_LENGTH = 120


def render_yaml(
    data: Any, comments: Comments, anchors: Anchors | None = None, line_length: int = LINE_LENGTH
) -> str:
    """The canonical text of ``data`` with ``comments`` placed and the parts ``anchors``
    names written once (anchored where they first come, aliased after), flow collections
    at most ``line_length`` columns wide; ends with one newline."""
    writer = _Writer(comments, line_length)
    if anchors is not None:
        writer.place_anchors(data, anchors)
    writer.settle(data)
    writer.lines.extend(comments.header)
    if isinstance(data, dict) and data:
        writer.mapping(data, (), 0)
    elif isinstance(data, list) and data:
        writer.sequence(data, (), 0)
    else:
        writer.lines.append(scalar(data))
    if comments.footer:
        writer.lines.extend(comments.footer)
    return "\n".join(writer.lines) + "\n"


class _Writer:
    """The formatted lines, written in one pass over the data, in document order."""

    def __init__(self, comments: Comments, line_length: int) -> None:
        self.comments = comments
        self.line_length = line_length
        self.lines: list[str] = []
        self.anchor_at: dict[SpecPath, str] = {}
        self.alias_at: dict[SpecPath, str] = {}
        self.no_flow: set[SpecPath] = set()

    def settle(self, data: Any) -> None:
        """Decide, before writing, which collections are never written in flow style: the
        spec's frame, and those that hold a comment (a flow line has room for one only, at
        its end) or an anchor or alias (each stands out on a line of its own)."""
        self._lift_item_comments(data)
        commented = (
            path
            for table in (self.comments.before, self.comments.end_of_line)
            for path, lines in table.items()
            if any(line != BLANK for line in lines)
        )
        self.no_flow = _always_block(data, ()) | _holders(commented)
        self.no_flow |= _holders([*self.anchor_at, *self.alias_at])

    def _lift_item_comments(self, data: Any) -> None:
        # A block list item starts on its dash's line with its first entry ("- name: x"),
        # so the comments of that entry are the item's when the text is read again: they
        # are the item's here too, or the item would be laid out otherwise the next time.
        for path in reversed(_paths(data, ())):  # the deepest first: "- - x" lifts twice
            item = _at(data, path)
            if not path or not isinstance(_at(data, path[:-1]), list) or self.repeats(path):
                continue
            if not isinstance(item, (dict, list)) or not item:
                continue
            first = (*path, next(iter(item)) if isinstance(item, dict) else 0)
            for table in (self.comments.before, self.comments.end_of_line):
                if first in table:
                    table.setdefault(path, []).extend(table.pop(first))

    def place_anchors(self, data: Any, anchors: Anchors) -> None:
        """Anchor each repeated part where the formatted text first has it (keys may have
        moved), and alias it everywhere else."""
        order = {path: index for index, path in enumerate(_paths(data, ()))}
        taken: set[str] = set()
        for name, paths in anchors.groups:
            unique, number = name, 2
            while unique in taken:  # a name defined twice in the file: one each here
                unique, number = f"{name}_{number}", number + 1
            taken.add(unique)
            first, *others = sorted(paths, key=order.__getitem__)
            self.anchor_at[first] = unique
            self.alias_at.update(dict.fromkeys(others, unique))

    def repeats(self, path: SpecPath) -> bool:
        """Whether ``path`` carries an anchor or is an alias."""
        return path in self.anchor_at or path in self.alias_at

    def before(self, path: SpecPath, indent: int) -> None:
        for line in self.comments.before.get(path, []):
            self.lines.append(line if line == BLANK else " " * indent + line)

    def line(self, text: str, path: SpecPath) -> None:
        tail = self.comments.end_of_line.get(path)
        self.lines.append(f"{text}  {' '.join(tail)}" if tail else text)

    def inline(self, value: Any, path: SpecPath, prefix_width: int) -> str | None:
        """``value`` on the line its head starts (a scalar, or a collection in flow style
        that fits after ``prefix_width`` columns), or None when it takes a block."""
        if isinstance(value, (dict, list)):
            if not value:
                return "{}" if isinstance(value, dict) else "[]"
            flow = None if path in self.no_flow else _flow(value, path)
            fits = flow is not None and prefix_width + len(flow) <= self.line_length
            return flow if fits else None
        return None if _literal(value) is not None else scalar(value)

    def value(self, head: str, value: Any, path: SpecPath, indent: int) -> None:
        """``head`` (``key:`` or ``-``) and ``value``, at ``indent`` for its block."""
        if path in self.alias_at:
            self.line(f"{head} *{self.alias_at[path]}", path)
            return
        if path in self.anchor_at:
            head = f"{head} &{self.anchor_at[path]}"
        inline = self.inline(value, path, len(head) + 1)
        if inline is not None:
            self.line(f"{head} {inline}", path)
            return
        literal = _literal(value)
        if literal is not None:
            indicator, body = literal
            self.line(f"{head} {indicator}", path)
            pad = " " * indent
            self.lines.extend(pad + line if line else line for line in body)
        elif isinstance(value, dict):
            self.line(head, path)
            self.mapping(value, path, indent)
        else:
            self.line(head, path)
            self.sequence(value, path, indent)

    def mapping(self, data: dict[Any, Any], path: SpecPath, indent: int, dash: str = "") -> None:
        """A block mapping; ``dash``: the ``- `` its first key follows, in a sequence."""
        for index, (key, value) in enumerate(data.items()):
            child = (*path, key)
            first_after_dash = dash and index == 0
            if not first_after_dash:
                self.before(child, indent)
            head = (dash if first_after_dash else " " * indent) + scalar_key(key, child) + ":"
            self.value(head, value, child, indent + INDENT)

    def sequence(self, data: list[Any], path: SpecPath, indent: int, dash: str = "") -> None:
        """A block sequence; ``dash``: the ``- `` its first item follows, in a sequence."""
        for index, item in enumerate(data):
            child = (*path, index)
            first_after_dash = dash and index == 0
            if not first_after_dash:
                self.before(child, indent)
            head = (dash if first_after_dash else " " * indent) + "-"
            # An anchored or aliased item goes through value(): on the dash's line, an
            # anchor before a block mapping would name its first key instead.
            nested = isinstance(item, (dict, list)) and item and not self.repeats(child)
            if nested and self.inline(item, child, len(head) + 1) is None:
                # A block collection starts on the dash's line ("- name: x", "- - 1"), so
                # that the line holds a node of its own: its comments go with that node.
                first = next(iter(item)) if isinstance(item, dict) else 0
                self.before((*child, first), indent)
                tail = self.comments.end_of_line.get(child, [])
                if tail:
                    self.comments.end_of_line.setdefault((*child, first), [])[:0] = tail
                nest = self.mapping if isinstance(item, dict) else self.sequence
                nest(item, child, indent + INDENT, dash=head + " ")
            else:
                self.value(head, item, child, indent + INDENT)


def _flow(value: Any, path: SpecPath) -> str | None:
    """``value`` in flow style on one line; None when it holds a multi-line string, which
    only a block keeps readable."""
    if isinstance(value, dict):
        parts = []
        for key, item in value.items():
            text = _flow(item, (*path, key))
            if text is None:
                return None
            parts.append(f"{scalar_key(key, (*path, key), flow=True)}: {text}")
        return "{" + ", ".join(parts) + "}"
    if isinstance(value, list):
        items = []
        for index, item in enumerate(value):
            text = _flow(item, (*path, index))
            if text is None:
                return None
            items.append(text)
        return "[" + ", ".join(items) + "]"
    return None if _literal(value) is not None else scalar(value, flow=True)


def _always_block(data: Any, path: SpecPath) -> set[SpecPath]:
    """The spec at ``path``, its sections holding collections and, under ``models``, each
    model's own (a model is a spec of its own)."""
    block = {path}
    if not isinstance(data, dict):
        return block
    for key, value in data.items():
        if isinstance(value, dict) or (
            isinstance(value, list) and any(isinstance(item, (dict, list)) for item in value)
        ):
            block.add((*path, key))
    models = data.get("models")
    if isinstance(models, dict):
        for name, model in models.items():
            block |= _always_block(model, (*path, "models", name))
    return block


def _holders(paths: Any) -> set[SpecPath]:
    """Every path that holds one of ``paths`` (the paths themselves excluded)."""
    return {path[:depth] for path in paths for depth in range(len(path))}


def _at(data: Any, path: SpecPath) -> Any:
    for part in path:
        data = data[part]
    return data


def _paths(value: Any, path: SpecPath) -> list[SpecPath]:
    """Every path under ``path``, in the order the formatted text writes them."""
    found = [path]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*path, index))
    return found


def _literal(value: Any) -> tuple[str, list[str]] | None:
    """A multi-line string as a literal block (``|`` or ``|-``) where one reads back the
    same; None otherwise (a one-line string, or one a block cannot hold)."""
    if not isinstance(value, str) or "\n" not in value:
        return None
    body = value[:-1] if value.endswith("\n") else value
    lines = body.split("\n")
    if (
        body.endswith("\n")
        or not lines[0]
        or lines[0][0] in " \t"
        or any(line != line.rstrip() for line in lines)
        or any(not printable(char) for char in body if char != "\n")
    ):
        return None
    return ("|" if value.endswith("\n") else "|-"), lines
