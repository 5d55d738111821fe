"""The ``compile`` and ``train`` sections of a spec: Keras's ``compile`` and ``fit`` arguments.

The models validate each section alone; ``check_compile_against_outputs`` then checks what
only the model's outputs can tell, following Keras 3's ``CompileLoss`` and
``CompileMetrics``:

- keys of a ``loss``, ``loss_weights`` or ``metrics`` mapping must name outputs;
- a ``loss`` mapping must list every output (Keras 3 raises "Expected keys ... in loss
  dict"); ``null`` gives an output no loss, as Keras's ``None``;
- a ``loss_weights`` mapping must list every output too (Keras 3 looks each one up);
  a list needs one weight per output;
- with several outputs a ``metrics`` list needs one entry per output, each a metric or a
  list of metrics (Keras 3 raises otherwise); with one output it is a flat list.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from typing import Annotated, Any, Union

from pydantic import ConfigDict, Discriminator, Field, GetCoreSchemaHandler, Tag, create_model

from specc.callbacks import CALLBACKS
from specc.diagnostics import Diagnostic, did_you_mean
from specc.layers.base import LAYERS, Seed
from specc.losses import LOSSES, Loss
from specc.metrics import METRICS, Metric, metric_field
from specc.optimizers import OPTIMIZERS, Optimizer
from specc.registry import Registry, SpecModel, unions_of_entries_in_use
from specc.spec.field_entries import FIELD_REGISTRIES, entries_in_use, use_every_entry
from specc.spec.train_data import ArrayName, ClassWeights

UNKNOWN_OUTPUT = "SPC211-unknown-output"
MISSING_OUTPUT = "SPC212-missing-output"
COUNT_MISMATCH = "SPC213-count-mismatch"
NESTED_METRICS = "SPC214-nested-metrics"

Weight = Annotated[float, Field(allow_inf_nan=False)]


def _form(value: Any) -> str | None:
    # Pick the branch from the value's shape, so that an error comes from the form the
    # user wrote (one loss, or one per output) instead of from every union member.
    if isinstance(value, list):
        return "per_output_list"
    if isinstance(value, dict):
        # A mapping with a string ``type`` is one loss or metric; an output named "type"
        # would have to hold a mapping, never a bare string.
        return "one" if isinstance(value.get("type"), str) else "per_output"
    return "one"


def _tagged(*members: tuple[Any, str]) -> Any:
    """A union whose branch ``_form`` picks."""
    tagged = tuple(Annotated[member, Tag(tag)] for member, tag in members)
    return Annotated[
        Union[tagged],  # noqa: UP007 - a runtime-built union needs the subscript form
        Discriminator(
            _form,
            custom_error_type="wrong_form",
            custom_error_message="expected one entry or a mapping from output names",
        ),
    ]


def _loss_spec(entries: list[type[Loss]]) -> Any:
    # One loss for every output, or ``output name -> loss`` (null: no loss for that output).
    loss = LOSSES.discriminated_union(models=entries)
    return _tagged((loss, "one"), (dict[str, loss | None], "per_output"))


def _metrics_spec(entries: list[type[Metric]]) -> Any:
    # One output's metrics: a metric or a list of them (Keras wraps a lone metric).
    group = _tagged(
        (metric_field(entries), "one"), (list[metric_field(entries)], "per_output_list")
    )
    return _tagged((list[group], "per_output_list"), (dict[str, group], "per_output"))


def _optimizer(entries: list[type[Optimizer]]) -> Any:
    return OPTIMIZERS.discriminated_union(models=entries)


def _callback(entries: list[Any]) -> Any:
    return CALLBACKS.discriminated_union(models=entries)


LossWeights = _tagged((list[Weight], "per_output_list"), (dict[str, Weight], "per_output"))


class _Entries:
    """Marks a field whose type is made from a registry's entries when its model is built:
    from every entry (``CompileConfig``, ``TrainConfig``: the JSON Schema, direct use), or
    from those the specs checked so far named (``Registry.use``: the sections
    ``specc.spec.model`` builds for the entries a spec names, as it does for layers)."""

    def __init__(
        self, registry: Registry[Any], make: Callable[[list[Any]], Any], in_use_only: bool
    ) -> None:
        self.registry = registry
        self.make = make
        self.in_use_only = in_use_only

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> Any:
        entries = list(self.registry.in_use()) if self.in_use_only else list(self.registry)
        return handler.generate_schema(self.make(entries))


def _entry_types(in_use_only: bool) -> dict[str, Any]:
    """The types of the fields that name registry entries, from every entry or from those
    in use."""
    return {
        "optimizer": Annotated[Optimizer, _Entries(OPTIMIZERS, _optimizer, in_use_only)],
        "loss": Annotated[Any, _Entries(LOSSES, _loss_spec, in_use_only)],
        "metrics": Annotated[Any, _Entries(METRICS, _metrics_spec, in_use_only)],
        "callback": Annotated[Any, _Entries(CALLBACKS, _callback, in_use_only)],
    }


_EVERY_ENTRY = _entry_types(in_use_only=False)
OptimizerEntry = _EVERY_ENTRY["optimizer"]
LossEntries = _EVERY_ENTRY["loss"]
MetricEntries = _EVERY_ENTRY["metrics"]
CallbackEntry = _EVERY_ENTRY["callback"]


def _default_optimizer() -> Any:
    # Keras 3's compile defaults to the string "rmsprop": the schema shows it that way,
    # and it is validated into the optimizer (whose module is imported only then).
    return Field(default="rmsprop", validate_default=True)


class CompileConfig(SpecModel):
    """``compile``: Keras's ``model.compile`` arguments, with Keras 3's defaults."""

    # Built on first use, from every entry: importing this module imports no entry module.
    model_config = ConfigDict(defer_build=True)

    optimizer: OptimizerEntry = _default_optimizer()
    loss: LossEntries | None = None
    loss_weights: LossWeights | None = None
    metrics: MetricEntries | None = None


class TrainConfig(SpecModel):
    """``train``: defaults for ``specc train``, under Keras's ``fit`` names and defaults."""

    # Built on first use, from every callback (see ``CompileConfig``).
    model_config = ConfigDict(defer_build=True)

    epochs: Annotated[int, Field(gt=0)] = 1
    batch_size: Annotated[int, Field(gt=0)] = 32
    shuffle: bool = True
    validation_split: Annotated[float, Field(ge=0, lt=1)] = 0.0
    seed: Seed | None = None
    # Which arrays feed the model and how samples are weighted (specc.spec.train_data).
    data_keys: dict[str, ArrayName] | None = None
    class_weight: ClassWeights | None = None
    sample_weight: ArrayName | None = None
    # Keras's fit(callbacks=[...]), by class name with Keras's arguments (specc.callbacks).
    callbacks: list[CallbackEntry] = Field(default_factory=list)


