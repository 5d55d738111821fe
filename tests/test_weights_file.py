"""Weights files: keys and shapes checked from the headers before any data is read, finite
values, and the diagnostics of each problem."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from specc.diagnostics import SpecError
from specc.limits import Limits
from specc.npz import NpzFile
from specc.weights import check_weights, load_weights, save_weights
from tests.hostile.npz_files import bomb, npz, zip_bytes

EXPECTED = {"dense/kernel": (4, 3), "dense/bias": (3,)}
KERNEL = np.arange(12, dtype=np.float32).reshape(4, 3)
BIAS = np.zeros(3, np.float32)


def problems(call, *args) -> list[tuple[str, str]]:
    with pytest.raises(SpecError) as info:
        call(*args)
    return [(d.code, d.message) for d in info.value.diagnostics]


def test_load_weights_round_trips_save_weights(tmp_path: Path) -> None:
    path = tmp_path / "w.npz"
    save_weights(path, {"dense/kernel": KERNEL, "dense/bias": BIAS})
    loaded = load_weights(path, Limits(), EXPECTED)
    np.testing.assert_array_equal(loaded["dense/kernel"], KERNEL)
    assert sorted(loaded) == sorted(EXPECTED)


def test_shapes_are_checked_before_any_data_is_read(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "w.npz"
    path.write_bytes(zip_bytes([bomb("dense/kernel.npy", (2**29,))]))

    def never(*args: object) -> None:
        raise AssertionError("read data before checking the headers")

    monkeypatch.setattr(NpzFile, "_data", never)
    assert problems(load_weights, path, Limits(), EXPECTED) == [
        (
            "SPC413-weight-shape",
            "weight 'dense/kernel' has shape (536870912,); the spec needs (4, 3)",
        ),
        ("SPC412-missing-weight", "missing weight 'dense/bias' of shape (3,)"),
    ]


def test_object_arrays_are_refused_by_their_header(tmp_path: Path) -> None:
    path = tmp_path / "w.npz"
    path.write_bytes(npz(**{"dense/kernel": np.full((4, 3), None), "dense/bias": BIAS}))
    assert problems(load_weights, path, Limits(), EXPECTED) == [
        (
            "SPC413-weight-shape",
            "weight 'dense/kernel' has dtype object; expected a floating-point array",
        )
    ]


def test_limits_are_their_own_code(tmp_path: Path) -> None:
    path = tmp_path / "w.npz"
    save_weights(path, {"dense/kernel": KERNEL, "dense/bias": BIAS})
    [(code, message)] = problems(load_weights, path, Limits(array_bytes=40), EXPECTED)
    assert code == "SPC415-weights-limit"
    assert message == (
        "array 'dense/kernel' is (4, 3) float32: 48 bytes; the limit is 40; raise it with "
        "--limit array_bytes=80"
    )


def test_unreadable_and_missing_files(tmp_path: Path) -> None:
    missing = tmp_path / "nope.npz"
    assert problems(load_weights, missing) == [
        ("SPC411-weights", f"no such weights file: {missing}")
    ]
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"\x80\x04\x95 a pickle")
    assert problems(load_weights, junk) == [
        (
            "SPC411-weights",
            "not an .npz file (a zip archive of .npy arrays, as numpy.savez writes)",
        )
    ]


@pytest.mark.parametrize(
    ("kernel", "message"),
    [
        (
            np.where(KERNEL == 5, np.nan, KERNEL),
            "weight 'dense/kernel' must hold finite float32 numbers; got nan at index (1, 2)",
        ),
        (
            np.where(KERNEL > 8, -np.inf, KERNEL),
            "weight 'dense/kernel' must hold finite float32 numbers; got -inf at index (3, 0) "
            "(and 2 more)",
        ),
        (
            np.where(KERNEL == 0, 1e39, KERNEL.astype(np.float64)),
            "weight 'dense/kernel' must hold finite float32 numbers; got 1e+39 at index (0, 0)",
        ),
    ],
)
def test_non_finite_weights_are_refused(kernel: np.ndarray, message: str) -> None:
    given = {"dense/kernel": kernel, "dense/bias": BIAS}
    assert problems(check_weights, "w.npz", given, EXPECTED) == [
        ("SPC416-weight-not-finite", message)
    ]


def test_the_largest_float32_is_finite() -> None:
    kernel = np.full((4, 3), np.finfo(np.float32).max, np.float64)
    checked = check_weights("w.npz", {"dense/kernel": kernel, "dense/bias": BIAS}, EXPECTED)
    assert np.isfinite(checked["dense/kernel"]).all()


def test_many_extra_keys_are_summed_up() -> None:
    given = {"dense/kernel": KERNEL, "dense/bias": BIAS, **{f"k{i:03}": BIAS for i in range(25)}}
    found = problems(check_weights, "w.npz", given, EXPECTED)
    assert len(found) == 11
    assert found[0] == (
        "SPC414-extra-weight",
        "weight 'k000' is not a weight of this spec (its weights: dense/bias, dense/kernel)",
    )
    assert found[-1] == (
        "SPC414-extra-weight",
        "and 15 more keys that are no weights of this spec",
    )
