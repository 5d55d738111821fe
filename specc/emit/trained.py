"""Reading a folder that ``specc train`` wrote, as ``specc export`` takes it.

Such a folder may come from a download or a colleague, so nothing in it is trusted: the
model file must be a regular file within the size limits, parse as ONNX, pass the ONNX
checker, hold no reference to other files and hold as many bytes as its tensors claim;
its description (``specc.model``) is checked by ``specc.emit.description``; and a
``weights.npz`` beside it must be a whole archive (a truncated one means the folder is
what an interrupted run left). Every problem is a located error, never a traceback.
"""

from __future__ import annotations

import math
import stat
import zipfile
from pathlib import Path
from typing import Any

import onnx
from google.protobuf.message import DecodeError

from specc.diagnostics import Diagnostic, SpecError
from specc.emit.description import parse_description
from specc.escape import terminal_text
from specc.limits import Limits
from specc.passes.lower import DESCRIPTION_KEY
from specc.summary import readable_size

TRAINED_MODEL = "model.onnx"
TRAINED_WEIGHTS = "weights.npz"
# The spec the run trained, as JSON (``specc.train.outputs.SPEC_FILE``).
TRAINED_SPEC = "spec.json"
EXPORT_SOURCE = "SPC511-export-source"
TRAINED_MODEL_CODE = "SPC514-trained-model"
TRAINED_WEIGHTS_CODE = "SPC517-trained-weights"
# One protobuf message cannot exceed 2 GiB; specc writes single-file models below that.
PROTOBUF_MAX = 2**31 - 1
# Bytes per parameter of the widest dtype specc stores (float32, int32), and what a graph
# may take beyond its tensors.
_PARAM_BYTES = 4

# Tensor types a specc model holds, with their sizes and the repeated field that holds
# their values when not in raw_data.
_TENSOR_TYPES: dict[int, tuple[int, str]] = {
    onnx.TensorProto.FLOAT: (4, "float_data"),
    onnx.TensorProto.FLOAT16: (2, "int32_data"),
    onnx.TensorProto.DOUBLE: (8, "double_data"),
    onnx.TensorProto.INT8: (1, "int32_data"),
    onnx.TensorProto.UINT8: (1, "int32_data"),
    onnx.TensorProto.INT16: (2, "int32_data"),
    onnx.TensorProto.INT32: (4, "int32_data"),
    onnx.TensorProto.INT64: (8, "int64_data"),
    onnx.TensorProto.BOOL: (1, "int32_data"),
}


def _fail(code: str, where: Path, message: str) -> SpecError:
    return SpecError([Diagnostic(code, message, (), str(where))])


def read_trained_folder(folder: Path, limits: Limits) -> tuple[onnx.ModelProto, dict[str, Any]]:
    """The model in ``folder`` and its checked description; ``SpecError`` otherwise."""
    path = folder / TRAINED_MODEL
    model = _read_model(folder, path, limits)
    props = {p.key: p.value for p in model.metadata_props}
    if DESCRIPTION_KEY not in props:
        message = f"{path} was not written by specc (no '{DESCRIPTION_KEY}' metadata)"
        raise _fail(EXPORT_SOURCE, path, message)
    description = parse_description(props[DESCRIPTION_KEY], model, str(path))
    _check_weights_file(folder / TRAINED_WEIGHTS)
    return model, description