# The registries whose entries the compile and train sections name.
_SECTION_REGISTRIES = (LOSSES, METRICS, OPTIMIZERS, CALLBACKS)


def load_named_entries(data: Any) -> None:
    """Import the modules of the losses, metrics, optimizer and callbacks a spec's data
    names (every module of a registry when a name is not in its source index) and mark
    those entries in use, before ``loaded_sections`` builds the sections from them."""
    section = data.get("compile") if isinstance(data, dict) else None
    if isinstance(section, dict):
        _load_and_use(LOSSES, section.get("loss"))
        _load_and_use(METRICS, section.get("metrics"))
        # Without one, the section validates Keras's default into an optimizer.
        _load_and_use(OPTIMIZERS, section.get("optimizer", "rmsprop"))
    train = data.get("train") if isinstance(data, dict) else None
    _load_and_use(CALLBACKS, train.get("callbacks") if isinstance(train, dict) else None)


def _load_and_use(registry: Registry[Any], value: Any) -> None:
    names = list(_entry_names(value))
    registry.load(names)
    registry.use(names)


def load_every_entry() -> None:
    """Prepare a process to check many specs: import every loss, metric, optimizer and
    callback module, mark every entry in use, the activations, initializers, ... included
    (``specc.spec.field_entries``), and build each one's validator; and build each layer
    type's validator as a spec first names it. Each spec model is then made from built
    entries rather than building them again inside each."""
    for registry in _SECTION_REGISTRIES:
        registry.use_all()
    use_every_entry()
    for registry in (*_SECTION_REGISTRIES, *FIELD_REGISTRIES):
        for model in registry:
            model.model_rebuild()
    LAYERS.build_when_used()


