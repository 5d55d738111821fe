"""Property-based tests of the compiler (hypothesis).

(a) Random well-formed sequential specs built from the core layers compile to ONNX models
    that pass the full ONNX check, run in onnxruntime with the inferred output shape and
    finite values, and agree with the layers' NumPy references.
(b) Random malformed YAML and JSON (random text, and mutations of valid specs) never make
    the compiler raise anything but ``SpecError``; ``specc validate`` exits 1 on them
    (0 when a mutation happens to leave the spec valid) with no traceback, and every
    diagnostic points at a place inside the file.

Bugs the properties found are kept as regression tests beside them.
"""

from __future__ import annotations

import copy
import json
import math
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from specc.activations import ACTIVATIONS
from specc.cli.app import app
from specc.constraints import CONSTRAINTS
from specc.diagnostics import SpecError
from specc.initializers import INITIALIZERS
from specc.layers import LAYERS
from specc.onnx_model import to_model_proto
from specc.pipeline import check_spec, compile_spec
from specc.regularizers import REGULARIZERS
from specc.spec.loader import PositionMap, load_text
from specc.spec.yaml_reader import COMPOSERS, read_yaml

# Deterministic examples: a failure here reproduces on every run and every machine.
PROPERTY_SETTINGS = settings(
    max_examples=80,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# exponential overflows float32 within a few stacked random layers (as it would in Keras),
# which says nothing about the compiler.
ACTIVATION_NAMES = sorted(n for n in ACTIVATIONS.names() if n != "exponential")
INITIALIZER_NAMES = sorted(INITIALIZERS.names())
# Identity and Orthogonal need a weight of rank >= 2: fine for a kernel, not for a bias.
BIAS_INITIALIZER_NAMES = [
    n for n in INITIALIZER_NAMES if INITIALIZERS.get(n).__name__ not in ("Identity", "Orthogonal")
]
REGULARIZER_NAMES = sorted(REGULARIZERS.names())
CONSTRAINT_NAMES = sorted(CONSTRAINTS.names())

Shape = tuple[int, ...]


def has(layer_type: str) -> bool:
    """Whether a layer type is registered (layer modules may still be arriving)."""
    return layer_type in LAYERS


# ----------------------------------------------------------------------------- (a) generation


def initializer_value(draw: st.DrawFn, names: list[str]) -> Any:
    """An initializer as a name, or as a mapping with a seed where the entry takes one."""
    name = draw(st.sampled_from(names))
    if draw(st.booleans()):
        return name
    config: dict[str, Any] = {"type": name}
    if "seed" in INITIALIZERS.get(name).model_fields and draw(st.booleans()):
        config["seed"] = draw(st.integers(0, 2**31))
    return config


def dense_layer(draw: st.DrawFn, shape: Shape) -> tuple[dict[str, Any], Shape]:
    units = draw(st.integers(1, 8))
    layer: dict[str, Any] = {"type": "Dense", "units": units}
    if draw(st.booleans()):
        layer["activation"] = draw(st.sampled_from(ACTIVATION_NAMES))
    if draw(st.booleans()):
        layer["use_bias"] = draw(st.booleans())
    if draw(st.booleans()):
        layer["kernel_initializer"] = initializer_value(draw, INITIALIZER_NAMES)
    if draw(st.booleans()):
        layer["bias_initializer"] = initializer_value(draw, BIAS_INITIALIZER_NAMES)
    if draw(st.integers(0, 3)) == 0:
        layer["kernel_regularizer"] = draw(st.sampled_from(REGULARIZER_NAMES))
    if draw(st.integers(0, 3)) == 0:
        layer["kernel_constraint"] = draw(st.sampled_from(CONSTRAINT_NAMES))
    return layer, (*shape[:-1], units)


def reshape_target(draw: st.DrawFn, size: int) -> list[int]:
    """A target shape with ``size`` elements, one entry possibly written as -1."""
    factors: list[int] = []
    rest = size
    for _ in range(draw(st.integers(0, 2))):
        divisors = [d for d in range(1, rest + 1) if rest % d == 0]
        d = draw(st.sampled_from(divisors))
        factors.append(d)
        rest //= d
    factors.append(rest)
    factors = draw(st.permutations(factors))
    if draw(st.booleans()):
        factors[draw(st.integers(0, len(factors) - 1))] = -1
    return factors


def next_layer(draw: st.DrawFn, shape: Shape) -> tuple[dict[str, Any], Shape]:
    """One layer that accepts ``shape`` (per sample), and the shape it gives."""
    kinds = ["Dense", "Dense", "Activation", "Dropout"]
    kinds += [k for k in ("Flatten", "Reshape", "Permute") if has(k)]
    if has("RepeatVector") and len(shape) == 1:
        kinds.append("RepeatVector")
    kind = draw(st.sampled_from(kinds))
    if kind == "Dense":
        return dense_layer(draw, shape)
    if kind == "Activation":
        return {"type": "Activation", "activation": draw(st.sampled_from(ACTIVATION_NAMES))}, shape
    if kind == "Dropout":
        rate = draw(st.floats(0, 1))
        layer: dict[str, Any] = {"type": "Dropout", "rate": rate}
        if draw(st.booleans()):
            layer["seed"] = draw(st.integers(0, 1000))
        return layer, shape
    if kind == "Flatten":
        return {"type": "Flatten"}, (math.prod(shape),)
    if kind == "Reshape":
        size = math.prod(shape)
        target = reshape_target(draw, size)
        known = math.prod(d for d in target if d != -1)
        return {"type": "Reshape", "target_shape": target}, tuple(
            size // known if d == -1 else d for d in target
        )
    if kind == "Permute":
        dims = draw(st.permutations(list(range(1, len(shape) + 1))))
        return {"type": "Permute", "dims": dims}, tuple(shape[d - 1] for d in dims)
    n = draw(st.integers(1, 3))
    return {"type": "RepeatVector", "n": n}, (n, shape[0])


@st.composite
def sequential_specs(draw: st.DrawFn) -> tuple[dict[str, Any], Shape]:
    """A valid sequential spec and the per-sample shape of its output."""
    shape: Shape = tuple(draw(st.lists(st.integers(1, 5), min_size=1, max_size=3)))
    layers = []
    current = shape
    for i in range(draw(st.integers(1, 6))):
        layer, current = next_layer(draw, current)
        if i == 0:
            layer["input_shape"] = list(shape)
            if draw(st.integers(0, 4)) == 0:
                layer["input_dtype"] = "float16"
        if draw(st.integers(0, 4)) == 0:
            layer["name"] = f"{layer['type'].lower()}_named_{i}"
        layers.append(layer)
    return {"specc": 1, "name": "random_stack", "layers": layers}, current


def numpy_forward(compiled: Any, x: np.ndarray) -> np.ndarray:
    """The model's output computed from each layer's NumPy reference."""
    resolved = compiled.typed.resolved
    values = {name: [x] for name in resolved.inputs}
    for node in resolved.nodes:
        inputs = [values[ref.name][ref.index] for ref in node.inputs]
        weights = {
            w.name: compiled.weights[f"{node.owner}/{w.name}"]
            for w in compiled.typed.parameters_of(node.owner)
        }
        values[node.name] = node.layer.reference(inputs, weights)
    (out,) = resolved.outputs
    return np.asarray(values[out.name][out.index])


def write_spec(directory: Path, spec: dict[str, Any], fmt: str) -> Path:
    """``spec`` written as YAML or JSON into ``directory``."""
    path = directory / f"spec.{fmt}"
    text = json.dumps(spec, indent=2) if fmt == "json" else yaml.safe_dump(spec)
    path.write_text(text, encoding="utf-8")
    return path


def check_and_run(path: Path, batch: int) -> None:
    """Compile the single-input, single-output spec at ``path``; check the ONNX model, run
    it in onnxruntime and compare with the inferred type and the NumPy references."""
    compiled = compile_spec(path, seed=0)
    (output_type,) = compiled.typed.outputs
    model = to_model_proto(compiled.graph)
    onnx.checker.check_model(model, full_check=True)

    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    (graph_input,) = session.get_inputs()
    assert graph_input.name == "input_layer"
    (input_type,) = compiled.typed.resolved.inputs.values()
    dtype = np.float16 if input_type.dtype == "float16" else np.float32
    x = np.random.default_rng(batch).uniform(-1, 1, size=(batch, *input_type.shape)).astype(dtype)
    (y,) = session.run(None, {graph_input.name: x})

    assert y.shape == (batch, *output_type.shape)
    assert y.dtype == np.float32
    assert np.isfinite(y).all()
    want = numpy_forward(compiled, x)
    scale = max(1.0, float(np.abs(want).max(initial=0.0)))
    np.testing.assert_allclose(y, want, rtol=1e-3, atol=1e-4 * scale)


@PROPERTY_SETTINGS
@given(case=sequential_specs(), batch=st.integers(1, 3), fmt=st.sampled_from(["yaml", "json"]))
def test_random_sequential_specs_compile_check_and_run(
    case: tuple[dict[str, Any], Shape], batch: int, fmt: str
) -> None:
    spec, out_shape = case
    with tempfile.TemporaryDirectory() as tmp:
        path = write_spec(Path(tmp), spec, fmt)
        assert tuple(check_spec(path).outputs[0].shape) == out_shape
        check_and_run(path, batch)


# Found by the property above; kept as regression tests.


@pytest.mark.parametrize("batch", [2, 3])
def test_identity_permute_before_dense_runs(tmp_path: Path, batch: int) -> None:
    spec = {
        "specc": 1,
        "layers": [
            {"type": "Permute", "dims": [1], "input_shape": [3]},
            {"type": "Dense", "units": batch},
        ],
    }
    check_and_run(write_spec(tmp_path, spec, "yaml"), batch)


def test_dropout_rate_just_below_one_runs(tmp_path: Path) -> None:
    spec = {"specc": 1, "layers": [{"type": "Dropout", "rate": 0.99999999, "input_shape": [3]}]}
    check_and_run(write_spec(tmp_path, spec, "yaml"), 2)


# ----------------------------------------------------------------------------- (b) malformed input

FUNCTIONAL_YAML = """\
# A small functional model using most of the spec's sections.
specc: 1
name: mutated
inputs:
  features: {shape: [12]}
  tokens: {shape: [8], dtype: int32}
layers:
  - {name: dense_in, type: Dense, units: 16, activation: relu, inputs: features}
  - type: Dense
    name: hidden
    units: 8
    kernel_initializer: {type: VarianceScaling, scale: 2.0, mode: fan_in, seed: 7}
    kernel_regularizer: {type: L1L2, l1: 0.01, l2: 0.01}
    kernel_constraint: {type: MaxNorm, max_value: 2, axis: 0}
  - {name: drop, type: Dropout, rate: 0.25}
  - {name: score, type: Dense, units: 1, activation: sigmoid, inputs: drop}
  - {name: embed, type: Embedding, input_dim: 50, output_dim: 4, inputs: tokens}
  - {name: flat, type: Flatten, inputs: embed}
  - {name: label, type: Dense, units: 3, activation: softmax, inputs: flat}
outputs: [score, label]
compile:
  optimizer: {type: Adam, learning_rate: 1e-3}
  loss: {score: binary_crossentropy, label: categorical_crossentropy}
  loss_weights: [1.0, 0.5]
  metrics: {score: [accuracy], label: [accuracy]}
train:
  epochs: 2
  batch_size: 16
"""
SEQUENTIAL_YAML = """\
# The sequential shorthand: the first layer carries input_shape.
specc: 1
name: mutated_stack
layers:
  - type: Dense
    input_shape: [4, 6]
    units: 12
    activation: gelu
    kernel_initializer: he_uniform
  - {type: Reshape, target_shape: [3, -1]}
  - {type: Permute, dims: [2, 1]}
  - {type: Flatten}
  - {type: Dropout, rate: 0.5, seed: 1}
  - {type: RepeatVector, n: 2}
  - {type: Activation, activation: {type: softmax, axis: -1}}
compile: {optimizer: sgd, loss: mse, metrics: [mae]}
"""
# The spec's own loader: PyYAML's YAML 1.1 would read 1e-3 as a string.
SEEDS = [load_text(text, "seed.yaml").data for text in (FUNCTIONAL_YAML, SEQUENTIAL_YAML)]
SEED_TEXTS = [
    (FUNCTIONAL_YAML, ".yaml"),
    (SEQUENTIAL_YAML, ".yaml"),
    *((json.dumps(data, indent=2), ".json") for data in SEEDS),
]


@pytest.mark.parametrize(
    ("text", "suffix"),
    SEED_TEXTS,
    ids=["functional.yaml", "sequential.yaml", "functional.json", "sequential.json"],
)
def test_the_mutation_seeds_are_valid(tmp_path: Path, text: str, suffix: str) -> None:
    path = tmp_path / f"seed{suffix}"
    path.write_text(text, encoding="utf-8")
    check_spec(path)


def check_rejected_cleanly(text: str, suffix: str) -> None:
    """``check_spec`` accepts ``text`` or raises only ``SpecError`` with in-file positions;
    ``specc validate`` agrees, exiting 0 or 1 with no traceback."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"spec{suffix}"
        path.write_text(text, encoding="utf-8")
        try:
            check_spec(path)
            failed = False
        except SpecError as error:
            failed = True
            assert error.diagnostics
            last_line = len(text.splitlines()) + 1
            for diagnostic in error.diagnostics:
                assert diagnostic.file == str(path)
                assert diagnostic.position is not None, diagnostic
                assert 1 <= diagnostic.position.line <= last_line, diagnostic
                assert diagnostic.position.column >= 1, diagnostic
                assert diagnostic.as_text().startswith(
                    f"{path}:{diagnostic.position.line}:{diagnostic.position.column}: error: "
                )
        result = CliRunner().invoke(app, ["validate", str(path)])
    assert "Traceback" not in result.output
    assert "internal error" not in result.output
    assert result.exit_code == (1 if failed else 0), result.output


# Characters that mean something in YAML or JSON, and a few that do not.
MUTATION_CHARS = list("{}[]:,-\"' \n\t#&*!?|>%@`\\0aZ")


def mutate_text(draw: st.DrawFn, text: str) -> str:
    """Delete, duplicate or insert characters, or swap two lines."""
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["delete", "duplicate", "insert", "swap"]))
        if kind == "swap":
            lines = text.split("\n")
            i = draw(st.integers(0, len(lines) - 1))
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
            text = "\n".join(lines)
            continue
        if not text:
            continue
        i = draw(st.integers(0, len(text) - 1))
        if kind == "delete":
            length = draw(st.integers(1, 5))
            text = text[:i] + text[i + length :]
        elif kind == "duplicate":
            length = draw(st.integers(1, 5))
            text = text[: i + length] + text[i : i + length] + text[i + length :]
        else:
            text = (
                text[:i] + draw(st.sampled_from(list("{}[]:,-\"' \n\t#&*!?|>%@`\\0aZ"))) + text[i:]
            )
    return text


@st.composite
def mutated_text(draw: st.DrawFn) -> tuple[str, str]:
    text, suffix = draw(st.sampled_from(SEED_TEXTS))
    return mutate_text(draw, text), suffix


# Any text but lone surrogates, which no file can hold (json.dumps writes characters beyond
# the Basic Multilingual Plane as \u surrogate pairs, which the JSON reader joins).
BMP_TEXT = st.characters(exclude_categories=["Cs"])


def short_text(min_size: int = 0, max_size: int = 8) -> st.SearchStrategy[str]:
    return st.text(BMP_TEXT, min_size=min_size, max_size=max_size)


# Values a user might mistype into any key.
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=True, allow_infinity=True),
    short_text(),
    st.sampled_from(["", "relu", "Dense", "features", "score", "x[1]", "adam", "-1", "1e-3"]),
)
# Edge values (empty, zero, negative, wrong type) are drawn about half the time.
EDGES = st.sampled_from([0, -1, 1, "", [], {}, [0], [""], True, None, 0.5, "1", math.inf])
VALUES = st.one_of(
    EDGES,
    st.recursive(
        SCALARS,
        lambda inner: st.one_of(
            st.lists(inner, max_size=3),
            st.dictionaries(short_text(max_size=6), inner, max_size=3),
        ),
        max_leaves=6,
    ),
)


def paths_of(data: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value inside ``data``."""
    found = [prefix] if prefix else []
    if isinstance(data, dict):
        for key, value in data.items():
            found += paths_of(value, (*prefix, key))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            found += paths_of(value, (*prefix, i))
    return found


@st.composite
def injected_spec(draw: st.DrawFn) -> tuple[str, str]:
    """The valid spec with random values put at random keys, as YAML or JSON."""
    data = json.loads(json.dumps(draw(st.sampled_from(SEEDS))))
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(paths_of(data)))
        # A copy: EDGES hands out the same list and dict objects every time.
        value = copy.deepcopy(draw(VALUES))
        node = data
        for part in path[:-1]:
            node = node[part]
        if isinstance(node, dict) and draw(st.integers(0, 4)) == 0:
            # Sometimes a new, unknown key next to the chosen one.
            node[draw(short_text(1, 6))] = value
        else:
            node[path[-1]] = value
    if draw(st.booleans()):
        # allow_nan: YAML writes .nan/.inf and JSON NaN/Infinity, which JSON must refuse.
        return json.dumps(data, indent=2), ".json"
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False), ".yaml"


