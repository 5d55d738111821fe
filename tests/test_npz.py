"""The safe .npz reader: headers checked before data, exact reads, clear refusals."""

from __future__ import annotations

import dataclasses
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from specc import npz as npz_module
from specc.limits import Limits
from specc.npz import NpzError, NpzFile, NpzMissing, read_npz
from tests.hostile.npz_files import (
    MiB,
    bomb,
    npy,
    npy_header,
    npz,
    npz_members,
    pickled,
    raw_header,
    stored,
    zip_bytes,
)

DTYPES = ["bool", "int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64"]
DTYPES += ["float16", "float32", "float64"]


def write(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "a.npz"
    path.write_bytes(data)
    return path


def refusal(tmp_path: Path, data: bytes) -> NpzError:
    """The error reading every array of ``data`` raises; it never suggests pickle."""
    with pytest.raises(NpzError) as info:
        read_npz(write(tmp_path, data))
    assert "pickle=" not in info.value.message and "\n" not in info.value.message
    return info.value


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("endian", ["<", ">"])
def test_every_plain_dtype_reads_back_exactly(
    tmp_path: Path, dtype: str, order: str, endian: str
) -> None:
    values = (np.arange(24).reshape(2, 3, 4) % 7).astype(dtype)
    stored_as = np.asarray(values, dtype=values.dtype.newbyteorder(endian), order=order)
    arrays = read_npz(write(tmp_path, npz(a=stored_as, empty=np.zeros((0, 3), dtype))))
    np.testing.assert_array_equal(arrays["a"], values)
    assert arrays["a"].flags.c_contiguous and arrays["a"].dtype.isnative
    assert arrays["empty"].shape == (0, 3)


def test_headers_are_read_without_data(tmp_path: Path) -> None:
    path = write(tmp_path, npz(x=np.zeros((5, 2), np.float32), y=np.arange(5)))
    with NpzFile(path) as archive:
        member = archive.members["x"]
        assert (member.shape, member.dtype, member.nbytes) == ((5, 2), np.float32, 40)
        assert list(archive.read(["y"])) == ["y"]


def test_a_member_inflating_past_its_directory_is_stopped_by_its_crc(tmp_path: Path) -> None:
    # Header and directory both claim 48 bytes; the deflate stream holds 64 MiB of zeros.
    member = bomb("k.npy", (16 * MiB,), claimed=(4, 3))
    lying = dataclasses.replace(member, size=len(npy_header((4, 3))) + 48)
    tracemalloc.start()
    try:
        error = refusal(tmp_path, zip_bytes([lying]))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "member 'k.npy' cannot be read: the archive is damaged" in error.message
    assert peak < 8 * MiB


def test_a_2_gib_member_is_refused_by_its_header_alone(tmp_path: Path) -> None:
    path = write(tmp_path, zip_bytes([bomb("k.npy", (2**29,))]))
    tracemalloc.start()
    try:
        with NpzFile(path, Limits(array_bytes=2**30)) as archive:
            assert archive.members["k"].nbytes == 2**31
            with pytest.raises(NpzError) as info:
                archive.read(["k"])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert info.value.limit == "array_bytes"
    assert info.value.message == (
        "array 'k' is (536870912,) float32: 2,147,483,648 bytes; the limit is "
        "1,073,741,824; raise it with --limit array_bytes=2147483648"
    )
    assert peak < 8 * MiB


def test_arrays_together_are_bounded(tmp_path: Path) -> None:
    path = write(tmp_path, npz(a=np.zeros(10), b=np.zeros(10)))
    with NpzFile(path, Limits(data_bytes=100)) as archive:
        assert archive.read(["a"])["a"].shape == (10,)
        with pytest.raises(NpzError) as info:
            archive.read(["a", "b"])
    assert info.value.limit == "data_bytes"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (npz_members(**{"k.npy": npy_header((10**6, 10**6)) + bytes(8)}), "claims"),
        (npz_members(**{"k.npy": npy(np.zeros(3)) + b"\0"}), "but holds 25 bytes"),
        (npz_members(**{"k.npy": npy(np.zeros(3))[:-1]}), "but holds 23 bytes"),
    ],
)
def test_the_claimed_size_must_be_what_the_member_holds(
    tmp_path: Path, data: bytes, message: str
) -> None:
    assert message in refusal(tmp_path, data).message


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("[1, 2]", "has no valid .npy header"),
        ("{'descr': '<f4', 'fortran_order': False}", "has no valid .npy header"),
        ("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': 1}", "no valid"),
        ("{'descr': 'not a dtype', 'fortran_order': False, 'shape': (2,)}", "no valid"),
        ("{'descr': '<f4', 'fortran_order': 1, 'shape': (2,)}", "no valid"),
        ("{'descr': '<f4', 'fortran_order': False, 'shape': (-2,)}", "invalid shape"),
        ("{'descr': '<f4', 'fortran_order': False, 'shape': (True,)}", "invalid shape"),
        ("{'descr': '<f4', 'fortran_order': False, 'shape': (" + "9" * 5000 + ",)}", "no valid"),
        ("(" * 5000 + ")" * 5000, "has no valid .npy header"),
        ("{" + " " * 10_001 + "}", "has a 10,003-byte .npy header; numpy writes at most 10,000"),
        # A SystemError inside numpy's parser on Python 3.13, found by fuzzing.
        ("{'descr': '<f4',\n\x00 'fortran_order': False, 'shape': (2,)}", "a NUL byte"),
        ("{\x00'descr': '<f4', 'fortran_order': False, 'shape': (2,)}", "a NUL byte"),
    ],
)
def test_bad_headers(tmp_path: Path, header: str, message: str) -> None:
    error = refusal(tmp_path, npz_members(**{"k.npy": raw_header(header)}))
    assert message in error.message


