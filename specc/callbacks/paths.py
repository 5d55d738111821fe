"""File names a spec gives callbacks, kept inside the run's folder.

A spec is untrusted: a name like ``../x`` or ``/etc/x`` must never reach outside the
folder ``specc train`` writes. A name is a relative path of plain components (ASCII
letters, digits and ``._+=@,-``), none of them ``.`` or ``..``. A ModelCheckpoint
``filepath`` may also hold Python format fields, Keras's ``{epoch:02d}`` and
``{val_loss:.2f}``: each a bare name (no attribute or index access, no conversion) with a
numeric format spec of modest width; what a field formats to is sanitised (any other
character becomes ``_``) before it joins the name.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from typing import Any

from pydantic_core import PydanticCustomError

SAFE = re.compile(r"[A-Za-z0-9._+=@,-]+")
_UNSAFE_CHAR = re.compile(r"[^A-Za-z0-9._+=@,-]")
_FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# [[fill]align][sign][z][#][0][width][grouping][.precision][type], widths at most 2 digits.
_FORMAT_SPEC = re.compile(r"([^{}]?[<>=^])?[-+ ]?z?#?0?\d{0,2}[,_]?(\.\d{1,2})?[bcdeEfFgGnoxX%]?")

Piece = tuple[str, str | None, str]  # literal text, field name (or None), format spec


def _refuse(message: str) -> PydanticCustomError:
    return PydanticCustomError("value_error", "{error}", {"error": message})


def _check_literal(key: str, path: str, text: str) -> None:
    for component in text.split("/"):
        if component and not SAFE.fullmatch(component):
            bad = _UNSAFE_CHAR.search(component)
            shown = repr(bad.group()) if bad else repr(component)
            raise _refuse(
                f"{key} may hold only letters, digits and ._+=@,- in each folder and file "
                f"name; got {shown} in {path!r}"
            )


def parse_pattern(key: str, path: str, fields: bool) -> list[Piece]:
    """Split ``path`` into literal text and format fields, refusing anything that could
    leave the run's folder (raised as a Pydantic ``value_error`` naming ``key``)."""
    if not path:
        raise _refuse(f"{key} must not be empty")
    if path.startswith(("/", "\\")) or re.match(r"[A-Za-z]:", path):
        raise _refuse(
            f"{key} must be a path inside the run's output folder; got the absolute path {path!r}"
        )
    components = path.split("/")
    if any(c in ("", ".", "..") for c in components):
        raise _refuse(
            f"{key} must be a path inside the run's output folder, without '.', '..' or "
            f"empty folder names; got {path!r}"
        )
    try:
        parsed = list(string.Formatter().parse(path))
    except ValueError as error:
        raise _refuse(f"{key} is not a valid pattern ({error}); got {path!r}") from None
    pieces: list[Piece] = []
    for literal, name, spec, conversion in parsed:
        _check_literal(key, path, literal)
        if name is None:
            pieces.append((literal, None, ""))
            continue
        if not fields:
            raise _refuse(f"{key} is a plain file name and may not hold '{{'; got {path!r}")
        if not _FIELD_NAME.fullmatch(name) or conversion is not None:
            raise _refuse(
                f"{key} fields must be bare names such as {{epoch:02d}} or {{val_loss:.2f}}; "
                f"got {{{name}{'!' + conversion if conversion else ''}}} in {path!r}"
            )
        if not _FORMAT_SPEC.fullmatch(spec or ""):
            raise _refuse(
                f"{key} field {{{name}}} needs a numeric format such as :02d or :.4f (width "
                f"and precision below 100); got :{spec} in {path!r}"
            )
        pieces.append((literal, name, spec or ""))
    return pieces


def field_names(pieces: list[Piece]) -> list[str]:
    """The names of the format fields, in order."""
    return [name for _, name, _ in pieces if name is not None]


def format_pattern(pieces: list[Piece], values: Mapping[str, Any]) -> str:
    """The file name for ``values``; a field's text is sanitised. KeyError for a field
    ``values`` lacks, ValueError for a value its format cannot take."""
    out = []
    for literal, name, spec in pieces:
        out.append(literal)
        if name is not None:
            out.append(_UNSAFE_CHAR.sub("_", format(values[name], spec)))
    return "".join(out)


def check_relative(path: str) -> str | None:
    """Why ``path`` (a formatted name) is not a plain relative path, or None."""
    components = path.split("/")
    if path.startswith("/") or any(c in ("", ".", "..") for c in components):
        return f"{path!r} is not a path inside the run's output folder"
    if not all(SAFE.fullmatch(c) for c in components):
        return f"{path!r} holds characters other than letters, digits and ._+=@,-"
    return None
