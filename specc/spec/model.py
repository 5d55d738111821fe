"""The root of a spec: inputs, layers, outputs, compile and train sections.

``validate_spec`` turns loaded data into a ``ModelSpec`` or raises ``SpecError`` with every
schema problem located in the file.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Iterator
from typing import Annotated, Any, Literal, Union

from pydantic import (
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    GetCoreSchemaHandler,
    Tag,
    ValidationError,
    create_model,
)
from pydantic.errors import PydanticUndefinedAnnotation
from pydantic_core import PydanticCustomError

import specc.layers  # binds the layer types a wrapper nests, as they load
from specc.diagnostics import Diagnostic, SpecError, SpecPath
from specc.layers.base import LAYERS, InputDtype, Layer, Name, Reference
from specc.registry import SpecModel
from specc.spec.compile import CompileConfig, TrainConfig
from specc.spec.errors import UNKNOWN_KEY, describe, translate
from specc.spec.loader import LoadedSpec
from specc.spec.metadata import Metadata, ModelName

FORMAT_VERSION = 1


class InputSpec(SpecModel):
    """A model input: its shape without the batch axis (null = variable) and dtype."""

    shape: list[Annotated[int, Field(gt=0)] | None]
    dtype: InputDtype = "float32"


class SharedLayer(SpecModel):
    """Applies another entry's layer (same type, arguments and weights) to other inputs."""

    name: Name
    shares: Name
    inputs: Reference | list[Reference] | None = None


_SHARED_TAG = "shares"


def _entry_tag(value: Any) -> str | None:
    if isinstance(value, SharedLayer):
        return _SHARED_TAG
    if isinstance(value, Layer):
        return value.type_name()
    if isinstance(value, dict):
        if _SHARED_TAG in value:
            return _SHARED_TAG
        name = value.get("type")
        return LAYERS.canonical_name(LAYERS.get(name)) if name in LAYERS else None
    return None


def _check_entry(value: Any) -> Any:
    # Unknown or missing layer types are reported here, with a suggestion, before the
    # discriminated union would give a generic "tag not found".
    if isinstance(value, dict) and _SHARED_TAG not in value:
        name = value.get("type")
        if name is None:
            raise PydanticCustomError(
                "missing_type", "the {kind} mapping needs a 'type'", {"kind": "layer"}
            )
        if not isinstance(name, str):
            raise PydanticCustomError(
                "type_not_string", "type must be a string naming the {kind}", {"kind": "layer type"}
            )
        if name not in LAYERS:
            raise PydanticCustomError(
                "unknown_name",
                "unknown {kind} '{name}'{hint}",
                {"kind": "layer type", "name": str(name), "hint": LAYERS.hint(str(name))},
            )
    return value


def _layer_entry(models: list[type[Layer]]) -> Any:
    """The type of a ``layers`` entry: a shared layer, or one of ``models`` by its type."""
    return Annotated[
        Union[
            (
                Annotated[SharedLayer, Tag(_SHARED_TAG)],
                *(Annotated[model, Tag(model.type_name())] for model in models),
            )
        ],
        Discriminator(
            _entry_tag,
            custom_error_type="wrong_form",
            custom_error_message="a layer entry must be a mapping with 'type' (or 'shares')",
        ),
        BeforeValidator(_check_entry),
    ]


class _LayerEntries:
    """Marks the ``layers`` field: its schema is made when the model is built, from every
    layer type (``ModelSpec``: the JSON Schema, direct use) or from those loaded so far
    (the model ``validate_spec`` builds for the layer types a spec names)."""

    def __init__(self, loaded_only: bool) -> None:
        self.loaded_only = loaded_only

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> Any:
        models = LAYERS.loaded() if self.loaded_only else list(LAYERS)
        return handler.generate_schema(_layer_entry(models))


LayerEntry = Annotated[Layer | SharedLayer, _LayerEntries(loaded_only=False)]