def test_unknown_format_version(tmp_path: Path) -> None:
    data = b"\x93NUMPY\x09\x00" + bytes(100)
    assert "format version (9, 0)" in refusal(tmp_path, npz_members(**{"k.npy": data})).message


@pytest.mark.parametrize(
    ("array", "reason"),
    [
        (np.array([{"a": 1}], dtype=object), "Python objects (pickled data, which specc never"),
        (np.array(["text"]), "dtype <U4, not a bool, integer or float array"),
        (np.zeros(2, dtype=[("a", "<f4")]), "not a bool, integer or float array"),
        (np.zeros(2, dtype=np.complex64), "dtype complex64"),
        (np.zeros(2, dtype=np.longdouble), "not a bool, integer or float array"),
        (np.zeros(2, dtype="datetime64[s]"), "not a bool, integer or float array"),
    ],
)
def test_arrays_that_are_not_plain_numbers_are_refused_when_read(
    tmp_path: Path, array: np.ndarray, reason: str
) -> None:
    path = write(tmp_path, npz(odd=array, fine=np.ones(2)))
    with NpzFile(path) as archive:
        assert archive.read(["fine"])["fine"].tolist() == [1, 1]  # the other is never read
        with pytest.raises(NpzError) as info:
            archive.read(["odd"])
    assert info.value.message.startswith("array 'odd' holds ")
    assert reason in info.value.message


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "not an .npz file (a zip archive of .npy arrays, as numpy.savez writes)"),
        (bytes(range(256)) * 8, "not an .npz file"),
        (pickled({"a": 1}), "not an .npz file"),
        (npy(np.zeros(3)), "this is a single .npy array, not an .npz archive"),
        (npz(a=np.zeros(100))[:150], "not an .npz file"),
        (npz_members(**{"a.txt": b"x"}), "member 'a.txt' is not a .npy array"),
        (npz_members(**{"a": npy(np.zeros(2))}), "member 'a' is not a .npy array"),
        (npz_members(**{"dir/": b""}), "member 'dir/' is not a .npy array"),
        (npz_members(**{"a.npy": b"hello"}), "member 'a.npy' is not a .npy array (no .npy hea"),
        (npz_members(**{"\x1b]0;x\x07.npy": b""}), "member '\\x1b]0;x\\x07.npy' is not"),
        (
            zip_bytes([stored("a.npy", npy(np.zeros(2))), stored("a.npy", npy(np.ones(2)))]),
            "member 'a.npy' appears twice in the archive",
        ),
        (zip_bytes([stored("a.npy", npy(np.zeros(2)), flags=1)]), "member 'a.npy' cannot be"),
        (zip_bytes([stored("a.npy", npy(np.zeros(2)), method=99)]), "member 'a.npy' cannot be"),
    ],
)
def test_files_that_are_not_npz_archives(tmp_path: Path, data: bytes, message: str) -> None:
    assert message in refusal(tmp_path, data).message


def test_an_empty_archive_has_no_members(tmp_path: Path) -> None:
    assert read_npz(write(tmp_path, npz())) == {}


def test_missing_files_and_folders(tmp_path: Path) -> None:
    with pytest.raises(NpzMissing):
        NpzFile(tmp_path / "nope.npz")
    with pytest.raises(NpzError, match="this is a folder"):
        NpzFile(tmp_path)


def test_running_out_of_memory_is_a_clean_error(tmp_path: Path, monkeypatch) -> None:
    path = write(tmp_path, npz(a=np.zeros(4)))

    def no_memory(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(npz_module.np, "empty", no_memory)
    with pytest.raises(NpzError, match="not enough memory to read array 'a'"):
        read_npz(path)
