"""YAML aliases, checked on the composed graph before anything is expanded.

The composer shares one node wherever an alias points at it, so a small document can
stand for an enormous (or endless) tree: the "billion laughs". The expanded size is worked
out on the graph, each node once, and a document whose aliases would add more nodes than
it holds (or a million, whichever is more) is refused before a single one is built.
"""

from __future__ import annotations

import yaml

from specc.diagnostics import Position
from specc.spec.source import spec_error

ALIAS = "SPC108-alias"
# Aliases may repeat parts of a spec, as a shared initializer mapping is, but may add at
# most this many nodes, or as many as the document holds, whichever is more.
ALIAS_ALLOWANCE = 1_000_000


def mark(node: yaml.Node) -> Position:
    """Where ``node`` starts, 1-based."""
    return Position(node.start_mark.line + 1, node.start_mark.column + 1)


def check_aliases(root: yaml.Node, file: str) -> None:
    """Refuse a recursive alias, or aliases that would blow the spec up when expanded.

    The composed graph shares a node wherever an alias points at it; the size of the
    expanded tree is worked out on that graph (each node once), before anything is built.
    The error points at the anchored node whose repeats add the most.
    """
    sizes: dict[int, int] = {}  # id(node) -> nodes in its expanded tree
    uses: dict[int, int] = {}  # id(node) -> how many times the graph refers to it
    nodes: dict[int, yaml.Node] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            on_path.discard(key)
            sizes[key] = 1 + sum(sizes[id(child)] for child in _children(node))
            continue
        if key in on_path:
            message = "a YAML alias refers to a node that contains it (an endless spec)"
            raise spec_error(file, mark(node), message, ALIAS)
        if key in nodes:
            continue
        nodes[key] = node
        on_path.add(key)
        stack.append((node, True))
        for child in _children(node):
            uses[id(child)] = uses.get(id(child), 0) + 1
            stack.append((child, False))
    written, expanded = len(sizes), sizes[id(root)]
    allowed = max(written, ALIAS_ALLOWANCE)
    if expanded - written > allowed:
        worst = max(uses, key=lambda key: (uses[key] - 1) * sizes[key])
        message = (
            f"YAML aliases expand this spec from {written:,} nodes to {expanded:,} (this "
            f"node appears {uses[worst]:,} times); aliases may add at most {allowed:,} nodes"
        )
        raise spec_error(file, mark(nodes[worst]), message, ALIAS)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []
