"""compile and train sections that validated, then crashed or misbehaved mid-training: each
is a located validate-time error now (what Keras 3.15.1 refuses or computes as nonsense),
or trains as Keras does."""

from __future__ import annotations

from tests.hostile.case import Case
from tests.hostile.compiler_inputs import class_data, classifier, nothing_written, train_argv

FAMILY = "compile section"
_LABELS = r"SPC215-metric-labels"
_ARGUMENT = r"SPC216-metric-argument"
_LOSS = r"SPC217-loss-output"
_SCHEMA = r"SPC101-schema"
# Integers past 64 bits are refused as the file is read, before any field sees them.
_OUT_OF_INT64 = r"integers must fit in 64 bits .*SPC106-number"


def _train(name: str, spec: str, *patterns: str, one_hot: bool = False) -> Case:
    """Trained on fitting data: it must stop before training, at the spec."""
    return Case(
        FAMILY,
        f"train: {name}",
        train_argv(),
        {"spec.yaml": spec, "data.npz": class_data(one_hot)},
        1,
        (r"spec\.yaml:\d+:\d+: error: ", *patterns),
        check=nothing_written,
        seconds=15,
    )


def _validate(name: str, spec: str, *patterns: str) -> Case:
    return Case(
        FAMILY,
        f"validate: {name}",
        ["validate", "spec.yaml"],
        {"spec.yaml": spec},
        1,
        (r"spec\.yaml:\d+:\d+: error: ", *patterns),
    )


_ONE_HOT = "categorical_crossentropy"


def _sgd(argument: str) -> str:
    """The classifier with an SGD optimizer taking ``argument`` (``name: value``)."""
    return classifier(optimizer=f"{{type: SGD, {argument}}}")


