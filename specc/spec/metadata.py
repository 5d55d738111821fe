"""The spec's ``name`` and ``metadata``: text that ends up in generated files and folder names.

A model's name becomes the default export folder (``<name>-web``, sanitised), the ONNX
graph's name, and text in a web page, a JavaScript module and READMEs; its
``metadata.labels`` become the class names an app shows. Both are checked here, in the
schema: the name for characters that have no place in a name, the labels for type and
length. Whether the
labels fit the outputs they name needs the outputs' shapes: ``check_labels`` runs after
shape inference.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, StrictInt, WithJsonSchema

from specc.diagnostics import Diagnostic, suggest
from specc.spec.errors import describe
from specc.types import TensorType

LABELS = "SPC516-labels"

# Keras refuses only '/' in a model's name. specc also refuses what no name needs and what
# would hide or garble it wherever it is shown: control, invisible and direction characters
# (categories Cc, Cf, Cs, Co, Cn, Zl, Zp), spaces at either end, and more than 128
# characters. Everything else (any script, quotes, '<', braces) is allowed: the name is
# escaped wherever it lands, and the export folder named after it is sanitised.
MODEL_NAME_MAX = 128
_HIDDEN = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
# The JSON Schema's approximation of the rule (draft-07 regexes have no Unicode classes).
_SCHEMA_BAD = (
    "/\\u0000-\\u001f\\u007f-\\u009f\\u00ad\\u200b-\\u200f\\u2028-\\u202e\\u2060-\\u206f\\ufeff"
)
MODEL_NAME_PATTERN = f"^(?! )(?!.* $)[^{_SCHEMA_BAD}]*$"
LABEL_MAX = 1000


def _check_model_name(name: str) -> str:
    if not name:
        raise ValueError("name must not be empty")
    if len(name) > MODEL_NAME_MAX:
        raise ValueError(f"name must be at most {MODEL_NAME_MAX} characters; got {len(name):,}")
    hidden = next((c for c in name if unicodedata.category(c) in _HIDDEN), None)
    if hidden is not None:
        raise ValueError(
            "name must not contain control, invisible or direction characters; got "
            f"U+{ord(hidden):04X} in {describe(name)}"
        )
    if "/" in name:
        raise ValueError(f"name must not contain '/' (as in Keras); got {describe(name)}")
    if name != name.strip():
        raise ValueError(f"name must not start or end with a space; got {describe(name)}")
    return name


ModelName = Annotated[
    str,
    AfterValidator(_check_model_name),
    WithJsonSchema(
        {
            "type": "string",
            "minLength": 1,
            "maxLength": MODEL_NAME_MAX,
            "pattern": MODEL_NAME_PATTERN,
        }
    ),
]


def _check_label(label: str | int) -> str | int:
    if isinstance(label, str) and len(label) > LABEL_MAX:
        raise ValueError(f"a label must be at most {LABEL_MAX} characters; got {len(label):,}")
    return label


# Any text (it is escaped wherever it lands), or a whole number written without quotes.
Label = Annotated[
    str | StrictInt,
    AfterValidator(_check_label),
    WithJsonSchema({"type": ["string", "integer"], "maxLength": LABEL_MAX}),
]


class Metadata(BaseModel):
    """``metadata``: free-form, carried along; ``labels`` names the classes of outputs,
    as a mapping from output name to labels, or a list for a model with one output."""

    # Built on first use, as every spec model is (``specc.registry.SpecModel``).
    model_config = ConfigDict(strict=True, extra="allow", frozen=True, defer_build=True)

    labels: dict[str, list[Label]] | list[Label] | None = None


def labels_by_output(metadata: Metadata | None, outputs: Sequence[str]) -> dict[str, list[str]]:
    """The labels of each output that has some, as text (a list applies to the sole
    output; ``check_labels`` has refused it for several)."""
    labels = metadata.labels if metadata is not None else None
    if isinstance(labels, list):
        labels = {outputs[0]: labels} if len(outputs) == 1 else {}
    return {
        name: [str(label) for label in labels[name]] for name in outputs if name in (labels or {})
    }


def check_labels(
    metadata: Metadata | None, outputs: Sequence[tuple[str, TensorType]]
) -> list[Diagnostic]:
    """Every way ``metadata.labels`` does not fit the outputs: a list for a model with
    several outputs, a name that is not an output, or a count that is not the output's
    number of classes (its last axis; 2, negative then positive, for a single unit)."""
    labels = metadata.labels if metadata is not None else None
    if labels is None:
        return []
    names = [name for name, _ in outputs]
    if isinstance(labels, list):
        if len(outputs) == 1:
            return _check_count(("metadata", "labels"), labels, outputs[0])
        message = (
            f"labels is a list, but the model has {len(outputs)} outputs "
            f"({', '.join(names)}); give a mapping from output name to its labels"
        )
        return [Diagnostic(LABELS, message, ("metadata", "labels"))]
    problems: list[Diagnostic] = []
    types = dict(outputs)
    for name, given in labels.items():
        if name not in types:
            best = suggest(name, names)
            hint = f"; did you mean '{best}'?" if best else f"; the outputs are {', '.join(names)}"
            problems.append(
                Diagnostic(
                    LABELS,
                    f"labels for {name!r}, which is not an output{hint}",
                    ("metadata", "labels", name),
                    at_key=True,
                )
            )
            continue
        problems.extend(_check_count(("metadata", "labels", name), given, (name, types[name])))
    return problems


def _check_count(
    path: tuple[str | int, ...], labels: Sequence[object], output: tuple[str, TensorType]
) -> list[Diagnostic]:
    name, tensor = output
    classes = tensor.shape[-1] if tensor.shape else 1
    if classes is None:
        return []  # a variable class axis: nothing to check against
    wanted = 2 if classes == 1 else classes
    if len(labels) == wanted:
        return []
    why = (
        "a single unit takes 2 labels, for values below and from 0.5"
        if classes == 1
        else f"one per class of its last axis, {classes}"
    )
    message = (
        f"output '{name}' of shape {_shape(tensor)} takes {wanted} labels ({why}); "
        f"got {len(labels)}"
    )
    return [Diagnostic(LABELS, message, path)]


def _shape(tensor: TensorType) -> str:
    dims = ["any" if d is None else str(d) for d in tensor.shape]
    return "(" + ", ".join(["batch", *dims] if tensor.batched else dims) + ")"
