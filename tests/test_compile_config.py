"""The ``compile`` and ``train`` sections: Keras 3 names, aliases, defaults and cross-checks.

The expected defaults and alias lists are copied from Keras 3's sources (the optimizer
constructors, ``keras/src/losses/__init__.py`` and ``keras/src/metrics/__init__.py``), not
from specc, so that a drifted default or a dropped alias fails here.
"""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from specc import losses, metrics, optimizers
from specc.diagnostics import Diagnostic
from specc.losses import LOSSES
from specc.metrics import METRICS, label_kind
from specc.optimizers import OPTIMIZERS
from specc.schedules import ExponentialDecay
from specc.spec.compile import (
    CompileConfig,
    TrainConfig,
    check_compile_against_outputs,
    loss_weights_by_output,
    losses_by_output,
    metrics_by_output,
)


def compile_config(**section: Any) -> CompileConfig:
    """Validate a ``compile`` section as a spec would give it."""
    return CompileConfig.model_validate(section)


def errors(**section: Any) -> list[dict[str, Any]]:
    """The Pydantic errors for an invalid ``compile`` section."""
    with pytest.raises(ValidationError) as info:
        CompileConfig.model_validate(section)
    return info.value.errors()


# --- optimizers -------------------------------------------------------------------------

# Keras 3 constructor defaults, excluding the base arguments checked separately.
KERAS_OPTIMIZER_DEFAULTS: dict[str, dict[str, Any]] = {
    "SGD": {"learning_rate": 0.01, "momentum": 0.0, "nesterov": False},
    "Adam": {
        "learning_rate": 0.001,
        "beta_1": 0.9,
        "beta_2": 0.999,
        "epsilon": 1e-7,
        "amsgrad": False,
    },
    "AdamW": {
        "learning_rate": 0.001,
        "weight_decay": 0.004,
        "beta_1": 0.9,
        "beta_2": 0.999,
        "epsilon": 1e-7,
        "amsgrad": False,
    },
    "RMSprop": {
        "learning_rate": 0.001,
        "rho": 0.9,
        "momentum": 0.0,
        "epsilon": 1e-7,
        "centered": False,
    },
    "Adagrad": {"learning_rate": 0.001, "initial_accumulator_value": 0.1, "epsilon": 1e-7},
    "Adadelta": {"learning_rate": 0.001, "rho": 0.95, "epsilon": 1e-7},
    "Adamax": {"learning_rate": 0.001, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7},
    "Nadam": {"learning_rate": 0.001, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7},
    "Lion": {"learning_rate": 0.001, "beta_1": 0.9, "beta_2": 0.99},
}
BASE_DEFAULTS = {"weight_decay": None, "clipnorm": None, "clipvalue": None, "global_clipnorm": None}


@pytest.mark.parametrize("class_name", sorted(KERAS_OPTIMIZER_DEFAULTS))
def test_optimizer_names_and_keras_defaults(class_name: str) -> None:
    expected = {**BASE_DEFAULTS, **KERAS_OPTIMIZER_DEFAULTS[class_name]}
    for spelling in (class_name, class_name.lower()):
        optimizer = compile_config(optimizer=spelling).optimizer
        assert type(optimizer).__name__ == class_name
        assert OPTIMIZERS.canonical_name(type(optimizer)) == class_name
        assert optimizer.type == spelling
        assert optimizer.model_dump(exclude={"type"}) == expected


def test_optimizer_registry_is_exactly_the_supported_set() -> None:
    expected = {n for c in KERAS_OPTIMIZER_DEFAULTS for n in (c, c.lower())}
    assert set(OPTIMIZERS.names()) == expected


def test_compile_defaults_follow_keras_compile() -> None:
    config = CompileConfig()
    assert isinstance(config.optimizer, optimizers.RMSprop)
    assert (config.loss, config.loss_weights, config.metrics) == (None, None, None)
    assert CompileConfig.model_json_schema()["properties"]["optimizer"]["default"] == "rmsprop"


