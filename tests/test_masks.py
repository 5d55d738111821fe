"""Keras masks: Embedding(mask_zero) and Masking make them, the layers Keras lets them
through pass them on, recurrent layers and GlobalAveragePooling1D read them, the losses and
metrics weigh an output's steps by them. Compared with Keras 3.15.1's own outputs
(tests/keras_reference/masks_keras.py) and with NumPy references."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from specc.diagnostics import SpecError
from specc.layers import LAYERS
from specc.layers.base import TRAINING_FLAG
from specc.onnx_model import to_model_proto
from specc.passes.shapes import TypedGraph
from specc.pipeline import CompiledModel, compile_data
from specc.random_ops import RANDOM_STEP
from specc.train.graph import TOTAL_LOSS, build_training_graph
from tests.autodiff_harness import check_graph_gradients
from tests.spec_helpers import quiet_session, run_compiled

# Every layer module first: a wrapper's nested-layer union built while only some were
# imported would give the generated JSON Schema another order (tests/test_schema.py).
LAYERS.load_all()

REFERENCE = Path(__file__).parent / "keras_reference"
KERAS = json.loads((REFERENCE / "masks_cases.json").read_text())
KERAS_DATA = dict(np.load(REFERENCE / "masks_cases.npz"))
ATTENTION_TYPES = {"MultiHeadAttention", "GroupedQueryAttention", "Attention", "AdditiveAttention"}
KERAS_CASES = sorted(n for n in KERAS["cases"] if n != "masked_loss")


def _keras_weights(name: str) -> list[list[np.ndarray]]:
    """The case's weights, one list per Keras layer with weights, in model order."""
    prefix = f"{name}/weights/"
    layers: dict[str, list[np.ndarray]] = {}
    for key, value in KERAS_DATA.items():
        if key.startswith(prefix):
            layers.setdefault(key[len(prefix) :].rsplit("/", 1)[0], []).append(value)
    return list(layers.values())


def _weights_for(name: str):
    def assign(typed: TypedGraph) -> dict[str, np.ndarray]:
        owners: dict[str, list[str]] = {}
        for p in typed.parameters:
            owners.setdefault(p.owner, []).append(p.key)
        by_layer = _keras_weights(name)
        assert len(owners) == len(by_layer)
        return {
            key: value
            for keys, values in zip(owners.values(), by_layer, strict=True)
            for key, value in zip(keys, values, strict=True)
        }

    return assign


def _ids_spec(layers: list[dict[str, Any]], steps: int | None, outputs: int) -> dict:
    embedding = {"name": "embedding", "type": "Embedding", "input_dim": 10, "output_dim": 4}
    named = [{"name": f"layer{k}", **entry} for k, entry in enumerate(layers)]
    for k, entry in enumerate(named):
        if entry["type"] in ATTENTION_TYPES:
            source = named[k - 1]["name"] if k else "embedding"
            entry["inputs"] = [source, source]  # self-attention
    last = named[-1]["name"]
    return {
        "specc": 1,
        "name": "masked",
        "inputs": {"ids": {"shape": [steps], "dtype": "int64"}},
        "layers": [{**embedding, "inputs": "ids", "mask_zero": True}, *named],
        "outputs": [last] if outputs == 1 else [f"{last}[{k}]" for k in range(outputs)],
    }


LENGTHS = [
    pytest.param(False, False, id="inference"),
    pytest.param(True, False, id="training"),
    # A variable length: the fused op over the kept steps (recurrent_masked).
    pytest.param(False, True, id="inference-variable"),
    pytest.param(True, True, id="training-variable"),
]


