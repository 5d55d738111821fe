"""predict_source: what ``specc predict`` computes, Keras's ``model.predict`` on a data file.

The model is the inference model ``specc export`` would ship (``specc.emit.source``: a spec
built as ``specc build`` builds it, or the ``model.onnx`` of a trained folder, read without
trusting it), run by onnxruntime in batches. The data needs the inputs only (labels, if the
file has them, are ignored as Keras's ``predict`` ignores them) and is checked as ``specc
train`` checks it.

Besides one array per output, a classifier output also gets its top class per sample
(``<output>_class``) and, when the spec names its classes (``metadata.labels``, see
``check_labels``), the class's label (``<output>_label``). A classifier is an output
computed by a softmax or a sigmoid, or one with labels. The top class is the index of the
largest value on the last axis; for a single unit it is 1 where the unit says so (a sigmoid
above 0.5, a logit above 0) and 0 elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime

from specc.diagnostics import Diagnostic, SpecError
from specc.emit.mobile_quantize import classification_heads
from specc.emit.source import ExportSource, load_source
from specc.emit.trained import TRAINED_SPEC
from specc.limits import DEFAULT_LIMITS, Limits
from specc.onnx_model import DEFAULT_OPSET
from specc.pipeline import check_spec
from specc.spec.loader import LoadedSpec, load_spec
from specc.train.data import DataKeys, IdRange, load_dataset
from specc.train.native import engine_message
from specc.types import TensorType

PREDICTION_FILE = "SPC550-prediction-file"
PREDICTION_RUN = "SPC551-prediction-run"
CLASS_SUFFIX = "_class"
LABEL_SUFFIX = "_label"
# Keras's predict(batch_size=None) default.
DEFAULT_BATCH_SIZE = 32


@dataclass(frozen=True)
class Predictions:
    """The arrays ``specc predict`` writes, by name: every output in the model's order,
    then the classes and labels of its classifier outputs."""

    arrays: dict[str, np.ndarray]
    samples: int
    # Arrays or columns of the data file that no input takes.
    unused_data: tuple[str, ...] = ()


def input_types(description: dict[str, Any]) -> dict[str, TensorType]:
    """The model's inputs by name, from its checked description (batch axis first)."""
    return {
        entry["name"]: TensorType(entry["dtype"], tuple(entry["shape"][1:]))
        for entry in description["inputs"]
    }


