"""Turn a built ``Graph`` into an ONNX ModelProto and write it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from specc.atomic import write_bytes
from specc.graph import Graph
from specc.types import TensorType

DEFAULT_OPSET = 17
MAX_OPSET = 21
# onnxruntime(-training) 1.19 reads models up to IR version 10 (opset 21).
IR_VERSION = {17: 8, 18: 8, 19: 9, 20: 9, 21: 10}

ONNX_DTYPES = {
    "float32": TensorProto.FLOAT,
    "float16": TensorProto.FLOAT16,
    "int32": TensorProto.INT32,
    "int64": TensorProto.INT64,
    "bool": TensorProto.BOOL,
}


def _value_info(name: str, tensor: TensorType, batch: str = "batch") -> onnx.ValueInfoProto:
    dims: list[int | str] = [batch] if tensor.batched else []
    for axis, dim in enumerate(tensor.shape, start=len(dims)):
        dims.append(f"{name}_dim{axis}" if dim is None else dim)
    return helper.make_tensor_value_info(name, ONNX_DTYPES[tensor.dtype], dims)


def to_model_proto(
    graph: Graph,
    opset: int = DEFAULT_OPSET,
    metadata: dict[str, str] | None = None,
    doc: str = "",
) -> onnx.ModelProto:
    """The graph as an ONNX model for ``opset`` (17..21), with string metadata props."""
    if not DEFAULT_OPSET <= opset <= MAX_OPSET:
        raise ValueError(f"opset must be between {DEFAULT_OPSET} and {MAX_OPSET}; got {opset}")
    proto_graph = helper.make_graph(
        node_protos(graph),
        graph.name,
        [_value_info(name, t) for name, t in graph.inputs],
        [_value_info(name, t) for name, t in graph.outputs],
        initializer=initializer_protos(graph),
        doc_string=doc,
    )
    model = helper.make_model(
        proto_graph,
        opset_imports=[helper.make_opsetid("", opset)],
        producer_name="specc",
        ir_version=IR_VERSION[opset],
    )
    for key, value in (metadata or {}).items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    return model


def node_protos(graph: Graph) -> list[onnx.NodeProto]:
    """The graph's nodes as ONNX NodeProtos, in order."""
    return [
        helper.make_node(
            n.op_type, n.inputs, n.outputs, name=n.name, domain=n.domain, **n.attributes
        )
        for n in graph.nodes
    ]


def initializer_protos(graph: Graph) -> list[onnx.TensorProto]:
    """The graph's constant and weight tensors as ONNX TensorProtos."""
    return [
        numpy_helper.from_array(np.asarray(array), name)
        for name, array in graph.initializers.items()
    ]


def write_model(model: onnx.ModelProto, path: str | Path) -> None:
    """Write a model as a single .onnx file, atomically (no external data: the parameter
    limit keeps a model below protobuf's 2 GB)."""
    write_bytes(path, model.SerializeToString())


@dataclass(frozen=True)
class ValueType:
    """A value's element type and static shape (None per dimension known only at run time;
    ``shape`` None when even the rank is unknown)."""

    dtype: str
    shape: tuple[int | None, ...] | None


_DTYPE_NAMES = {
    TensorProto.FLOAT: "float32",
    TensorProto.FLOAT16: "float16",
    TensorProto.DOUBLE: "float64",
    TensorProto.INT32: "int32",
    TensorProto.INT64: "int64",
    TensorProto.INT8: "int8",
    TensorProto.UINT8: "uint8",
    TensorProto.BOOL: "bool",
}


def _value_type(proto: onnx.TypeProto) -> ValueType:
    tensor = proto.tensor_type
    dtype = _DTYPE_NAMES.get(tensor.elem_type, f"onnx:{tensor.elem_type}")
    if not tensor.HasField("shape"):
        return ValueType(dtype, None)
    dims = tuple(d.dim_value if d.HasField("dim_value") else None for d in tensor.shape.dim)
    return ValueType(dtype, dims)


def value_types(graph: Graph, opset: int = DEFAULT_OPSET) -> dict[str, ValueType]:
    """Every value's type, from ONNX shape inference over the graph."""
    model = onnx.shape_inference.infer_shapes(to_model_proto(graph, opset), data_prop=True)
    found = {
        info.name: _value_type(info.type)
        for info in [*model.graph.input, *model.graph.value_info, *model.graph.output]
    }
    for name, array in graph.initializers.items():
        array = np.asarray(array)
        found[name] = ValueType(str(array.dtype), tuple(array.shape))
    return found
