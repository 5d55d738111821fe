"""Weights files: ``.npz`` with one array per ``<layer>/<weight>`` key, in Keras layouts.

The same format is read by ``specc build --weights`` and written after training, so weights
move between specc and Keras without conversion code.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from specc.atomic import open_atomic
from specc.diagnostics import Diagnostic, SpecError
from specc.escape import excerpt
from specc.lazy_numpy import np
from specc.limits import DEFAULT_LIMITS, Limits
from specc.types import TensorType

WEIGHTS_FILE = "SPC411-weights"
MISSING_WEIGHT = "SPC412-missing-weight"
WEIGHT_SHAPE = "SPC413-weight-shape"
EXTRA_WEIGHT = "SPC414-extra-weight"
WEIGHTS_LIMIT = "SPC415-weights-limit"
WEIGHT_NOT_FINITE = "SPC416-weight-not-finite"
# Extra keys reported one by one, and expected keys listed in a message, at most.
_SHOWN = 10


def weight_key(layer: str, weight: str) -> str:
    """The key of a weight in a weights file: ``dense_1/kernel``."""
    return f"{layer}/{weight}"


def load_weights(
    path: str | Path,
    limits: Limits = DEFAULT_LIMITS,
    expected: Mapping[str, tuple[int, ...]] | None = None,
) -> dict[str, np.ndarray]:
    """Read every array of a weights file (see ``specc.npz``: nothing is unpickled, sizes
    are checked before anything is allocated).

    With ``expected`` (each weight's key and shape), the keys, shapes and dtypes are checked
    from the arrays' headers before any data is read, so a file that cannot fit the spec,
    however big it inflates, is refused at once (as ``check_weights`` refuses it).
    """
    # Here: the weight keys are needed wherever a spec is checked, this reader only where
    # a weights file is read (its zip, lzma and tokenize imports are most of this module's).
    from specc.npz import NpzError, NpzFile, NpzMissing

    file = str(path)
    try:
        with NpzFile(file, limits) as npz:
            if expected is not None:
                found = {key: (m.shape, m.dtype) for key, m in npz.members.items()}
                problems = _problems(file, found, expected)
                if problems:
                    raise SpecError(problems)
            return npz.read(list(npz.members))
    except NpzMissing:
        message = f"no such weights file: {file}"
        raise SpecError([Diagnostic(WEIGHTS_FILE, message, (), file)]) from None
    except NpzError as error:
        code = WEIGHTS_LIMIT if error.limit else WEIGHTS_FILE
        raise SpecError([Diagnostic(code, error.message, (), file)]) from None


def save_weights(path: str | Path, weights: Mapping[str, np.ndarray]) -> None:
    """Write weights (keys ``<layer>/<weight>``) as an uncompressed ``.npz``, atomically."""
    with open_atomic(path, "wb") as handle:
        np.savez(handle, **{key: np.asarray(value) for key, value in weights.items()})


def check_weights(
    file: str, given: Mapping[str, np.ndarray], expected: Mapping[str, tuple[int, ...]]
) -> dict[str, np.ndarray]:
    """The given weights as float32, or ``SpecError`` naming every missing, extra or
    misshapen key with both shapes, and every weight holding NaN or infinity."""
    found = {key: (tuple(array.shape), array.dtype) for key, array in given.items()}
    problems = _problems(file, found, expected)
    if problems:
        raise SpecError(problems)
    with np.errstate(over="ignore", invalid="ignore"):  # overflow becomes inf: refused below
        weights = {key: np.asarray(given[key], dtype=np.float32) for key in expected}
    for key, array in weights.items():
        # A NaN or infinite weight makes every output and every loss NaN: training would
        # "finish" having learnt nothing. A float64 value beyond float32's range is one too.
        bad = ~np.isfinite(array)
        if bad.any():
            position = tuple(int(i) for i in np.argwhere(bad)[0])
            more = int(np.count_nonzero(bad)) - 1
            value = np.asarray(given[key])[position]
            problems.append(
                Diagnostic(
                    WEIGHT_NOT_FINITE,
                    f"weight '{excerpt(key)}' must hold finite float32 numbers; got {value} "
                    f"at index {position}" + (f" (and {more:,} more)" if more else ""),
                    (),
                    file,
                )
            )
    if problems:
        raise SpecError(problems)
    return weights


def _problems(
    file: str,
    found: Mapping[str, tuple[tuple[int, ...], np.dtype]],
    expected: Mapping[str, tuple[int, ...]],
) -> list[Diagnostic]:
    """Missing, misshapen and extra weights, from each found key's shape and dtype."""
    problems: list[Diagnostic] = []
    for key, shape in expected.items():
        if key not in found:
            problems.append(
                Diagnostic(MISSING_WEIGHT, f"missing weight '{key}' of shape {shape}", (), file)
            )
            continue
        given_shape, dtype = found[key]
        if tuple(given_shape) != tuple(shape):
            problems.append(
                Diagnostic(
                    WEIGHT_SHAPE,
                    f"weight '{key}' has shape {tuple(given_shape)}; the spec needs {tuple(shape)}",
                    (),
                    file,
                )
            )
        elif dtype.hasobject or dtype.kind not in "iuf":
            problems.append(
                Diagnostic(
                    WEIGHT_SHAPE,
                    f"weight '{key}' has dtype {dtype}; expected a floating-point array",
                    (),
                    file,
                )
            )
    extra = [key for key in found if key not in expected]
    known = ", ".join(sorted(expected)[:_SHOWN]) or "none"
    if len(expected) > _SHOWN:
        known += f", ... ({len(expected):,} in all)"
    problems.extend(
        Diagnostic(
            EXTRA_WEIGHT,
            f"weight '{excerpt(key)}' is not a weight of this spec (its weights: {known})",
            (),
            file,
        )
        for key in extra[:_SHOWN]
    )
    if len(extra) > _SHOWN:
        problems.append(
            Diagnostic(
                EXTRA_WEIGHT,
                f"and {len(extra) - _SHOWN:,} more keys that are no weights of this spec",
                (),
                file,
            )
        )
    return problems


def describe_input(tensor: TensorType) -> str:
    """A dtype and shape for messages: ``float32 (None, 16)``."""
    return f"{tensor.dtype} {tensor}"
