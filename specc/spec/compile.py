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

from typing import Annotated, Any, Union

from pydantic import Discriminator, Field, Tag

from specc.callbacks import CallbackField
from specc.diagnostics import Diagnostic, did_you_mean
from specc.layers.base import Seed
from specc.losses import Loss, LossField
from specc.metrics import Metric, MetricField
from specc.optimizers import OptimizerField, RMSprop
from specc.registry import SpecModel
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


# One loss for every output, or ``output name -> loss`` (null: no loss for that output).
LossSpec = _tagged((LossField, "one"), (dict[str, LossField | None], "per_output"))
LossWeights = _tagged((list[Weight], "per_output_list"), (dict[str, Weight], "per_output"))
# One output's metrics: a metric or a list of them (Keras wraps a lone metric).
MetricGroup = _tagged((MetricField, "one"), (list[MetricField], "per_output_list"))
MetricsSpec = _tagged(
    (list[MetricGroup], "per_output_list"), (dict[str, MetricGroup], "per_output")
)


class CompileConfig(SpecModel):
    """``compile``: Keras's ``model.compile`` arguments, with Keras 3's defaults."""

    # Keras 3's compile defaults to the string "rmsprop"; the schema shows it that way.
    optimizer: OptimizerField = Field(
        default=RMSprop(type="rmsprop"), json_schema_extra={"default": "rmsprop"}
    )
    loss: LossSpec | None = None
    loss_weights: LossWeights | None = None
    metrics: MetricsSpec | None = None


class TrainConfig(SpecModel):
    """``train``: defaults for ``specc train``, under Keras's ``fit`` names and defaults."""

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
    callbacks: list[CallbackField] = Field(default_factory=list)


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