@PROPERTY_SETTINGS
@given(text=st.text(max_size=200), suffix=st.sampled_from([".yaml", ".json"]))
def test_random_text_fails_cleanly(text: str, suffix: str) -> None:
    check_rejected_cleanly(text, suffix)


@PROPERTY_SETTINGS
@given(case=mutated_text())
def test_mutated_specs_fail_cleanly(case: tuple[str, str]) -> None:
    check_rejected_cleanly(*case)


@PROPERTY_SETTINGS
@given(case=injected_spec())
def test_random_values_at_random_keys_fail_cleanly(case: tuple[str, str]) -> None:
    check_rejected_cleanly(*case)


# ----------------------------------------------------------------------------- the readers


def read_with(composer: type, text: str) -> tuple[str, Any, Any] | tuple[str, str]:
    """What the YAML reader makes of ``text`` with ``composer``: data and positions, or
    the error's code."""
    positions = PositionMap()
    try:
        data = read_yaml(text, "spec.yaml", positions, composer)
    except SpecError as error:
        return ("error", error.diagnostics[0].code)
    return ("ok", repr(data), (positions.values, positions.keys, positions.strings))


@PROPERTY_SETTINGS
@given(case=st.one_of(mutated_text(), injected_spec()))
def test_libyaml_and_pyyaml_read_specs_alike(case: tuple[str, str]) -> None:
    text, suffix = case
    assume(suffix == ".yaml" and len(COMPOSERS) == 2)
    fast, pure = (read_with(composer, text) for composer in COMPOSERS)
    # Where both read the text, they read the same data at the same places. They may word
    # a syntax error differently, and differ on a few corners of YAML (libyaml takes a tab
    # inside a plain scalar, as YAML 1.2 allows; PyYAML refuses it).
    if fast[0] == pure[0] == "ok":
        assert fast == pure


@PROPERTY_SETTINGS
@given(data=VALUES, indent=st.sampled_from([None, 1, 2]))
def test_json_positions_are_where_the_values_start(data: Any, indent: int | None) -> None:
    text = json.dumps({"v": data}, indent=indent, ensure_ascii=False)
    assume("NaN" not in text and "Infinity" not in text)
    loaded = load_text(text, "spec.json", is_json=True)
    lines = text.split("\n")
    for path, position in loaded.positions.values.items():
        start = lines[position.line - 1][position.column - 1 :]
        value = loaded.data
        for part in path:
            value = value[part]
        # The text at the position is the value's JSON spelling (a scalar's in full).
        spelling = json.dumps(value, ensure_ascii=False)
        assert start.startswith(spelling[:1] if isinstance(value, dict | list) else spelling)