def section_entries() -> list[type[SpecModel]]:
    """The losses, metrics, optimizers and callbacks in use."""
    return [model for registry in _SECTION_REGISTRIES for model in registry.in_use()]


def _entry_names(value: Any) -> Iterator[str]:
    """The names an entry field holds: a name, a mapping's ``type``, or those in a list
    or an output mapping (``_form`` tells them apart the same way)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict) and isinstance(value.get("type"), str):
        yield value["type"]
    elif isinstance(value, dict | list):
        for item in value.values() if isinstance(value, dict) else value:
            yield from _entry_names(item)


def loaded_sections() -> tuple[type[CompileConfig], type[TrainConfig]]:
    """``CompileConfig`` and ``TrainConfig`` whose entry fields take the entries in use
    (those the specs checked so far named): every name outside them is refused before a
    union is consulted (an unknown name), so they validate a spec whose names
    ``load_named_entries`` marked exactly as the full sections do; their learning-rate
    schedules are those in use too (``specc.spec.field_entries``)."""
    named = tuple(r.in_use() for r in _SECTION_REGISTRIES)
    return _sections(named, entries_in_use())


@functools.cache
def _sections(
    named: tuple[tuple[type, ...], ...], in_use: tuple[tuple[type, ...], ...]
) -> tuple[type[CompileConfig], type[TrainConfig]]:
    # ``named`` and ``in_use`` key the cache: one pair of models per set of entries.
    with unions_of_entries_in_use():
        return _build_sections()


def _build_sections() -> tuple[type[CompileConfig], type[TrainConfig]]:
    types = _entry_types(in_use_only=True)
    callback = types["callback"]
    compile_model = create_model(
        "CompileConfig",
        __base__=CompileConfig,
        __module__=__name__,
        optimizer=(types["optimizer"], _default_optimizer()),
        loss=(types["loss"] | None, None),
        metrics=(types["metrics"] | None, None),
    )
    train_model = create_model(
        "TrainConfig",
        __base__=TrainConfig,
        __module__=__name__,
        callbacks=(list[callback], Field(default_factory=list)),  # type: ignore[valid-type]
    )
    # Built now, once: each spec model made from them then takes their schemas as built.
    compile_model.model_rebuild()
    train_model.model_rebuild()
    return compile_model, train_model


def _names(outputs: list[str]) -> str:
    return ", ".join(f"'{o}'" for o in outputs)


def _unknown_keys(field: str, keys: list[str], outputs: list[str]) -> list[Diagnostic]:
    return [
        Diagnostic(
            UNKNOWN_OUTPUT,
            f"compile.{field} names '{key}', which is not an output{did_you_mean(key, outputs)}",
            ("compile", field, key),
            # The key itself is what is wrong, so point at it rather than at its value.
            at_key=True,
        )
        for key in keys
        if key not in outputs
    ]


def _missing_keys(field: str, keys: list[str], outputs: list[str], why: str) -> list[Diagnostic]:
    return [
        Diagnostic(
            MISSING_OUTPUT,
            f"compile.{field} has no entry for output '{name}'; {why}",
            ("compile", field),
        )
        for name in outputs
        if name not in keys
    ]


def check_compile_against_outputs(compile: CompileConfig, outputs: list[str]) -> list[Diagnostic]:
    """Every problem in ``compile`` that depends on the model's output names, in order."""
    found: list[Diagnostic] = []
    if isinstance(compile.loss, dict):
        keys = list(compile.loss)
        found += _unknown_keys("loss", keys, outputs)
        found += _missing_keys(
            "loss", keys, outputs, "a loss mapping must list every output (null for no loss)"
        )
    weights = compile.loss_weights
    if isinstance(weights, dict):
        keys = list(weights)
        found += _unknown_keys("loss_weights", keys, outputs)
        found += _missing_keys(
            "loss_weights", keys, outputs, "a loss_weights mapping must list every output"
        )
    elif isinstance(weights, list) and len(weights) != len(outputs):
        found.append(
            Diagnostic(
                COUNT_MISMATCH,
                f"compile.loss_weights has {len(weights)} weights but the model has "
                f"{len(outputs)} outputs ({_names(outputs)}); give one weight per output",
                ("compile", "loss_weights"),
            )
        )
    metrics = compile.metrics
    if isinstance(metrics, dict):
        found += _unknown_keys("metrics", list(metrics), outputs)
    elif isinstance(metrics, list) and len(outputs) > 1 and len(metrics) != len(outputs):
        found.append(
            Diagnostic(
                COUNT_MISMATCH,
                f"compile.metrics has {len(metrics)} entries but the model has "
                f"{len(outputs)} outputs ({_names(outputs)}); with several outputs give one "
                "entry (a metric or a list of metrics) per output, or a mapping from output "
                "names",
                ("compile", "metrics"),
            )
        )
    elif isinstance(metrics, list) and len(outputs) == 1:
        found += [
            Diagnostic(
                NESTED_METRICS,
                f"compile.metrics[{i}] is a list; with a single output, metrics is a flat "
                "list of metrics",
                ("compile", "metrics", i),
            )
            for i, entry in enumerate(metrics)
            if isinstance(entry, list)
        ]
    return found


