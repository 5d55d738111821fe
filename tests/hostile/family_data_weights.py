"""Weights files (``build --weights``, ``train --weights``, ``export --weights``) that are
hostile, damaged or simply wrong: each is refused with a located one-line error before
anything big is allocated, and never with advice to enable pickle."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper

from tests.hostile.case import Case, Content, Outcome
from tests.hostile.data_inputs import SPEC
from tests.hostile.npz_files import (
    Entry,
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

FAMILY = "weights files"

KERNEL = np.arange(12, dtype=np.float32).reshape(4, 3) / 10
BIAS = np.array([0.5, -0.5, 0.25], np.float32)
DATA = npz(x=np.ones((8, 4), np.float32), dense=np.arange(8) % 3)
# The member that inflates to 2 GiB: 2 MB on disk.
HUGE = (2**29,)


def weights(**changes: np.ndarray) -> bytes:
    """The spec's weights as an .npz, with some arrays replaced."""
    return npz(**{"dense/kernel": KERNEL, "dense/bias": BIAS, **changes})


def build(weights_file: Content, *options: str) -> dict[str, Any]:
    """The ``argv`` and ``files`` of a ``build --weights`` case."""
    return {
        "argv": ["build", "spec.yaml", "--weights", "w.npz", "-o", "m.onnx", *options],
        "files": {"spec.yaml": SPEC, "w.npz": weights_file},
    }


def lazy_zip(entries: Callable[[], list[Entry]]) -> Callable[[Path], None]:
    """A case file: a zip of ``entries()``, built only when the case runs."""
    return lambda path: path.write_bytes(zip_bytes(entries()))


def _lying_directory() -> list[Entry]:
    # The header claims 48 bytes and so does the directory; the data inflate to 16 MiB.
    member = bomb("dense/kernel.npy", (4 * MiB,), claimed=(4, 3))
    size = len(npy_header((4, 3))) + 48
    return [dataclasses.replace(member, size=size), stored("dense/bias.npy", npy(BIAS))]


def no_pickle_advice(outcome: Outcome) -> str | None:
    """specc never suggests loading pickles."""
    return "mentions pickle loading" if "allow_pickle" in outcome.output else None


def kernel_is(expected: np.ndarray):
    """A check: the built model holds ``expected`` as the kernel."""

    def check(outcome: Outcome) -> str | None:
        model = onnx.load(str(outcome.folder / "m.onnx"))
        found = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
        if not np.array_equal(found["dense.kernel"], expected):
            return f"the model's kernel is {found['dense.kernel']!r}"
        return None

    return check


def _damaged() -> bytes:
    data = bytearray(zip_bytes([bomb("dense/kernel.npy", (4, 3))]))
    data[60:80] = b"\xff" * 20  # inside the deflate stream
    return bytes(data)