def test_optimizer_mapping_with_arguments() -> None:
    optimizer = compile_config(
        optimizer={"type": "SGD", "learning_rate": 0.1, "momentum": 0.9, "nesterov": True}
    ).optimizer
    assert isinstance(optimizer, optimizers.SGD)
    assert (optimizer.learning_rate, optimizer.momentum, optimizer.nesterov) == (0.1, 0.9, True)
    assert optimizer.learning_rate_at(0) == optimizer.learning_rate_at(1000) == 0.1


def test_learning_rate_schedule_is_stepped_per_update() -> None:
    optimizer = compile_config(
        optimizer={
            "type": "RMSprop",
            "learning_rate": {
                "type": "ExponentialDecay",
                "initial_learning_rate": 0.1,
                "decay_steps": 4,
                "decay_rate": 0.5,
            },
        }
    ).optimizer
    assert isinstance(optimizer.learning_rate, ExponentialDecay)
    assert [optimizer.learning_rate_at(s) for s in (0, 4, 8)] == pytest.approx([0.1, 0.05, 0.025])


def test_integer_learning_rate_is_a_number() -> None:
    assert (
        compile_config(optimizer={"type": "adam", "learning_rate": 1}).optimizer.learning_rate == 1
    )


@pytest.mark.parametrize(
    ("optimizer", "error_type"),
    [
        ({"type": "adam", "learning_rate": 0}, "greater_than"),
        ({"type": "adam", "learning_rate": -0.1}, "greater_than"),
        ({"type": "adam", "learning_rate": "0.1"}, "float_type"),
        ({"type": "adam", "learning_rate": {"type": "ExponentialDecay"}}, "missing"),
        ({"type": "adam", "learning_rate": {"type": "StepDecay"}}, "unknown_name"),
        ({"type": "SGD", "momentum": 1.5}, "less_than_equal"),
        ({"type": "AdamW", "weight_decay": None}, "float_type"),
        ({"type": "Adam", "beta_1": 1.0}, "less_than"),
        # Keras's Lion: 0 < beta_1 <= 1 (at 0 it is SignSGD).
        ({"type": "Lion", "beta_1": 0.0}, "greater_than"),
        ({"type": "Lion", "beta_1": 1.5}, "less_than_equal"),
        ({"type": "Lion", "use_ema": True}, "unknown_key"),
        ({"type": "Adagrad", "initial_accumulator_value": -1}, "greater_than_equal"),
        ({"type": "Adam", "clipnorm": 0}, "greater_than"),
        ({"type": "Adam", "clipnorm": 1.0, "global_clipnorm": 1.0}, "invalid_arguments"),
        ({"type": "Adam", "use_ema": True}, "unknown_key"),
        ({"type": "Adam", "gradient_accumulation_steps": 2}, "unknown_key"),
        ({"type": "Adam", "loss_scale_factor": 128.0}, "unknown_key"),
        ({"type": "Adam", "decay": 0.01}, "unknown_key"),
        ({"type": "SGD", "learning_rate": float("nan")}, "finite_number"),
        ({"type": "SGD", "momentum": float("nan")}, "finite_number"),
        ({"type": "Adam", "epsilon": float("inf")}, "finite_number"),
        ({"type": "Adam", "clipnorm": -1.0}, "greater_than"),
        # Finite in float64, infinite in the float32 the engine trains in.
        ({"type": "SGD", "learning_rate": 1e39}, "value_error"),
        ("ADAM", "unknown_name"),
        ("Ftrl", "unknown_name"),
        (7, "wrong_form"),
    ],
)
def test_invalid_optimizers_are_rejected(optimizer: Any, error_type: str) -> None:
    assert error_type in [e["type"] for e in errors(optimizer=optimizer)]


def test_unknown_optimizer_name_suggests_a_keras_one() -> None:
    (error,) = errors(optimizer="rmsprob")
    assert error["type"] == "unknown_name"
    assert error["msg"] == "unknown optimizer 'rmsprob'; did you mean 'rmsprop'?"
    # Keras 3 matches any casing; specc takes two spellings and points at the nearest.
    (error,) = errors(optimizer="ADAM")
    assert error["msg"].endswith("did you mean 'adam'?")


