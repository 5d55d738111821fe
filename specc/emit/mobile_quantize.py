"""int8 dynamic quantization of the mobile model, and what it costs in accuracy.

``onnxruntime.quantization.quantize_dynamic`` stores weights as int8 (QInt8, symmetric,
per tensor) and quantizes activations on the fly, so no calibration data is needed. The
weights use 7 of the 8 bits (``reduce_range``): on x86 CPUs without VNNI, onnxruntime
multiplies uint8 activations by int8 weights with VPMADDUBSW, which saturates the sum of
two products at 16 bits, and 7-bit weights keep it from overflowing. With all 8, the
digits MLP's int8 probabilities strayed up to 0.18 from the float model's on an AVX2 CPU
(0.035 with 7 bits); on ARM and VNNI CPUs, which do not saturate, the 7-bit weights cost
little.

Before it, the quantizer's own pre-processing runs (shape inference and onnxruntime's
basic optimizations): specc keeps Keras weight layouts and transposes them in the graph,
and only the constant-folded weights are initializers the quantizer can see.

Quantized: MatMul/Gemm (Dense), Gather (Embedding) and LSTM. Conv stays float32: dynamic
quantization turns it into ConvInteger with int8 weights, for which onnxruntime's CPU
provider has no kernel (it fails at load with NOT_IMPLEMENTED).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime
from onnxruntime.quantization import QuantType, quantize_dynamic
from onnxruntime.quantization.shape_inference import quant_pre_process

from specc.atomic import scratch_folder
from specc.emit.mobile_data import non_finite
from specc.emit.mobile_ort import quiet

QUANTIZED_OPS = ["MatMul", "Gemm", "Gather", "LSTM"]
BATCH = 256


def quantize_int8(model_path: Path, int8_path: Path) -> dict[str, Any]:
    """Write the int8 model; return which ops were quantized and which stayed float."""
    with scratch_folder("specc-quant-") as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        with quiet():
            try:
                quant_pre_process(str(model_path), str(prepared))
            except Exception:  # symbolic shape inference gives up on some graphs
                quant_pre_process(str(model_path), str(prepared), skip_symbolic_shape=True)
            quantize_dynamic(
                prepared,
                int8_path,
                op_types_to_quantize=QUANTIZED_OPS,
                weight_type=QuantType.QInt8,
                reduce_range=True,
            )
    return {
        "method": "onnxruntime.quantization.quantize_dynamic",
        "weight_type": "QInt8",
        "weight_bits": 7,
        "quantized_ops": _quantized_ops(onnx.load(str(int8_path))),
        "float_ops_kept": sorted(
            {n.op_type for n in onnx.load(str(model_path)).graph.node} & {"Conv", "GRU"}
        ),
    }


# The integer op each quantized op becomes, back to the op it was.
_ORIGINAL_OP = {
    "MatMulInteger": "MatMul",
    "MatMulIntegerToFloat": "MatMul",
    "DynamicQuantizeMatMul": "MatMul",
    "DynamicQuantizeLSTM": "LSTM",
}


def _quantized_ops(model: onnx.ModelProto) -> dict[str, int]:
    """How many nodes of each (original) op type read int8 weights."""
    int8 = {
        t.name
        for t in model.graph.initializer
        if t.data_type in (onnx.TensorProto.INT8, onnx.TensorProto.UINT8) and len(t.dims) > 0
    }
    counts = Counter(
        _ORIGINAL_OP.get(n.op_type, n.op_type)
        for n in model.graph.node
        if any(i in int8 for i in n.input)
    )
    return dict(sorted(counts.items()))


def measure(
    float_model: Path,
    int8_model: Path,
    data: Path,
    arrays: dict[str, np.ndarray],
    description: dict[str, Any],
    heads: dict[str, str],
) -> dict[str, Any]:
    """Run both models on ``arrays`` (``data``'s, checked by ``load_samples``); per
    output, the differences and classification scores.

    ``heads`` maps outputs to the activation computing them (``classification_heads``).
    An output that is not finite is reported as such, not compared: NaN compares unequal
    to everything, and any accuracy on it would mean nothing.
    """
    inputs = {i["name"]: arrays[i["name"]] for i in description["inputs"]}
    samples = len(next(iter(inputs.values())))
    names = [o["name"] for o in description["outputs"]]
    reference = _run(float_model, inputs, names)
    quantized = _run(int8_model, inputs, names)
    report: dict[str, Any] = {}
    for name in names:
        a, b = reference[name], quantized[name]
        bad_a, bad_b = non_finite(a), non_finite(b)
        if bad_a or bad_b:
            report[name] = {"max_abs_diff": None, "mean_abs_diff": None}
            report[name]["non_finite"] = {"float": bad_a, "int8": bad_b}
            continue
        diff = np.abs(a.astype(np.float64) - b.astype(np.float64))
        entry: dict[str, Any] = {
            "max_abs_diff": float(diff.max()) if diff.size else 0.0,
            "mean_abs_diff": float(diff.mean()) if diff.size else 0.0,
        }
        labels = arrays.get(name)
        kind = _kind(a, heads.get(name), labels)
        if kind is not None:
            entry.update(_classification(kind, a, b, labels))
        report[name] = entry
    return {"measured": True, "data": str(data), "samples": int(samples), "outputs": report}


def _run(model: Path, inputs: dict[str, np.ndarray], names: list[str]) -> dict[str, np.ndarray]:
    session = onnxruntime.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    samples = len(next(iter(inputs.values())))
    parts: dict[str, list[np.ndarray]] = {name: [] for name in names}
    for start in range(0, samples, BATCH):
        feeds = {k: v[start : start + BATCH] for k, v in inputs.items()}
        for name, value in zip(names, session.run(names, feeds), strict=True):
            parts[name].append(value)
    return {name: np.concatenate(values) for name, values in parts.items()}


def classification_heads(model: onnx.ModelProto) -> dict[str, str]:
    """Outputs computed by a Softmax or Sigmoid (through Identity nodes), by op."""
    graph = model.graph
    producers = {out: node for node in graph.node for out in node.output}
    heads = {}
    for output in graph.output:
        node = producers.get(output.name)
        while node is not None and node.op_type == "Identity":
            node = producers.get(node.input[0])
        if node is not None and node.op_type in ("Softmax", "Sigmoid"):
            heads[output.name] = node.op_type
    return heads


def _kind(prediction: np.ndarray, head: str | None, labels: np.ndarray | None) -> str | None:
    """'multiclass', 'binary' or None (not a classifier) for one output."""
    classes = prediction.shape[-1] if prediction.ndim >= 2 else 1
    if labels is not None and not _label_like(labels):
        labels = None  # real-valued targets: a regression output
    if classes > 1 and (head == "Softmax" or labels is not None):
        return "multiclass"
    if classes == 1 and head == "Sigmoid":
        return "binary"
    return None


def _label_like(labels: np.ndarray) -> bool:
    """Class indices, one-hot rows or 0/1 labels, as opposed to real-valued targets."""
    if np.issubdtype(labels.dtype, np.integer) or labels.dtype == np.bool_:
        return True
    return bool(np.isin(labels, (0.0, 1.0)).all())


def _classification(
    kind: str, a: np.ndarray, b: np.ndarray, labels: np.ndarray | None
) -> dict[str, Any]:
    if kind == "multiclass":
        picked_a, picked_b = a.argmax(axis=-1), b.argmax(axis=-1)
    else:
        picked_a, picked_b = a[..., 0] > 0.5, b[..., 0] > 0.5
    out: dict[str, Any] = {
        "classification": kind,
        "agreement": float(np.mean(picked_a == picked_b)),
    }
    truth = _truth(kind, labels, picked_a.shape)
    if truth is None:
        out["accuracy"] = "no labels in the data: only the agreement was measured"
        return out
    float_accuracy, int8_accuracy = np.mean(picked_a == truth), np.mean(picked_b == truth)
    out.update(
        float_accuracy=float(float_accuracy),
        int8_accuracy=float(int8_accuracy),
        accuracy_change=float(int8_accuracy - float_accuracy),
    )
    return out


def _truth(kind: str, labels: np.ndarray | None, shape: tuple[int, ...]) -> np.ndarray | None:
    """Class indices (or booleans) from sparse, one-hot or 0/1 labels; None if unusable."""
    if labels is None:
        return None
    if kind == "multiclass" and labels.shape == shape + labels.shape[-1:] and labels.ndim > 1:
        return labels.argmax(axis=-1)
    labels = labels.reshape(shape) if labels.size == int(np.prod(shape)) else None
    if labels is None:
        return None
    return labels > 0.5 if kind == "binary" else labels.astype(np.int64)
