"""onnxruntime's ORT-format converter, called through its Python API and kept quiet.

``python -m onnxruntime.tools.convert_onnx_models_to_ort`` is a thin wrapper around
``convert_onnx_models_to_ort``; calling the function directly avoids a subprocess and the
module's harmless ``RuntimeWarning ... found in sys.modules``
(``docs/engine-notes.md#ort-format``). The converter prints progress on stdout and logs on
stderr, and onnxruntime's C++ side prints shape-merge warnings on file descriptor 2: none
of it is for specc's users.
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path

import onnxruntime
from onnxruntime.tools.convert_onnx_models_to_ort import (
    OptimizationStyle,
    convert_onnx_models_to_ort,
)
from onnxruntime.tools.ort_format_model import create_config_from_models

from specc.atomic import copy_file, write_text
from specc.train.native import quiet_stderr

#: The onnxruntime release whose converter wrote the files, and the mobile packages built
#: from the same release (Maven Central and CocoaPods names).
ORT_VERSION = onnxruntime.__version__
INFERENCE_PACKAGES = {
    "android": f"com.microsoft.onnxruntime:onnxruntime-android:{ORT_VERSION}",
    "ios": f"onnxruntime-objc {ORT_VERSION} (CocoaPods; onnxruntime-c for the C/C++ API)",
}
TRAINING_PACKAGES = {
    "android": f"com.microsoft.onnxruntime:onnxruntime-training-android:{ORT_VERSION}",
    "ios": f"onnxruntime-training-objc {ORT_VERSION} (CocoaPods; onnxruntime-training-c for C/C++)",
}
OPERATORS_CONFIG = "required_operators.config"


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Silence stdout, file descriptor 2 and Python warnings for the block.

    onnxruntime's quantization tools call ``logging.warning`` on the root logger, which
    installs a stderr handler for the whole process when the root logger has none; a
    ``NullHandler`` is put there for the duration so that nothing is installed.
    """
    root = logging.getLogger()
    guard = logging.NullHandler() if not root.handlers else None
    if guard is not None:
        root.addHandler(guard)
    try:
        with (
            contextlib.redirect_stdout(io.StringIO()),
            quiet_stderr(),
            warnings.catch_warnings(),
        ):
            warnings.simplefilter("ignore")
            yield
    finally:
        if guard is not None:
            root.removeHandler(guard)


def to_ort(onnx_path: Path, ort_path: Path) -> Path:
    """Convert ``onnx_path`` to ORT format at ``ort_path``.

    The same call ``generate_artifacts(..., ort_format=True)`` makes: all graph
    optimizations applied once, offline (``OptimizationStyle.Fixed``), without the
    x86-only NCHWc layouts, so the file runs on ARM phones as well.
    """
    with quiet():
        convert_onnx_models_to_ort(
            onnx_path.resolve(),
            output_dir=onnx_path.parent.resolve(),
            optimization_styles=[OptimizationStyle.Fixed],
        )
    converted = onnx_path.with_suffix(".ort")
    if converted.resolve() != ort_path.resolve():
        try:
            converted.replace(ort_path)
        except OSError:
            # Another file system (the bundle is not beside the temporary folder).
            copy_file(converted, ort_path)
            converted.unlink()
    # The converter also writes a per-model operator list; specc writes one for the bundle.
    onnx_path.with_suffix(f".{OPERATORS_CONFIG}").unlink(missing_ok=True)
    return ort_path


def write_operators_config(models: Iterable[Path], path: Path) -> Path:
    """The operators (by domain and opset) that a minimal ONNX Runtime build needs.

    Feed it to onnxruntime's ``build.py --minimal_build --include_ops_by_config``.
    """
    models = list(models)
    with quiet():
        create_config_from_models(models, path, enable_type_reduction=False)
    # The tool records the models' absolute paths in a comment; keep the bundle portable.
    lines = [
        f"# - {Path(line[4:]).name}" if line.startswith("# - ") else line
        for line in path.read_text(encoding="utf-8").splitlines()
    ]
    write_text(path, "\n".join(lines) + "\n")
    return path
