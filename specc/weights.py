"""Weights files: ``.npz`` with one array per ``<layer>/<weight>`` key, in Keras layouts.

The same format is read by ``specc build --weights`` and written after training, so weights
move between specc and Keras without conversion code.
"""

from __future__ import annotations

import zipfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from specc.atomic import open_atomic
from specc.diagnostics import Diagnostic, SpecError
from specc.limits import DEFAULT_LIMITS, Limits
from specc.types import TensorType


def weight_key(layer: str, weight: str) -> str:
    """The key of a weight in a weights file: ``dense_1/kernel``."""
    return f"{layer}/{weight}"


def _fail(file: str, message: str, code: str = "SPC411-weights") -> SpecError:
    return SpecError([Diagnostic(code, message, (), file)])


def load_weights(path: str | Path, limits: Limits = DEFAULT_LIMITS) -> dict[str, np.ndarray]:
    """Read every array of a weights file (no pickles: object arrays are refused)."""
    file = str(path)
    try:
        with np.load(file, allow_pickle=False) as archive:
            return {key: archive[key] for key in archive.files}
    except FileNotFoundError:
        raise _fail(file, f"no such weights file: {file}") from None
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise _fail(file, f"cannot read weights file {file} as .npz: {exc}") from None


def save_weights(path: str | Path, weights: Mapping[str, np.ndarray]) -> None:
    """Write weights (keys ``<layer>/<weight>``) as an uncompressed ``.npz``, atomically."""
    with open_atomic(path, "wb") as handle:
        np.savez(handle, **{key: np.asarray(value) for key, value in weights.items()})


def check_weights(
    file: str, given: Mapping[str, np.ndarray], expected: Mapping[str, tuple[int, ...]]
) -> dict[str, np.ndarray]:
    """The given weights as float32, or ``SpecError`` naming every missing, extra or
    misshapen key with both shapes."""
    problems: list[Diagnostic] = []
    for key, shape in expected.items():
        if key not in given:
            problems.append(
                Diagnostic(
                    "SPC412-missing-weight", f"missing weight '{key}' of shape {shape}", (), file
                )
            )
            continue
        array = given[key]
        if tuple(array.shape) != tuple(shape):
            problems.append(
                Diagnostic(
                    "SPC413-weight-shape",
                    f"weight '{key}' has shape {tuple(array.shape)}; the spec needs {tuple(shape)}",
                    (),
                    file,
                )
            )
        elif not (
            np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)
        ):
            problems.append(
                Diagnostic(
                    "SPC413-weight-shape",
                    f"weight '{key}' has dtype {array.dtype}; expected a floating-point array",
                    (),
                    file,
                )
            )
    for key in given:
        if key not in expected:
            known = ", ".join(sorted(expected)) or "none"
            problems.append(
                Diagnostic(
                    "SPC414-extra-weight",
                    f"weight '{key}' is not a weight of this spec (its weights: {known})",
                    (),
                    file,
                )
            )
    if problems:
        raise SpecError(problems)
    return {key: np.asarray(given[key], dtype=np.float32) for key in expected}


def describe_input(tensor: TensorType) -> str:
    """A dtype and shape for messages: ``float32 (None, 16)``."""
    return f"{tensor.dtype} {tensor}"