def test_unknown_optimizer_key_suggests_the_argument() -> None:
    (error,) = errors(optimizer={"type": "SGD", "momentun": 0.9})
    assert error["type"] == "unknown_key"
    assert error["msg"] == "unknown key 'momentun'; did you mean 'momentum'?"


def test_clip_conflict_names_what_was_given() -> None:
    (error,) = errors(optimizer={"type": "SGD", "clipvalue": 0.5, "clipnorm": 1.0})
    assert "clipnorm=1.0, clipvalue=0.5" in error["msg"]


# --- losses -----------------------------------------------------------------------------

# Every string keras.losses.get accepts for these losses (ALL_OBJECTS_DICT in Keras 3).
KERAS_LOSS_NAMES: dict[str, set[str]] = {
    "MeanSquaredError": {"mean_squared_error", "mse", "MSE"},
    "MeanAbsoluteError": {"mean_absolute_error", "mae", "MAE"},
    "MeanAbsolutePercentageError": {"mean_absolute_percentage_error", "mape", "MAPE"},
    "MeanSquaredLogarithmicError": {"mean_squared_logarithmic_error", "msle", "MSLE"},
    "Huber": {"huber"},
    "LogCosh": {"log_cosh"},
    "BinaryCrossentropy": {"binary_crossentropy", "bce", "BCE"},
    "CategoricalCrossentropy": {"categorical_crossentropy"},
    "SparseCategoricalCrossentropy": {"sparse_categorical_crossentropy"},
    "KLDivergence": {"kl_divergence", "kld", "KLD"},
    "Poisson": {"poisson"},
    "Hinge": {"hinge"},
    "SquaredHinge": {"squared_hinge"},
    "CategoricalHinge": {"categorical_hinge"},
    "CosineSimilarity": {"cosine_similarity"},
    "Tversky": {"tversky"},
}


@pytest.mark.parametrize("class_name", sorted(KERAS_LOSS_NAMES))
def test_loss_resolves_every_keras_spelling(class_name: str) -> None:
    for spelling in {class_name} | KERAS_LOSS_NAMES[class_name]:
        loss = compile_config(loss=spelling).loss
        assert type(loss).__name__ == class_name, spelling
        assert LOSSES.canonical_name(type(loss)) == class_name
        assert loss.reduction == "sum_over_batch_size"


def test_loss_registry_has_no_extra_names() -> None:
    expected = {n for c, names in KERAS_LOSS_NAMES.items() for n in names | {c}}
    assert set(LOSSES.names()) == expected


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("binary_crossentropy", {"from_logits": False, "label_smoothing": 0.0, "axis": -1}),
        ("categorical_crossentropy", {"from_logits": False, "label_smoothing": 0.0, "axis": -1}),
        ("sparse_categorical_crossentropy", {"from_logits": False, "ignore_class": None}),
        ("huber", {"delta": 1.0}),
        ("cosine_similarity", {"axis": -1}),
        ("tversky", {"alpha": 0.5, "beta": 0.5, "axis": None}),
        ("mse", {}),
    ],
)
def test_loss_keras_defaults(spec: str, expected: dict[str, Any]) -> None:
    loss = compile_config(loss=spec).loss
    assert loss.model_dump(exclude={"type"}) == {"reduction": "sum_over_batch_size", **expected}


def test_loss_mapping_arguments_and_label_form() -> None:
    loss = compile_config(
        loss={"type": "SparseCategoricalCrossentropy", "from_logits": True, "ignore_class": 0}
    ).loss
    assert isinstance(loss, losses.SparseCategoricalCrossentropy)
    assert loss.from_logits is True and loss.ignore_class == 0
    assert loss.expects_sparse_labels is True
    assert compile_config(loss="categorical_crossentropy").loss.expects_sparse_labels is False
    assert compile_config(loss="mse").loss.expects_sparse_labels is False


@pytest.mark.parametrize(
    ("reduction", "divides"), [("sum_over_batch_size", True), ("mean", True), ("sum", False)]
)
def test_loss_reductions_training_can_honour(reduction: str, divides: bool) -> None:
    loss = compile_config(loss={"type": "mse", "reduction": reduction}).loss
    assert loss.reduction == reduction
    assert loss.divides_by_batch_size is divides


