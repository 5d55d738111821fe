"""Loading YAML and JSON specs into plain data, remembering where every node came from.

A spec is read only if it is a file (or a pipe) within the size limit, and never more of it
than that limit; it must be UTF-8 (a byte-order mark is allowed). YAML is read by
``yaml_reader`` and JSON by ``json_reader``; both record, for every spec path, the position
of the value and (for mapping entries) of the key, so that every later error can point into
the file. The number of layers is checked here too, before anything is validated.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path
from typing import Any

from specc.diagnostics import Position, SpecError
from specc.limits import DEFAULT_LIMITS, Limits
from specc.spec.json_reader import read_json
from specc.spec.source import LIMIT, LoadedSpec, PositionMap, cyclic_gc_paused, quote, spec_error
from specc.spec.yaml_reader import read_yaml

__all__ = ["FILE", "LoadedSpec", "PositionMap", "load_spec", "load_text", "read_spec_text"]

FILE = "SPC105-file"
_START = Position(1, 1)
# Keys under which a layer entry holds another layer (Bidirectional, TimeDistributed).
_NESTED_LAYER_KEYS = ("layer", "backward_layer")


def load_spec(path: str | Path, limits: Limits = DEFAULT_LIMITS) -> LoadedSpec:
    """Read a spec file (YAML or JSON, chosen by extension) with positions."""
    path = Path(path)
    text = read_spec_text(path, limits)
    return load_text(text, str(path), is_json=path.suffix.lower() == ".json", limits=limits)


def load_text(
    text: str, file: str = "<spec>", is_json: bool = False, limits: Limits = DEFAULT_LIMITS
) -> LoadedSpec:
    """Parse spec text (YAML, or JSON when ``is_json``) with positions."""
    positions = PositionMap()
    # A byte-order mark is no part of the document; editors do not show it or count it
    # as a column, so neither do positions.
    text = text.removeprefix("\ufeff")
    read = read_json if is_json else read_yaml
    with cyclic_gc_paused():
        data = read(text, file, positions)
    loaded = LoadedSpec(data, positions, file)
    _check_layer_count(loaded, limits)
    return loaded


def read_spec_text(path: Path, limits: Limits = DEFAULT_LIMITS) -> str:
    """The text of the spec file at ``path``: a regular file (or a pipe) of at most
    ``limits.file_size`` bytes, in UTF-8. Its size is checked before it is read, and no
    more than the limit is ever read, so a device or a growing file cannot exhaust memory."""
    file = str(path)
    try:
        info = path.stat()
    except FileNotFoundError:
        raise spec_error(file, _START, f"no such file: {quote(file)}", FILE) from None
    except OSError as exc:
        raise spec_error(file, _START, f"cannot read the spec: {exc.strerror}", FILE) from None
    kind = _kind_of(info.st_mode)
    if kind is not None:
        raise spec_error(file, _START, f"the spec path is {kind}, not a spec file", FILE)
    if info.st_size > limits.file_size:
        raise _too_big(file, f"{info.st_size:,} bytes", limits, info.st_size)
    try:
        data = _read_at_most(path, limits.file_size + 1)
    except OSError as exc:
        raise spec_error(file, _START, f"cannot read the spec: {exc.strerror}", FILE) from None
    if len(data) > limits.file_size:  # a pipe, or a file that grew since it was measured
        raise _too_big(file, f"more than {limits.file_size:,} bytes", limits, None)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _not_utf8(file, data, exc) from None


def _kind_of(mode: int) -> str | None:
    """What a path that is neither a regular file nor a pipe is, in words."""
    if stat.S_ISREG(mode) or stat.S_ISFIFO(mode):
        return None
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _read_at_most(path: Path, size: int) -> bytes:
    # Opened without blocking, so a named pipe nobody writes to reads as empty at once
    # instead of hanging; then blocking again, to wait for a writer that is there.
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    with contextlib.suppress(AttributeError, OSError):
        os.set_blocking(fd, True)
    with os.fdopen(fd, "rb") as stream:
        return stream.read(size)


def _too_big(file: str, size: str, limits: Limits, needed: int | None) -> SpecError:
    message = f"the spec file is too large ({size}); {limits.hint('file_size', needed)}"
    return spec_error(file, _START, message, LIMIT)


def _not_utf8(file: str, data: bytes, exc: UnicodeDecodeError) -> SpecError:
    before = data[: exc.start]
    line_start = before.rfind(b"\n") + 1
    column = len(before[line_start:].decode("utf-8", "replace")) + 1
    byte = data[exc.start]
    message = f"the spec is not UTF-8 text (byte 0x{byte:02x} cannot start or continue a character)"
    return spec_error(file, Position(before.count(b"\n") + 1, column), message, FILE)


def _check_layer_count(loaded: LoadedSpec, limits: Limits) -> None:
    data = loaded.data
    layers = data.get("layers") if isinstance(data, dict) else None
    if not isinstance(layers, list):
        return
    count = sum(_layers_in(entry) for entry in layers)
    if count > limits.layers:
        message = f"the spec has {count:,} layers; {limits.hint('layers', count)}"
        position = loaded.positions.keys.get(("layers",), _START)
        raise spec_error(loaded.file, position, message, LIMIT)


def _layers_in(entry: Any) -> int:
    """Layers in one entry of ``layers``: itself and the layers it wraps (the loader's
    depth limit keeps this recursion short)."""
    if not isinstance(entry, dict):
        return 1
    return 1 + sum(
        _layers_in(entry[key]) for key in _NESTED_LAYER_KEYS if isinstance(entry.get(key), dict)
    )
