"""YAML specs to plain data with positions, by PyYAML's composer and nothing more.

Scalars follow the YAML 1.2 core schema (``1e-3`` is a float, ``yes`` is a string) and
only the core tags are allowed; nothing in a spec is ever constructed as a Python object.
The composer is libyaml's when PyYAML has it (ten times faster; its marks are the same).
Anchors and aliases are expanded, but only so far: the expanded size is worked out on the
composed graph first, so a "billion laughs" document is refused in milliseconds.
"""

from __future__ import annotations

import re
from typing import Any

import yaml
import yaml.composer
import yaml.parser
import yaml.reader
import yaml.resolver
import yaml.scanner

from specc.diagnostics import Position, SpecPath
from specc.spec.source import (
    LIMIT,
    MAX_DEPTH,
    NUMBER,
    PositionMap,
    integer,
    number,
    quote,
    spec_error,
)
from specc.spec.yaml_aliases import check_aliases, mark

MERGE_KEY = "SPC107-merge-key"


class _Yaml12Resolver(yaml.resolver.BaseResolver):
    """Implicit scalar types of the YAML 1.2 core schema (and no merge keys)."""


_Yaml12Resolver.yaml_implicit_resolvers = {}
_CORE_RESOLVERS = [
    ("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$", [*list("~nN"), ""]),
    ("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", list("tTfF")),
    ("tag:yaml.org,2002:int", r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", list("-+0123456789")),
    (
        "tag:yaml.org,2002:float",
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
        list("-+0123456789."),
    ),
]
for _tag, _pattern, _first in _CORE_RESOLVERS:
    _Yaml12Resolver.add_implicit_resolver(_tag, re.compile(_pattern), _first)


class _PythonComposer(
    yaml.reader.Reader,
    yaml.scanner.Scanner,
    yaml.parser.Parser,
    yaml.composer.Composer,
    _Yaml12Resolver,
):
    """PyYAML's pure-Python composer with the core-schema resolver."""

    def __init__(self, stream: str) -> None:
        yaml.reader.Reader.__init__(self, stream)
        yaml.scanner.Scanner.__init__(self)
        yaml.parser.Parser.__init__(self)
        yaml.composer.Composer.__init__(self)
        _Yaml12Resolver.__init__(self)


COMPOSERS: list[type] = [_PythonComposer]
if yaml.__with_libyaml__:
    import yaml.cyaml

    class _LibyamlComposer(yaml.cyaml.CParser, _Yaml12Resolver):  # type: ignore[misc]
        """libyaml's composer with the core-schema resolver."""

        def __init__(self, stream: str) -> None:
            yaml.cyaml.CParser.__init__(self, stream)
            _Yaml12Resolver.__init__(self)

    COMPOSERS.insert(0, _LibyamlComposer)

# The core schema's patterns, to check scalars whose tag was written explicitly
# (``!!int abc`` must be an error, not a crash or a silent coercion).
_CORE_PATTERNS = {tag: re.compile(pattern) for tag, pattern, _ in _CORE_RESOLVERS}
_SCALAR_TAGS = {"tag:yaml.org,2002:str", *_CORE_PATTERNS}
_COLLECTION_TAGS = {
    yaml.MappingNode: "tag:yaml.org,2002:map",
    yaml.SequenceNode: "tag:yaml.org,2002:seq",
}
_SURROGATE = re.compile("[\ud800-\udfff]")


def read_yaml(text: str, file: str, positions: PositionMap, composer: type | None = None) -> Any:
    """The plain data of YAML ``text``, recording positions; ``SpecError`` when it is not
    a spec's YAML. ``composer``: one of ``COMPOSERS`` (default: the fastest)."""
    try:
        node = yaml.compose(text, Loader=composer or COMPOSERS[0])
    except yaml.MarkedYAMLError as exc:
        raise _syntax_error(exc, text, file) from None
    except yaml.reader.ReaderError as exc:
        # The reader stops at the first character YAML forbids; libyaml counts its offset
        # in bytes, PyYAML in characters, so find the character itself.
        bad = chr(exc.character) if isinstance(exc.character, int) else str(exc.character)
        index = max(text.find(bad), 0)
        message = f"invalid YAML: the character {quote(bad)} is not allowed in YAML text"
        raise spec_error(file, _position_in(text, index), message) from None
    except yaml.YAMLError as exc:
        raise spec_error(file, Position(1, 1), f"invalid YAML: {_one_line(str(exc))}") from None
    except RecursionError:  # PyYAML's own composer recurses once a level; libyaml stops at 1,000
        raise _too_deep(file, Position(1, 1)) from None
    if node is None:
        raise spec_error(file, Position(1, 1), "the spec is empty")
    return _Converter(text, file, positions, node).convert(node, (), 1)


def _position_in(text: str, index: int) -> Position:
    line = text.count("\n", 0, index) + 1  # once, for the one error: no index needed
    return Position(line, index - (text.rfind("\n", 0, index) + 1) + 1)


def _one_line(text: str) -> str:
    # PyYAML's problems quote what they found (an undefined alias's name, a tag): keep
    # them to one line of sensible length.
    flat = " ".join(text.split())
    return flat if len(flat) <= 200 else flat[:197] + "..."


def _syntax_error(exc: yaml.MarkedYAMLError, text: str, file: str) -> Exception:
    """A syntax error at the problem mark, with its context ("while parsing a flow
    sequence") named; when the problem is the end of the file, point at the context (the
    unclosed bracket) instead, which is where the fix goes."""
    problem, context = exc.problem or "invalid YAML", exc.context
    mark = exc.problem_mark or exc.context_mark
    at_end = mark is not None and mark.index >= len(text.rstrip())
    if exc.context_mark is not None and (mark is None or at_end):
        mark = exc.context_mark
    line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    if "maximum nesting depth" in problem:  # libyaml stops at 1,000 levels
        return _too_deep(file, Position(line, col))
    if problem == "found character that cannot start any token" and mark is not None:
        # libyaml's wording leaves out the character, which is the useful part (a tab).
        found = quote(text[mark.index : mark.index + 1])
        problem = f"found character {found} that cannot start any token"
    message = f"invalid YAML: {_one_line(problem)}"
    if context and exc.context_mark is not None:
        where = exc.context_mark
        message += (
            f" ({_one_line(context)} started at line {where.line + 1}, column {where.column + 1})"
        )
    return spec_error(file, Position(line, col), message)


def _too_deep(file: str, at: Position) -> Exception:
    message = f"the spec nests deeper than {MAX_DEPTH} levels, which no spec needs"
    return spec_error(file, at, message, LIMIT)


class _Converter:
    """Composed nodes to plain data, checking tags, keys and scalars on the way."""

    def __init__(self, text: str, file: str, positions: PositionMap, root: yaml.Node) -> None:
        self.text, self.file, self.positions, self.root = text, file, positions, root
        # Collections converted so far. Meeting one again means an alias; the first time
        # that happens, the whole document's expansion is checked, once.
        self.seen: set[int] | None = set()

    def fail(self, node: yaml.Node, message: str, code: str = "SPC100-syntax") -> Exception:
        return spec_error(self.file, mark(node), message, code)

    def convert(self, node: yaml.Node, path: SpecPath, depth: int) -> Any:
        """The plain data of ``node`` at ``path``, ``depth`` levels down (the root is 1)."""
        if depth > MAX_DEPTH:
            raise _too_deep(self.file, mark(node))
        self.positions.values.setdefault(path, mark(node))
        expected_tag = _COLLECTION_TAGS.get(type(node))
        if expected_tag is not None and node.tag != expected_tag:
            raise self.fail(node, f"YAML tag {quote(node.tag)} is not allowed in a spec")
        if expected_tag is not None and self.seen is not None:
            if id(node) in self.seen:
                check_aliases(self.root, self.file)
                self.seen = None
            else:
                self.seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            return self.mapping(node, path, depth)
        if isinstance(node, yaml.SequenceNode):
            return [self.convert(item, (*path, i), depth + 1) for i, item in enumerate(node.value)]
        value = self.scalar(node)
        if isinstance(value, str):
            self.record_string(node, value, path)
        return value

    def mapping(self, node: yaml.MappingNode, path: SpecPath, depth: int) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or not (
                key_node.tag == "tag:yaml.org,2002:str" or _class_key(key_node, path)
            ):
                raise self.fail(key_node, "mapping keys must be plain strings")
            key = key_node.value
            if key == "<<" and not key_node.style:
                raise self.fail(
                    key_node,
                    "YAML merge keys ('<<') are not supported in a spec; write the keys "
                    "out, or alias the whole mapping",
                    MERGE_KEY,
                )
            if key in result:
                first = self.positions.keys[(*path, key)]
                raise self.fail(
                    key_node, f"duplicate key {quote(key)} (first defined at line {first.line})"
                )
            self.positions.keys[(*path, key)] = mark(key_node)
            result[key] = self.convert(value_node, (*path, key), depth + 1)
        return result

    def record_string(self, node: yaml.Node, value: str, path: SpecPath) -> None:
        """Remember where a one-line string's characters start, when the file holds them
        as they are (no escapes, no folding)."""
        start, end = node.start_mark, node.end_mark
        if start.line != end.line or node.style not in (None, "", "'", '"'):
            return
        quoted = 1 if node.style else 0
        if self.text[start.index + quoted : end.index - quoted] == value:
            self.positions.strings[path] = Position(start.line + 1, start.column + 1 + quoted)

    def scalar(self, node: yaml.Node) -> Any:
        tag, value = node.tag, node.value
        if tag not in _SCALAR_TAGS:
            raise self.fail(node, f"YAML tag {quote(tag)} is not allowed in a spec")
        pattern = _CORE_PATTERNS.get(tag)
        if pattern is not None and not pattern.match(value):
            raise self.fail(node, f"{quote(value)} is not a valid !!{tag.rsplit(':', 1)[-1]}")
        if tag.endswith(":str"):
            if _SURROGATE.search(value):
                raise self.fail(node, "a string holds an unpaired UTF-16 surrogate")
            return value
        if tag.endswith(":null"):
            return None
        if tag.endswith(":bool"):
            return value.lower() == "true"
        if tag.endswith(":int"):
            result: int | float | str = integer(value)
        else:
            lowered = value.lower()
            if lowered.endswith(".inf"):
                return -float("inf") if lowered.startswith("-") else float("inf")
            if lowered == ".nan":
                return float("nan")
            result = number(value)
        if isinstance(result, str):
            raise self.fail(node, result, NUMBER)
        return result


def _class_key(node: yaml.ScalarNode, path: SpecPath) -> bool:
    """Whether ``node`` is an integer key of ``train.class_weight`` (a class index, as Keras
    writes ``{0: 1.0, 1: 5.0}``): kept as its text, as JSON gives it ("0"), for the schema
    to read as an integer."""
    return node.tag == "tag:yaml.org,2002:int" and path[:2] == ("train", "class_weight")
