"""The attention layers and EinsumDense: Keras 3.15.1's own outputs, every output of each
example against the NumPy references, the causal mask, dropout on the probabilities, the
weight names and initial scale, and the located refusals."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from specc.diagnostics import SpecError
from specc.layers import LAYERS
from specc.layers.base import TRAINING_FLAG
from specc.onnx_model import to_model_proto
from specc.pipeline import compile_data, compile_text
from specc.random_ops import RANDOM_STEP
from specc.types import TensorType
from tests.layer_harness import compare_layer, make_layer, random_weights, run_layer
from tests.spec_helpers import quiet_session, run_compiled

REFERENCE = Path(__file__).parent / "keras_reference"
KERAS = json.loads((REFERENCE / "attention_cases.json").read_text())
KERAS_DATA = dict(np.load(REFERENCE / "attention_cases.npz"))
NEW_LAYERS = [
    "EinsumDense",
    "MultiHeadAttention",
    "GroupedQueryAttention",
    "Attention",
    "AdditiveAttention",
]


def _spec(
    name: str, type_name: str, config: dict[str, Any], shapes: list[list[int]], outputs: int
) -> dict:
    names = (
        ["query", "value", "key"][: len(shapes)]
        if len(shapes) > 1 or type_name != "EinsumDense"
        else ["x"]
    )
    return {
        "specc": 1,
        "name": "reference",
        "inputs": {n: {"shape": shape} for n, shape in zip(names, shapes, strict=True)},
        "layers": [{"name": name, "type": type_name, "inputs": names, **config}],
        "outputs": [name] if outputs == 1 else [f"{name}[{k}]" for k in range(outputs)],
    }


def _keras_case(name: str) -> tuple[Any, dict[str, np.ndarray], list[np.ndarray]]:
    """A reference case compiled with Keras's weights, the weights, and its inputs."""
    case = KERAS["cases"][name]
    spec = _spec(name, case["type"], case["config"], case["inputs"], case["outputs"])
    prefix = f"{name}/weights/"
    weights = {k[len(prefix) :]: v for k, v in KERAS_DATA.items() if k.startswith(prefix)}
    inputs = [KERAS_DATA[f"{name}/input/{k}"] for k in range(len(case["inputs"]))]
    return compile_data(spec, weights=weights), weights, inputs


@pytest.mark.parametrize("name", sorted(KERAS["cases"]))
def test_matches_keras(name: str) -> None:
    case = KERAS["cases"][name]
    compiled, weights, inputs = _keras_case(name)
    # The weights file keys are Keras's variable paths, every one used, in Keras's order.
    assert [p.key for p in compiled.typed.parameters] == list(weights)
    got = run_compiled(compiled, inputs)
    assert len(got) == case["outputs"]
    for k, value in enumerate(got):
        want = KERAS_DATA[f"{name}/output/{k}"]
        assert value.shape == want.shape
        np.testing.assert_allclose(value, want, rtol=1e-5, atol=1e-6)


def _examples() -> list[Any]:
    return [
        pytest.param(type_name, config, types, id=f"{type_name}-{k}")
        for type_name in NEW_LAYERS
        for k, (config, types) in enumerate(LAYERS.get(type_name).examples())
    ]


