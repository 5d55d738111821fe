"""Reading ``.npz`` files someone else wrote (weights and data), without trusting them.

An ``.npz`` is a zip archive of ``.npy`` members. ``numpy.load`` inflates a member before
anything about it is checked, and its errors suggest enabling pickle; this reader opens
the zip itself and, for each member, parses only the ``.npy`` header (a literal dict,
never a pickle) to learn the claimed shape and dtype. Before any data is read:

- the claimed size must equal what the member holds (its uncompressed size in the zip's
  directory less the header), so a header cannot claim more than the file can give;
- the dtype must be a plain bool, integer or float (objects, text, structures refused);
- the size must fit ``Limits.array_bytes``, and all arrays read together
  ``Limits.data_bytes``.

Then exactly the claimed bytes are read, in chunks, into one buffer. ``zipfile`` stops a
member at the size its directory gives and checks the CRC at that point, so a member whose
compressed data inflates further than its directory says is caught, never inflated.
"""

from __future__ import annotations

import io
import lzma
import math
import os
import struct
import tokenize
import warnings
import zipfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO

import numpy as np
from numpy.lib import format as npy_format

from specc.escape import excerpt
from specc.limits import DEFAULT_LIMITS, Limits

_MAGIC = b"\x93NUMPY"
# numpy's own bound on a header (``max_header_size``); the headers it writes are ~128 bytes.
_MAX_HEADER = 10_000
_CHUNK = 16 * 2**20
# Plain numbers: what specc can compute with. Sizes per kind, in bytes.
_ITEM_SIZES = {"b": (1,), "i": (1, 2, 4, 8), "u": (1, 2, 4, 8), "f": (2, 4, 8)}
# What zipfile and the decompressors raise on a damaged or hostile archive.
_ZIP_ERRORS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    OSError,
    EOFError,
    ValueError,
    NotImplementedError,
    RuntimeError,
    OverflowError,
    struct.error,
    zlib.error,
    lzma.LZMAError,
)


