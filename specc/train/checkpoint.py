"""A training run's checkpoint: one folder, written whole, read back trusting nothing.

``checkpoint.json``  what is not an array: the format and version, the fingerprint of the
                     run (spec, data, batch size, seed, backend: a resume with another is
                     refused), where the run stands (``FitState``: epoch, step, batches
                     trained, the shuffling generator's state when the epoch began, the
                     epoch's partial loss sums, the History so far) and each callback's
                     state; JSON as Python writes it (a NaN loss as ``NaN``)
``state.npz``        the arrays: ``session/<name>`` the backend's state (parameters,
                     optimizer slots, iterations, the learning rate in use),
                     ``totals/<metric>/<k>`` the epoch's metric totals (AUC's thresholds
                     arrays among them), ``callbacks/<index>/<name>`` callbacks' arrays
                     (EarlyStopping's best weights)
``files/``           the files callbacks wrote so far (a CSV log, TensorBoard events)

The folder is filled beside its place and swapped in with one rename
(``specc.atomic.replaced_folder``): a kill at any moment leaves the previous checkpoint
or the new one. Reading checks every JSON field's type and every array's dtype and shape
against what the compiled run expects before anything is used, and reads the arrays with
``specc.npz`` (no pickles, sizes checked before allocating); a problem is one
``CheckpointError`` naming the file and the field.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from specc.atomic import copy_file, open_atomic, replaced_folder, write_text
from specc.escape import excerpt
from specc.limits import DEFAULT_LIMITS, Limits
from specc.npz import NpzError, NpzFile
from specc.train.checkpoint_json import CheckpointError, JsonReader
from specc.train.fit import FitState

FORMAT = "specc-checkpoint"
VERSION = 1
__all__ = ["Checkpoint", "CheckpointError", "read_checkpoint", "write_checkpoint"]
STATE_FILE = "checkpoint.json"
ARRAYS_FILE = "state.npz"
FILES_FOLDER = "files"


@dataclass
class Checkpoint:
    """Everything a resumed run needs, as read (and checked) or about to be written."""

    fingerprint: dict[str, Any]
    fit: FitState
    session: dict[str, np.ndarray]


def write_checkpoint(
    folder: Path,
    checkpoint: Checkpoint,
    files: Path | None = None,
    halfway: Callable[[], None] | None = None,
) -> None:
    """Write ``checkpoint`` as ``folder``, replacing what is there in one step; ``files``
    (the callbacks' folder) is copied into it. ``halfway`` is called once the arrays are
    written and before the folder is complete (a test kills the process there)."""
    fit = checkpoint.fit
    arrays = {f"session/{name}": a for name, a in checkpoint.session.items()}
    for index, totals in enumerate(fit.totals):
        for k, array in enumerate(totals or []):
            arrays[f"totals/{index}/{k}"] = array
    callbacks = []
    for index, (values, own) in enumerate(fit.callbacks):
        callbacks.append(values)
        arrays.update((f"callbacks/{index}/{name}", a) for name, a in own.items())
    document = {
        "format": FORMAT,
        "version": VERSION,
        "fingerprint": checkpoint.fingerprint,
        "position": {
            "epoch": fit.epoch,
            "step": fit.step,
            "steps_trained": fit.steps_trained,
            "finished": fit.finished,
        },
        "shuffle_state": fit.shuffle_state,
        "averages": {
            "sums": fit.sums,
            "count": fit.count,
            "totals": [None if t is None else len(t) for t in fit.totals],
        },
        "history": fit.history,
        "logs": fit.logs,
        "callbacks": callbacks,
    }
    text = json.dumps(document, indent=1, default=_plain)
    with replaced_folder(folder) as staging:
        with open_atomic(staging / ARRAYS_FILE, "wb") as handle:
            np.savez(handle, **{key: np.asarray(a) for key, a in arrays.items()})
        if halfway is not None:
            halfway()
        if files is not None and files.is_dir():
            shutil.copytree(files, staging / FILES_FOLDER, symlinks=True, copy_function=copy_file)
        # Last: a folder with this file in it is complete (see the test hook in run).
        write_text(staging / STATE_FILE, text)


def _plain(value: Any) -> Any:
    """NumPy scalars (a metric value, a monitored best) as Python numbers."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON")


def has_checkpoint(folder: Path) -> bool:
    """Whether ``folder`` holds a checkpoint (complete or not: reading it will tell)."""
    return (folder / STATE_FILE).exists() or (folder / ARRAYS_FILE).exists()


