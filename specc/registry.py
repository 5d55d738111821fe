"""One generic registry for everything a spec names: layers, initializers, activations, ...

Each entry is a Pydantic model whose ``type`` field is a ``Literal`` of the names it answers
to (the Keras class name and its snake_case alias). From the entries a registry derives the
field type used in specs: a string name or a mapping with ``type`` plus arguments, validated
against that entry's model, with a "did you mean" hint for unknown names.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
import re
import sys
import typing
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Annotated, Any, Generic, TypeVar, Union

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    Tag,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import CoreSchema, PydanticCustomError

from specc.diagnostics import did_you_mean
from specc.registry_source import import_order, module_index

# Every number in a spec ends up in the model as an int64 or a float32 (ONNX attributes,
# initializers, the training engine's inputs): one that does not fit is refused where it
# is written rather than overflowing later.
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
# numpy.finfo(numpy.float32).max, written out: checking a spec needs no NumPy for it.
FLOAT32_MAX = 3.4028234663852886e38


def number_problem(value: Any) -> str | None:
    """Why a spec number cannot be used (None when it can): an int beyond int64 or a float
    beyond float32. NaN and infinity are refused by every model's ``allow_inf_nan``."""
    kind = type(value)
    if kind is int and not INT64_MIN <= value <= INT64_MAX:
        return "a 64-bit integer (from -2**63 to 2**63 - 1)"
    if kind is float and abs(value) > FLOAT32_MAX:
        return f"a 32-bit float (magnitude at most {FLOAT32_MAX:.4g})"
    if kind is list or kind is tuple:
        return next((p for p in map(number_problem, value) if p is not None), None)
    return None


class SpecModel(BaseModel):
    """Base for every model a spec is validated against: strict, closed, immutable, and
    finite: NaN and infinity are refused in every float field (Keras gives them no meaning
    a spec needs: an unbounded ReLU or Huber is written without the bound)."""

    # defer_build: a model's validator is built when it is first used, or inline in the
    # model of a whole spec, whose unions take only the entries specs name (``use``);
    # building every entry's and every layer's at import was most of checking a small spec.
    model_config = ConfigDict(
        strict=True,
        extra="forbid",
        frozen=True,
        populate_by_name=False,
        allow_inf_nan=False,
        defer_build=True,
    )

    @field_validator("*", mode="after")
    @classmethod
    def _numbers_fit(cls, value: Any, info: ValidationInfo) -> Any:
        problem = number_problem(value)
        if problem is not None:
            # A value_error's message is shown as it is (specc.spec.errors).
            message = f"{info.field_name} must fit in {problem}; got {_short(value)}"
            raise PydanticCustomError("value_error", "{error}", {"error": message})
        return value

    @model_validator(mode="before")
    @classmethod
    def _reject_unknown_keys(cls, data: Any) -> Any:
        # Pydantic's own extra_forbidden error cannot say which keys were valid; this one
        # names the nearest valid key so the user sees "did you mean 'units'?".
        if isinstance(data, dict):
            known = _known_keys(cls)
            unknown = [key for key in data if key not in known]
            if unknown:
                key = unknown[0]
                hint = did_you_mean(str(key), sorted(known - {"type"}))
                raise PydanticCustomError(
                    "unknown_key", "unknown key '{key}'{hint}", {"key": key, "hint": hint}
                )
        return data


@functools.cache
def _known_keys(model: type[SpecModel]) -> frozenset[str]:
    # Worked out once per model: this runs for every mapping of every spec.
    return frozenset(f.alias or name for name, f in model.model_fields.items())


