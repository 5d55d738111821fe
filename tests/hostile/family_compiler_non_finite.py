"""NaN, infinity and numbers past float32 in layer and compile arguments: Keras accepts
most of them and trains NaN; specc refuses every one at validate time, at the value."""

from __future__ import annotations

from tests.hostile.case import Case
from tests.hostile.compiler_inputs import classifier, layers_spec

FAMILY = "non-finite values"


def _case(name: str, spec: str, pattern: str = r"must be a finite number") -> Case:
    return Case(
        FAMILY,
        name,
        ["validate", "spec.yaml"],
        {"spec.yaml": spec},
        1,
        (r"spec\.yaml:\d+:\d+: error: ", pattern, r"SPC101-schema"),
    )


def _dense(argument: str) -> str:
    return layers_spec(f"{{type: Dense, units: 2, {argument}}}")


CASES = [
    _case("Constant initializer .nan", _dense("kernel_initializer: {type: Constant, value: .nan}")),
    _case(
        "RandomNormal stddev .inf",
        _dense("kernel_initializer: {type: RandomNormal, stddev: .inf}"),
    ),
    _case(
        "Constant initializer 1e39 (past float32)",
        _dense("bias_initializer: {type: Constant, value: 1.0e+39}"),
        r"value must fit in a 32-bit float",
    ),
    _case("L2 regularizer .nan", _dense("kernel_regularizer: {type: L2, l2: .nan}")),
    _case("L1L2 regularizer .inf", _dense("kernel_regularizer: {type: L1L2, l1: .inf}")),
    _case("L2 regularizer -1", _dense("kernel_regularizer: {type: L2, l2: -1.0}"), r"at least 0"),
    _case("MaxNorm constraint .nan", _dense("kernel_constraint: {type: MaxNorm, max_value: .nan}")),
    _case(
        "leaky_relu activation negative_slope .nan",
        _dense("activation: {type: leaky_relu, negative_slope: .nan}"),
    ),
    _case("Dropout rate .nan", layers_spec("{type: Dropout, rate: .nan}")),
    _case("GaussianNoise stddev .inf", layers_spec("{type: GaussianNoise, stddev: .inf}")),
    _case(
        "BatchNormalization epsilon .nan", layers_spec("{type: BatchNormalization, epsilon: .nan}")
    ),
    _case("Huber delta .inf", classifier(loss="{type: Huber, delta: .inf}")),
    _case("Adam epsilon .nan", classifier(optimizer="{type: Adam, epsilon: .nan}")),
    _case(
        "ExponentialDecay decay_rate .nan",
        classifier(
            optimizer="{type: SGD, learning_rate: {type: ExponentialDecay, "
            "initial_learning_rate: 0.1, decay_steps: 10, decay_rate: .nan}}"
        ),
    ),
    _case("AUC thresholds with .nan", classifier(metrics="[{type: AUC, thresholds: [0.5, .nan]}]")),
]