CASES = [
    # Seeds: Keras keeps them in a uint32 and set_random_seed refuses any other.
    _train("train.seed -1", classifier(train="{seed: -1}"), r"seed must be at least 0", _SCHEMA),
    _validate(
        "train.seed 2**32", classifier(train="{seed: 4294967296}"), r"seed must be less than"
    ),
    _validate(
        "train.seed 2**70",
        classifier(train="{seed: 1180591620717411303424}"),
        _OUT_OF_INT64,
    ),
    Case(
        FAMILY,
        "train: --seed -1",
        [*train_argv(), "--seed", "-1"],
        {"spec.yaml": classifier(), "data.npz": class_data()},
        exit_code=2,
        output_has=(r"Invalid value for '--seed'",),
        check=nothing_written,
    ),
    Case(
        FAMILY,
        "build: --seed 4294967296",
        ["build", "spec.yaml", "-o", "model.onnx", "--seed", "4294967296"],
        {"spec.yaml": classifier()},
        exit_code=2,
        output_has=(r"Invalid value for '--seed'",),
        check=nothing_written,
    ),
    # ignore_class is an int; one past int64 cannot be compared with int64 labels.
    _train(
        "ignore_class 10**20",
        classifier(
            loss="{type: SparseCategoricalCrossentropy, ignore_class: 100000000000000000000}"
        ),
        _OUT_OF_INT64,
    ),
    _validate(
        "ignore_class 1e20 (a float)",
        classifier(loss="{type: SparseCategoricalCrossentropy, ignore_class: 1e20}"),
        r"ignore_class must be an integer",
    ),
    # Metrics that cannot read class indices: "operands could not be broadcast" mid-epoch.
    _train(
        "AUC on class indices",
        classifier(metrics="[AUC]"),
        r"metric 'AUC' compares labels with predictions value by value",
        r"sparse_categorical_accuracy",
        _LABELS,
    ),
    _train("Precision on class indices", classifier(metrics="[precision]"), _LABELS),
    _train("Recall on class indices", classifier(metrics="[Recall]"), _LABELS),
    _train(
        "AUC(multi_label) on class indices",
        classifier(metrics="[{type: AUC, multi_label: true}]"),
        _LABELS,
    ),
    _train("MSE on class indices", classifier(metrics="[mse]"), _LABELS),
    _train(
        "sparse_categorical_accuracy on one-hot rows",
        classifier(loss=_ONE_HOT, metrics="[sparse_categorical_accuracy]"),
        r"use categorical_accuracy",
        _LABELS,
        one_hot=True,
    ),
    _train(
        "Precision class_id 5 of 3 classes",
        classifier(loss=_ONE_HOT, metrics="[{type: Precision, class_id: 5}]"),
        r"class_id=5, but output \(None, 3\) has 3 class",
        _ARGUMENT,
        one_hot=True,
    ),
    _train(
        "Recall top_k 5 of 3 classes",
        classifier(loss=_ONE_HOT, metrics="[{type: Recall, top_k: 5}]"),
        _ARGUMENT,
        one_hot=True,
    ),
    _train(
        "AUC label_weights of the wrong length",
        classifier(loss=_ONE_HOT, metrics="[{type: AUC, label_weights: [1, 2]}]"),
        _ARGUMENT,
        one_hot=True,
    ),
    _train(
        "AUC num_labels of the wrong count",
        classifier(loss=_ONE_HOT, metrics="[{type: AUC, multi_label: true, num_labels: 7}]"),
        _ARGUMENT,
        one_hot=True,
    ),
    _train(
        "AUC num_thresholds 1e9",
        classifier(loss=_ONE_HOT, metrics="[{type: AUC, num_thresholds: 1000000000}]"),
        r"--limit activation_elements=",
        _ARGUMENT,
        one_hot=True,
    ),
    _train(
        "CategoricalCrossentropy metric axis 4",
        classifier(loss=_ONE_HOT, metrics="[{type: CategoricalCrossentropy, axis: 4}]"),
        r"axis 4 is out of range",
        _ARGUMENT,
        one_hot=True,
    ),
    _train(
        "categorical_crossentropy loss axis 5",
        classifier(loss="{type: CategoricalCrossentropy, axis: 5}"),
        r"axis 5 is out of range",
        _LOSS,
        one_hot=True,
    ),
    _train(
        "cosine_similarity loss axis 3",
        classifier(loss="{type: CosineSimilarity, axis: 3}"),
        _LOSS,
        one_hot=True,
    ),
    # Numbers of the optimizer and the train section.
    _validate("learning_rate 1e400", _sgd("learning_rate: 1e400"), r"too large for a 64-bit float"),
    _validate("learning_rate .nan", _sgd("learning_rate: .nan"), _SCHEMA),
    _validate("learning_rate -1", _sgd("learning_rate: -1.0"), _SCHEMA),
    _validate(
        "learning_rate 1e39 (infinite in float32)",
        _sgd("learning_rate: 1.0e+39"),
        r"must fit in a 32-bit float",
    ),
    _validate("momentum .nan", _sgd("momentum: .nan"), _SCHEMA),
    _validate("clipnorm -1", _sgd("clipnorm: -1.0"), _SCHEMA),
    _validate("epochs 1e12", classifier(train="{epochs: 1e12}"), r"epochs must be an integer"),
    _validate("batch_size 0", classifier(train="{batch_size: 0}"), _SCHEMA),
    _validate("validation_split 1.0", classifier(train="{validation_split: 1.0}"), _SCHEMA),
    _validate(
        "loss_weights .nan",
        classifier(loss_weights="[.nan]"),
        r"finite",
    ),
    _validate(
        "label_smoothing 2",
        classifier(loss="{type: CategoricalCrossentropy, label_smoothing: 2.0}"),
        _SCHEMA,
    ),
    Case(
        FAMILY,
        "train: batch_size 1e12 as an integer trains on one batch, as Keras",
        train_argv(),
        {"spec.yaml": classifier(train="{batch_size: 1000000000000}"), "data.npz": class_data()},
        exit_code=0,
        seconds=15,
    ),
]
