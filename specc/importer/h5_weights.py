"""Reading a Keras ``.weights.h5`` file as arrays, checked against the spec's weights.

h5py reads the datasets' raw numbers; nothing stored in the file is unpickled or run
(attributes are never read). Each dataset's type and shape is checked before it is read:
only floating-point numbers of the shape the spec's weight has, stored in this file (no
links to other files), within the size limits.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import numpy as np

from specc.diagnostics import Diagnostic, SpecError
from specc.importer.h5_paths import WeightSource
from specc.importer.problems import LIMIT
from specc.limits import Limits

WEIGHT_SHAPE = "SPC413-weight-shape"
MISSING_WEIGHT = "SPC412-missing-weight"
EXTRA_WEIGHT = "SPC414-extra-weight"
WEIGHTS_FILE = "SPC411-weights"

INSTALL_HINT = "reading Keras weights needs h5py: pip install 'specc[import]'"
_RECURRENT = ("LSTM", "GRU", "SimpleRNN", "ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D")
_ATTENTION = ("query_dense", "key_dense", "value_dense", "output_dense")


class MissingExtra(Exception):
    """An optional dependency is not installed; the message says what to install."""


def h5py_module() -> Any:
    """The h5py module, or ``MissingExtra`` saying how to install it."""
    try:
        import h5py
    except ImportError:
        raise MissingExtra(INSTALL_HINT) from None
    return h5py


def _children(class_name: str, inner: str | None) -> list[tuple[str, str, str | None]]:
    """The sub-groups holding a layer's other weights, in the spec's order of them."""
    if class_name in _RECURRENT:
        return [("cell", class_name + "Cell", None)]
    if class_name == "Bidirectional" and inner:
        return [("forward_layer", inner, None), ("backward_layer", inner, None)]
    if class_name == "TimeDistributed" and inner:
        return [("layer", inner, None)]
    if class_name in ("MultiHeadAttention", "GroupedQueryAttention"):
        return [(name, "EinsumDense", None) for name in _ATTENTION]
    return []


# One weight's owner and name (``dense/kernel``) and the shape the spec gives it.
Expected = list[tuple[str, tuple[int, ...]]]


def read_h5_weights(
    data: bytes | str,
    file: str,
    sources: list[WeightSource],
    expected: Callable[[WeightSource], Expected],
    limits: Limits,
) -> dict[str, np.ndarray]:
    """The weights of ``sources`` from an h5 file (its bytes, or its path) by spec key;
    ``SpecError`` naming every missing, extra, misshapen or non-float weight."""
    h5py = h5py_module()
    handle = io.BytesIO(data) if isinstance(data, bytes) else data
    problems: list[Diagnostic] = []
    weights: dict[str, np.ndarray] = {}
    total = 0
    try:
        with h5py.File(handle, "r") as h5:
            for source in sources:
                wanted = expected(source)
                found = _datasets(h5, source.group, source.class_name, source.inner_class)
                if len(found) != len(wanted):
                    problems.append(_count_problem(file, source, len(found), len(wanted)))
                    continue
                for (key, shape), (where, dataset) in zip(wanted, found, strict=True):
                    problem = _check_dataset(h5py, dataset, where, key, shape, file, limits)
                    if problem:
                        problems.append(problem)
                        continue
                    total += dataset.size * dataset.dtype.itemsize
                    if total > limits.data_bytes:
                        raise SpecError(
                            [
                                Diagnostic(
                                    LIMIT,
                                    "the weights are over the "
                                    f"{limits.data_bytes:,}-byte limit; "
                                    "raise it with --limit data_bytes=...",
                                    (),
                                    file,
                                )
                            ]
                        )
                    weights[key] = np.asarray(dataset[()], dtype=np.float32)
    except OSError as exc:
        raise SpecError(
            [Diagnostic(WEIGHTS_FILE, f"not a readable HDF5 weights file: {exc}", (), file)]
        ) from None
    if problems:
        raise SpecError(problems)
    return weights


def _count_problem(file: str, source: WeightSource, found: int, wanted: int) -> Diagnostic:
    code = MISSING_WEIGHT if found < wanted else EXTRA_WEIGHT
    return Diagnostic(
        code,
        f"layer '{source.owner}' ({source.class_name}) has {wanted} weights in the spec but "
        f"{found} under '{source.group}' in the weights file",
        (),
        file,
    )


def _datasets(h5: Any, group: str, class_name: str, inner: str | None) -> list[tuple[str, Any]]:
    """A layer's datasets in the spec's order: its own ``vars/0``, ``vars/1``, ..., then
    its sub-layers' (a wrapper's layer, an RNN's cell, an attention layer's projections)."""
    node = _member(h5, group)
    if node is None:
        return []
    result: list[tuple[str, Any]] = []
    own = _member(h5, f"{group}/vars")
    if own is not None:
        indices = sorted(int(name) for name in own if name.isdigit())
        for i in indices:
            member = _member(h5, f"{group}/vars/{i}")
            if member is not None:
                result.append((f"{group}/vars/{i}", member))
    for child, child_class, child_inner in _children(class_name, inner):
        result.extend(_datasets(h5, f"{group}/{child}", child_class, child_inner))
    return result


def _member(h5: Any, path: str) -> Any:
    """The group or dataset at ``path`` if it is stored in this file (a soft or external
    link, which could point into another file, counts as absent)."""
    h5py = h5py_module()
    node = h5
    for part in path.split("/"):
        if not isinstance(node, h5py.Group) or part not in node:
            return None
        link = node.get(part, getlink=True)
        if not isinstance(link, h5py.HardLink):
            return None
        node = node[part]
    return node


def _check_dataset(
    h5py: Any,
    dataset: Any,
    where: str,
    key: str,
    shape: tuple[int, ...],
    file: str,
    limits: Limits,
) -> Diagnostic | None:
    if not isinstance(dataset, h5py.Dataset):
        return Diagnostic(WEIGHTS_FILE, f"'{where}' is not a dataset (for '{key}')", (), file)
    dtype = dataset.dtype
    if dtype.kind != "f" or dtype.itemsize > 8 or dtype.names is not None:
        return Diagnostic(
            WEIGHTS_FILE,
            f"'{where}' (for '{key}') must hold floating-point numbers; got {dtype}",
            (),
            file,
        )
    if dataset.external:
        return Diagnostic(
            WEIGHTS_FILE, f"'{where}' (for '{key}') is stored outside the file", (), file
        )
    if tuple(dataset.shape) != tuple(shape):
        return Diagnostic(
            WEIGHT_SHAPE,
            f"weight '{key}' has shape {list(shape)} in the spec; "
            f"'{where}' holds {list(dataset.shape)}",
            (),
            file,
        )
    if dataset.size * dtype.itemsize > limits.array_bytes:
        return Diagnostic(
            LIMIT,
            f"'{where}' is over the {limits.array_bytes:,}-byte limit; "
            "raise it with --limit array_bytes=...",
            (),
            file,
        )
    return None