class NpzError(Exception):
    """Why an ``.npz`` cannot be read; ``limit`` names the ``Limits`` field it would
    exceed, when that is the reason."""

    def __init__(self, message: str, limit: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.limit = limit


class NpzMissing(NpzError):
    """The file does not exist."""


@dataclass(frozen=True)
class Member:
    """One array of an ``.npz`` as its header describes it; none of its data is read."""

    key: str  # the member's name without ``.npy``: the array's name
    shape: tuple[int, ...]
    dtype: np.dtype
    fortran_order: bool
    info: zipfile.ZipInfo
    data_offset: int  # where the data starts in the member: the header's length

    @property
    def nbytes(self) -> int:
        """The bytes of data the header claims."""
        return math.prod(self.shape) * self.dtype.itemsize

    @property
    def unreadable(self) -> str | None:
        """Why specc will not read this array (its dtype), or None."""
        return _unreadable(self.dtype)

    def describe(self) -> str:
        """Shape and dtype for messages: ``(2, 3) float32``."""
        return f"{self.shape} {self.dtype}"


def _unreadable(dtype: np.dtype) -> str | None:
    """Why specc will not read an array of ``dtype``, or None."""
    if dtype.hasobject:
        return "Python objects (pickled data, which specc never loads)"
    if dtype.fields is None and dtype.itemsize in _ITEM_SIZES.get(dtype.kind, ()):
        return None
    return f"dtype {dtype}, not a bool, integer or float array"


def _name(info: zipfile.ZipInfo) -> str:
    return f"member '{excerpt(info.filename)}'"


class NpzFile:
    """An ``.npz`` opened for reading: every member's header read and checked, no data.

    Use as a context manager; ``members`` are the arrays by name, ``read`` reads some.
    Raises ``NpzError`` (never a numpy or zipfile exception) for anything wrong.
    """

    def __init__(self, path: str | Path, limits: Limits = DEFAULT_LIMITS) -> None:
        self.path = str(path)
        self.limits = limits
        try:
            self._zip = zipfile.ZipFile(self.path)
        except FileNotFoundError:
            raise NpzMissing(f"no such file: {excerpt(self.path, 200)}") from None
        except IsADirectoryError:
            raise NpzError("this is a folder, not an .npz file") from None
        except _ZIP_ERRORS as exc:
            raise NpzError(_not_a_zip(self.path, exc)) from None
        try:
            self.members = self._read_headers()
        except BaseException:
            self._zip.close()
            raise

    def __enter__(self) -> NpzFile:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the archive."""
        self._zip.close()

    def _read_headers(self) -> dict[str, Member]:
        members: dict[str, Member] = {}
        for info in self._zip.infolist():
            if not info.filename.endswith(".npy") or info.is_dir():
                raise NpzError(
                    f"{_name(info)} is not a .npy array; an .npz holds only .npy members "
                    "(as numpy.savez writes them)"
                )
            key = info.filename[: -len(".npy")]
            if key in members:
                raise NpzError(f"{_name(info)} appears twice in the archive")
            member = self._header(info, key)
            if member.unreadable is None and member.nbytes != info.file_size - member.data_offset:
                raise NpzError(
                    f"{_name(info)} claims {member.describe()} ({member.nbytes:,} bytes) but "
                    f"holds {info.file_size - member.data_offset:,} bytes of data; the file "
                    "is damaged or was not written by numpy"
                )
            members[key] = member
        return members

    def _header(self, info: zipfile.ZipInfo, key: str) -> Member:
        """The member's ``.npy`` header, read without its data."""
        try:
            with self._zip.open(info) as stream:
                shape, fortran_order, dtype, offset = _read_header(stream, _name(info))
        except NpzError:
            raise
        except _ZIP_ERRORS as exc:
            raise NpzError(_damaged(info, exc)) from None
        return Member(key, shape, dtype, fortran_order, info, offset)

    def read(self, keys: Iterable[str]) -> dict[str, np.ndarray]:
        """The arrays called ``keys`` (C-contiguous, native byte order), each checked against
        the limits, and all of them together, before anything is allocated."""
        chosen = [self.members[key] for key in keys]
        for member in chosen:
            reason = member.unreadable
            if reason is not None:
                raise NpzError(f"array '{excerpt(member.key)}' holds {reason}")
            if member.nbytes > self.limits.array_bytes:
                raise NpzError(
                    f"array '{excerpt(member.key)}' is {member.describe()}: "
                    f"{member.nbytes:,} bytes; {self.limits.hint('array_bytes', member.nbytes)}",
                    "array_bytes",
                )
        total = sum(member.nbytes for member in chosen)
        if total > self.limits.data_bytes:
            raise NpzError(
                f"the arrays to read take {total:,} bytes together; "
                f"{self.limits.hint('data_bytes', total)}",
                "data_bytes",
            )
        return {member.key: self._data(member) for member in chosen}

    def _data(self, member: Member) -> np.ndarray:
        try:
            buffer = np.empty(member.nbytes, np.uint8)
        except MemoryError:
            raise NpzError(
                f"not enough memory to read array '{excerpt(member.key)}' "
                f"({member.describe()}, {member.nbytes:,} bytes)"
            ) from None
        view = memoryview(buffer)
        filled = 0
        try:
            with self._zip.open(member.info) as stream:
                stream.read(member.data_offset)
                # Never ask for more than the header claims: the buffer is exactly that big.
                while filled < member.nbytes:
                    chunk = stream.read(min(_CHUNK, member.nbytes - filled))
                    if not chunk:
                        break
                    view[filled : filled + len(chunk)] = chunk
                    filled += len(chunk)
        except _ZIP_ERRORS as exc:
            raise NpzError(_damaged(member.info, exc)) from None
        if filled < member.nbytes:
            raise NpzError(f"{_name(member.info)} ends before its {member.nbytes:,} bytes")
        order = "F" if member.fortran_order else "C"
        array = buffer.view(member.dtype).reshape(member.shape, order=order)
        # One layout for every caller: C order, the machine's byte order.
        return np.ascontiguousarray(array, dtype=member.dtype.newbyteorder("="))


def map_npy(path: str | Path) -> np.ndarray:
    """A ``.npy`` file memory-mapped read-only (``numpy.memmap``): its header parsed and
    checked as an ``.npz`` member's is (never a pickle), and the bytes it claims equal to
    the bytes after it in the file. Nothing is read into memory: pages come from the file
    as they are used, so the array may be larger than memory (the ``Limits`` on bytes read
    do not apply). Raises ``NpzError`` (``NpzMissing`` for no such file)."""
    label = f"file '{excerpt(Path(path).name)}'"
    try:
        with open(path, "rb") as stream:
            shape, fortran_order, dtype, offset = _read_header(stream, label)
            size = os.fstat(stream.fileno()).st_size
    except FileNotFoundError:
        raise NpzMissing(f"no such data file: {excerpt(str(path))}") from None
    except OSError as exc:
        raise NpzError(f"cannot read {label}: {exc.strerror or exc}") from None
    reason = _unreadable(dtype)
    if reason is not None:
        raise NpzError(f"{label} holds {reason}")
    claimed = math.prod(shape) * dtype.itemsize
    if claimed != size - offset:
        raise NpzError(
            f"{label} claims {shape} {dtype} ({claimed:,} bytes) but holds "
            f"{size - offset:,} bytes of data; the file is damaged or was not written by numpy"
        )
    if claimed == 0:  # mmap cannot map nothing
        return np.empty(shape, dtype)
    order = "F" if fortran_order else "C"
    return np.memmap(path, dtype, "r", offset, shape, order)


def read_npz(path: str | Path, limits: Limits = DEFAULT_LIMITS) -> dict[str, np.ndarray]:
    """Every array of an ``.npz``, read as ``NpzFile`` reads them."""
    with NpzFile(path, limits) as npz:
        return npz.read(list(npz.members))


def _read_header(stream: IO[bytes], label: str) -> tuple[tuple[int, ...], bool, np.dtype, int]:
    """Shape, order, dtype and data offset from the ``.npy`` header at the start of
    ``stream``, reading no more than the header (at most ``_MAX_HEADER`` bytes of it)."""
    magic = stream.read(len(_MAGIC) + 2)
    if len(magic) < len(_MAGIC) + 2 or not magic.startswith(_MAGIC):
        raise NpzError(f"{label} is not a .npy array (no .npy header)")
    version = (magic[-2], magic[-1])
    if version not in ((1, 0), (2, 0), (3, 0)):
        raise NpzError(f"{label} has .npy format version {version}, unknown")
    size = 2 if version == (1, 0) else 4
    length_field = stream.read(size)
    length = int.from_bytes(length_field, "little")
    if length > _MAX_HEADER:
        raise NpzError(
            f"{label} has a {length:,}-byte .npy header; numpy writes at most {_MAX_HEADER:,}"
        )
    header = stream.read(length)
    if len(length_field) < size or len(header) < length:
        raise NpzError(f"{label} ends inside its .npy header")
    shape, fortran_order, dtype = _parse_header(label, version, length_field + header)
    return shape, fortran_order, dtype, len(magic) + len(length_field) + length


def _parse_header(
    label: str, version: tuple[int, int], header: bytes
) -> tuple[tuple[int, ...], bool, np.dtype]:
    reader = (
        npy_format.read_array_header_1_0 if version == (1, 0) else npy_format.read_array_header_2_0
    )
    # After the length field (2 bytes in format 1.0, 4 after): the header's text, where
    # numpy never writes a NUL byte and Python 3.13's tokenizer turns one into a
    # SystemError inside numpy's parser.
    if b"\x00" in header[2 if version == (1, 0) else 4 :]:
        raise NpzError(f"{label} has a NUL byte in its .npy header")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # headers written by Python 2
            shape, fortran_order, dtype = reader(io.BytesIO(header), max_header_size=_MAX_HEADER)
    except (
        ValueError,
        TypeError,
        SyntaxError,
        KeyError,
        IndexError,
        RecursionError,
        MemoryError,
        OverflowError,
        tokenize.TokenError,  # numpy tokenizes the header: an unclosed bracket
    ):
        # numpy's texts describe the header literally and may suggest allow_pickle: not shown.
        raise NpzError(
            f"{label} has no valid .npy header (a dict of 'descr', 'fortran_order' and 'shape')"
        ) from None
    if not all(type(d) is int and d >= 0 for d in shape):
        raise NpzError(f"{label} has an invalid shape in its .npy header")
    return tuple(shape), fortran_order, dtype


def _not_a_zip(path: str, exc: BaseException) -> str:
    try:
        with open(path, "rb") as handle:
            start = handle.read(len(_MAGIC))
    except OSError:
        start = b""
    if start == _MAGIC:
        return "this is a single .npy array, not an .npz archive; save arrays with numpy.savez"
    if isinstance(exc, zipfile.BadZipFile):
        return "not an .npz file (a zip archive of .npy arrays, as numpy.savez writes)"
    return f"cannot be read as an .npz file: the archive is damaged ({_reason(exc)})"


def _damaged(info: zipfile.ZipInfo, exc: BaseException) -> str:
    return f"{_name(info)} cannot be read: the archive is damaged or truncated ({_reason(exc)})"


def _reason(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return excerpt(text, 120)