@pytest.mark.parametrize(("type_name", "config", "types"), _examples())
def test_every_output_matches_the_reference(type_name: str, config: dict, types: list) -> None:
    rng = np.random.default_rng(7)
    inputs = [rng.normal(size=(2, *(d or 5 for d in t.shape))).astype(t.dtype) for t in types]
    # The matrix checks the first output; this checks the scores as well.
    compare_layer(type_name, config, types, inputs, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    ("type_name", "config"),
    [
        ("MultiHeadAttention", {"num_heads": 2, "key_dim": 3, "use_causal_mask": True}),
        (
            "GroupedQueryAttention",
            {
                "head_dim": 2,
                "num_query_heads": 4,
                "num_key_value_heads": 2,
                "use_causal_mask": True,
            },
        ),
        ("Attention", {"use_causal_mask": True}),
        ("AdditiveAttention", {"use_causal_mask": True}),
    ],
)
def test_the_causal_mask_hides_later_positions(type_name: str, config: dict) -> None:
    types = [TensorType("float32", (None, 4))] * 2
    layer = make_layer(type_name, **config)
    weights = random_weights(layer, types, seed=1)
    rng = np.random.default_rng(3)
    x = rng.normal(size=(1, 6, 4)).astype(np.float32)
    changed = x.copy()
    changed[:, 4:] += 3.0  # only the last two positions differ
    (before,) = run_layer(layer, types, [x, x], weights)
    (after,) = run_layer(layer, types, [changed, changed], weights)
    np.testing.assert_allclose(before[:, :4], after[:, :4], rtol=1e-6, atol=1e-6)
    assert not np.allclose(before[:, 4:], after[:, 4:])


def test_causal_scores_are_lower_triangular_with_rows_summing_to_one() -> None:
    types = [TensorType("float32", (5, 4))] * 2
    layer = make_layer(
        "MultiHeadAttention",
        num_heads=2,
        key_dim=2,
        use_causal_mask=True,
        return_attention_scores=True,
    )
    x = np.random.default_rng(0).normal(size=(3, 5, 4)).astype(np.float32)
    _, scores = run_layer(layer, types, [x, x], random_weights(layer, types))
    assert scores.shape == (3, 2, 5, 5)
    assert np.all(np.triu(scores, k=1) == 0)
    np.testing.assert_allclose(scores.sum(axis=-1), 1.0, rtol=1e-6)


def _train_lowering(spec: dict) -> tuple[Any, Any]:
    """An onnxruntime session of the training lowering, and the compiled model."""
    compiled = compile_data(spec, seed=0, for_training=True)
    session = quiet_session(to_model_proto(compiled.graph, 17, compiled.metadata))
    return session, compiled


def test_attention_dropout_draws_in_training_only() -> None:
    shapes = [[4, 6], [4, 6]]
    config = {"num_heads": 2, "key_dim": 3, "dropout": 1.0}
    spec = _spec("mha", "MultiHeadAttention", config, shapes, 1)
    session, compiled = _train_lowering(spec)
    x = np.random.default_rng(0).normal(size=(2, 4, 6)).astype(np.float32)
    # At rate 1 nothing is drawn (the mask is 0 in training), so no step counter either.
    feeds = {"query": x, "value": x}
    (trained,) = session.run(None, {**feeds, TRAINING_FLAG: np.array(True)})
    (evaluated,) = session.run(None, {**feeds, TRAINING_FLAG: np.array(False)})
    # At rate 1 every probability is dropped: only the output projection's bias is left.
    bias = compiled.weights["mha/attention_output/bias"]
    np.testing.assert_allclose(trained, np.broadcast_to(bias, trained.shape), atol=1e-6)
    assert not np.allclose(evaluated, trained)


def test_attention_dropout_is_seeded_and_rescaled() -> None:
    config = {
        "num_heads": 1,
        "key_dim": 2,
        "dropout": 0.5,
        "seed": 4,
        "return_attention_scores": True,
    }
    spec = _spec("mha", "MultiHeadAttention", config, [[8, 3], [8, 3]], 2)
    session, _ = _train_lowering(spec)
    x = np.random.default_rng(1).normal(size=(4, 8, 3)).astype(np.float32)
    feeds = {"query": x, "value": x, TRAINING_FLAG: np.array(True), RANDOM_STEP: np.array(2)}
    first, scores = session.run(None, feeds)
    again, _ = session.run(None, feeds)
    other, _ = session.run(None, {**feeds, RANDOM_STEP: np.array(3)})
    np.testing.assert_array_equal(first, again)  # a step's mask is a function of the step
    assert not np.allclose(first, other)
    # The scores are returned before dropout: probabilities that sum to one.
    np.testing.assert_allclose(scores.sum(axis=-1), 1.0, rtol=1e-6)