def read_checkpoint(
    folder: Path,
    session_types: Mapping[str, tuple[tuple[int, ...], np.dtype]],
    metric_shapes: list[list[tuple[int, ...]]],
    callback_count: int,
    limits: Limits = DEFAULT_LIMITS,
) -> Checkpoint:
    """The checkpoint in ``folder``, every field checked; ``session_types`` are the
    backend's state entries (a -1 dimension: zero or one value; -2: any),
    ``metric_shapes`` the shapes of each metric's totals arrays. ``CheckpointError`` for
    any problem."""
    path = folder / STATE_FILE
    if path.is_symlink() or not path.is_file():
        raise CheckpointError(f"{path}: no checkpoint here (checkpoint.json is missing)")
    try:
        raw = path.read_bytes()
        if len(raw) > limits.data_bytes:
            raise CheckpointError(f"{path}: {len(raw):,} bytes is too big for a checkpoint")
        document = json.loads(raw.decode("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise CheckpointError(f"{path}: not readable JSON ({type(exc).__name__}: {exc})") from None
    top = JsonReader(str(path), document)
    if top.str("format") != FORMAT or top.int("version") != VERSION:
        raise CheckpointError(f"{path}: not a {FORMAT} file of version {VERSION}")
    position = top.dict("position")
    averages = top.dict("averages")
    totals_lengths = averages.list("totals")
    if len(totals_lengths) != len(metric_shapes):
        raise CheckpointError(
            f"{path}: averages.totals has {len(totals_lengths)} metrics; "
            f"the model has {len(metric_shapes)}"
        )
    callbacks = top.list("callbacks")
    if len(callbacks) != callback_count:
        raise CheckpointError(
            f"{path}: callbacks holds {len(callbacks)} states; the spec lists "
            f"{callback_count} callbacks"
        )
    fit = FitState(
        epoch=position.int("epoch"),
        step=position.int("step"),
        steps_trained=position.int("steps_trained"),
        shuffle_state=top.dict("shuffle_state").value,
        history=top.history("history"),
        logs=top.logs("logs"),
        sums={k: v for k, v in averages.floats("sums").items()},
        count=averages.int("count"),
        finished=position.bool("finished"),
    )
    _check_generator_state(path, fit.shuffle_state)
    arrays = _read_arrays(folder / ARRAYS_FILE, limits)
    session = _checked_session(folder / ARRAYS_FILE, arrays, session_types)
    for index, (length, wanted) in enumerate(zip(totals_lengths, metric_shapes, strict=True)):
        fit.totals.append(_totals(folder / ARRAYS_FILE, arrays, index, length, wanted))
    for index, values in enumerate(callbacks):
        if not isinstance(values, dict):
            raise CheckpointError(f"{path}: callbacks[{index}] must be an object")
        prefix = f"callbacks/{index}/"
        own = {k.removeprefix(prefix): a for k, a in arrays.items() if k.startswith(prefix)}
        fit.callbacks.append((values, own))
    known = {f"session/{n}" for n in session} | {
        k for k in arrays if k.startswith(("totals/", "callbacks/"))
    }
    extra = sorted(set(arrays) - known)
    if extra:
        raise CheckpointError(f"{folder / ARRAYS_FILE}: unexpected arrays {extra[:5]}")
    return Checkpoint(top.dict("fingerprint").value, fit, session)


def _check_generator_state(path: Path, state: dict[str, Any]) -> None:
    """Refuse a shuffling generator state NumPy's PCG64 would not take."""
    try:
        generator = np.random.default_rng(0)
        if state.get("bit_generator") != type(generator.bit_generator).__name__:
            raise ValueError(f"bit_generator is {state.get('bit_generator')!r}")
        generator.bit_generator.state = state
    except (TypeError, ValueError, KeyError, OverflowError) as exc:
        message = excerpt(str(exc), 120)
        raise CheckpointError(
            f"{path}: shuffle_state is not a generator state ({message})"
        ) from None


def _read_arrays(path: Path, limits: Limits) -> dict[str, np.ndarray]:
    try:
        with NpzFile(path, limits) as npz:
            arrays = npz.read(list(npz.members))
            # The reader gives a 0-d array back as [1] (np.ascontiguousarray): reshape.
            return {k: a.reshape(npz.members[k].shape) for k, a in arrays.items()}
    except NpzError as exc:
        raise CheckpointError(f"{path}: {exc}") from None


def _checked_session(
    path: Path,
    arrays: dict[str, np.ndarray],
    types: Mapping[str, tuple[tuple[int, ...], np.dtype]],
) -> dict[str, np.ndarray]:
    given = {k.removeprefix("session/"): a for k, a in arrays.items() if k.startswith("session/")}
    missing = sorted(set(types) - set(given))
    unexpected = sorted(set(given) - set(types))
    if missing or unexpected:
        raise CheckpointError(
            f"{path}: the training state does not match this model and optimizer: "
            f"missing {missing[:5]}, unexpected {unexpected[:5]}"
        )
    for name, (shape, dtype) in types.items():
        array = given[name]
        fits = array.ndim == len(shape) and all(
            d == s or (s == -1 and d <= 1) or s == -2
            for d, s in zip(array.shape, shape, strict=True)
        )
        if array.dtype != dtype or not fits:
            raise CheckpointError(
                f"{path}: session/{name} must be {np.dtype(dtype).name} of shape "
                f"{tuple(shape)}; got {array.dtype.name} of shape {array.shape}"
            )
        if array.dtype.kind == "f" and not np.all(np.isfinite(array)):
            raise CheckpointError(f"{path}: session/{name} holds NaN or infinity")
    return given


def _totals(
    path: Path,
    arrays: dict[str, np.ndarray],
    index: int,
    length: Any,
    shapes: list[tuple[int, ...]],
) -> list[np.ndarray] | None:
    if length is None:
        return None
    if not isinstance(length, int) or isinstance(length, bool) or length != len(shapes):
        raise CheckpointError(
            f"{path}: metric {index} has {len(shapes)} totals arrays; the checkpoint says "
            f"{length!r}"
        )
    out = []
    for k, shape in enumerate(shapes):
        array = arrays.get(f"totals/{index}/{k}")
        if array is None or array.dtype != np.float64 or array.shape != tuple(shape):
            raise CheckpointError(
                f"{path}: totals/{index}/{k} must be float64 of shape {tuple(shape)}"
            )
        out.append(array)
    return out