@pytest.mark.parametrize(
    ("loss", "error_type"),
    [
        ({"type": "mse", "reduction": "none"}, "literal_error"),
        ({"type": "mse", "reduction": None}, "literal_error"),
        ({"type": "bce", "label_smoothing": 1.5}, "less_than_equal"),
        ({"type": "Huber", "delta": 0}, "greater_than"),
        ({"type": "SparseCategoricalCrossentropy", "axis": -1}, "unknown_key"),
        ({"type": "mse", "name": "my_loss"}, "unknown_key"),
        ("logcosh", "unknown_name"),  # Keras 2 alias, gone in Keras 3
        ("kullback_leibler_divergence", "unknown_name"),
        ("BinaryFocalCrossentropy", "unknown_name"),
    ],
)
def test_invalid_losses_are_rejected(loss: Any, error_type: str) -> None:
    assert error_type in [e["type"] for e in errors(loss=loss)]


def test_unknown_loss_name_suggests_a_keras_one() -> None:
    (error,) = errors(loss="binary_crossentropyy")
    assert (
        error["msg"] == "unknown loss 'binary_crossentropyy'; did you mean 'binary_crossentropy'?"
    )
    (error,) = errors(loss={"out": {"type": "mse", "redution": "sum"}})
    assert error["type"] == "unknown_key"
    assert error["msg"] == "unknown key 'redution'; did you mean 'reduction'?"
    assert error["loc"][:3] == ("loss", "per_output", "out")


# --- metrics ----------------------------------------------------------------------------

# Class name and to_snake_case(class name), plus Keras 3's short aliases.
KERAS_METRIC_NAMES: dict[str, set[str]] = {
    "BinaryAccuracy": {"binary_accuracy"},
    "CategoricalAccuracy": {"categorical_accuracy"},
    "SparseCategoricalAccuracy": {"sparse_categorical_accuracy"},
    "TopKCategoricalAccuracy": {"top_k_categorical_accuracy"},
    "SparseTopKCategoricalAccuracy": {"sparse_top_k_categorical_accuracy"},
    "MeanSquaredError": {"mean_squared_error", "mse", "MSE"},
    "MeanAbsoluteError": {"mean_absolute_error", "mae", "MAE"},
    "MeanAbsolutePercentageError": {"mean_absolute_percentage_error", "mape", "MAPE"},
    "MeanSquaredLogarithmicError": {"mean_squared_logarithmic_error", "msle", "MSLE"},
    "RootMeanSquaredError": {"root_mean_squared_error"},
    "LogCoshError": {"log_cosh_error"},
    "BinaryCrossentropy": {"binary_crossentropy", "bce", "BCE"},
    "CategoricalCrossentropy": {"categorical_crossentropy"},
    "SparseCategoricalCrossentropy": {"sparse_categorical_crossentropy"},
    "KLDivergence": {"kl_divergence"},
    "Poisson": {"poisson"},
    "CosineSimilarity": {"cosine_similarity"},
    "Hinge": {"hinge"},
    "SquaredHinge": {"squared_hinge"},
    "CategoricalHinge": {"categorical_hinge"},
    "AUC": {"auc"},
    "Precision": {"precision"},
    "Recall": {"recall"},
    "F1Score": {"f1_score"},
}


@pytest.mark.parametrize("class_name", sorted(KERAS_METRIC_NAMES))
def test_metric_resolves_every_keras_spelling(class_name: str) -> None:
    spellings = sorted({class_name} | KERAS_METRIC_NAMES[class_name])
    resolved = compile_config(metrics=spellings).metrics
    assert [type(m).__name__ for m in resolved] == [class_name] * len(spellings)
    assert {METRICS.canonical_name(type(m)) for m in resolved} == {class_name}
    # Keras names a metric given as a string by that string.
    assert [m.history_name() for m in resolved] == spellings