def predict_source(
    source: ExportSource,
    data: str | Path,
    batch_size: int = DEFAULT_BATCH_SIZE,
    limits: Limits = DEFAULT_LIMITS,
    keys: DataKeys | None = None,
) -> Predictions:
    """Run ``source``'s model on ``data`` in batches of ``batch_size``, the inputs read
    from the arrays ``keys`` names (``prediction_source``); ``SpecError`` for data that does
    not fit the model (every problem at once), or that onnxruntime still refuses when it
    runs."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer; got {batch_size}")
    names = [entry["name"] for entry in source.description["outputs"]]
    heads = classification_heads(source.model)
    labels = {e["name"]: e["labels"] for e in source.description["outputs"] if "labels" in e}
    _check_names(names, [n for n in names if n in heads or n in labels], source.origin)
    types = input_types(source.description)
    dataset = load_dataset(data, types, {}, limits, embedding_ids(source.model), keys)
    session = _session(source)
    parts: dict[str, list[np.ndarray]] = {name: [] for name in names}
    for batch in dataset.batches(batch_size):
        try:
            results = session.run(names, batch.inputs)
        except Exception as error:
            message = f"onnxruntime cannot run the model on this data: {engine_message(error)}"
            raise SpecError([Diagnostic(PREDICTION_RUN, message, (), str(data))]) from None
        for name, result in zip(names, results, strict=True):
            parts[name].append(result)
    arrays = {name: np.concatenate(parts[name]) for name in names}
    for name in names:
        arrays.update(class_arrays(name, arrays[name], heads.get(name), labels.get(name)))
    return Predictions(arrays, len(dataset), tuple(dataset.unused))


def prediction_source(
    source: Path,
    weights: str | Path | None = None,
    limits: Limits = DEFAULT_LIMITS,
    seed: int | None = None,
) -> tuple[ExportSource, DataKeys | None]:
    """The model ``specc predict`` runs (``load_source``) and the arrays its spec names for
    the inputs (``spec_data_keys``), the spec parsed once. It is checked before anything is
    compiled or read, so that a spec whose data keys name nothing is refused before any
    weight is drawn, and a folder's spec before its model; a spec file is then compiled
    from what was parsed."""
    spec = source / TRAINED_SPEC if source.is_dir() else source
    if not spec.is_file():
        # A folder without its spec, or a file that is not there (which load_source reports).
        return load_source(source, weights, DEFAULT_OPSET, limits, seed), None
    loaded = load_spec(spec, limits)
    keys = spec_data_keys(loaded, limits)
    model = source if source.is_dir() else loaded
    return load_source(model, weights, DEFAULT_OPSET, limits, seed), keys


def spec_data_keys(spec: LoadedSpec, limits: Limits = DEFAULT_LIMITS) -> DataKeys | None:
    """The arrays the spec's ``train.data_keys`` names for the inputs, as ``specc train``
    reads them, or None where it names none. The spec is checked as any spec is."""
    train = check_spec(spec, limits).resolved.spec.train
    if train is None or not train.data_keys:
        return None
    return DataKeys(dict(train.data_keys))


def embedding_ids(model: onnx.ModelProto) -> dict[str, IdRange]:
    """The inputs that index an Embedding's table, found in the graph as ``specc train``
    finds them in the spec (``id_ranges``): a Gather of rows of a weight, by the input's
    values (cast to int64 or not). The data is checked before onnxruntime sees it, so an
    id out of range is named with its sample, not reported from inside a kernel."""
    weights = {t.name: tuple(t.dims) for t in model.graph.initializer}
    inputs = {i.name for i in model.graph.input} - set(weights)
    casts = {n.output[0]: n.input[0] for n in model.graph.node if n.op_type == "Cast"}
    ranges: dict[str, IdRange] = {}
    for node in model.graph.node:
        axis = next((a.i for a in node.attribute if a.name == "axis"), 0)
        if node.op_type != "Gather" or axis != 0 or node.input[0] not in weights:
            continue
        source = casts.get(node.input[1], node.input[1])
        rows = weights[node.input[0]][:1]
        if source not in inputs or not rows:
            continue
        known = ranges.get(source)
        if known is None or rows[0] < known.count:
            ranges[source] = IdRange(rows[0], node.name.split("/")[0])
    return ranges


def class_arrays(
    name: str, prediction: np.ndarray, head: str | None, labels: list[str] | None
) -> dict[str, np.ndarray]:
    """``<name>_class`` (and ``<name>_label`` with ``labels``) for a classifier output
    (``head`` "Softmax" or "Sigmoid", or labels given); nothing for any other."""
    if head is None and labels is None:
        return {}
    if prediction.ndim >= 2 and prediction.shape[-1] > 1:
        classes = np.argmax(prediction, axis=-1)
    else:
        unit = prediction[..., 0] if prediction.ndim >= 2 else prediction
        # A sigmoid's probability, else a logit (labels on a linear unit, from_logits).
        threshold = 0.5 if head == "Sigmoid" else 0.0
        classes = unit > threshold
    out = {name + CLASS_SUFFIX: classes.astype(np.int64)}
    if labels is not None:
        out[name + LABEL_SUFFIX] = np.asarray(labels, dtype=str)[out[name + CLASS_SUFFIX]]
    return out


def _check_names(outputs: list[str], classifiers: list[str], where: Path) -> None:
    """Refuse an output named like the class or label array of a classifier output
    (``y`` and ``y_class``): the file would hold one under the other's name."""
    taken = set(outputs)
    clashes = [
        name + suffix
        for name in classifiers
        for suffix in (CLASS_SUFFIX, LABEL_SUFFIX)
        if name + suffix in taken
    ]
    if clashes:
        message = (
            f"output '{clashes[0]}' has the name of the class or label array that predict "
            "adds for a classifier output; rename one of them"
        )
        raise SpecError([Diagnostic(PREDICTION_FILE, message, (), str(where))])


def _session(source: ExportSource) -> onnxruntime.InferenceSession:
    options = onnxruntime.SessionOptions()
    # Fatal only: a kernel's error is reported once, as a diagnostic, not also logged.
    options.log_severity_level = 4
    try:
        return onnxruntime.InferenceSession(
            source.model.SerializeToString(), options, providers=["CPUExecutionProvider"]
        )
    except Exception as error:
        message = f"onnxruntime cannot load the model: {engine_message(error)}"
        raise SpecError([Diagnostic(PREDICTION_RUN, message, (), str(source.origin))]) from None