def losses_by_output(compile: CompileConfig, outputs: list[str]) -> dict[str, Loss | None]:
    """Each output's loss (None: not trained), once the compile section has been checked."""
    if isinstance(compile.loss, dict):
        return {name: compile.loss.get(name) for name in outputs}
    return {name: compile.loss for name in outputs}


def loss_weights_by_output(compile: CompileConfig, outputs: list[str]) -> dict[str, float]:
    """Each output's loss weight; 1.0 when none are given, as Keras applies none."""
    weights = compile.loss_weights
    if isinstance(weights, dict):
        return {name: float(weights.get(name, 1.0)) for name in outputs}
    if isinstance(weights, list):
        return {name: float(w) for name, w in zip(outputs, weights, strict=True)}
    return dict.fromkeys(outputs, 1.0)


def metric_history_keys(
    compile: CompileConfig, outputs: list[str]
) -> list[tuple[str, Metric, str]]:
    """(output, metric, history key) for every compiled metric, in Keras's order. The key
    is the metric's name, after ``<output>_`` with several outputs; a key met again takes
    ``_1``, ``_2``, ... as Keras 3.15.1's ``CompileMetrics.result`` names it
    (``f1_score`` twice logs ``f1_score`` and ``f1_score_1``)."""
    several = len(outputs) > 1
    counters: dict[str, int] = {}
    found = []
    for output, metrics in metrics_by_output(compile, outputs).items():
        for metric in metrics:
            key = f"{output}_{metric.history_name()}" if several else metric.history_name()
            if key in counters:
                counters[key] += 1
                key = f"{key}_{counters[key] - 1}"
            else:
                counters[key] = 1
            found.append((output, metric, key))
    return found


def metrics_by_output(compile: CompileConfig, outputs: list[str]) -> dict[str, list[Metric]]:
    """Each output's metrics, in the order given, once the compile section has been checked."""
    metrics = compile.metrics

    def group(entry: Metric | list[Metric] | None) -> list[Metric]:
        if entry is None:
            return []
        return list(entry) if isinstance(entry, list) else [entry]

    if metrics is None:
        return {name: [] for name in outputs}
    if isinstance(metrics, dict):
        return {name: group(metrics.get(name)) for name in outputs}
    if len(outputs) == 1:
        # One output: the list is that output's metrics.
        return {outputs[0]: [m for entry in metrics for m in group(entry)]}
    return {name: group(entry) for name, entry in zip(outputs, metrics, strict=True)}
