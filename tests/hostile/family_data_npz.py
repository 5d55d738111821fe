"""``.npz`` data files (``train --data``) that are hostile, damaged or odd: refused with a
one-line error naming the file before anything big is allocated, or read correctly."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from tests.hostile.case import Case, Content, Outcome
from tests.hostile.data_inputs import SPEC
from tests.hostile.npz_files import (
    bomb,
    npy,
    npy_header,
    npz,
    npz_members,
    pickled,
    stored,
    zip_bytes,
)

FAMILY = "npz data"

X = np.linspace(0, 1, 32, dtype=np.float32).reshape(8, 4)
Y = np.arange(8) % 3


def train(data: Content, *options: str, validation: Content | None = None) -> dict:
    """The ``argv`` and ``files`` of a ``train --data`` case."""
    files: dict[str, Content] = {"spec.yaml": SPEC, "d.npz": data}
    argv = ["train", "spec.yaml", "--data", "d.npz", "-o", "out", "-q", "--epochs", "1"]
    if validation is not None:
        files["v.npz"] = validation
        argv += ["--validation-data", "v.npz"]
    return {"argv": [*argv, *options], "files": files}


def lazy_zip(entries: Callable[[], list]) -> Callable[[Path], None]:
    """A case file: a zip of ``entries()``, built only when the case runs."""
    return lambda path: path.write_bytes(zip_bytes(entries()))


def no_pickle_advice(outcome: Outcome) -> str | None:
    """specc never suggests loading pickles."""
    return "mentions pickle loading" if "allow_pickle" in outcome.output else None


def trained(outcome: Outcome) -> str | None:
    """The run wrote its model."""
    return None if (outcome.folder / "out" / "model.onnx").exists() else "no model written"


CASES = [
    Case(
        FAMILY,
        "empty .npz",
        **train(npz()),
        output_has=(r"d.npz: error: the file holds no arrays \(an empty .npz\) \[SPC521",),
    ),
    Case(
        FAMILY,
        "random bytes",
        **train(bytes(range(256)) * 16),
        output_has=(r"not an .npz file",),
        check=no_pickle_advice,
    ),
    Case(
        FAMILY,
        "a pickle",
        **train(pickled({"x": X, "dense": Y})),
        output_has=(r"not an .npz file",),
        check=no_pickle_advice,
    ),
    Case(
        FAMILY,
        "object array",
        **train(npz(x=np.array([{"a": 1}] * 8, dtype=object), dense=Y)),
        output_has=(r"array 'x' for input 'x' must hold numbers \(float32\); got dtype object",),
        check=no_pickle_advice,
    ),
    Case(
        FAMILY,
        "member named like an input, not .npy",
        **train(npz_members(x=b"not an array", **{"dense.npy": npy(Y)})),
        output_has=(r"member 'x' is not a .npy array",),
    ),
    Case(
        FAMILY,
        "member twice",
        **train(
            zip_bytes(
                [stored("x.npy", npy(X)), stored("dense.npy", npy(Y)), stored("x.npy", npy(X))]
            )
        ),
        output_has=(r"member 'x.npy' appears twice",),
    ),
    Case(
        FAMILY,
        "2 GiB bomb, wrong shape",
        **train(lazy_zip(lambda: [bomb("x.npy", (2**29,)), stored("dense.npy", npy(Y))])),
        output_has=(r"array 'x' for input 'x' must have shape \(None, 4\); got \(536870912,\)",),
        seconds=6,
    ),
    Case(
        FAMILY,
        "2 GiB bomb over array_bytes",
        **train(
            lazy_zip(lambda: [bomb("x.npy", (2**27, 4)), stored("dense.npy", npy(Y))]),
            "--limit",
            "array_bytes=100MB",
        ),
        output_has=(
            r"array 'x' is \(134217728, 4\) float32: 2,147,483,648 bytes; the limit is "
            r"100,000,000; raise it with --limit array_bytes=2147483648 \[SPC530-data-limit\]",
        ),
        seconds=6,
    ),
    Case(
        FAMILY,
        "header claims terabytes",
        **train(npz_members(**{"x.npy": npy_header((10**6, 10**6)) + bytes(64)})),
        output_has=(r"claims \(1000000, 1000000\) float32 .* but holds 64 bytes",),
    ),
    Case(
        FAMILY,
        "arrays over data_bytes together",
        **train(npz(x=X, dense=Y), "--limit", "data_bytes=100"),
        output_has=(r"the arrays to read take 192 bytes together", r"SPC530-data-limit"),
    ),
    Case(
        FAMILY,
        "truncated",
        **train(npz(x=X, dense=Y)[:200]),
        output_has=(r"SPC521-data-file",),
        check=no_pickle_advice,
    ),
    Case(
        FAMILY,
        "a single .npy",
        **train(npy(X)),
        output_has=(r"a single .npy array, not an .npz archive",),
    ),
    Case(
        FAMILY,
        "bad validation file",
        **train(npz(x=X, dense=Y), validation=b"PK\x03\x04 not really"),
        output_has=(r"v.npz: error: .*SPC521-data-file",),
        check=no_pickle_advice,
    ),
    Case(
        FAMILY,
        "text array for an input",
        **train(npz(x=np.full((8, 4), "0.5"), dense=Y)),
        output_has=(r"array 'x' for input 'x' must hold numbers \(float32\); got dtype <U3",),
    ),
    Case(
        FAMILY,
        "unused text array",
        **train(npz(x=X, dense=Y, names=np.array(["a", "b"] * 4))),
        exit_code=0,
        check=trained,
    ),
    Case(
        FAMILY,
        "unused object array",
        **train(npz(x=X, dense=Y, meta=np.array([None] * 8, dtype=object))),
        exit_code=0,
        check=trained,
    ),
    Case(
        FAMILY,
        "Fortran order and big-endian",
        **train(npz(x=np.asfortranarray(X).astype(">f8"), dense=Y.astype(">i2"))),
        exit_code=0,
        check=trained,
    ),
]
