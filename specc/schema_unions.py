"""Unions in the JSON Schema rewritten so that editors report the real problem.

Pydantic writes a field that takes one of several tagged configs as a ``oneOf``, and a field
that takes a name or a mapping as an ``anyOf``; a validator then says a value "is not valid
under any of the given schemas". Here every union of ``type``-tagged definitions becomes
one definition (``LayerEntry``, ``AnyInitializer``, ...) that applies, by ``if``/``then`` on
the ``type``, the one definition the ``type`` names, and a name-or-mapping union applies
its mapping member by ``if``/``then`` on the JSON type: a misspelt type is reported at the
``type``, a misspelt key as that key. Names stay in ``enum``s inside an ``anyOf`` (editors
complete names only from there), each list one definition (``InitializerName``) with each
name's summary (``enumDescriptions``, VS Code's keyword, shown in completion lists).
"""

from __future__ import annotations

from typing import Any


class Unions:
    """Every ``oneOf`` of ``type``-tagged definitions, turned into one definition each
    (``LayerEntry``, ``InitializerEntry``, ...): an object whose ``type`` is an ``enum``
    of all their names and which applies, by ``if``/``then`` on that ``type``, the one
    definition it names. A member without a ``type`` (a shared-layer entry, tagged by its
    ``shares`` key) is chosen by that key first."""

    def __init__(self, definitions: dict[str, Any], kinds: dict[str, str]) -> None:
        """``definitions``: the schema's; ``kinds``: a config's class name -> its registry
        (``initializer``), which names the unions made (``AnyInitializer``)."""
        self.definitions = definitions
        self.kinds = kinds
        self.made: dict[str, Any] = {}
        self.names: dict[tuple[str, ...], str] = {}

    def discriminate(self, node: Any) -> Any:
        """``node`` with its unions of tagged definitions replaced by references."""
        if isinstance(node, list):
            return [self.discriminate(item) for item in node]
        if not isinstance(node, dict):
            return node
        node = _number_bounds({key: self.discriminate(value) for key, value in node.items()})
        if "anyOf" in node:
            return self._by_json_type(node, "anyOf")
        branches = node.get("oneOf")
        if not isinstance(branches, list):
            return node
        if not all(set(b) == {"$ref"} for b in branches):
            return self._by_json_type(node, "oneOf")
        refs = tuple(branch["$ref"] for branch in branches)
        if refs not in self.names:
            made = self._union(refs)
            if made is None:
                return node
            self.names[refs] = self._name(refs)
            self.made[self.names[refs]] = made
        reference = {"$ref": f"#/definitions/{self.names[refs]}"}
        rest = {key: value for key, value in node.items() if key != "oneOf"}
        # Keywords beside a $ref are ignored in draft-07: keep them beside an allOf.
        return {**rest, "allOf": [reference]} if rest else reference

    def _target(self, ref: str) -> dict[str, Any]:
        name = ref.rsplit("/", 1)[-1]
        return self.made[name] if name in self.made else self.definitions[name]

    def _by_json_type(self, node: dict[str, Any], union: str) -> dict[str, Any]:
        """An ``anyOf`` (or ``oneOf``) whose members take different JSON types (a name or
        a mapping, a number or a list, or null) as ``if``/``then`` on the type: a value is
        checked against the one member of its type, and its error is that member's.

        Where a member lists names (an ``enum``), editors complete them only from an
        ``anyOf``: there, the scalar members stay in one, and only a mapping member moves
        to ``if``/``then`` (the ``anyOf`` takes any mapping)."""
        branches = node[union]
        types = [self._json_type(branch) for branch in branches]
        if None in types or len(set(types)) < len(types) or {"integer", "number"} <= set(types):
            return node
        rest = {key: value for key, value in node.items() if key != union}
        if any("enum" in branch or "const" in branch for branch in branches):
            if "object" not in types:
                return node
            mapping = branches[types.index("object")]
            kept = [
                {"type": "object"} if t == "object" else self._documented(b, mapping)
                for t, b in zip(types, branches, strict=True)
            ]
            return {**rest, "anyOf": kept, "allOf": [{"if": {"type": "object"}, "then": mapping}]}
        conditions = [
            {"if": {"type": kind}, "then": branch}
            for kind, branch in zip(types, branches, strict=True)
            if set(branch) != {"type"}
        ]
        return {**rest, "type": types, **({"allOf": conditions} if conditions else {})}

    def _documented(self, names: dict[str, Any], mapping: dict[str, Any]) -> dict[str, Any]:
        """A list of names with each one's summary (``enumDescriptions``, shown in
        completion lists), taken from the union of mappings the same names tag."""
        target = self._target(mapping["$ref"]) if set(mapping) == {"$ref"} else {}
        while "else" in target:  # past the keyed members, to the typed union
            target = target["else"]
        tagged = target.get("properties", {}).get("type", {})
        summaries = dict(
            zip(tagged.get("enum", []), tagged.get("enumDescriptions", []), strict=True)
        )
        if "enum" not in names or not all(name in summaries for name in names["enum"]):
            return names
        documented = {**names, "enumDescriptions": [summaries[name] for name in names["enum"]]}
        # One definition per list of names (``InitializerName``), not a copy per field.
        union = mapping["$ref"].rsplit("/", 1)[-1]
        name = union.removeprefix("Any") + "Name"
        if self.made.get(name, documented) != documented or name in self.definitions:
            return documented
        self.made[name] = documented
        return {"$ref": f"#/definitions/{name}"}

    def _json_type(self, branch: dict[str, Any]) -> str | None:
        if set(branch) == {"$ref"}:
            target = self._target(branch["$ref"])
            return "object" if target.get("type") == "object" or "if" in target else None
        kind = branch.get("type")
        return kind if isinstance(kind, str) else None

    def _name(self, refs: tuple[str, ...]) -> str:
        """``AnyInitializer``; ``LayerEntry`` for the union that takes shared layers too."""
        targets = [self._target(ref) for ref in refs]
        kind = next((self.kinds[t["title"]] for t in targets if t.get("title") in self.kinds), "")
        keyed = any(not _type_names(target) for target in targets)
        stem = f"{kind.capitalize()}Entry" if keyed else f"Any{kind.capitalize()}"
        name, number = stem, 2
        while name in self.made or name in self.definitions:
            name, number = f"{stem}{number}", number + 1
        return name

    def _union(self, refs: tuple[str, ...]) -> dict[str, Any] | None:
        tagged: list[tuple[list[str], str]] = []
        keyed: list[tuple[str, str]] = []
        for ref in refs:
            target = self._target(ref)
            names = _type_names(target)
            if names:
                tagged.append((names, ref))
            elif target.get("required"):
                keyed.append((target["required"][-1], ref))
            else:
                return None  # nothing to tell this member by
        if not tagged:
            return None
        summaries = {
            name: _first_line(self._target(ref).get("description", ""))
            for names, ref in tagged
            for name in names
        }
        names = sorted(summaries)
        union: dict[str, Any] = {
            "type": "object",
            "required": ["type"],
            "properties": {
                # No description of its own: an editor's hover shows the chosen entry's.
                # Each name's summary documents it in completion lists (VS Code's keyword).
                "type": {
                    "enum": names,
                    "enumDescriptions": [summaries[name] for name in names],
                    "type": "string",
                }
            },
            "allOf": [
                {"if": {"properties": {"type": {"enum": names}}}, "then": {"$ref": ref}}
                for names, ref in tagged
            ],
        }
        for key, ref in reversed(keyed):
            # Tried first: the key no typed entry has (``shares``) picks this form.
            union = {"if": {"required": [key]}, "then": {"$ref": ref}, "else": union}
        return union


def _first_line(text: str) -> str:
    return text.strip().split("\n", 1)[0]


# Pydantic writes a bound on an ``int | float`` field under its own name (``gt``), which
# JSON Schema ignores: it becomes the JSON Schema keyword on a plain number.
_BOUNDS = {"gt": "exclusiveMinimum", "ge": "minimum", "lt": "exclusiveMaximum", "le": "maximum"}
_INT_OR_FLOAT = [{"type": "integer"}, {"type": "number"}]


def _number_bounds(node: dict[str, Any]) -> dict[str, Any]:
    if node.get("anyOf") != _INT_OR_FLOAT:
        return node
    result = {key: value for key, value in node.items() if key != "anyOf"}
    for pydantic_name, keyword in _BOUNDS.items():
        if pydantic_name in result:
            result[keyword] = result.pop(pydantic_name)
    return {**result, "type": "number"}


def _type_names(definition: dict[str, Any]) -> list[str]:
    prop = definition.get("properties", {}).get("type", {})
    if "const" in prop:
        return [prop["const"]]
    return list(prop.get("enum", []))
