"""``specc export --target mobile --quantize int8 --data D``: sample data that cannot give
an honest accuracy (NaN, infinity, values float32 cannot hold, no samples, text, Python
objects) or that inflates past the limits. Each is refused before the model is converted,
naming the array, exit 1; nothing is written."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from tests.hostile.case import Case
from tests.hostile.export_inputs import SPEC, check_all, not_in_output, spec_text, wrote_nothing

FAMILY = "quantize data"
QUANTIZE = ["export", SPEC, "--target", "mobile", "--quantize", "int8", "--data", "data.npz"]
AT = r"data\.npz: error: "


def _arrays(**changes: object) -> object:
    """A writer for data.npz: 20 samples for the tiny model, with ``changes``."""

    def write(path: Path) -> None:
        rng = np.random.default_rng(0)
        arrays = {
            "input_layer": rng.random((20, 4), dtype=np.float32),
            "dense": rng.integers(0, 3, 20),
        }
        arrays.update(changes)
        np.savez(path, **arrays)

    return write


def _with(value: float, where: tuple[int, int] = (3, 1)) -> np.ndarray:
    array = np.random.default_rng(0).random((20, 4), dtype=np.float32)
    array[where] = value
    return array


def _inflating(path: Path) -> None:
    # 64 MiB of zeros, 65 KB on disk.
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        header = b"\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': False, "
        header += b"'shape': (4194304, 4), }"
        header = header + b" " * (127 - len(header)) + b"\n"
        with archive.open("input_layer.npy", "w", force_zip64=True) as member:
            member.write(header)
            chunk = bytes(1 << 20)
            for _ in range(64):
                member.write(chunk)


def _case(name: str, data: object, pattern: str, *extra: str) -> Case:
    return Case(
        FAMILY,
        name,
        [*QUANTIZE, *extra],
        {SPEC: spec_text(loss=True), "data.npz": data},
        output_has=(AT + ".*" + pattern,),
        check=check_all(wrote_nothing, not_in_output("accuracy", "allow_pickle")),
    )


CASES = [
    _case(
        "NaN in an input",
        _arrays(input_layer=_with(np.nan)),
        r"array 'input_layer' must hold finite numbers; got 1 NaN or infinite value\(s\), "
        r"the first in sample 3 \[SPC528-not-finite\]",
    ),
    _case(
        "all NaN input",
        _arrays(input_layer=np.full((20, 4), np.nan, np.float32)),
        r"got 80 NaN",
    ),
    _case("infinity in an input", _arrays(input_layer=_with(np.inf, (7, 0))), r"sample 7"),
    _case(
        "NaN in the labels",
        _arrays(dense=np.where(np.arange(20) == 5, np.nan, 1.0)),
        r"array 'dense' must hold finite numbers.*sample 5",
    ),
    _case(
        "values float32 cannot hold",
        _arrays(input_layer=np.full((20, 4), 1e300)),
        r"array 'input_layer' must fit float32",
    ),
    _case(
        "no samples",
        _arrays(input_layer=np.zeros((0, 4), np.float32), dense=np.zeros(0)),
        r"hold no samples \[SPC523-data-length\]",
    ),
    _case(
        "text instead of numbers",
        _arrays(input_layer=np.array([["a"] * 4] * 20)),
        r"array 'input_layer' holds dtype <U1, not a bool, integer or float array",
    ),
    _case(
        "Python objects",
        _arrays(input_layer=np.array([object()] * 20, dtype=object)),
        r"holds Python objects \(pickled data, which specc never loads\)",
    ),
    _case(
        "a member inflating past the limit",
        _inflating,
        r"'input_layer' is \(4194304, 4\) float32.*--limit array_bytes=",
        "--limit",
        "array_bytes=1MB",
    ),
    _case("not an archive", b"\x93NUMPY random bytes", r"not an \.npz archive"),
]
