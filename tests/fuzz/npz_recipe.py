"""Fuzz bytes read as a recipe for an ``.npz``, so that the fuzzer explores ``.npy``
headers (dtypes, shapes that claim gigabytes, truncated data) instead of zip checksums.

An input that starts with the byte 0xFE is a recipe: each byte after it picks the next
choice (how many members, each member's name, kind, dtype, shape, order,
compression and data), and a recipe that runs out of bytes takes the first choices. Any
other input is used as it is, so that the corpus's real files (and an empty file, random
bytes, a bare ``.npy``) stay real files that byte-level mutations can break.
"""

from __future__ import annotations

import io
import math
import warnings
import zipfile

DESCRS = ["'<f4'", "'<f8'", "'<f2'", "'|u1'", "'|i1'", "'<i4'", "'<i8'", "'<u8'", "'|b1'"]
DESCRS += ["'<c8'", "'<U4'", "'|S3'", "'|V4'", "'|O'", "'<M8[s]'", "'>f4'", "'<f16'"]
DESCRS += ["[('a', '<f4'), ('b', '|O')]", "'bogus'", "None", "1"]
DIMS = [0, 1, 2, 3, 4, 5, 8, 10, 12, 2**16, 2**31 - 1, 2**31, 2**40, 2**62, -1]
SHAPES = ["(-1,)", "(1.5,)", "'x'", "None", "(2, 'x')"]
ODD_NAMES = ["", "x", "../evil", "a" * 300, "\x00", "\x1b]0;t\x07", "é", "dir/", "a.npy"]
_MAGIC = b"\x93NUMPY"
RECIPE = b"\xfe"
# The code that reads an .npz (numpy's modules under their names from 2.0 and before).
READERS = ("numpy.lib._format_impl", "numpy.lib._npyio_impl", "numpy.lib.format")
READERS += ("numpy.lib.npyio", "zipfile")


class _Choices:
    """Reads choices from bytes; past the end, every choice is the first."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.at = 0

    def pick(self, options: list) -> object:
        return options[self.number(len(options))]

    def number(self, below: int) -> int:
        if self.at >= len(self.data) or below <= 1:
            return 0
        self.at += 1
        return self.data[self.at - 1] % below

    def chunk(self, size: int) -> bytes:
        part = self.data[self.at : self.at + size]
        self.at += len(part)
        return part


def _npy(c: _Choices) -> bytes:
    descr = c.pick(DESCRS)
    if c.number(8) == 0:
        shape = c.pick(SHAPES)
    else:
        dims = [c.pick(DIMS) for _ in range(c.number(4))]
        shape = "(" + "".join(f"{d}, " for d in dims).rstrip(" ") + ")"
    fortran = c.pick(["False", "True"])
    header = f"{{'descr': {descr}, 'fortran_order': {fortran}, 'shape': {shape}, }}"
    if c.number(16) == 0:
        header = c.chunk(c.number(64)).decode("latin-1")
    version = c.pick([1, 2, 3])
    size_bytes = 2 if version == 1 else 4
    body = header.encode("latin-1" if version < 3 else "utf-8", "replace")
    pad = -(len(_MAGIC) + 2 + size_bytes + len(body) + 1) % 64
    body += b" " * pad + b"\n"
    claimed = len(body) + c.pick([0, 0, 0, 1, -1, 1000])
    prefix = _MAGIC + bytes([version, 0]) + max(claimed, 0).to_bytes(size_bytes, "little")
    return prefix + body + _payload(c, descr, shape)


def _payload(c: _Choices, descr: str, shape: str) -> bytes:
    """The array's data: the size its header implies (when small), or a cut or a tail."""
    itemsize = {"'<f8'": 8, "'<i8'": 8, "'<u8'": 8, "'<c8'": 8, "'<f2'": 2, "'<U4'": 16}
    try:
        dims = [int(d) for d in shape.strip("()").split(",") if d.strip()]
        count = math.prod(dims) * itemsize.get(descr, 4)
    except ValueError:
        count = 0
    how = c.number(4)
    if how == 0 and 0 <= count <= 1 << 16:
        seed = c.chunk(8) or b"\0"
        return (seed * (count // len(seed) + 1))[:count]
    if how == 1:
        return b""
    return c.chunk(c.number(256))


def build(data: bytes, names: tuple[str, ...]) -> bytes:
    """The ``.npz`` that ``data`` describes; members named after ``names`` mostly."""
    if not data.startswith(RECIPE):
        return data
    c = _Choices(data[1:])
    out = io.BytesIO()
    # Duplicate member names are one of the things a recipe tries; zipfile warns of them.
    with warnings.catch_warnings(), zipfile.ZipFile(out, "w") as archive:
        warnings.simplefilter("ignore", UserWarning)
        for _ in range(c.number(6)):
            name = str(c.pick([*names, *names, *ODD_NAMES]))
            if c.number(8):
                name += ".npy"
            content = _npy(c) if c.number(6) else c.chunk(c.number(128))
            compression = c.pick([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
            archive.writestr(zipfile.ZipInfo(name), content, compress_type=compression)
    return out.getvalue()