class ModelSpec(SpecModel):
    """A whole spec file."""

    # Built on first use, so that importing the schema imports no layer module.
    model_config = ConfigDict(defer_build=True)

    specc: Literal[1] = Field(description="Spec format version.")
    name: ModelName | None = None
    inputs: dict[Name, InputSpec] | None = Field(None, min_length=1)
    layers: list[LayerEntry] = Field(min_length=1)
    outputs: list[Reference] | None = Field(None, min_length=1)
    compile: CompileConfig | None = None
    train: TrainConfig | None = None
    metadata: Metadata | None = None


@functools.cache
def _spec_model(layers: tuple[type[Layer], ...]) -> type[ModelSpec]:
    """``ModelSpec`` whose layer entries are ``layers`` (the types loaded when it is made):
    every name outside them is refused before the union is consulted (``_check_entry``),
    so it validates a spec naming only those types exactly as ``ModelSpec`` does."""
    entry = Annotated[Layer | SharedLayer, _LayerEntries(loaded_only=True)]
    model = create_model(
        "ModelSpec",
        __base__=ModelSpec,
        __module__=__name__,
        layers=(list[entry], Field(min_length=1)),  # type: ignore[valid-type]
    )
    try:
        model.model_rebuild()
    except PydanticUndefinedAnnotation:
        # A model it reaches still names the wrappers' forward reference (a wrapper
        # module imported directly, not through LAYERS): bind it to every layer type.
        model.model_rebuild(_types_namespace={"AnyLayer": specc.layers.AnyLayer})
    return model


def _layer_types(data: Any) -> Iterator[str]:
    """The types the spec's layer entries name. A wrapper's nested layer needs no look: a
    wrapper brings every layer type in (``specc.layers``)."""
    entries = data.get("layers") if isinstance(data, dict) else None
    for entry in entries if isinstance(entries, list) else []:
        name = entry.get("type") if isinstance(entry, dict) else None
        if isinstance(name, str):
            yield name


def validate_spec(loaded: LoadedSpec) -> ModelSpec:
    """Validate loaded data against the schema; raise ``SpecError`` with located diagnostics."""
    if not isinstance(loaded.data, dict):
        message = "a spec must be a mapping with 'specc', 'layers', ...; got " + describe(
            loaded.data
        )
        raise SpecError([loaded.locate(Diagnostic("SPC101-schema", message))])
    # An unknown key stops Pydantic from checking the rest of its mapping, so validate
    # again without the unknown keys found so far, until no new ones turn up: every
    # problem is then reported in one run.
    LAYERS.load(set(_layer_types(loaded.data)))
    schema = _spec_model(tuple(LAYERS.loaded()))
    data, copied = loaded.data, False
    found: dict[tuple[SpecPath, str], Diagnostic] = {}
    for _ in range(_MAX_ROUNDS):
        try:
            spec = schema.model_validate(data)
        except ValidationError as exc:
            diagnostics = translate(exc, data)
        else:
            if not found:
                return spec
            break
        for diagnostic in diagnostics:
            found.setdefault((diagnostic.path, diagnostic.message), diagnostic)
        unknown = [d.path for d in diagnostics if d.code == UNKNOWN_KEY]
        if not unknown:
            break
        if not copied:  # the loaded data stays as the file has it
            data, copied = copy.deepcopy(data), True
        removed = [_remove(data, path) for path in unknown]  # every one, no short cut
        if not any(removed):
            break
    raise SpecError([loaded.locate(d) for d in found.values()])


_MAX_ROUNDS = 8


def _remove(data: Any, path: SpecPath) -> bool:
    """Delete the key at ``path`` from ``data``; False when the path does not lead to a
    mapping holding it (a union's member can report a key of an entry it misread)."""
    parent = data
    for part in path[:-1]:
        try:
            parent = parent[part]
        except (KeyError, IndexError, TypeError):
            return False
    if not isinstance(parent, dict) or path[-1] not in parent:
        return False
    del parent[path[-1]]
    return True