def test_weights_keep_keras_sublayer_names() -> None:
    spec = _spec("mha", "MultiHeadAttention", {"num_heads": 4, "key_dim": 8}, [[5, 16], [7, 12]], 1)
    compiled = compile_data(spec, seed=0)
    shapes = {p.key: p.shape for p in compiled.typed.parameters}
    assert shapes == {
        "mha/query/kernel": (16, 4, 8),
        "mha/query/bias": (4, 8),
        "mha/key/kernel": (12, 4, 8),
        "mha/key/bias": (4, 8),
        "mha/value/kernel": (12, 4, 8),
        "mha/value/bias": (4, 8),
        "mha/attention_output/kernel": (4, 8, 16),
        "mha/attention_output/bias": (16,),
    }
    assert {p.onnx_name for p in compiled.typed.parameters} >= {"mha.query.kernel"}


def test_einsum_kernels_count_fans_over_their_input_and_output_axes() -> None:
    # Keras's EinsumDense gives VarianceScaling the kernel's input and output axes: for
    # [64, 8, 16] glorot_uniform draws within sqrt(6 / (64 + 128)), not the convolution
    # fans sqrt(6 / (8 * 64 + 16 * 64)).
    spec = _spec(
        "mha", "MultiHeadAttention", {"num_heads": 8, "key_dim": 16}, [[3, 64], [3, 64]], 1
    )
    kernel = compile_data(spec, seed=0).weights["mha/query/kernel"]
    limit = np.sqrt(6.0 / (64 + 8 * 16))
    assert np.abs(kernel).max() <= limit
    assert np.abs(kernel).max() > 0.95 * limit


def _diagnostics(spec: dict) -> list[tuple[str, str]]:
    with pytest.raises(SpecError) as caught:
        compile_data(spec, seed=0)
    return [(d.dotted_path, d.message) for d in caught.value.diagnostics]


@pytest.mark.parametrize(
    ("type_name", "config", "shapes", "path", "words"),
    [
        (
            "MultiHeadAttention",
            {"num_heads": 2, "key_dim": 2, "attention_axes": [2]},
            [[4, 3], [4, 3]],
            "layers[0].attention_axes",
            "attention_axes",
        ),
        (
            "MultiHeadAttention",
            {"num_heads": 2, "key_dim": 2, "use_causal_mask": True},
            [[4, 3, 2], [4, 3, 2]],
            "layers[0].use_causal_mask",
            "sequence axis alone",
        ),
        (
            "MultiHeadAttention",
            {"num_heads": 2, "key_dim": 2, "attention_axes": 2},
            [[4, 3, 2], [5, 3, 2]],
            "layers[0].inputs",
            "equal on the axes it does not attend over",
        ),
        (
            "GroupedQueryAttention",
            {"head_dim": 2, "num_query_heads": 3, "num_key_value_heads": 2},
            [[4, 3], [4, 3]],
            "layers[0].num_key_value_heads",
            "divisible",
        ),
        ("Attention", {}, [[4, 3], [5, 2]], "layers[0].inputs", "same known last dimension"),
        (
            "MultiHeadAttention",
            {"num_heads": 2, "key_dim": 2},
            [[4, 3]],
            "layers[0].inputs",
            "takes 2 to 3 input(s)",
        ),
        (
            "Attention",
            {},
            [[4, 3], [5, 2], [6, 3]],
            "layers[0].inputs",
            "value and key equal on every axis but the last",
        ),
        (
            "EinsumDense",
            {"equation": "ab,bc->ac", "output_shape": 3, "bias_axes": ""},
            [[4]],
            "layers[0].bias_axes",
            "must not be empty",
        ),
        (
            "MultiHeadAttention",
            {"num_heads": 2, "key_dim": 2, "output_shape": [3, 0]},
            [[4, 3], [4, 3]],
            "layers[0].output_shape[1]",
            "greater than 0",
        ),
        (
            "EinsumDense",
            {"equation": "ab,bc", "output_shape": 3},
            [[4]],
            "layers[0].equation",
            "form",
        ),
        (
            "EinsumDense",
            {"equation": "abc,cd->abd", "output_shape": 3},
            [[4, 2]],
            "layers[0].output_shape",
            "2 size(s)",
        ),
        (
            "EinsumDense",
            {"equation": "ab,bc->ac", "output_shape": 3, "bias_axes": "x"},
            [[4]],
            "layers[0].bias_axes",
            "bias_axes",
        ),
        (
            "EinsumDense",
            {"equation": "abc,cd->ad", "output_shape": 3},
            [[4, 2]],
            "layers[0].equation",
            "does not sum",
        ),
    ],
)
def test_refusals_are_located(
    type_name: str, config: dict, shapes: list, path: str, words: str
) -> None:
    [(where, message)] = _diagnostics(_spec("layer", type_name, config, shapes, 1))
    assert where == path
    assert words in message


