"""Reading a checkpoint's JSON with every field's type checked, and its place named.

A checkpoint comes from disk, and disk is not trusted: a field of the wrong type would
otherwise surface as a ``TypeError`` deep in the loop. ``JsonReader`` wraps one object and
hands out its fields by the type they must have, raising ``CheckpointError`` with
``file: path.to.field must be ...; got ...`` for the first that is not.
"""

from __future__ import annotations

from typing import Any

from specc.escape import excerpt

Number = int | float


class CheckpointError(Exception):
    """A checkpoint that cannot be used: missing, damaged, or from another run; the
    message is one line naming the file (and the field)."""


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


class JsonReader:
    """One JSON object of a file, read field by field."""

    def __init__(self, file: str, value: Any, where: str = "") -> None:
        self.file = file
        self.where = where
        if not isinstance(value, dict):
            self._fail("", "an object", value)
        self.value: dict[str, Any] = value

    def _fail(self, key: str, wanted: str, got: Any) -> None:
        place = ".".join(p for p in (self.where, key) if p) or "the top level"
        shown = excerpt(repr(got), 60)
        raise CheckpointError(f"{self.file}: {place} must be {wanted}; got {shown}")

    def _get(self, key: str) -> Any:
        if key not in self.value:
            self._fail(key, "present", "nothing")
        return self.value[key]

    def dict(self, key: str) -> JsonReader:
        """The object at ``key``."""
        return JsonReader(self.file, self._get(key), ".".join(p for p in (self.where, key) if p))

    def list(self, key: str) -> list[Any]:
        """The list at ``key``."""
        value = self._get(key)
        if not isinstance(value, list):
            self._fail(key, "a list", value)
        return value

    def str(self, key: str) -> str:
        """The string at ``key``."""
        value = self._get(key)
        if not isinstance(value, str):
            self._fail(key, "a string", value)
        return value

    def int(self, key: str) -> int:
        """The non-negative integer at ``key``."""
        value = self._get(key)
        if not _is_count(value):
            self._fail(key, "a non-negative integer", value)
        return value

    def bool(self, key: str) -> bool:
        """The boolean at ``key``."""
        value = self._get(key)
        if not isinstance(value, bool):
            self._fail(key, "true or false", value)
        return value

    def floats(self, key: str) -> dict[str, float]:
        """An object of numbers at ``key``."""
        values = self.dict(key).value
        for name, value in values.items():
            if not _is_number(value):
                self._fail(f"{key}.{name}", "a number", value)
        return {name: float(value) for name, value in values.items()}

    def logs(self, key: str) -> dict[str, float | list[float]]:
        """An epoch's logs at ``key``: each a number, or a list of numbers (per class)."""
        values = self.dict(key).value
        for name, value in values.items():
            if not _is_value(value):
                self._fail(f"{key}.{name}", "a number or a list of numbers", value)
        return values

    def history(self, key: str) -> dict[str, list[float | list[float]]]:
        """A History at ``key``: each key a list of epoch values, all of one length."""
        values = self.dict(key).value
        lengths = set()
        for name, epochs in values.items():
            if not isinstance(epochs, list) or not all(_is_value(v) for v in epochs):
                self._fail(f"{key}.{name}", "a list of numbers (or of per-class lists)", epochs)
            lengths.add(len(epochs))
        if len(lengths) > 1:
            self._fail(key, "lists of one length", sorted(lengths))
        return values


def _is_value(value: Any) -> bool:
    if isinstance(value, list):
        return all(_is_number(v) for v in value)
    return _is_number(value)