def test_metric_registry_has_no_extra_names() -> None:
    expected = {n for c, names in KERAS_METRIC_NAMES.items() for n in names | {c}}
    assert set(METRICS.names()) == expected | {"accuracy", "acc"}


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("binary_accuracy", {"threshold": 0.5}),
        ("top_k_categorical_accuracy", {"k": 5}),
        ("sparse_top_k_categorical_accuracy", {"k": 5}),
        ("bce", {"from_logits": False, "label_smoothing": 0.0}),
        ("categorical_crossentropy", {"from_logits": False, "label_smoothing": 0.0, "axis": -1}),
        ("sparse_categorical_crossentropy", {"from_logits": False, "axis": -1}),
        ("cosine_similarity", {"axis": -1}),
        ("precision", {"thresholds": None, "top_k": None, "class_id": None}),
        (
            "AUC",
            {
                "num_thresholds": 200,
                "curve": "ROC",
                "summation_method": "interpolation",
                "thresholds": None,
                "multi_label": False,
                "num_labels": None,
                "label_weights": None,
                "from_logits": False,
            },
        ),
    ],
)
def test_metric_keras_defaults(spec: str, expected: dict[str, Any]) -> None:
    (metric,) = compile_config(metrics=[spec]).metrics
    # Given as a string, the metric is named by it (Keras's compile).
    assert metric.model_dump(exclude={"type"}) == {"name": spec, **expected}


def test_metric_name_overrides_the_history_key() -> None:
    (metric,) = compile_config(metrics=[{"type": "AUC", "curve": "PR", "name": "pr_auc"}]).metrics
    assert isinstance(metric, metrics.AUC) and metric.curve == "PR"
    assert metric.history_name() == "pr_auc"


@pytest.mark.parametrize(
    ("y_true", "y_pred", "kind"),
    [
        ((None, 1), (None, 1), "binary"),
        ((None,), (None, 1), "binary"),
        ((None,), (None, 10), "sparse"),
        ((None, 1), (None, 10), "sparse"),
        ((None, 10), (None, 10), "categorical"),
        ((4, 7), (4, 7), "categorical"),
    ],
)
def test_accuracy_resolves_by_shapes_as_keras(
    y_true: tuple[int | None, ...], y_pred: tuple[int | None, ...], kind: str
) -> None:
    assert label_kind(y_true, y_pred) == kind
    acc, accuracy = compile_config(metrics=["acc", "accuracy"]).metrics
    assert isinstance(acc, metrics.Accuracy) and isinstance(accuracy, metrics.Accuracy)
    resolved = acc.resolve(y_true, y_pred)
    expected = {
        "binary": metrics.BinaryAccuracy,
        "sparse": metrics.SparseCategoricalAccuracy,
        "categorical": metrics.CategoricalAccuracy,
    }[kind]
    assert type(resolved) is expected
    assert resolved.history_name() == "acc"


@pytest.mark.parametrize(
    ("metric", "error_type"),
    [
        ({"type": "binary_accuracy", "threshold": 1.0}, "less_than"),
        ({"type": "binary_accuracy", "threshold": 0}, "greater_than"),
        ({"type": "top_k_categorical_accuracy", "k": 0}, "greater_than"),
        ({"type": "AUC", "num_thresholds": 1}, "greater_than"),
        ({"type": "AUC", "curve": "DET"}, "literal_error"),
        ({"type": "AUC", "num_labels": 3}, "invalid_arguments"),
        ({"type": "Precision", "thresholds": [0.3, 0.7]}, "float_type"),
        ({"type": "Recall", "thresholds": 1.5}, "less_than_equal"),
        ({"type": "mse", "dtype": "float32"}, "unknown_key"),
        ("Accuracy", "unknown_name"),
        ("fbeta_score", "unknown_name"),
        ({"type": "F1Score", "average": "samples"}, "literal_error"),
        ({"type": "F1Score", "threshold": 0.0}, "greater_than"),
    ],
)
def test_invalid_metrics_are_rejected(metric: Any, error_type: str) -> None:
    assert error_type in [e["type"] for e in errors(metrics=[metric])]


