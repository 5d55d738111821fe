"""Building ``.npz`` files for hostile cases: honest ones, and zips that lie.

``zip_file`` writes a zip from raw entries, so a case can give any directory it likes
(sizes that lie, a name twice, an encrypted flag, an unknown compression method).
``bomb`` is a member of highly compressible zeros: gigabytes inflated, a couple of
megabytes on disk, built in well under a second by repeating one flushed deflate block.
"""

from __future__ import annotations

import io
import pickle
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
from numpy.lib import format as npy_format

MiB = 2**20
_STORED, _DEFLATED = 0, 8


@dataclass(frozen=True)
class Entry:
    """One zip member as its directory describes it, and the bytes stored for it."""

    name: str
    payload: bytes  # what is stored: raw deflate data when ``method`` is 8
    crc: int
    size: int  # the uncompressed size the directory gives
    method: int = _STORED
    flags: int = 0


def stored(name: str, data: bytes, **changes: int) -> Entry:
    """A member stored as is; ``changes`` override directory fields (``size=``, ...)."""
    fields = {"crc": zlib.crc32(data), "size": len(data), **changes}
    return Entry(name, data, **fields)


def zip_bytes(entries: list[Entry]) -> bytes:
    """A zip archive holding ``entries`` exactly as given."""
    out, directory = io.BytesIO(), io.BytesIO()
    for entry in entries:
        offset = out.tell()
        name = entry.name.encode("utf-8")
        common = (entry.flags, entry.method, 0, 0x21, entry.crc, len(entry.payload), entry.size)
        out.write(struct.pack("<4s2B4HL2L2H", b"PK\x03\x04", 20, 0, *common, len(name), 0))
        out.write(name + entry.payload)
        directory.write(
            struct.pack(
                "<4s4B4HL2L5H2L",
                b"PK\x01\x02",
                20,
                3,
                20,
                0,
                *common,
                len(name),
                0,
                0,
                0,
                0,
                0,
                offset,
            )
        )
        directory.write(name)
    start = out.tell()
    table = directory.getvalue()
    count = len(entries)
    out.write(table)
    out.write(struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, count, count, len(table), start, 0))
    return out.getvalue()


def zip_file(entries: list[Entry]) -> Callable[[Path], None]:
    """A case file: the zip of ``entries``."""
    return lambda path: path.write_bytes(zip_bytes(entries))


def npy(array: np.ndarray) -> bytes:
    """``array`` as a ``.npy`` file."""
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=True)
    return buffer.getvalue()


def npy_header(shape: tuple[int, ...], descr: str = "<f4", fortran: bool = False) -> bytes:
    """A version 1.0 ``.npy`` header claiming ``shape`` and ``descr``, without data."""
    buffer = io.BytesIO()
    header = {"descr": descr, "fortran_order": fortran, "shape": shape}
    npy_format.write_array_header_1_0(buffer, header)
    return buffer.getvalue()


def raw_header(text: str) -> bytes:
    """A version 1.0 ``.npy`` header holding ``text`` as is (valid or not)."""
    body = text.encode("latin1")
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(body)) + body


def npz(**arrays: np.ndarray) -> bytes:
    """An honest ``.npz`` of ``arrays``, as ``numpy.savez`` writes it."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def npz_members(**members: bytes) -> bytes:
    """An ``.npz`` whose members (named exactly so) hold the given bytes."""
    return zip_bytes([stored(name, data) for name, data in members.items()])


def pickled(value: object) -> bytes:
    """A pickle, as an attacker would hand it over in place of an ``.npz``."""
    return pickle.dumps(value)


@cache
def _zeros_deflated(count: int) -> bytes:
    """Raw deflate data of ``count`` zero bytes, as independent blocks of one MiB: a full
    flush resets the compressor, so every block after one is the same bytes."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = compressor.compress(bytes(MiB)) + compressor.flush(zlib.Z_FULL_FLUSH)
    whole, rest = divmod(count, MiB)
    return block * whole + compressor.compress(bytes(rest)) + compressor.flush()


def _gf2_times(matrix: list[int], vector: int) -> int:
    total, row = 0, 0
    while vector:
        if vector & 1:
            total ^= matrix[row]
        vector >>= 1
        row += 1
    return total


def _gf2_square(matrix: list[int]) -> list[int]:
    return [_gf2_times(matrix, matrix[n]) for n in range(32)]


def crc32_combine(first: int, second: int, length: int) -> int:
    """The CRC-32 of ``A + B`` from those of ``A`` and ``B`` and the length of ``B`` (zlib's
    ``crc32_combine``, which Python does not expose): gigabytes of zeros without reading
    them."""
    if length == 0:
        return first
    odd = [0xEDB88320] + [1 << n for n in range(31)]  # the operator for one zero bit
    even = _gf2_square(odd)
    odd = _gf2_square(even)
    while True:
        even = _gf2_square(odd)
        if length & 1:
            first = _gf2_times(even, first)
        length >>= 1
        if not length:
            break
        odd = _gf2_square(even)
        if length & 1:
            first = _gf2_times(odd, first)
        length >>= 1
        if not length:
            break
    return first ^ second


@cache
def _crc_of_zeros(count: int) -> int:
    result, block, length = 0, zlib.crc32(bytes(MiB)), MiB  # block: the CRC of length zeros
    whole, rest = divmod(count, MiB)
    while whole:
        if whole & 1:
            result = crc32_combine(result, block, length)
        block = crc32_combine(block, block, length)
        length *= 2
        whole >>= 1
    return crc32_combine(result, zlib.crc32(bytes(rest)), rest)


def bomb(
    name: str, shape: tuple[int, ...], descr: str = "<f4", claimed: tuple[int, ...] | None = None
) -> Entry:
    """A deflated member whose data are the zeros ``shape`` holds; its header claims
    ``claimed`` (default: ``shape``), and its directory gives the true size."""
    header = npy_header(claimed if claimed is not None else shape, descr)
    zeros = int(np.prod(shape, dtype=np.int64)) * np.dtype(descr).itemsize
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = compressor.compress(header) + compressor.flush(zlib.Z_FULL_FLUSH)
    crc = crc32_combine(zlib.crc32(header), _crc_of_zeros(zeros), zeros)
    return Entry(name, head + _zeros_deflated(zeros), crc, len(header) + zeros, _DEFLATED)