def _short(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 40 else text[:37] + "..."


EntryT = TypeVar("EntryT", bound=SpecModel)


def type_names(model: type[SpecModel]) -> tuple[str, ...]:
    """The names a registered model answers to: the arguments of its ``type`` Literal."""
    annotation = model.model_fields["type"].annotation
    return typing.get_args(annotation)


class Registry(Generic[EntryT]):
    """Named Pydantic models of one kind (``initializer``, ``activation``, ...).

    With ``package``, the entries live in that package's modules, one module imported when
    one of its names is first needed (``get``, ``load``) and all of them when the registry
    is walked (``iter``, ``load_all``): checking a spec then builds only the models it uses.
    Which module holds which names is read from their source (``module_index``).
    """

    def __init__(self, kind: str, package: str | None = None) -> None:
        self.kind = kind
        self.package = package
        self._entries: dict[str, type[EntryT]] = {}
        self._canonical: dict[type[EntryT], str] = {}
        self._all_loaded = package is None
        # Modules walked before the others (``list_first``).
        self._first: tuple[str, ...] = ()
        # Run after modules are imported through the registry (a package binds the types
        # that need every entry, such as the layer union a wrapper nests).
        self._after_load: list[Callable[[], None]] = []
        # The entries named by the specs checked so far (``use``), as an ordered set.
        self._in_use: dict[type[EntryT], None] = {}
        self._build_when_used = False

    def register(self, model: type[EntryT]) -> type[EntryT]:
        """Class decorator: register ``model`` under every name in its ``type`` Literal."""
        names = type_names(model)
        if not names:
            raise TypeError(f"{model.__name__} needs a Literal 'type' field")
        for name in names:
            if name in self._entries:
                raise TypeError(f"{self.kind} name '{name}' is registered twice")
            self._entries[name] = model
        self._canonical[model] = names[0]
        return model

    def __contains__(self, name: object) -> bool:
        if name in self._entries:
            return True
        if self._all_loaded or not isinstance(name, str):
            return False
        if name in self._index():
            return True
        # A name the source index does not know: an unknown name (an error being reported),
        # or one registered in a way the index cannot read; importing everything tells.
        self.load_all()
        return name in self._entries

    def __iter__(self) -> Iterator[type[EntryT]]:
        if self.package is None:
            return iter(self._canonical)
        self.load_all()
        # The order a fresh import of every module registers them in, whatever order they
        # were loaded in since: what is generated from the registry (the JSON Schema, the
        # docs) must not depend on which specs were checked first.
        order = {name: k for k, name in enumerate(self._module_order())}
        sequence = {model: k for k, model in enumerate(self._canonical)}
        return iter(
            sorted(
                self._canonical,
                key=lambda m: (order.get(m.__module__.rpartition(".")[2], -1), sequence[m]),
            )
        )

    def get(self, name: str) -> type[EntryT]:
        """The model registered under ``name``; ``KeyError`` when there is none."""
        if name not in self._entries and name in self:
            self.load([name])
        return self._entries[name]

    def names(self) -> list[str]:
        """Every accepted name, canonical and aliases."""
        if self._all_loaded:
            # In the registry's order, whatever order its modules were loaded in.
            return [name for model in self for name in type_names(model)]
        return list(dict.fromkeys([*self._entries, *self._index()]))

    def loaded(self) -> list[type[EntryT]]:
        """The entries whose modules are imported so far, in registration order."""
        return list(self._canonical)

    def use(self, names: Iterable[object]) -> None:
        """Mark the loaded entries among ``names`` (other values are skipped) as used: the
        unions built inside ``unions_of_entries_in_use`` take only the entries in use."""
        for name in names:
            model = self._entries.get(name) if isinstance(name, str) else None
            if model is None or model in self._in_use:
                continue
            self._in_use[model] = None
            if self._build_when_used:
                model.model_rebuild(raise_errors=False)

    def build_when_used(self) -> None:
        """From now on, build each entry's validator as ``use`` first marks it: a process
        checking many specs then makes each spec model from built entries, instead of
        building them again inside each spec model it makes."""
        self._build_when_used = True

    def use_all(self) -> None:
        """Mark every entry as used (every module imported first)."""
        self.load_all()
        self._in_use.update(dict.fromkeys(self._canonical))

    def in_use(self) -> tuple[type[EntryT], ...]:
        """The entries marked by ``use``, in registration order."""
        return tuple(model for model in self._canonical if model in self._in_use)

    def load(self, names: Iterable[str]) -> None:
        """Import the modules holding ``names``; every module when one of them is not in
        the source index."""
        if self._all_loaded:
            return
        index = self._index()
        wanted = [n for n in names if n not in self._entries]
        if any(n not in index for n in wanted):
            self.load_all()  # see __contains__
            return
        modules = sorted({index[n] for n in wanted})
        for module in modules:
            importlib.import_module(f"{self.package}.{module}")
        if modules:
            self._loaded_hooks()

    def load_all(self) -> None:
        """Import every module of the package (those the index missed included)."""
        if self._all_loaded:
            return
        package = importlib.import_module(str(self.package))
        import_modules(str(self.package), package.__path__)
        self._all_loaded = True
        self._loaded_hooks()

    def after_load(self, hook: Callable[[], None]) -> None:
        """Run ``hook`` after every import of entry modules through this registry."""
        self._after_load.append(hook)

    def _loaded_hooks(self) -> None:
        for hook in self._after_load:
            hook()

    @functools.cache  # noqa: B019 - one registry per kind, alive for the whole process
    def _index(self) -> dict[str, str]:
        package = importlib.import_module(str(self.package))
        return module_index(package.__path__)

    def list_first(self, *modules: str) -> None:
        """Walk the entries of ``modules`` first, in this order, then the others as a
        fresh import registers them: keeps the order the registry was once listed in (the
        JSON Schema, the docs) when its package stops importing those modules up front."""
        self._first = modules

    @functools.cache  # noqa: B019 - one registry per kind, alive for the whole process
    def _module_order(self) -> list[str]:
        package = importlib.import_module(str(self.package))
        order = import_order(str(self.package), package.__path__)
        return [*self._first, *(m for m in order if m not in self._first)]

    def package_attribute(self, name: str) -> Any:
        """``name`` from the package's entry modules, all imported first: a package's
        ``__getattr__`` for what it exposes without importing it up front (``Adam`` from
        ``specc.optimizers``). ``AttributeError`` when no module has it."""
        # Private and special names are asked for by tools probing the module (inspect,
        # pytest); they never name an entry and must not import every module.
        if name.startswith("_") or self.package is None:
            raise AttributeError(f"module {self.package!r} has no attribute {name!r}")
        self.load_all()
        package = sys.modules[self.package]
        if name in vars(package):  # a submodule, set on the package as it was imported
            return vars(package)[name]
        for module in self._module_order():
            found = vars(sys.modules[f"{self.package}.{module}"]).get(name, _MISSING)
            if found is not _MISSING:
                return found
        raise AttributeError(f"module {self.package!r} has no attribute {name!r}")

    def canonical_name(self, model: type[EntryT]) -> str:
        """The name Keras serializes this entry under."""
        return self._canonical[model]

    def hint(self, name: str) -> str:
        """The "did you mean" tail of an unknown-name message."""
        return did_you_mean(name, self.names())

    def discriminated_union(
        self, accept_strings: bool = True, models: Iterable[type[EntryT]] | None = None
    ) -> Any:
        """The Pydantic type for a field that takes one of this registry's entries (of
        ``models``; without them, of every entry, or inside ``unions_of_entries_in_use``
        of the entries in use, chosen when a model using the type is built).

        A string becomes ``{type: name}`` (when ``accept_strings``); an unknown name is an
        ``unknown_name`` error carrying a "did you mean" hint in its context. With only
        some ``models``, every name outside them must be kept out before it is validated
        (as ``specc.spec.model`` does by loading the names a spec uses first).
        """
        if models is None:
            return Annotated[Any, _EntryUnion(self, accept_strings)]
        return self._union(accept_strings, tuple(models))

    def _union(self, accept_strings: bool, members: Iterable[type[EntryT]]) -> Any:
        registry = self
        tagged = tuple(Annotated[model, Tag(self.canonical_name(model))] for model in members)
        # None loaded: a union needs a member, and no name leads to this one.
        tagged = tagged or (Annotated[_NoEntry, Tag("<no entry>")],)

        def tag_of(value: Any) -> str | None:
            name = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
            return registry.canonical_name(registry.get(name)) if name in registry else None

        def check_name(value: Any) -> Any:
            if accept_strings and isinstance(value, str):
                value = {"type": value}
            if not isinstance(value, dict):
                return value
            name = value.get("type")
            if name is None:
                raise PydanticCustomError(
                    "missing_type", "the {kind} mapping needs a 'type'", {"kind": registry.kind}
                )
            if not isinstance(name, str):
                raise PydanticCustomError(
                    "type_not_string",
                    "type must be a string naming the {kind}",
                    {"kind": registry.kind},
                )
            if name not in registry:
                raise PydanticCustomError(
                    "unknown_name",
                    "unknown {kind} '{name}'{hint}",
                    {"kind": registry.kind, "name": str(name), "hint": registry.hint(str(name))},
                )
            return value

        form = "a name or a mapping with 'type'" if accept_strings else "a mapping with 'type'"
        union = Annotated[
            Union[tagged],  # noqa: UP007 - a runtime-built union needs the subscript form
            Discriminator(
                tag_of,
                custom_error_type="wrong_form",
                custom_error_message=f"expected {form}",
            ),
        ]
        validated = Annotated[union, BeforeValidator(check_name)]
        if not accept_strings:
            return validated
        return Annotated[validated, _NameOrMappingSchema(self)]


# Inside ``unions_of_entries_in_use``: the registry unions built take the entries in use.
_ENTRIES_IN_USE: ContextVar[bool] = ContextVar("specc_entries_in_use", default=False)


@contextmanager
def unions_of_entries_in_use() -> Iterator[None]:
    """Build the registry unions of the models made in the block from the entries in use
    (``Registry.use``; for a registry of a package, its loaded entries), not from every
    entry: the model of one spec, which refuses every other name before its union is
    consulted. Models built before or after, and their JSON Schema, take every entry."""
    token = _ENTRIES_IN_USE.set(True)
    try:
        yield
    finally:
        _ENTRIES_IN_USE.reset(token)


class _EntryUnion:
    """Marks a field of a registry's union: its members are chosen when the model using it
    is built (see ``unions_of_entries_in_use``)."""

    def __init__(self, registry: Registry[Any], accept_strings: bool) -> None:
        self.registry = registry
        self.accept_strings = accept_strings

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> Any:
        registry = self.registry
        if not _ENTRIES_IN_USE.get():
            members = list(registry)
        elif registry.package is None:
            members = list(registry.in_use())
        else:  # its modules are imported for the names a spec uses (``load``)
            members = registry.loaded()
        return handler.generate_schema(registry._union(self.accept_strings, members))


_MISSING = object()


class _NoEntry(SpecModel):
    """The member of a union built from no entries: never chosen (its tag is no name)."""


class _NameOrMappingSchema:
    """JSON Schema for a string-or-mapping field: an enum of names, or one of the mappings."""

    def __init__(self, registry: Registry[Any]) -> None:
        self.registry = registry

    def __get_pydantic_json_schema__(
        self, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> dict[str, Any]:
        mapping_schema = handler(core_schema)
        return {
            "anyOf": [
                {"type": "string", "enum": sorted(self.registry.names())},
                mapping_schema,
            ]
        }


def import_modules(package: str, path: Iterable[str]) -> None:
    """Import every module of ``package`` (found in ``path``, its ``__path__``), in name
    order, so that each registers its entries: modules are discovered, not listed."""
    for module in sorted(m.name for m in pkgutil.iter_modules(path)):
        importlib.import_module(f"{package}.{module}")


def to_snake_case(name: str) -> str:
    """Keras's default-name rule: ``RepeatVector`` -> ``repeat_vector``; ``Conv2D`` -> ``conv2d``.

    Keras applies exactly these substitutions (keras/src/utils/naming.py).
    """
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    name = re.sub("([a-z])([A-Z])", r"\1_\2", name)
    return name.lower()


def docstring_summary(entry: type) -> str:
    """The first sentence of a class's docstring, on one line (a docstring's first
    sentence may run over several lines): the one-line summary the catalog and the JSON
    Schema's completion lists show."""
    paragraph = " ".join((entry.__doc__ or entry.__name__).strip().split("\n\n")[0].split())
    # A sentence ends at a full stop before a capital or the end (not "x1 + ... + xn").
    end = re.search(r"(?<!\.)\.(?=\s+[A-Z]|$)", paragraph)
    return paragraph[: end.start() + 1] if end else paragraph
