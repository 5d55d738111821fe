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
from specc.registry import SpecModel, unions_of_entries_in_use
from specc.spec.compile import (
    CompileConfig,
    TrainConfig,
    load_named_entries,
    loaded_sections,
    section_entries,
)
from specc.spec.errors import UNKNOWN_KEY, describe, translate
from specc.spec.field_entries import entries_in_use, use_named_entries
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


class ModelUse(SpecModel):
    """Applies a sub-model of the spec's ``models`` to inputs; every use of one sub-model
    shares its weights (``encoder/dense/kernel``)."""

    name: Name = Field(description="This use's name: its outputs are referred to by it.")
    model: Name = Field(description="The sub-model (a key of the spec's `models`) to apply.")
    inputs: Reference | list[Reference] | None = Field(
        None,
        description="What the sub-model is applied to, one per input it declares: layer or "
        "input names; default: the entry before.",
    )


_SHARED_TAG = "shares"
_INLINE_TYPES = ("Sequential", "Functional")
# Not "model": a tag that is also a key of the entry would enter error paths.
_USE_TAG = "ModelUse"
_USE_KEY = "model"


def _entry_tag(value: Any) -> str | None:
    if isinstance(value, SharedLayer):
        return _SHARED_TAG
    if isinstance(value, ModelUse):
        return _USE_TAG
    if isinstance(value, InlineModel):
        return value.type
    if isinstance(value, Layer):
        return value.type_name()
    if isinstance(value, dict):
        if _SHARED_TAG in value:
            return _SHARED_TAG
        if _USE_KEY in value and "type" not in value:
            return _USE_TAG
        name = value.get("type")
        if name in _INLINE_TYPES:
            return name
        return LAYERS.canonical_name(LAYERS.get(name)) if name in LAYERS else None
    return None


def _check_entry(value: Any) -> Any:
    # Unknown or missing layer types are reported here, with a suggestion, before the
    # discriminated union would give a generic "tag not found".
    if isinstance(value, dict) and _SHARED_TAG not in value and _USE_KEY not in value:
        name = value.get("type")
        if name is None:
            raise PydanticCustomError(
                "missing_type", "the {kind} mapping needs a 'type'", {"kind": "layer"}
            )
        if not isinstance(name, str):
            raise PydanticCustomError(
                "type_not_string", "type must be a string naming the {kind}", {"kind": "layer type"}
            )
        if name not in LAYERS and name not in _INLINE_TYPES:
            raise PydanticCustomError(
                "unknown_name",
                "unknown {kind} '{name}'{hint}",
                {"kind": "layer type", "name": str(name), "hint": LAYERS.hint(str(name))},
            )
    return value


def _layer_entry(models: list[type[Layer]], inline: type[InlineModel]) -> Any:
    """The type of a ``layers`` entry: a shared layer, a sub-model's use, a nested model
    (``inline``, whose own entries take the same types), or one of ``models`` by its type."""
    return Annotated[
        Union[
            (
                Annotated[SharedLayer, Tag(_SHARED_TAG)],
                Annotated[ModelUse, Tag(_USE_TAG)],
                *(Annotated[inline, Tag(name)] for name in _INLINE_TYPES),
                *(Annotated[model, Tag(model.type_name())] for model in models),
            )
        ],
        Discriminator(
            _entry_tag,
            custom_error_type="wrong_form",
            custom_error_message=(
                "a layer entry must be a mapping with 'type' (or 'shares', or 'model')"
            ),
        ),
        BeforeValidator(_check_entry),
    ]


class _LayerEntries:
    """Marks the ``layers`` field: its schema is made when the model is built, from every
    layer type (``ModelSpec``: the JSON Schema, direct use) or from those the specs
    checked so far named (``Registry.use``: the model ``validate_spec`` builds)."""

    def __init__(self, in_use_only: bool) -> None:
        self.in_use_only = in_use_only

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> Any:
        if not self.in_use_only:
            return handler.generate_schema(_layer_entry(list(LAYERS), InlineModel))
        models = list(LAYERS.in_use())
        return handler.generate_schema(_layer_entry(models, _inline_model(tuple(models))))


LayerEntry = Annotated[
    # A nested model's own entries are ``LayerEntry`` too: named before it is defined.
    Union[Layer, SharedLayer, ModelUse, "InlineModel"],
    _LayerEntries(in_use_only=False),
]


class SubModel(SpecModel):
    """A model of the spec's ``models``, in the spec's own form: ``inputs``, ``layers``,
    ``outputs`` (or the sequential shorthand); applied by ``{model: <its name>}`` entries."""

    model_config = ConfigDict(defer_build=True)

    inputs: dict[Name, InputSpec] | None = Field(
        None,
        min_length=1,
        description="The sub-model's inputs, by name, in the order a use gives them; their "
        "shapes (null: any size) are checked against each use's.",
    )
    layers: list[LayerEntry] = Field(
        min_length=1, description="The sub-model's layers; their weights are shared by its uses."
    )
    outputs: list[Reference] | None = Field(
        None,
        min_length=1,
        description="The layers whose outputs a use gives, in order (`use[k]`); default: "
        "the last layer.",
    )

    @property
    def name(self) -> None:
        """A sub-model is named by its key in ``models``."""
        return None