@pytest.mark.parametrize(("for_training", "variable"), LENGTHS)
@pytest.mark.parametrize("name", [n for n in KERAS_CASES if n != "masking_lstm"])
def test_matches_keras(name: str, for_training: bool, variable: bool) -> None:
    case = KERAS["cases"][name]
    if variable and for_training and name == "lstm_last_state":
        # onnxruntime-training's graph (no fused_recurrence) cannot hold the fused LSTM's
        # sequence_lens; the standard backend's is compared in tests/test_masks_states.py.
        pytest.skip("refused: see test_masks_states.py::test_engine_training_graph_is_refused")
    ids = KERAS_DATA[f"{name}/ids"]
    spec = _ids_spec(case["layers"], None if variable else ids.shape[1], case["outputs"])
    compiled = compile_data(spec, weights=_weights_for(name), for_training=for_training)
    assert_matches_keras(run_compiled(compiled, [ids]), KERAS_DATA, name, case["outputs"])


def assert_matches_keras(
    got: list[np.ndarray], data: dict[str, np.ndarray], name: str, outputs: int
) -> None:
    """Every output equals Keras's ``<name>/output/<k>`` in ``data`` (float32 tolerances)."""
    assert len(got) == outputs
    for k, value in enumerate(got):
        want = data[f"{name}/output/{k}"]
        assert value.shape == want.shape
        np.testing.assert_allclose(value, want, rtol=1e-5, atol=1e-6)


def test_masking_then_lstm_matches_keras() -> None:
    spec = {
        "specc": 1,
        "name": "masking",
        "inputs": {"x": {"shape": [4, 2]}},
        "layers": [
            {"name": "masking", "type": "Masking", "mask_value": 0.5, "inputs": "x"},
            {"name": "lstm", "type": "LSTM", "units": 2, "return_sequences": True},
        ],
        "outputs": ["lstm"],
    }
    compiled = compile_data(spec, weights=_weights_for("masking_lstm"))
    (got,) = run_compiled(compiled, [KERAS_DATA["masking_lstm/x"]])
    np.testing.assert_allclose(got, KERAS_DATA["masking_lstm/output/0"], rtol=1e-5, atol=1e-6)


def _training_losses(spec: dict, weights: Any, feeds: dict[str, np.ndarray]) -> dict[str, Any]:
    """The training graph's outputs (total loss, metrics' statistics) on one batch, run
    in onnxruntime as an inference model in evaluation mode."""
    compiled = compile_data(spec, weights=weights, for_training=True)
    training = build_training_graph(compiled, compiled.compile)
    model = to_model_proto(training.graph, 17, {})
    session = quiet_session(model)
    names = {i.name for i in session.get_inputs()}
    fixed = {TRAINING_FLAG: np.array(False), RANDOM_STEP: np.array(0)}
    feeds = {**feeds, **{k: v for k, v in fixed.items() if k in names}}
    values = session.run(None, feeds)
    return dict(zip([o.name for o in session.get_outputs()], values, strict=True))


@pytest.mark.parametrize("reduction", ["sum_over_batch_size", "sum", "mean_with_sample_weight"])
def test_masked_loss_matches_keras(reduction: str) -> None:
    case = KERAS["cases"]["masked_loss"]
    ids = KERAS_DATA["masked_loss/ids"]
    spec = _ids_spec(case["layers"], ids.shape[1], 1)
    loss = {"type": "mse", "reduction": reduction}
    spec["compile"] = {"optimizer": "sgd", "loss": loss, "metrics": ["mae"]}
    target = KERAS_DATA["masked_loss/target"]
    out = _training_losses(spec, _weights_for("masked_loss"), {"ids": ids, "layer1.target": target})
    np.testing.assert_allclose(out[TOTAL_LOSS], case["losses"][reduction], rtol=1e-5)
    total, count = out["metrics/mae/0"], out["metrics/mae/1"]
    np.testing.assert_allclose(total / count, case["mae"], rtol=1e-5)