def test_unknown_metric_name_suggests_a_keras_one() -> None:
    (error,) = errors(metrics=["accuracy", "categorical_acuracy"])
    assert error["type"] == "unknown_name"
    assert error["msg"].endswith("did you mean 'categorical_accuracy'?")


# --- the compile section as a whole -----------------------------------------------------


def test_wrong_forms_are_rejected() -> None:
    assert [e["type"] for e in errors(metrics="accuracy")] == ["wrong_form"]
    assert [e["type"] for e in errors(loss_weights=0.5)] == ["wrong_form"]
    assert [e["type"] for e in errors(loss=["mse", "mae"])] == ["wrong_form"]
    assert "unknown_key" in [e["type"] for e in errors(optimiser="adam")]


def test_per_output_forms() -> None:
    config = compile_config(
        optimizer="adam",
        loss={"price": "mse", "kind": {"type": "CategoricalCrossentropy", "from_logits": True}},
        loss_weights={"price": 0.5, "kind": 2},
        metrics={"price": ["mae"], "kind": "accuracy"},
    )
    outputs = ["kind", "price"]
    assert check_compile_against_outputs(config, outputs) == []
    by_output = losses_by_output(config, outputs)
    assert isinstance(by_output["price"], losses.MeanSquaredError)
    assert isinstance(by_output["kind"], losses.CategoricalCrossentropy)
    assert by_output["kind"].from_logits is True
    assert loss_weights_by_output(config, outputs) == {"kind": 2.0, "price": 0.5}
    grouped = metrics_by_output(config, outputs)
    assert [type(m) for m in grouped["kind"]] == [metrics.Accuracy]
    assert [type(m) for m in grouped["price"]] == [metrics.MeanAbsoluteError]


def test_single_loss_and_lists_apply_in_output_order() -> None:
    config = compile_config(loss="mse", loss_weights=[1, 0.25], metrics=["mae", ["mse", "acc"]])
    outputs = ["a", "b"]
    assert check_compile_against_outputs(config, outputs) == []
    assert losses_by_output(config, outputs) == {"a": config.loss, "b": config.loss}
    assert loss_weights_by_output(config, outputs) == {"a": 1.0, "b": 0.25}
    grouped = metrics_by_output(config, outputs)
    assert [m.history_name() for m in grouped["a"]] == ["mae"]
    assert [m.history_name() for m in grouped["b"]] == ["mse", "acc"]
    assert loss_weights_by_output(compile_config(loss="mse"), outputs) == {"a": 1.0, "b": 1.0}


def test_null_loss_leaves_an_output_untrained() -> None:
    config = compile_config(loss={"a": "mse", "b": None})
    assert check_compile_against_outputs(config, ["a", "b"]) == []
    assert losses_by_output(config, ["a", "b"])["b"] is None


def test_unknown_output_in_loss_gets_a_suggestion() -> None:
    config = compile_config(loss={"priorty": "mse", "department": "bce"})
    found = check_compile_against_outputs(config, ["priority", "department"])
    assert found[0] == Diagnostic(
        "SPC211-unknown-output",
        "compile.loss names 'priorty', which is not an output; did you mean 'priority'?",
        ("compile", "loss", "priorty"),
        at_key=True,
    )
    # Keras 3 needs every output in a loss mapping: 'priority' has no entry.
    assert found[1].code == "SPC212-missing-output"
    assert found[1].path == ("compile", "loss")
    assert "output 'priority'" in found[1].message
    assert len(found) == 2


def test_unknown_outputs_in_weights_and_metrics() -> None:
    config = compile_config(
        loss="mse", loss_weights={"a": 1.0, "b": 1.0, "zz": 3.0}, metrics={"c": ["mae"]}
    )
    found = check_compile_against_outputs(config, ["a", "b"])
    assert [(d.code, d.path) for d in found] == [
        ("SPC211-unknown-output", ("compile", "loss_weights", "zz")),
        ("SPC211-unknown-output", ("compile", "metrics", "c")),
    ]
    # With two outputs and no close name, the hint lists them.
    assert found[1].message.endswith("expected one of 'a', 'b'")