class InlineModel(SpecModel):
    """A nested model written in place, as Keras's ``Sequential`` or ``Functional`` used
    as a layer: applied once, its weights keyed ``<its name>/<layer>/<weight>``. A
    Sequential takes the shape of what it is applied to (or its first layer's
    ``input_shape``); a Functional declares its own ``model_inputs``."""

    model_config = ConfigDict(defer_build=True)

    type: Literal["Sequential", "Functional"] = Field(
        description="Sequential: its layers in a chain; Functional: its layers name their "
        "inputs among `model_inputs` and each other."
    )
    name: Name = Field(description="The nested model's name: its outputs are referred to by it.")
    inputs: Reference | list[Reference] | None = Field(
        None,
        description="What the nested model is applied to, one per input it has: layer or "
        "input names; default: the entry before.",
    )
    model_inputs: dict[Name, InputSpec] | None = Field(
        None,
        min_length=1,
        description="A Functional's own inputs, by name, in the order `inputs` feeds them.",
    )
    layers: list[LayerEntry] = Field(min_length=1, description="The nested model's layers.")
    outputs: list[Reference] | None = Field(
        None,
        min_length=1,
        description="The layers whose outputs the nested model gives, in order "
        "(`name[k]`); default: the last layer.",
    )

    def as_sub_model(self) -> SubModel:
        """The nested model as a sub-model of ``models`` (validated already)."""
        return SubModel.model_construct(
            inputs=self.model_inputs, layers=self.layers, outputs=self.outputs
        )


class ModelSpec(SpecModel):
    """A whole spec file."""

    # Built on first use, so that importing the schema imports no layer module.
    model_config = ConfigDict(defer_build=True)

    specc: Literal[1] = Field(description="Spec format version.")
    name: ModelName | None = None
    inputs: dict[Name, InputSpec] | None = Field(None, min_length=1)
    layers: list[LayerEntry] = Field(min_length=1)
    outputs: list[Reference] | None = Field(None, min_length=1)
    models: dict[Name, SubModel] | None = Field(
        None,
        description="Sub-models by name, each in the spec's form; a layer entry "
        "`{name: ..., model: <name>, inputs: [...]}` applies one, sharing its weights.",
    )
    compile: CompileConfig | None = None
    train: TrainConfig | None = None
    metadata: Metadata | None = None


@functools.cache
def _inline_model(layers: tuple[type[Layer], ...]) -> type[InlineModel]:
    """``InlineModel`` whose entries take ``layers`` (those in use), as ``_spec_model``'s:
    the full ``InlineModel`` would load every layer type to build its schema."""
    entry = Annotated[Layer | SharedLayer | ModelUse | InlineModel, _LayerEntries(in_use_only=True)]
    return create_model(
        "InlineModel",
        __base__=InlineModel,
        __module__=__name__,
        layers=(list[entry], InlineModel.model_fields["layers"]),  # type: ignore[valid-type]
    )


@functools.cache
def _spec_model(
    layers: tuple[type[Layer], ...],
    sections: tuple[type[CompileConfig], type[TrainConfig]],
    in_use: tuple[tuple[type, ...], ...],
) -> type[ModelSpec]:
    """``ModelSpec`` whose layer entries are ``layers`` (the types in use when it is made),
    whose compile and train sections are ``sections`` (``loaded_sections``) and whose
    activations, initializers, ... are those ``in_use`` (``entries_in_use``): every name
    outside them is refused before the union is consulted (``_check_entry``,
    ``Registry.discriminated_union``), so it validates a spec naming only those types
    exactly as ``ModelSpec`` does."""
    with unions_of_entries_in_use():
        return _build_spec_model(layers, sections)


def _build_spec_model(
    layers: tuple[type[Layer], ...], sections: tuple[type[CompileConfig], type[TrainConfig]]
) -> type[ModelSpec]:
    entry = Annotated[Layer | SharedLayer | ModelUse | InlineModel, _LayerEntries(in_use_only=True)]
    sub_model = create_model(
        "SubModel",
        __base__=SubModel,
        __module__=__name__,
        layers=(list[entry], Field(min_length=1)),  # type: ignore[valid-type]
    )
    model = create_model(
        "ModelSpec",
        __base__=ModelSpec,
        __module__=__name__,
        layers=(list[entry], Field(min_length=1)),  # type: ignore[valid-type]
        models=(dict[Name, sub_model] | None, ModelSpec.model_fields["models"]),  # type: ignore[valid-type]
        compile=(sections[0] | None, None),
        train=(sections[1] | None, None),
    )
    try:
        model.model_rebuild()
    except PydanticUndefinedAnnotation:
        # A model it reaches still names the wrappers' forward reference (a wrapper
        # module imported directly, not through LAYERS): bind it to every layer type.
        model.model_rebuild(_types_namespace={"AnyLayer": specc.layers.AnyLayer})
    return model


def _layer_types(data: Any) -> Iterator[str]:
    """The types the spec's layer entries name, its sub-models' and nested models'
    included. A wrapper's nested layer needs no look: a wrapper brings every layer type in
    (``specc.layers``)."""
    models = data.get("models") if isinstance(data, dict) else None
    graphs = [data, *(models.values() if isinstance(models, dict) else [])]
    while graphs:
        graph = graphs.pop()
        entries = graph.get("layers") if isinstance(graph, dict) else None
        for entry in entries if isinstance(entries, list) else []:
            name = entry.get("type") if isinstance(entry, dict) else None
            if name in _INLINE_TYPES:
                graphs.append(entry)
            elif isinstance(name, str):
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
    layer_types = set(_layer_types(loaded.data))
    LAYERS.load(layer_types)
    LAYERS.use(layer_types)
    load_named_entries(loaded.data)
    use_named_entries(loaded.data, [*LAYERS.in_use(), *section_entries()])
    schema = _spec_model(LAYERS.in_use(), loaded_sections(), entries_in_use())
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