def test_masked_loss_and_metric_match_numpy() -> None:
    """Only the steps the mask keeps count: the mean over them, for the loss and for a
    mean metric (Keras's MeanMetricWrapper weighs by the mask the same way)."""
    ids = np.array([[3, 1, 0, 0], [0, 2, 7, 5], [0, 0, 0, 0]], np.int64)
    spec = _ids_spec([{"type": "Dense", "units": 2}], 4, 1)
    spec["compile"] = {"optimizer": "sgd", "loss": "mae", "metrics": ["mse"]}
    rng = np.random.default_rng(3)
    table = rng.normal(size=(10, 4)).astype(np.float32)
    kernel = rng.normal(size=(4, 2)).astype(np.float32)
    bias = rng.normal(size=2).astype(np.float32)
    weights = {"embedding/embeddings": table, "layer0/kernel": kernel, "layer0/bias": bias}
    target = rng.normal(size=(3, 4, 2)).astype(np.float32)
    out = _training_losses(spec, weights, {"ids": ids, "layer0.target": target})
    pred = table.astype(np.float64)[ids] @ kernel + bias
    keep = ids != 0
    mae = np.mean(np.abs(pred - target), axis=-1)
    np.testing.assert_allclose(out[TOTAL_LOSS], mae[keep].sum() / keep.sum(), rtol=1e-5)
    total, count = (out[k] for k in sorted(o for o in out if o.startswith("metrics/")))
    mse = np.mean((pred - target) ** 2, axis=-1)
    np.testing.assert_allclose(total / count, mse[keep].sum() / keep.sum(), rtol=1e-5)


# -- NumPy references and gradients ------------------------------------------------------

MASK_VALUE = 0.5


