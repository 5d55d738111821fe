"""A model's description (its ``specc.model`` metadata), checked before anything uses it.

The description names the model, its inputs and outputs, and their class labels; export
writes it into ``model.json``, a web page, a JavaScript module and READMEs, and names the
default output folder after it. A trained folder may come from anywhere, so its description
is untrusted: it is validated against a strict schema (types, lengths, the same name rules
as a spec) and against the graph it describes before any of it is used.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

import onnx
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from specc.diagnostics import Diagnostic, SpecError
from specc.layers.base import REFERENCE_PATTERN
from specc.onnx_model import ONNX_DTYPES
from specc.spec.errors import translate
from specc.spec.metadata import LABEL_MAX, ModelName

MODEL_DESCRIPTION = "SPC515-model-description"
# Far above any real model, low enough that nothing built from a description is large.
MAX_NAME = 256
MAX_RANK = 32
MAX_DIM = 2**31 - 1
MAX_TENSORS = 10_000
MAX_LABELS = 1_000_000


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class TensorDescription(_Strict):
    """One input or output: its graph name, dtype, shape (batch first, null = any) and
    class labels."""

    name: Annotated[str, Field(max_length=MAX_NAME, pattern=REFERENCE_PATTERN)]
    dtype: Literal["float32", "float16", "int32", "int64", "bool"]
    shape: Annotated[
        list[Annotated[int, Field(ge=0, le=MAX_DIM)] | None], Field(max_length=MAX_RANK)
    ]
    labels: (
        Annotated[list[Annotated[str, Field(max_length=LABEL_MAX)]], Field(max_length=MAX_LABELS)]
        | None
    ) = None


class ModelDescription(_Strict):
    """What an app needs to call the model (``model.json``'s core)."""

    name: ModelName
    inputs: Annotated[list[TensorDescription], Field(min_length=1, max_length=MAX_TENSORS)]
    outputs: Annotated[list[TensorDescription], Field(min_length=1, max_length=MAX_TENSORS)]


def parse_description(text: str, model: onnx.ModelProto, where: str) -> dict[str, Any]:
    """The description in ``text`` (JSON), checked against its schema and against
    ``model``'s graph, as a plain mapping; ``SpecError`` located at ``where`` otherwise."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        # ValueError covers JSONDecodeError and integers too long to convert.
        raise _error(where, f"its '{_KEY}' metadata is not JSON: {_json_problem(exc)}") from None
    try:
        description = ModelDescription.model_validate(data)
    except ValidationError as exc:
        problems = translate(exc, data, MODEL_DESCRIPTION)
        raise SpecError(
            [
                Diagnostic(
                    MODEL_DESCRIPTION,
                    f"its '{_KEY}' metadata is malformed: {d.message}",
                    d.path,
                    where,
                )
                for d in problems
            ]
        ) from None
    problems = [*_label_problems(description), *_graph_problems(description, model)]
    if problems:
        raise SpecError([Diagnostic(MODEL_DESCRIPTION, m, (), where) for m in problems])
    return description.model_dump(exclude_none=True)


_KEY = "specc.model"


def _json_problem(exc: Exception) -> str:
    if isinstance(exc, RecursionError):
        return "it is nested too deeply"
    if "integer string conversion" in str(exc):
        return "it holds an integer of more than 4,300 digits"
    return str(exc).splitlines()[0]


def _error(where: str, message: str) -> SpecError:
    return SpecError([Diagnostic(MODEL_DESCRIPTION, message, (), where)])


def _label_problems(description: ModelDescription) -> list[str]:
    problems = []
    for output in description.outputs:
        if output.labels is None:
            continue
        classes = output.shape[-1] if len(output.shape) > 1 else 1
        wanted = 2 if classes == 1 else classes
        if classes is not None and len(output.labels) != wanted:
            problems.append(
                f"output {output.name!r} has {len(output.labels)} labels for "
                f"{classes} class(es); it takes {wanted}"
            )
    return problems


def _graph_problems(description: ModelDescription, model: onnx.ModelProto) -> list[str]:
    """Where the description and the graph disagree on names, dtypes or shapes."""
    problems = []
    initializers = {t.name for t in model.graph.initializer}
    graph = {
        "input": [v for v in model.graph.input if v.name not in initializers],
        "output": list(model.graph.output),
    }
    for role, described in (("input", description.inputs), ("output", description.outputs)):
        values = graph[role]
        names = [t.name for t in described]
        if names != [v.name for v in values]:
            problems.append(
                f"its metadata lists the {role}s {_listed(names)}, but the graph's {role}s "
                f"are {_listed([v.name for v in values])}"
            )
            continue
        for tensor, value in zip(described, values, strict=True):
            problem = _tensor_problem(tensor, value)
            if problem:
                problems.append(f"{role} {tensor.name!r}: {problem}")
    return problems


def _listed(names: list[str], shown: int = 10) -> str:
    """Names from a model for a message: quoted and escaped, at most ``shown`` of them."""
    text = repr(names[:shown])
    return text if len(names) <= shown else f"{text[:-1]}, and {len(names) - shown} more]"


def _tensor_problem(tensor: TensorDescription, value: onnx.ValueInfoProto) -> str | None:
    kind = value.type.tensor_type
    if not value.type.HasField("tensor_type") or kind.elem_type != ONNX_DTYPES[tensor.dtype]:
        return f"the metadata says {tensor.dtype}, the graph has another type"
    dims = list(kind.shape.dim)
    if len(dims) != len(tensor.shape):
        return f"the metadata gives rank {len(tensor.shape)}, the graph rank {len(dims)}"
    for axis, (given, dim) in enumerate(zip(tensor.shape, dims, strict=True)):
        if given is not None and dim.HasField("dim_value") and dim.dim_value != given:
            return f"axis {axis} is {given} in the metadata and {dim.dim_value} in the graph"
    return None
