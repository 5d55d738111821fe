"""Reading the members of a ``.keras`` zip that specc uses, and nothing else.

A ``.keras`` file is a zip a user may have downloaded from anywhere: only the three members
Keras itself writes are read, each looked up by its exact name (no member name is ever
turned into a path on disk), and each one's declared size is checked against a limit
before it is read, so a small zip that inflates to gigabytes is refused unread. The
decompressor stops at the declared size, so a member lying about its size fails its CRC
check instead of filling memory.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

from specc.importer.problems import LIMIT, file_error
from specc.limits import Limits

CONFIG = "config.json"
METADATA = "metadata.json"
WEIGHTS = "model.weights.h5"
# Every zip starts with a local file header; a JSON config never does.
ZIP_MAGIC = b"PK\x03\x04"
# The most members a Keras archive is read with: Keras writes three (and an assets folder).
_MAX_MEMBERS = 10_000


@dataclass(frozen=True)
class KerasArchive:
    """The members of a ``.keras`` file that an import reads."""

    config: str
    metadata: str | None
    weights: bytes | None


def read_archive(path: Path, limits: Limits) -> KerasArchive:
    """The config, metadata and weights of the ``.keras`` file at ``path``; ``SpecError``
    when it is not a zip, lacks ``config.json``, or a member is larger than the limits."""
    file = str(path)
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            if len(members) > _MAX_MEMBERS:
                raise file_error(file, f"{len(members):,} members; a .keras file has a few")
            by_name = {info.filename: info for info in members}
            if CONFIG not in by_name:
                raise file_error(file, f"not a Keras 3 model file: no {CONFIG} in the zip")
            config = _text(archive, by_name[CONFIG], file, limits.file_size, "file_size")
            metadata = None
            if METADATA in by_name:
                metadata = _text(archive, by_name[METADATA], file, limits.file_size, "file_size")
            weights = None
            if WEIGHTS in by_name:
                weights = _read(archive, by_name[WEIGHTS], file, limits.data_bytes, "data_bytes")
    except zipfile.BadZipFile as exc:
        raise file_error(file, f"not a .keras file (a zip): {exc}") from None
    except OSError as exc:
        raise file_error(file, f"cannot read {file}: {exc.strerror or exc}") from None
    return KerasArchive(config, metadata, weights)


def _read(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, file: str, limit: int, name: str
) -> bytes:
    # The size is the one the zip declares; zipfile stops reading at it and checks the CRC,
    # so a member that inflates past it is an error, not a memory blow-up.
    if info.file_size > limit:
        raise file_error(
            file,
            f"{info.filename} would be {info.file_size:,} bytes unpacked, over the "
            f"{limit:,}-byte limit; raise it with --limit {name}=...",
            LIMIT,
        )
    try:
        return archive.read(info)
    except (zipfile.BadZipFile, NotImplementedError, RuntimeError, ValueError) as exc:
        raise file_error(file, f"cannot unpack {info.filename}: {exc}") from None


def _text(archive: zipfile.ZipFile, info: zipfile.ZipInfo, file: str, limit: int, name: str) -> str:
    data = _read(archive, info, file, limit, name)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise file_error(file, f"{info.filename} is not UTF-8 text") from None


def is_archive(path: Path) -> bool:
    """Whether ``path`` is a zip (a ``.keras`` file) rather than a JSON config, by its
    first bytes; ``OSError`` when it cannot be read."""
    with open(path, "rb") as handle:
        return handle.read(4) == ZIP_MAGIC
