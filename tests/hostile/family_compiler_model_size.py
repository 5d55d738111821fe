"""A few characters of spec that ask for terabytes: refused by the size limits at the layer
responsible, before anything is allocated, with the limit to raise; integers that do not
fit the model's int64 arguments are schema errors, never an overflow later."""

from __future__ import annotations

from tests.hostile.case import Case
from tests.hostile.compiler_inputs import build_case, layers_spec

FAMILY = "model size"
_PARAMS = r"SPC305-params"
_VALUES = r"SPC306-value-size"
_HINT = r"raise it with --limit (params|activation_elements)=\d+"
# Four trillion parameters: 21.8 TiB of float32.
_HUGE_DENSE = layers_spec("{type: Dense, units: 2000000}", inputs="x: {shape: [2000000]}")


def _validate(name: str, spec: str, *patterns: str) -> Case:
    return Case(FAMILY, name, ["validate", "spec.yaml"], {"spec.yaml": spec}, 1, patterns)


def _build(name: str, spec: str, *patterns: str) -> Case:
    return build_case(FAMILY, name, spec, *patterns)


CASES = [
    _validate(
        "validate: a Dense of 4e12 parameters",
        _HUGE_DENSE,
        r"spec\.yaml:6:\d+: error: Dense layer 'dense' has 4,000,002,000,000 parameters",
        _PARAMS,
        _HINT,
    ),
    _build("build: a Dense of 4e12 parameters", _HUGE_DENSE, _PARAMS, _HINT),
    _build(
        "build: RepeatVector n 1e9",
        layers_spec("{type: RepeatVector, n: 1000000000}"),
        r"RepeatVector layer 'repeat_vector' outputs \(None, 1000000000, 4\)",
        _VALUES,
        _HINT,
    ),
    _build(
        "build: Dense units 1e12",
        layers_spec("{type: Dense, units: 1000000000000}"),
        _PARAMS,
    ),
    _build(
        "build: Embedding input_dim 1e12",
        layers_spec(
            "{type: Embedding, input_dim: 1000000000000, output_dim: 8}",
            inputs="x: {shape: [5], dtype: int32}",
        ),
        r"embeddings of shape \(1000000000000, 8\)",
        _PARAMS,
    ),
    _build(
        "build: Conv2D kernel_size 1e5 with padding same",
        layers_spec(
            "{type: Conv2D, filters: 2, kernel_size: 100000, padding: same}",
            inputs="x: {shape: [8, 8, 1]}",
        ),
        _PARAMS,
    ),
    _build(
        "build: UpSampling2D size 1e6",
        layers_spec("{type: UpSampling2D, size: 1000000}", inputs="x: {shape: [8, 8, 1]}"),
        _VALUES,
    ),
    _build(
        "build: ZeroPadding2D padding 1e6",
        layers_spec("{type: ZeroPadding2D, padding: 1000000}", inputs="x: {shape: [8, 8, 1]}"),
        _VALUES,
    ),
    _build(
        "build: Conv2DTranspose strides 1e5",
        layers_spec(
            "{type: Conv2DTranspose, filters: 1, kernel_size: 2, strides: 100000}",
            inputs="x: {shape: [8, 8, 1]}",
        ),
        _VALUES,
    ),
    _build(
        "build: AveragePooling2D window 1e5 x 1e5 (a 37 GiB constant)",
        layers_spec(
            "{type: AveragePooling2D, pool_size: 100000, padding: same}",
            inputs="x: {shape: [8, 8, 1]}",
        ),
        r"builds a pooling window \(100000, 100000\)",
        _VALUES,
    ),
    _build(
        "build: AveragePooling1D window 1e9 (a 4 GB constant, 54 s)",
        layers_spec(
            "{type: AveragePooling1D, pool_size: 1000000000, padding: same}",
            inputs="x: {shape: [8, 1]}",
        ),
        _VALUES,
    ),
    _build(
        "build: an input of 1e12 elements",
        layers_spec("{type: Flatten}", inputs="x: {shape: [1000000, 1000000]}"),
        r"input 'x' \(None, 1000000, 1000000\).*\(at inputs\.x\.shape\)",
        _VALUES,
    ),
    _build(
        "build: a Lambda reshape of 2**70 rows inside a sum",
        layers_spec(
            "{type: Lambda, expression: 'sum(reshape(x, [1180591620717411303424, -1]), axis=1)'}",
            inputs="x: {shape: [null, 4]}",
        ),
        r"the value at column 5 of its expression",
        _VALUES,
    ),
    _build(
        "build: two layers under the limit, the model over it",
        layers_spec(
            "{type: Dense, units: 20000}",
            "{type: Dense, units: 20000}",
            inputs="x: {shape: [20000]}",
        ),
        r"the model has 800,040,000 parameters.*passes the limit at Dense layer 'dense_1'",
        _PARAMS,
    ),
    _build(
        "build: ZeroPadding1D padding 2**70",
        layers_spec(
            "{type: ZeroPadding1D, padding: 1180591620717411303424}", inputs="x: {shape: [8, 1]}"
        ),
        r"integers must fit in 64 bits .*SPC106-number",
    ),
    _build(
        "build: RepeatVector n 2**64",
        layers_spec("{type: RepeatVector, n: 18446744073709551616}"),
        r"integers must fit in 64 bits .*SPC106-number",
    ),
    _build(
        "build: Conv2D dilation_rate 2**63",
        layers_spec(
            "{type: Conv2D, filters: 1, kernel_size: 3, dilation_rate: 9223372036854775808, "
            "padding: same}",
            inputs="x: {shape: [8, 8, 1]}",
        ),
        r"integers must fit in 64 bits .*SPC106-number",
    ),
    _build(
        "build: Conv1D dilation_rate 2**62 (its extent overflows int64)",
        layers_spec(
            "{type: Conv1D, filters: 1, kernel_size: 3, dilation_rate: 4611686018427387904, "
            "padding: same}",
            inputs="x: {shape: [8, 1]}",
        ),
        r"more than a 64-bit integer holds",
        r"SPC301-shape",
    ),
    _build(
        "build: Dropout seed 2**70",
        layers_spec("{type: Dropout, rate: 0.5, seed: 1180591620717411303424}"),
        r"integers must fit in 64 bits .*SPC106-number",
    ),
    Case(
        FAMILY,
        "build: MaxPooling1D window 10000 over a variable length (was 54 s)",
        ["build", "spec.yaml", "-o", "model.onnx", "-q"],
        {
            "spec.yaml": layers_spec(
                "{type: MaxPooling1D, pool_size: 10000, padding: same}",
                inputs="x: {shape: [null, 1]}",
            )
        },
        exit_code=0,
        seconds=15,
    ),
    Case(
        FAMILY,
        "validate: a raised --limit params lets the big model through",
        ["validate", "spec.yaml", "--limit", "params=5e12"],
        {"spec.yaml": _HUGE_DENSE.replace("2000000", "200000")},
        exit_code=0,
        output_has=(r"ok \(1 layers, 40,000,200,000 parameters\)",),
    ),
]