def _read_model(folder: Path, path: Path, limits: Limits) -> onnx.ModelProto:
    try:
        info = path.stat()
    except FileNotFoundError:
        message = f"{folder} holds no {TRAINED_MODEL}; give a spec or a folder specc train wrote"
        raise _fail(EXPORT_SOURCE, folder, message) from None
    except OSError as exc:
        raise _fail(TRAINED_MODEL_CODE, path, f"cannot read {path}: {exc.strerror}") from None
    if stat.S_ISDIR(info.st_mode):
        raise _fail(TRAINED_MODEL_CODE, path, f"{path} is a folder, not a model file")
    if not stat.S_ISREG(info.st_mode):
        # A device or a pipe (/dev/zero) would be read forever.
        raise _fail(TRAINED_MODEL_CODE, path, f"{path} is not a regular file")
    most = min(PROTOBUF_MAX, _PARAM_BYTES * limits.params + limits.file_size)
    if info.st_size > most:
        why = (
            "more than one ONNX file can hold (2 GiB)"
            if most == PROTOBUF_MAX
            else "more than a model within the parameter limit takes; "
            + limits.hint("params", info.st_size // _PARAM_BYTES)
        )
        raise _fail(TRAINED_MODEL_CODE, path, f"{path} is {readable_size(info.st_size)}, {why}")
    try:
        with open(path, "rb") as handle:
            data = handle.read(most + 1)
    except OSError as exc:
        raise _fail(TRAINED_MODEL_CODE, path, f"cannot read {path}: {exc.strerror}") from None
    model = onnx.ModelProto()
    try:
        model.ParseFromString(data)
    except (DecodeError, ValueError, RecursionError):
        message = f"{path} is not an ONNX model (truncated, or not protobuf)"
        raise _fail(TRAINED_MODEL_CODE, path, message) from None
    problem = _tensor_problem(model, limits) or _checker_problem(model)
    if problem:
        raise _fail(TRAINED_MODEL_CODE, path, f"{path} is not a model specc can export: {problem}")
    return model


def _tensor_problem(model: onnx.ModelProto, limits: Limits) -> str | None:
    """Tensors that name other files, claim more values than they hold, or add up to more
    parameters than the limit."""
    total = 0
    for tensor in model.graph.initializer:
        if tensor.data_location == onnx.TensorProto.EXTERNAL or tensor.external_data:
            return f"tensor {_shown(tensor.name)} refers to an external data file"
        if any(d < 0 for d in tensor.dims):
            return f"tensor {_shown(tensor.name)} has a negative dimension"
        count = math.prod(tensor.dims)
        total += count
        if total > limits.params:
            return f"its tensors hold more than {limits.params:,} values; " + limits.hint(
                "params", total
            )
        kind = _TENSOR_TYPES.get(tensor.data_type)
        if kind is None:
            return f"tensor {_shown(tensor.name)} has a data type specc never writes"
        size, field = kind
        held = len(tensor.raw_data) / size if tensor.raw_data else len(getattr(tensor, field))
        if held != count:
            return f"tensor {_shown(tensor.name)} claims {count:,} values and holds {held:,g}"
    return None


def _shown(name: str) -> str:
    """A name from the model for a message: quoted, escaped, and cut when long."""
    return repr(name if len(name) <= 60 else name[:57] + "...")


def _checker_problem(model: onnx.ModelProto) -> str | None:
    # full_check adds strict shape inference: an attribute out of range (a Softmax axis
    # past the rank) fails here rather than in the browser or the engine. Every model
    # specc writes passes it.
    try:
        onnx.checker.check_model(model, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError, ValueError) as exc:
        # The checker quotes the model's own names: escaped, and cut when long.
        lines = str(exc).strip().splitlines() or [type(exc).__name__]
        first = terminal_text(lines[0])
        return "the ONNX checker says: " + (first if len(first) <= 300 else first[:297] + "...")
    return None


def _check_weights_file(path: Path) -> None:
    """A ``weights.npz`` beside the model must be a whole archive: a truncated one is
    what a run stopped mid-write leaves, and the model beside it may not be its own."""
    if not path.exists() and not path.is_symlink():
        return
    if not path.is_file():
        # A folder, a broken link, a device or a pipe (which would block the read).
        message = f"{path} is not a regular file; the folder is not one specc train wrote"
        raise _fail(TRAINED_WEIGHTS_CODE, path, message)
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (OSError, zipfile.BadZipFile, ValueError) as exc:
        detail = getattr(exc, "strerror", None) or str(exc).splitlines()[0]
        message = (
            f"{path} is damaged ({detail}): the folder may be what an interrupted "
            "specc train left; train again"
        )
        raise _fail(TRAINED_WEIGHTS_CODE, path, message) from None
    if not all(name.endswith(".npy") for name in names):
        message = f"{path} is not a weights file specc train wrote (no .npy members)"
        raise _fail(TRAINED_WEIGHTS_CODE, path, message)