def test_loss_weights_mapping_must_cover_every_output() -> None:
    config = compile_config(loss="mse", loss_weights={"a": 1.0})
    (found,) = check_compile_against_outputs(config, ["a", "b"])
    assert found.code == "SPC212-missing-output"
    assert found.message.startswith("compile.loss_weights has no entry for output 'b'")


def test_loss_weights_list_length_must_match_outputs() -> None:
    config = compile_config(loss="mse", loss_weights=[1.0, 2.0, 3.0])
    (found,) = check_compile_against_outputs(config, ["a", "b"])
    assert found.code == "SPC213-count-mismatch"
    assert found.path == ("compile", "loss_weights")
    assert "has 3 weights but the model has 2 outputs ('a', 'b')" in found.message
    assert check_compile_against_outputs(config, ["a", "b", "c"]) == []


def test_metrics_list_needs_one_entry_per_output_when_several() -> None:
    config = compile_config(loss="mse", metrics=["mae"])
    assert check_compile_against_outputs(config, ["only"]) == []
    (found,) = check_compile_against_outputs(config, ["a", "b"])
    assert found.code == "SPC213-count-mismatch"
    assert "has 1 entries but the model has 2 outputs" in found.message


def test_single_output_metrics_must_be_flat() -> None:
    config = compile_config(loss="mse", metrics=["mae", ["mse"]])
    (found,) = check_compile_against_outputs(config, ["y"])
    assert (found.code, found.path) == ("SPC214-nested-metrics", ("compile", "metrics", 1))


# --- train ------------------------------------------------------------------------------


def test_seed_takes_every_uint32() -> None:
    assert TrainConfig.model_validate({"seed": 0}).seed == 0
    assert TrainConfig.model_validate({"seed": 2**32 - 1}).seed == 2**32 - 1


@pytest.mark.parametrize(
    "loss",
    [
        {"type": "SparseCategoricalCrossentropy", "ignore_class": 10**20},
        {"type": "SparseCategoricalCrossentropy", "ignore_class": -(2**63) - 1},
        {"type": "Huber", "delta": float("inf")},
        {"type": "CategoricalCrossentropy", "label_smoothing": float("nan")},
    ],
)
def test_loss_numbers_must_fit_the_model(loss: dict[str, Any]) -> None:
    assert errors(loss=loss)


def test_ignore_class_takes_any_int64() -> None:
    for value in (-1, 255, 2**63 - 1, -(2**63)):
        loss = {"type": "SparseCategoricalCrossentropy", "ignore_class": value}
        assert compile_config(loss=loss).loss.ignore_class == value  # type: ignore[union-attr]


def test_train_defaults_follow_keras_fit() -> None:
    train = TrainConfig()
    assert train.model_dump() == {
        "epochs": 1,
        "batch_size": 32,
        "shuffle": True,
        "validation_split": 0.0,
        "seed": None,
        # Keras's fit: x and y by position, no sample or class weights.
        "data_keys": None,
        "class_weight": None,
        "sample_weight": None,
        "callbacks": [],
    }
    given = TrainConfig.model_validate({"epochs": 5, "validation_split": 0.2, "seed": 7})
    assert (given.epochs, given.validation_split, given.seed) == (5, 0.2, 7)


@pytest.mark.parametrize(
    ("train", "error_type"),
    [
        ({"epochs": 0}, "greater_than"),
        ({"batch_size": -1}, "greater_than"),
        ({"batch_size": 8.0}, "int_type"),
        ({"shuffle": "yes"}, "bool_type"),
        ({"validation_split": 1.0}, "less_than"),
        ({"validation_split": -0.1}, "greater_than_equal"),
        ({"seed": "7"}, "int_type"),
        # Keras: "Seed must be between 0 and 2**32 - 1"; NumPy refuses negative seeds.
        ({"seed": -1}, "greater_than_equal"),
        ({"seed": 2**32}, "less_than"),
        ({"epoch": 3}, "unknown_key"),
    ],
)
def test_invalid_train_sections_are_rejected(train: dict[str, Any], error_type: str) -> None:
    with pytest.raises(ValidationError) as info:
        TrainConfig.model_validate(train)
    assert error_type in [e["type"] for e in info.value.errors()]