def _masked_sequence(rng: np.random.Generator, batch: int, steps: int, features: int):
    """(x, mask): steps equal to MASK_VALUE at the end, the start and in the middle, and a
    sample whose steps are all masked."""
    x = rng.normal(size=(batch, steps, features)).astype(np.float32)
    mask = np.ones((batch, steps), bool)
    mask[0, steps - 2 :] = False
    mask[1, 0] = False
    mask[2, steps // 2] = False
    mask[-1] = False
    x[~mask] = MASK_VALUE
    return x, mask


def _masking_spec(
    entry: dict[str, Any], steps: int | None, features: int, dense_first: bool = False
) -> dict:
    """x -> Masking -> (a Dense, with ``dense_first``) -> ``entry``."""
    before = [{"type": "Dense", "units": 2}] if dense_first else []
    return {
        "specc": 1,
        "name": "masked",
        "inputs": {"x": {"shape": [steps, features]}},
        "layers": [
            {"name": "masking", "type": "Masking", "mask_value": MASK_VALUE, "inputs": "x"},
            *before,
            {"name": "layer", **entry},
        ],
        "outputs": ["layer"],
    }


def _random_weights(typed: TypedGraph) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(11)
    return {p.key: rng.normal(scale=0.5, size=p.shape).astype(np.float32) for p in typed.parameters}


RECURRENT_ENTRIES = [
    pytest.param({"type": kind, "units": 3, **flags}, id=f"{kind}-{'-'.join(flags) or 'last'}")
    for kind in ("SimpleRNN", "LSTM", "GRU")
    for flags in (
        {},
        {"return_sequences": True},
        {"return_sequences": True, "go_backwards": True},
        {"zero_output_for_mask": True},
        {"return_sequences": True, "zero_output_for_mask": True},
    )
] + [
    pytest.param(
        {"type": "GRU", "units": 3, "dropout": 0.3, "return_sequences": True},
        id="GRU-dropout",  # identity at inference; drawn beside the mask in training
    ),
    pytest.param(
        {"type": "Bidirectional", "layer": {"type": "LSTM", "units": 2, "return_sequences": True}},
        id="Bidirectional-LSTM-sequences",
    ),
    pytest.param(
        {"type": "Bidirectional", "merge_mode": "ave", "layer": {"type": "GRU", "units": 2}},
        id="Bidirectional-GRU-last",
    ),
]


@pytest.mark.parametrize(("for_training", "variable"), LENGTHS)
@pytest.mark.parametrize("entry", RECURRENT_ENTRIES)
def test_masked_recurrence_matches_numpy(
    entry: dict[str, Any], for_training: bool, variable: bool
) -> None:
    x, mask = _masked_sequence(np.random.default_rng(5), 4, 6, 3)
    spec = _masking_spec(entry, None if variable else 6, 3)
    compiled = compile_data(spec, weights=_random_weights, for_training=for_training)
    (got,) = run_compiled(compiled, [x])
    node = compiled.typed.resolved.nodes_by_name["layer"]
    prefix = "layer/"
    weights = {k[len(prefix) :]: v for k, v in compiled.weights.items() if k.startswith(prefix)}
    (want, *_) = node.layer.reference([x * mask[:, :, None]], weights, mask.astype(np.float32))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("keepdims", [False, True])
def test_masked_global_average_matches_numpy(keepdims: bool) -> None:
    x, mask = _masked_sequence(np.random.default_rng(6), 3, 5, 4)
    entry = {"type": "GlobalAveragePooling1D", "keepdims": keepdims}
    compiled = compile_data(_masking_spec(entry, 5, 4), weights=_random_weights)
    (got,) = run_compiled(compiled, [x])
    layer = compiled.typed.resolved.nodes_by_name["layer"].layer
    want = layer.masked_reference(x * mask[:, :, None], mask)
    # The last sample is all padding: 0/0, NaN, as in Keras.
    np.testing.assert_allclose(got[:-1], want[:-1], rtol=1e-5, atol=1e-6)
    assert np.isnan(got[-1]).all()


def test_global_max_pooling_drops_the_mask() -> None:
    """Keras's GlobalMaxPooling1D does not support masking: the max runs over the padded
    steps too (which Masking set to 0)."""
    x, mask = _masked_sequence(np.random.default_rng(8), 3, 5, 4)
    compiled = compile_data(_masking_spec({"type": "GlobalMaxPooling1D"}, 5, 4))
    (got,) = run_compiled(compiled, [x])
    np.testing.assert_allclose(got, np.max(x * mask[:, :, None], axis=1), rtol=1e-6)
    assert compiled.typed.masked["layer"] == [False]


def test_which_outputs_carry_the_mask() -> None:
    spec = _ids_spec(
        [
            {"type": "Dense", "units": 3},
            {"type": "Dropout", "rate": 0.5},
            {"type": "LSTM", "units": 2, "return_sequences": True, "return_state": True},
        ],
        5,
        3,
    )
    spec["layers"].append(
        {
            "name": "each",
            "type": "TimeDistributed",
            "inputs": "layer2[0]",
            "layer": {"type": "Dense", "units": 2},
        }
    )
    spec["layers"].append({"name": "flat", "type": "Flatten", "inputs": "layer2[0]"})
    masked = compile_data(spec).typed.masked
    assert masked["embedding"] == [True]
    assert masked["layer0"] == masked["layer1"] == [True]
    assert masked["layer2"] == [True, False, False]  # the states carry none
    assert masked["each"] == [True]
    assert masked["flat"] == [False]  # Flatten does not support masking: dropped
    spec["layers"][0]["mask_zero"] = False
    assert not any(any(flags) for flags in compile_data(spec).typed.masked.values())


@pytest.mark.parametrize(
    "entry",
    [
        {"type": "LSTM", "units": 2, "return_sequences": True},
        {"type": "GRU", "units": 2},
        {"type": "SimpleRNN", "units": 2, "return_sequences": True, "zero_output_for_mask": True},
        {"type": "Bidirectional", "layer": {"type": "GRU", "units": 2, "return_sequences": True}},
        {"type": "GlobalAveragePooling1D"},
    ],
    ids=lambda e: e["type"],
)
@pytest.mark.parametrize("steps", [4, None], ids=["unrolled", "compacted"])
def test_masked_gradients_match_finite_differences(
    entry: dict[str, Any], steps: int | None
) -> None:
    x, mask = _masked_sequence(np.random.default_rng(9), 3, 4, 2)
    x, mask = x[:-1], mask[:-1]  # no all-padding sample (its average is NaN)
    spec = _masking_spec(entry, steps, 2, dense_first=entry["type"] == "GlobalAveragePooling1D")
    compiled = compile_data(spec, weights=_random_weights, for_training=True)
    assert parameter_gradient_failures(compiled, x) == []


def parameter_gradient_failures(compiled: CompiledModel, x: np.ndarray) -> list[str]:
    """``check_graph_gradients`` of a training lowering fed ``x``, for its parameters."""
    graph = compiled.lowered.graph
    # Not x: nudging a padded step off mask_value would unmask it.
    wanted = [p.onnx_name for p in compiled.typed.parameters]
    names = {name for name, _ in graph.inputs}
    fixed = {TRAINING_FLAG: np.array(False), RANDOM_STEP: np.array(0)}
    feeds = {"x": x, **{k: v for k, v in fixed.items() if k in names}}
    return check_graph_gradients(graph, wanted, feeds)


ATTENTION_ENTRIES = [
    pytest.param({"num_heads": 2, "key_dim": 3}, id="dot-product-path"),
    pytest.param({"num_heads": 2, "key_dim": 2, "dropout": 0.2}, id="softmax-path"),
    pytest.param({"num_heads": 2, "key_dim": 2, "return_attention_scores": True}, id="with-scores"),
    pytest.param({"num_heads": 1, "key_dim": 2, "use_causal_mask": True}, id="causal"),
]


@pytest.mark.parametrize("config", ATTENTION_ENTRIES)
def test_masked_attention_matches_numpy(config: dict[str, Any]) -> None:
    """The query's padded steps attend to nothing (a zero row on Keras's Softmax path, a
    uniform one on its dot_product_attention path); no query attends to a padded key."""
    x, mask = _masked_sequence(np.random.default_rng(12), 4, 5, 3)
    entry = {"type": "MultiHeadAttention", "inputs": ["masking", "masking"], **config}
    spec = _masking_spec(entry, 5, 3)
    if config.get("return_attention_scores"):
        spec["outputs"] = ["layer[0]", "layer[1]"]
    compiled = compile_data(spec, weights=_random_weights)
    compiled_outputs = run_compiled(compiled, [x])
    layer = compiled.typed.resolved.nodes_by_name["layer"].layer
    prefix = "layer/"
    weights = {k[len(prefix) :]: v for k, v in compiled.weights.items() if k.startswith(prefix)}
    xm = x * mask[:, :, None]
    want = layer.reference([xm, xm], weights, [mask, mask])
    assert len(compiled_outputs) == len(want)
    for got, expected in zip(compiled_outputs, want, strict=True):
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    # The result carries the query's mask, the scores none (as in Keras).
    assert compiled.typed.masked["layer"] == [True, False][: len(want)]


def test_masked_attention_gradients_match_finite_differences() -> None:
    x, _ = _masked_sequence(np.random.default_rng(13), 3, 4, 2)
    entry = {
        "type": "MultiHeadAttention",
        "inputs": ["masking", "masking"],
        "num_heads": 2,
        "key_dim": 2,
    }
    compiled = compile_data(_masking_spec(entry, 4, 2), weights=_random_weights, for_training=True)
    graph = compiled.lowered.graph
    wanted = [p.onnx_name for p in compiled.typed.parameters]
    assert check_graph_gradients(graph, wanted, {"x": x}) == []


@pytest.mark.parametrize(
    "config",
    [
        {"type": "Attention"},
        {"type": "Attention", "score_mode": "concat", "use_causal_mask": True},
        {"type": "AdditiveAttention", "return_attention_scores": True},
    ],
    ids=["dot", "concat-causal", "additive-scores"],
)
def test_masked_scored_attention_matches_numpy(config: dict[str, Any]) -> None:
    """Keras's Attention layers: no weight on a padded value step, zeros at padded query
    steps (a fully padded sample attends uniformly, then is zeroed)."""
    x, mask = _masked_sequence(np.random.default_rng(15), 4, 5, 3)
    entry = {"inputs": ["masking", "masking"], **config}
    spec = _masking_spec(entry, 5, 3)
    if config.get("return_attention_scores"):
        spec["outputs"] = ["layer[0]", "layer[1]"]
    compiled = compile_data(spec, weights=_random_weights)
    layer = compiled.typed.resolved.nodes_by_name["layer"].layer
    prefix = "layer/"
    weights = {k[len(prefix) :]: v for k, v in compiled.weights.items() if k.startswith(prefix)}
    xm = x * mask[:, :, None]
    want = layer.reference([xm, xm], weights, [mask, mask])
    for got, expected in zip(run_compiled(compiled, [x]), want, strict=True):
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def _run_training_mode(compiled: Any, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    """A training lowering run with its training flag set (dropout off: none here)."""
    session = quiet_session(to_model_proto(compiled.graph, 17, compiled.metadata))
    names = {i.name for i in session.get_inputs()}
    fixed = {TRAINING_FLAG: np.array(True), RANDOM_STEP: np.array(0)}
    return session.run(None, {**feeds, **{k: v for k, v in fixed.items() if k in names}})


def test_batch_normalization_moments_skip_masked_steps() -> None:
    """In training Keras's BatchNormalization takes its batch moments over the kept steps
    (tests/keras_reference: Keras 3.15.1 called with training=True)."""
    name = "batch_norm_training"
    ids = KERAS_DATA[f"{name}/ids"]
    spec = _ids_spec([{"type": "BatchNormalization"}], ids.shape[1], 1)
    compiled = compile_data(spec, weights=_weights_for(name), for_training=True)
    (got,) = _run_training_mode(compiled, {"ids": ids})
    np.testing.assert_allclose(got, KERAS_DATA[f"{name}/output/0"], rtol=1e-5, atol=1e-5)
    # The same from NumPy's masked moments.
    layer = compiled.typed.resolved.nodes_by_name["layer0"].layer
    weights = compiled.weights
    x = weights["embedding/embeddings"].astype(np.float64)[ids]
    mean, variance = layer.masked_moments_np(x, ids != 0)
    gamma, beta = weights["layer0/gamma"], weights["layer0/beta"]
    want = (x - mean) / np.sqrt(variance + layer.epsilon) * gamma + beta
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_batch_normalization_masked_gradients() -> None:
    x, _ = _masked_sequence(np.random.default_rng(14), 3, 4, 2)
    spec = _masking_spec({"type": "BatchNormalization"}, 4, 2, dense_first=True)
    compiled = compile_data(spec, weights=_random_weights, for_training=True)
    graph = compiled.lowered.graph
    wanted = [p.onnx_name for p in compiled.typed.parameters if p.trainable]
    feeds = {"x": x, TRAINING_FLAG: np.array(True)}
    assert check_graph_gradients(graph, wanted, feeds) == []


def test_softmax_layer_refuses_a_sequence_mask() -> None:
    spec = _ids_spec([{"type": "Softmax"}], 5, 1)
    with pytest.raises(SpecError) as caught:
        compile_data(spec)
    assert "Softmax cannot take the mask" in caught.value.diagnostics[0].message


@pytest.mark.parametrize("merge", ["Add", "Maximum"])
def test_merges_or_their_masks(merge: str) -> None:
    spec = _ids_spec([{"type": "Dense", "units": 4}], 5, 1)
    spec["layers"].append({"name": "merged", "type": merge, "inputs": ["embedding", "layer0"]})
    spec["outputs"] = ["merged"]
    assert compile_data(spec).typed.masked["merged"] == [True]


MERGE_MASKS = json.loads((REFERENCE / "merge_masks.json").read_text())


def _extremum_spec(merge: str) -> dict:
    embedding = {"type": "Embedding", "input_dim": 8, "output_dim": 3, "mask_zero": True}
    return {
        "specc": 1,
        "inputs": {"a": {"shape": [5], "dtype": "int64"}, "b": {"shape": [5], "dtype": "int64"}},
        "layers": [
            {"name": "ea", **embedding, "inputs": "a"},
            {"name": "eb", **embedding, "inputs": "b"},
            {"name": "m", "type": merge, "inputs": ["ea", "eb"]},
            {"name": "p", "type": "GlobalAveragePooling1D", "inputs": "m"},
        ],
        "outputs": ["m", "p"],
    }


@pytest.mark.parametrize("for_training", [False, True])
@pytest.mark.parametrize("merge", ["Maximum", "Minimum"])
def test_masked_extremum_matches_keras(merge: str, for_training: bool) -> None:
    """Keras fills each input's masked entries from the others before comparing, and a
    masked mean after the merge counts the steps some input keeps."""
    spec = _extremum_spec(merge)
    weights = {
        "ea/embeddings": np.array(MERGE_MASKS["wa"], np.float32),
        "eb/embeddings": np.array(MERGE_MASKS["wb"], np.float32),
    }
    compiled = compile_data(spec, weights=weights, for_training=for_training)
    ids = [np.array(MERGE_MASKS[k], np.int64) for k in ("a", "b")]
    merged, pooled = run_compiled(compiled, ids)
    want_merged, want_pooled = MERGE_MASKS["out"][merge]
    np.testing.assert_allclose(merged, np.array(want_merged, np.float32), rtol=1e-6)
    np.testing.assert_allclose(pooled, np.array(want_pooled, np.float32), rtol=1e-5)


@pytest.mark.parametrize("merge", ["Maximum", "Minimum"])
def test_masked_extremum_gradients_match_finite_differences(merge: str) -> None:
    spec = _extremum_spec(merge)
    spec["outputs"] = ["p"]  # every row keeps a step (the third only in b)
    compiled = compile_data(spec, weights=_random_weights, for_training=True)
    graph = compiled.lowered.graph
    wanted = [p.onnx_name for p in compiled.typed.parameters]
    names = {name for name, _ in graph.inputs}
    feeds = {k: np.array(MERGE_MASKS[k], np.int64) for k in ("a", "b")}
    fixed = {TRAINING_FLAG: np.array(False), RANDOM_STEP: np.array(0)}
    feeds.update({k: v for k, v in fixed.items() if k in names})
    assert check_graph_gradients(graph, wanted, feeds) == []


def test_a_sub_model_passes_its_mask_on() -> None:
    """An Embedding(mask_zero) inside a sub-model masks the LSTM after its use, as Keras's
    nested model returns its output with the mask attached."""
    ids = KERAS_DATA["lstm_seq/ids"]
    flat = _ids_spec(KERAS["cases"]["lstm_seq"]["layers"], ids.shape[1], 1)
    nested = {
        "specc": 1,
        "name": "nested",
        "inputs": {"ids": {"shape": [ids.shape[1]], "dtype": "int64"}},
        "models": {
            "embedder": {
                "inputs": {"x": {"shape": [ids.shape[1]], "dtype": "int64"}},
                "layers": [{**flat["layers"][0], "inputs": "x"}],
            }
        },
        "layers": [
            {"name": "embedded", "model": "embedder", "inputs": "ids"},
            {**flat["layers"][1], "inputs": "embedded"},
        ],
        "outputs": ["layer0"],
    }
    compiled = compile_data(nested, weights=_weights_for("lstm_seq"))
    assert compiled.typed.masked["embedded"] == [True]
    (got,) = run_compiled(compiled, [ids])
    np.testing.assert_allclose(got, KERAS_DATA["lstm_seq/output/0"], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kind", ["MultiHeadAttention", "Attention"])
def test_attention_refuses_masks_of_higher_rank_inputs(kind: str) -> None:
    extra = {"num_heads": 1, "key_dim": 2} if kind == "MultiHeadAttention" else {}
    spec = _ids_spec([{"type": kind, **extra}], 4, 1)
    spec["inputs"]["ids"]["shape"] = [3, 4]
    with pytest.raises(SpecError) as caught:
        compile_data(spec)
    message = caught.value.diagnostics[0].message
    assert "reads the masks of (batch, steps, features) inputs only" in message