CASES = [
    Case(
        FAMILY,
        "2 GiB bomb, wrong shape",
        **build(
            lazy_zip(lambda: [bomb("dense/kernel.npy", HUGE), stored("dense/bias.npy", npy(BIAS))])
        ),
        output_has=(r"weight 'dense/kernel' has shape \(536870912,\); the spec needs \(4, 3\)",),
        seconds=6,
    ),
    Case(
        FAMILY,
        "directory lies about the size",
        **build(lazy_zip(_lying_directory)),
        output_has=(r"member 'dense/kernel.npy' cannot be read: the archive is damaged",),
        seconds=6,
    ),
    Case(
        FAMILY,
        "header claims terabytes",
        **build(npz_members(**{"dense/kernel.npy": npy_header((10**6, 10**6)) + bytes(48)})),
        output_has=(r"claims \(1000000, 1000000\) float32", r"holds 48 bytes", r"SPC411"),
    ),
    Case(
        FAMILY,
        "member holds more than its header claims",
        **build(
            npz_members(
                **{
                    "dense/kernel.npy": npy(KERNEL) + bytes(MiB),
                    "dense/bias.npy": npy(BIAS),
                }
            )
        ),
        output_has=(r"claims \(4, 3\) float32 \(48 bytes\) but holds 1,048,624 bytes",),
    ),
    Case(
        FAMILY,
        "array over array_bytes",
        **build(weights(), "--limit", "array_bytes=16"),
        output_has=(r"array 'dense/kernel' is \(4, 3\) float32: 48 bytes", r"array_bytes=\d+"),
    ),
    Case(
        FAMILY,
        "arrays over data_bytes together",
        **build(weights(), "--limit", "data_bytes=50"),
        output_has=(r"60 bytes together", r"data_bytes=\d+", r"SPC415"),
    ),
    Case(
        FAMILY,
        "NaN weight, build",
        **build(weights(**{"dense/kernel": np.where(KERNEL > 0.5, np.nan, KERNEL)})),
        output_has=(
            r"weight 'dense/kernel' must hold finite float32 numbers; got nan at index "
            r"\(2, 0\) \(and 5 more\) \[SPC416-weight-not-finite\]",
        ),
    ),
    Case(
        FAMILY,
        "infinite weight, train",
        argv=["train", "spec.yaml", "--data", "d.npz", "--weights", "w.npz", "-o", "out", "-q"],
        files={
            "spec.yaml": SPEC,
            "d.npz": DATA,
            "w.npz": weights(**{"dense/bias": np.array([0, np.inf, 0], np.float32)}),
        },
        output_has=(r"weight 'dense/bias' must hold finite .* got inf at index \(1,\)",),
        check=lambda o: "wrote a model" if (o.folder / "out").exists() else None,
    ),
    Case(
        FAMILY,
        "NaN weight, export",
        argv=["export", "spec.yaml", "--target", "web", "--weights", "w.npz", "--out", "web"],
        files={"spec.yaml": SPEC, "w.npz": weights(**{"dense/bias": np.full(3, np.nan)})},
        output_has=(r"SPC416-weight-not-finite",),
    ),
    Case(
        FAMILY,
        "float64 past float32",
        **build(weights(**{"dense/kernel": np.full((4, 3), 1e300)})),
        output_has=(r"got 1e\+300 at index \(0, 0\)",),
    ),
    Case(
        FAMILY,
        "empty .npz",
        **build(npz()),
        output_has=(r"missing weight 'dense/kernel'", r"missing weight 'dense/bias'"),
    ),
    Case(
        FAMILY,
        "member named like a weight, not .npy",
        **build(npz_members(**{"dense/kernel": b"hello", "dense/bias.npy": npy(BIAS)})),
        output_has=(r"member 'dense/kernel' is not a .npy array", r"SPC411-weights"),
    ),
    Case(
        FAMILY,
        "text member",
        **build(npz_members(**{"readme.txt": b"hello"})),
        output_has=(r"member 'readme.txt' is not a .npy array",),
    ),
    Case(
        FAMILY,
        "a folder in the archive",
        **build(npz_members(**{"dense/": b""})),
        output_has=(r"member 'dense/' is not a .npy array",),
    ),
    Case(
        FAMILY,
        "member twice",
        **build(
            zip_bytes(
                [
                    stored("dense/kernel.npy", npy(KERNEL)),
                    stored("dense/bias.npy", npy(BIAS)),
                    stored("dense/kernel.npy", npy(KERNEL * 0)),
                ]
            )
        ),
        output_has=(r"member 'dense/kernel.npy' appears twice",),
    ),
    Case(
        FAMILY,
        "random bytes",
        **build(bytes(range(256)) * 16),
        output_has=(r"not an .npz file",),
        check=no_pickle_advice,
    ),
    Case(
        FAMILY,
        "a pickle",
        **build(pickled({"dense/kernel": KERNEL})),
        output_has=(r"not an .npz file",),
        check=no_pickle_advice,
    ),
    Case(
        FAMILY,
        "a single .npy",
        **build(npy(KERNEL)),
        output_has=(r"a single .npy array, not an .npz archive",),
    ),
    Case(
        FAMILY,
        "truncated",
        **build(weights()[:300]),
        output_has=(r"SPC411-weights",),
        check=no_pickle_advice,
    ),
    Case(
        FAMILY,
        "damaged deflate data",
        **build(_damaged()),
        output_has=(r"damaged", r"SPC411-weights"),
    ),
    Case(
        FAMILY,
        "object array",
        **build(weights(**{"dense/kernel": np.array([{"a": 1}, None], dtype=object)})),
        output_has=(r"weight 'dense/kernel' has shape \(2,\)",),
        check=no_pickle_advice,
    ),
    Case(
        FAMILY,
        "object array of the right shape",
        **build(weights(**{"dense/kernel": np.full((4, 3), None, dtype=object)})),
        output_has=(r"weight 'dense/kernel' has dtype object; expected a floating-point array",),
        check=no_pickle_advice,
    ),
    Case(
        FAMILY,
        "text array",
        **build(weights(**{"dense/kernel": np.full((4, 3), "1.0")})),
        output_has=(r"weight 'dense/kernel' has dtype <U3",),
    ),
    Case(
        FAMILY,
        "structured array",
        **build(weights(**{"dense/bias": np.zeros(3, dtype=[("a", "<f4"), ("b", "<i4")])})),
        output_has=(r"weight 'dense/bias' has dtype",),
    ),
    Case(
        FAMILY,
        "bool array",
        **build(weights(**{"dense/bias": np.ones(3, bool)})),
        output_has=(r"weight 'dense/bias' has dtype bool",),
    ),
    Case(
        FAMILY,
        "header too long",
        **build(
            npz_members(**{"dense/kernel.npy": raw_header("{" + " " * 20000 + "}"), "x.npy": b""})
        ),
        output_has=(r"20,002-byte .npy header",),
        check=no_pickle_advice,
    ),
    Case(
        FAMILY,
        "header not a dict",
        **build(npz_members(**{"dense/kernel.npy": raw_header("[1, 2, 3]\n")})),
        output_has=(r"has no valid .npy header",),
        check=no_pickle_advice,
    ),
    Case(
        FAMILY,
        "header with a negative dimension",
        **build(
            npz_members(
                **{
                    "dense/kernel.npy": raw_header(
                        "{'descr': '<f4', 'fortran_order': False, 'shape': (-4, 3), }\n"
                    )
                }
            )
        ),
        output_has=(r"has an invalid shape",),
    ),
    Case(
        FAMILY,
        "header with a 5000-digit dimension",
        **build(
            npz_members(
                **{
                    "dense/kernel.npy": raw_header(
                        "{'descr': '<f4', 'fortran_order': False, 'shape': (" + "9" * 5000 + ",)}"
                    )
                }
            )
        ),
        output_has=(r"has no valid .npy header|claims",),
    ),
    Case(
        FAMILY,
        "encrypted member",
        **build(zip_bytes([stored("dense/kernel.npy", npy(KERNEL), flags=1)])),
        output_has=(r"member 'dense/kernel.npy' cannot be read",),
    ),
    Case(
        FAMILY,
        "unknown compression method",
        **build(zip_bytes([stored("dense/kernel.npy", npy(KERNEL), method=99)])),
        output_has=(r"member 'dense/kernel.npy' cannot be read",),
    ),
    Case(
        FAMILY,
        "a thousand extra keys",
        **build(weights(**{f"k{i}": BIAS for i in range(1000)})),
        output_has=(r"and 990 more keys that are no weights of this spec",),
    ),
    Case(
        FAMILY,
        "Fortran order",
        **build(weights(**{"dense/kernel": np.asfortranarray(KERNEL)})),
        exit_code=0,
        check=kernel_is(KERNEL),
    ),
    Case(
        FAMILY,
        "big-endian",
        **build(
            weights(**{"dense/kernel": KERNEL.astype(">f4"), "dense/bias": BIAS.astype(">f8")})
        ),
        exit_code=0,
        check=kernel_is(KERNEL),
    ),
    Case(
        FAMILY,
        "float16 and int weights",
        **build(weights(**{"dense/kernel": KERNEL.astype(np.float16), "dense/bias": np.arange(3)})),
        exit_code=0,
        check=kernel_is(KERNEL.astype(np.float16).astype(np.float32)),
    ),
]
