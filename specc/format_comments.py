"""The comments and blank lines of a YAML spec, tied to the spec paths they belong to.

``specc format`` rebuilds a spec's text from its data, so every comment has to be carried
over to the node it describes. A comment on a line of its own belongs to the node that
follows it (and moves with it when keys are reordered); a comment at the end of a line
belongs to the first node that starts on that line. Comments above the first node stay at
the top of the file (a ``yaml-language-server`` modeline lives there), and those after the
last node at the bottom.

Comments are found with PyYAML's scanner: a ``#`` starts a comment where it is at the
start of a line or after a space, and outside every token (a quoted or block string may
hold ``#``).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass, field

import yaml

from specc.diagnostics import Position, SpecPath
from specc.format_anchors import SCANNER, Anchors
from specc.spec.source import PositionMap

BLANK = ""  # a blank line among the lines kept before a node


@dataclass
class Comments:
    """Where a spec's comments go: before nodes, at the end of their lines, at the top
    and at the bottom of the file. Lines before a node are comment texts or ``BLANK``."""

    header: list[str] = field(default_factory=list)
    before: dict[SpecPath, list[str]] = field(default_factory=dict)
    end_of_line: dict[SpecPath, list[str]] = field(default_factory=dict)
    footer: list[str] = field(default_factory=list)

    def inside(self, path: SpecPath) -> bool:
        """Whether any comment belongs to a node below ``path`` (``path`` itself excluded)."""
        depth = len(path)
        return any(
            len(key) > depth and key[:depth] == path
            for table in (self.before, self.end_of_line)
            for key, lines in table.items()
            if any(line != BLANK for line in lines)
        )


def comment_texts(text: str) -> list[str]:
    """Every comment of YAML ``text``, in order, as written (from ``#`` to the line end)."""
    return [comment for _, comment, _ in _scan(text)[0]]


def find_comments(text: str, positions: PositionMap, anchors: Anchors) -> Comments:
    """The comments and blank lines of ``text`` tied to the spec paths of ``positions``
    (an alias where it is written, not where its anchor is; nothing inside it)."""
    found, blank_lines = _scan(text)
    starts = sorted(
        (position.line, position.column, len(path), path)
        for path, position in _node_starts(positions, anchors)
    )
    lines = [start[0] for start in starts]
    comments = Comments()
    if not starts:
        comments.header = [comment for _, comment, _ in found]
        return comments
    # Each kept line in source order: (line, text, whether it stands on a line of its own).
    kept = sorted([*found, *((line, BLANK, True) for line in blank_lines)])
    for line, comment, own_line in kept:
        if not own_line:
            index = bisect.bisect_left(lines, line)
            if index == len(lines) or lines[index] != line:
                index -= 1  # a line no node starts on: the closing bracket of a flow node
            comments.end_of_line.setdefault(starts[max(index, 0)][3], []).append(comment)
        elif line < lines[0]:
            comments.header.append(comment)
        elif line > lines[-1]:
            comments.footer.append(comment)
        else:
            following = starts[bisect.bisect_right(lines, line)][3]
            comments.before.setdefault(following, []).append(comment)
    comments.header = _tidy(comments.header, leading=False, trailing=True)
    comments.footer = _tidy(comments.footer, leading=True, trailing=False)
    comments.before = {path: _tidy(lines, True, True) for path, lines in comments.before.items()}
    return comments


def _node_starts(positions: PositionMap, anchors: Anchors) -> Iterable[tuple[SpecPath, Position]]:
    # A mapping entry starts at its key; a sequence item at its value. The loader gives an
    # alias (and what it expands to) its anchor's position: an alias starts where it is
    # written, and what it expands to is written nowhere.
    for path, position in positions.values.items():
        if path and not anchors.inside_alias(path):
            start = anchors.alias_marks.get(path, position)
            yield path, positions.keys.get(path, start)


def _tidy(lines: list[str], leading: bool, trailing: bool) -> list[str]:
    """Runs of blank lines as one; one at the start or the end only where asked (a blank
    line that sets a node apart from the one before it is the writer's choice; one at the
    top or the bottom of the file is not)."""
    tidy: list[str] = []
    for line in lines:
        if line == BLANK and ((tidy and tidy[-1] == BLANK) or (not tidy and not leading)):
            continue
        tidy.append(line)
    if tidy and tidy[-1] == BLANK and not trailing:
        tidy.pop()
    return tidy


def _scan(text: str) -> tuple[list[tuple[int, str, bool]], list[int]]:
    """The comments of ``text`` as (1-based line, text, whether alone on its line) and the
    blank lines outside strings."""
    text = text.removeprefix("\ufeff")  # no part of the document, as for the loader
    spans: list[tuple[int, int]] = []
    try:
        for token in yaml.scan(text, Loader=SCANNER):
            if token.start_mark.index < token.end_mark.index:
                spans.append((token.start_mark.index, token.end_mark.index))
    except yaml.YAMLError:
        return [], []  # the loader has reported the file's syntax already
    spans.sort()
    span_starts = [start for start, _ in spans]

    def in_token(index: int) -> bool:
        at = bisect.bisect_right(span_starts, index) - 1
        return at >= 0 and spans[at][0] <= index < spans[at][1]

    comments: list[tuple[int, str, bool]] = []
    blanks: list[int] = []
    offset = 0
    for number, line in enumerate(text.splitlines(keepends=True), start=1):
        body = line.rstrip("\r\n")
        if not body.strip() and not in_token(offset):
            blanks.append(number)
        column = body.find("#")
        while column != -1:
            if (column == 0 or body[column - 1] in " \t") and not in_token(offset + column):
                own_line = not body[:column].strip()
                comments.append((number, body[column:].rstrip(), own_line))
                break
            column = body.find("#", column + 1)
        offset += len(line)
    return comments, blanks