def test_scores_output_can_feed_other_layers_and_outputs() -> None:
    spec = {
        "specc": 1,
        "inputs": {"tokens": {"shape": [4, 6]}},
        "layers": [
            {
                "name": "mha",
                "type": "MultiHeadAttention",
                "inputs": ["tokens", "tokens"],
                "num_heads": 2,
                "key_dim": 3,
                "return_attention_scores": True,
            },
            {"name": "flat", "type": "Flatten", "inputs": "mha[1]"},
        ],
        "outputs": ["mha", "flat"],
    }
    compiled = compile_data(spec, seed=0)
    x = np.random.default_rng(2).normal(size=(3, 4, 6)).astype(np.float32)
    result, flat = run_compiled(compiled, [x])
    assert result.shape == (3, 4, 6)
    assert flat.shape == (3, 2 * 4 * 4)
    np.testing.assert_allclose(flat.reshape(3, 2, 4, 4).sum(axis=-1), 1.0, rtol=1e-6)


def test_grouped_query_attention_answers_to_its_exported_name() -> None:
    config = {"head_dim": 2, "num_query_heads": 2, "num_key_value_heads": 1}
    spec = _spec("gqa", "GroupQueryAttention", config, [[3, 4], [3, 4]], 1)
    compiled = compile_data(spec, seed=0)
    assert type(compiled.typed.resolved.node("gqa").layer).type_name() == "GroupedQueryAttention"


def test_the_documented_example_compiles_with_both_outputs() -> None:
    text = (Path(__file__).parents[1] / "docs" / "attention.md").read_text()
    [example] = re.findall(r"```yaml\n(.*?)```", text, re.S)
    compiled = compile_text(example, seed=0)
    types = compiled.typed.outputs
    assert [str(t) for t in types] == ["(None, 32)", "(None, 4, None, 10)"]


ACTIVITY_CASES = sorted(k.split("/")[0] for k in KERAS_DATA if k.endswith("/activity_loss"))


@pytest.mark.parametrize("name", ACTIVITY_CASES)
def test_activity_penalties_match_keras(name: str) -> None:
    compiled, _, inputs = _keras_case(name)
    [penalty] = compiled.lowered.activity_penalties
    # Run the graph with the penalised values as its outputs.
    outputs = [(value.name, tensor) for value, tensor in penalty.outputs]
    graph = dataclasses.replace(compiled.graph, outputs=outputs)
    session = quiet_session(to_model_proto(graph, 17))
    feeds = {i.name: x for i, x in zip(session.get_inputs(), inputs, strict=True)}
    values = session.run(None, feeds)
    # Keras's "l2" (0.01 * sum of squares), divided by the batch size.
    got = sum(0.01 * np.sum(np.square(v.astype(np.float64))) / len(v) for v in values)
    np.testing.assert_allclose(got, KERAS_DATA[f"{name}/activity_loss"], rtol=1e-5)
