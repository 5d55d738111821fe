"""Sub-models (``models:``) applied by ``{model: ...}`` entries: weights shared over uses
and keyed ``<sub-model>/<layer>/<weight>``, NumPy and Keras 3.15.1 numerics, gradients
summed over uses, per-use shapes, multi-output uses, summary, plot, training and export."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from specc.cli.app import app
from specc.diagnostics import SpecError
from specc.model_layout import layout_model
from specc.pipeline import compile_data
from specc.spec.model import _layer_types
from specc.summary import render_summary
from specc.train.run import TrainOptions, train_spec
from tests import test_export_web as bundle
from tests.autodiff_harness import check_graph_gradients
from tests.spec_helpers import ROOT, compile_with_random_weights, run_compiled
from tests.test_export_web import chromium  # noqa: F401 - the fixture

REFERENCE = ROOT / "tests" / "keras_reference"
runner = CliRunner()


def encoder_spec(**extra: Any) -> dict[str, Any]:
    """Two inputs through one two-layer encoder, then their difference and a head."""
    return {
        "specc": 1,
        "name": "siamese",
        "inputs": {"left": {"shape": [4]}, "right": {"shape": [4]}},
        "models": {
            "encoder": {
                "inputs": {"x": {"shape": [4]}},
                "layers": [
                    {"name": "dense", "type": "Dense", "units": 5, "activation": "tanh"},
                    {"name": "dense_1", "type": "Dense", "units": 3},
                ],
            }
        },
        "layers": [
            {"name": "enc_l", "model": "encoder", "inputs": "left"},
            {"name": "enc_r", "model": "encoder", "inputs": "right"},
            {"name": "diff", "type": "Subtract", "inputs": ["enc_l", "enc_r"]},
            {"name": "head", "type": "Dense", "units": 1, "activation": "sigmoid"},
        ],
        "outputs": ["head"],
        **extra,
    }


def dense(x: np.ndarray, weights: dict[str, np.ndarray], key: str) -> np.ndarray:
    return x @ weights[f"{key}/kernel"] + weights[f"{key}/bias"]


def numpy_siamese(w: dict[str, np.ndarray], left: np.ndarray, right: np.ndarray) -> np.ndarray:
    def encode(x: np.ndarray) -> np.ndarray:
        return dense(np.tanh(dense(x, w, "encoder/dense")), w, "encoder/dense_1")

    logits = dense(encode(left) - encode(right), w, "head")
    return 1 / (1 + np.exp(-logits))


def test_uses_share_one_set_of_weights_keyed_by_the_sub_model() -> None:
    compiled, weights = compile_with_random_weights(encoder_spec())
    assert list(weights) == [
        "encoder/dense/kernel",
        "encoder/dense/bias",
        "encoder/dense_1/kernel",
        "encoder/dense_1/bias",
        "head/kernel",
        "head/bias",
    ]
    graph = compiled.graph
    assert list(graph.initializers) == [
        f"{layer}.{weight}"
        for layer in ("encoder.dense", "encoder.dense_1", "head")
        for weight in ("kernel", "bias")
    ]
    names = {node.name for node in graph.nodes}
    assert {"enc_l/dense/MatMul", "enc_r/dense/MatMul"} <= names
    # Both uses read the one kernel.
    readers = [n.name for n in graph.nodes if "encoder.dense.kernel" in n.inputs]
    assert sorted(readers) == ["enc_l/dense/MatMul", "enc_r/dense/MatMul"]


def test_a_sub_model_used_twice_matches_numpy() -> None:
    compiled, weights = compile_with_random_weights(encoder_spec(), seed=3)
    rng = np.random.default_rng(1)
    left, right = (rng.normal(size=(6, 4)).astype(np.float32) for _ in range(2))
    (got,) = run_compiled(compiled, [left, right])
    np.testing.assert_allclose(got, numpy_siamese(weights, left, right), rtol=1e-5, atol=1e-6)


def test_shared_weight_gradient_sums_over_uses() -> None:
    compiled, _ = compile_with_random_weights(encoder_spec(), seed=2)
    rng = np.random.default_rng(0)
    feeds = {name: rng.normal(size=(3, 4)).astype(np.float32) for name in ("left", "right")}
    wrt = ["encoder.dense.kernel", "encoder.dense.bias", "encoder.dense_1.kernel", "head.kernel"]
    assert check_graph_gradients(compiled.graph, wrt, feeds) == []


@pytest.mark.parametrize(
    "backend", ["standard", pytest.param("ort-training", marks=pytest.mark.ort_training)]
)
def test_one_sgd_step_on_a_shared_weight_equals_keras(tmp_path: Path, backend: str) -> None:
    stored = dict(np.load(REFERENCE / "nested_cases.npz"))

    def part(prefix: str) -> dict[str, np.ndarray]:
        return {k[len(prefix) :]: v for k, v in stored.items() if k.startswith(prefix)}

    spec = encoder_spec(
        compile={"optimizer": {"type": "SGD", "learning_rate": 0.5}, "loss": "binary_crossentropy"}
    )
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    np.savez(tmp_path / "data.npz", **part("sgd:input:"), head=stored["sgd:target"])
    np.savez(tmp_path / "before.npz", **part("sgd:before:"))
    options = TrainOptions(
        epochs=1, batch_size=4, shuffle=False, validation_split=0.0, seed=0, backend=backend
    )
    trained = train_spec(
        tmp_path / "spec.json", tmp_path / "data.npz", options, weights=tmp_path / "before.npz"
    )
    after = part("sgd:after:")
    assert set(trained.weights) == set(after)
    for key, value in after.items():
        np.testing.assert_allclose(trained.weights[key], value, rtol=1e-5, atol=1e-6, err_msg=key)


KERAS_CASES: dict[str, dict[str, Any]] = {
    "siamese": encoder_spec(),
    "shared_sequence": {
        "specc": 1,
        "name": "two_lengths",
        "inputs": {"short": {"shape": [5, 3]}, "long": {"shape": [7, 3]}},
        "models": {
            "block": {
                "layers": [
                    {"type": "Dense", "units": 4, "activation": "relu", "input_shape": [None, 3]},
                    {"name": "pool", "type": "GlobalAveragePooling1D"},
                ]
            }
        },
        "layers": [
            {"name": "short_block", "model": "block", "inputs": "short"},
            {"name": "long_block", "model": "block", "inputs": "long"},
        ],
        "outputs": ["short_block", "long_block"],
    },
    "inline_block": {
        "specc": 1,
        "inputs": {"seq": {"shape": [6, 4]}, "extra": {"shape": [3]}},
        "layers": [
            {
                "name": "block",
                "type": "Sequential",
                "inputs": "seq",
                "layers": [
                    {"name": "dense", "type": "Dense", "units": 5, "activation": "relu"},
                    {"name": "pool", "type": "GlobalAveragePooling1D"},
                ],
            },
            {"name": "cat", "type": "Concatenate", "inputs": ["block", "extra"]},
            {"name": "head", "type": "Dense", "units": 2},
        ],
    },
}


@pytest.mark.parametrize("case", sorted(KERAS_CASES))
def test_equals_keras_on_fixed_weights(case: str) -> None:
    stored = dict(np.load(REFERENCE / "nested_cases.npz"))
    prefix = f"{case}:"
    weights = {
        k[len(prefix + "weight:") :]: v
        for k, v in stored.items()
        if k.startswith(prefix + "weight:")
    }
    # The weights file keys are Keras's weight paths, exactly.
    compiled = compile_data(KERAS_CASES[case], weights=weights)
    inputs = [stored[f"{prefix}input:{name}"] for name in compiled.typed.resolved.inputs]
    got = run_compiled(compiled, inputs)
    expected = [stored[f"{prefix}output:{k}"] for k in range(len(got))]
    for g, e in zip(got, expected, strict=True):
        np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-5)


def test_each_use_is_typed_on_its_own_inputs() -> None:
    compiled, _ = compile_with_random_weights(KERAS_CASES["shared_sequence"])
    typed = compiled.typed
    assert str(typed.output_types["short_block/dense"][0]) == "(None, 5, 4)"
    assert str(typed.output_types["long_block/dense"][0]) == "(None, 7, 4)"
    assert [p.key for p in typed.parameters] == ["block/dense/kernel", "block/dense/bias"]


def multi_output_spec() -> dict[str, Any]:
    """A sub-model with two outputs, referenced as ``pair[k]``,
    applied inside another sub-model (nesting two deep)."""
    return {
        "specc": 1,
        "inputs": {"x": {"shape": [3]}},
        "models": {
            "pair": {
                "inputs": {"v": {"shape": [3]}},
                "layers": [
                    {"name": "proj", "type": "Dense", "units": 2, "inputs": "v"},
                    {"name": "neg", "type": "Lambda", "inputs": "v", "expression": "-x"},
                ],
                "outputs": ["proj", "neg"],
            },
            "outer": {
                "inputs": {"w": {"shape": [3]}},
                "layers": [
                    {"name": "inner", "model": "pair", "inputs": "w"},
                    {"name": "join", "type": "Concatenate", "inputs": ["inner[0]", "inner[1]"]},
                ],
            },
        },
        "layers": [
            {"name": "top", "model": "outer", "inputs": "x"},
            {"name": "again", "model": "pair", "inputs": "x"},
            {"name": "sum", "type": "Add", "inputs": ["again[0]", "again[0]"]},
        ],
        "outputs": ["top", "again[1]", "sum"],
    }


def test_multi_output_and_nested_sub_models() -> None:
    compiled, w = compile_with_random_weights(multi_output_spec())
    assert list(w) == ["pair/proj/kernel", "pair/proj/bias"]
    x = np.random.default_rng(0).normal(size=(2, 3)).astype(np.float32)
    top, passed, total = run_compiled(compiled, [x])
    proj = dense(x, w, "pair/proj")
    np.testing.assert_allclose(top, np.concatenate([proj, -x], axis=1), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(passed, -x)
    np.testing.assert_allclose(total, 2 * proj, rtol=1e-5, atol=1e-6)
    names = [name for name, _ in compiled.graph.outputs]
    assert names == ["top", "again[1]", "sum"]


def test_summary_shows_each_use_as_one_row_with_its_parameters() -> None:
    compiled, _ = compile_with_random_weights(encoder_spec())
    lines = render_summary(compiled.typed).splitlines()
    rows = {line.split()[0]: line.split() for line in lines if "(" in line and "[" in line}
    assert rows["enc_l"][1:4] == ["(encoder)", "(None,", "3)"]
    assert rows["enc_l"][4] == "43"  # 4*5+5 + 5*3+3, counted at the first use
    assert rows["enc_r"][4] == "0"
    assert rows["diff"][-2:] == ["enc_l[0][0],", "enc_r[0][0]"]
    assert not any("enc_l/dense" in line for line in lines)
    assert "Total params: 47" in render_summary(compiled.typed)


def test_plot_draws_each_use_as_one_box() -> None:
    compiled, _ = compile_with_random_weights(encoder_spec())
    layout = layout_model(compiled.typed)
    assert [box.name for box in layout.boxes] == ["left", "right", "enc_l", "enc_r", "diff", "head"]
    assert {(a.source, a.target) for a in layout.arrows} == {
        ("left", "enc_l"),
        ("right", "enc_r"),
        ("enc_l", "diff"),
        ("enc_r", "diff"),
        ("diff", "head"),
    }


def test_a_sub_model_with_a_frozen_layer_keeps_it_frozen() -> None:
    spec = encoder_spec()
    spec["models"]["encoder"]["layers"][0]["trainable"] = False
    compiled, _ = compile_with_random_weights(spec)
    frozen = {p.key for p in compiled.typed.parameters if not p.trainable}
    assert frozen == {"encoder/dense/kernel", "encoder/dense/bias"}


def test_an_unused_sub_model_is_still_checked() -> None:
    spec = encoder_spec()
    spec["models"]["spare"] = {"inputs": {"v": {"shape": [2]}}, "layers": [{"type": "Nope"}]}
    with pytest.raises(SpecError) as caught:
        compile_data(spec)
    assert [d.dotted_path for d in caught.value.diagnostics] == ["models.spare.layers[0].type"]


def inline_functional_spec() -> dict[str, Any]:
    return {
        "specc": 1,
        "inputs": {"a": {"shape": [5]}, "b": {"shape": [3]}},
        "layers": [
            {
                "name": "mix",
                "type": "Functional",
                "inputs": ["a", "b"],
                "model_inputs": {"p": {"shape": [5]}, "q": {"shape": [3]}},
                "layers": [
                    {"name": "cat", "type": "Concatenate", "inputs": ["p", "q"]},
                    {"name": "dense", "type": "Dense", "units": 2},
                ],
            }
        ],
    }


def test_an_inline_functional_is_one_use_keyed_by_its_name() -> None:
    compiled, w = compile_with_random_weights(inline_functional_spec())
    assert list(w) == ["mix/dense/kernel", "mix/dense/bias"]
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(2, 5)).astype(np.float32), rng.normal(size=(2, 3)).astype(np.float32)
    (got,) = run_compiled(compiled, [a, b])
    expected = dense(np.concatenate([a, b], axis=1), w, "mix/dense")
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    assert "mix (Functional)" in render_summary(compiled.typed)


def test_problems_inside_nested_models_point_into_them() -> None:
    spec = inline_functional_spec()
    spec["layers"][0]["layers"][0]["inputs"] = ["p", "qq"]
    spec["models"] = {"m": {"layers": [{"name": "x", "type": "Dense", "units": 0}]}}
    with pytest.raises(SpecError) as caught:
        compile_data(spec)
    paths = sorted(d.dotted_path for d in caught.value.diagnostics)
    assert paths == ["models.m.layers[0].units"]  # the schema's errors come first
    del spec["models"]
    with pytest.raises(SpecError) as caught:
        compile_data(spec)
    (problem,) = caught.value.diagnostics
    assert problem.dotted_path == "layers[0].layers[0].inputs[1]"
    assert "did you mean 'q'" in problem.message


def test_sub_models_applying_each_other_exponentially_are_refused() -> None:
    # Each level applies the one below twice: 2**30 layers, refused before they are made.
    models = {"m0": {"layers": [{"type": "Dense", "units": 2}]}}
    for k in range(1, 31):
        below = f"m{k - 1}"
        models[f"m{k}"] = {
            "layers": [
                {"name": "one", "model": below},
                {"name": "two", "model": below},
            ]
        }
    spec = {
        "specc": 1,
        "inputs": {"x": {"shape": [2]}},
        "models": models,
        "layers": [{"name": "top", "model": "m30", "inputs": "x"}],
    }
    with pytest.raises(SpecError) as caught:
        compile_data(spec)
    assert {d.code for d in caught.value.diagnostics} == {"SPC110-limit"}


def normalized_spec() -> dict[str, Any]:
    """A sub-model that starts with an un-adapted Normalization, applied twice."""
    spec = encoder_spec(compile={"optimizer": "sgd", "loss": "binary_crossentropy"})
    spec["models"]["encoder"]["layers"].insert(0, {"name": "norm", "type": "Normalization"})
    spec["models"]["encoder"]["layers"][1]["inputs"] = "norm"
    spec["models"]["encoder"]["layers"][0]["inputs"] = "x"
    return spec


def test_a_normalization_in_a_sub_model_adapts_from_its_first_use(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as caught:
        compile_data(normalized_spec())  # an inference build has no data to adapt it
    assert [d.dotted_path for d in caught.value.diagnostics] == ["models.encoder.layers[0]"]
    (tmp_path / "spec.json").write_text(json.dumps(normalized_spec()))
    rng = np.random.default_rng(0)
    left = rng.normal(loc=3.0, scale=2.0, size=(64, 4)).astype(np.float32)
    right = rng.normal(size=(64, 4)).astype(np.float32)
    head = rng.integers(0, 2, size=(64, 1)).astype(np.float32)
    np.savez(tmp_path / "data.npz", left=left, right=right, head=head)
    options = TrainOptions(epochs=1, validation_split=0.0, seed=0)
    trained = train_spec(tmp_path / "spec.json", tmp_path / "data.npz", options)
    np.testing.assert_allclose(trained.weights["encoder/norm/mean"], left.mean(0), rtol=1e-5)
    np.testing.assert_allclose(trained.weights["encoder/norm/variance"], left.var(0), rtol=1e-4)


def pairs(samples: int, seed: int) -> dict[str, np.ndarray]:
    """Pairs of 8-feature points: alike (label 1) when the right one is the left one plus
    a little noise, else an independent point."""
    rng = np.random.default_rng(seed)
    left = rng.normal(size=(samples, 8)).astype(np.float32)
    same = rng.integers(0, 2, size=(samples, 1)).astype(np.float32)
    other = rng.normal(size=(samples, 8)).astype(np.float32)
    noise = 0.1 * rng.normal(size=(samples, 8)).astype(np.float32)
    right = np.where(same > 0, left + noise, other).astype(np.float32)
    return {"left": left, "right": right, "same": same}


@pytest.mark.slow
def test_siamese_example_trains_and_exports_for_web_and_mobile(tmp_path: Path) -> None:
    data = tmp_path / "pairs.npz"
    np.savez(data, **pairs(512, seed=0))
    run = tmp_path / "run"
    spec = ROOT / "models" / "siamese.yaml"
    args = ["train", str(spec), "--data", str(data), "--out", str(run), "--seed", "0", "-q"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    history = json.loads((run / "history.json").read_text())
    history = history.get("history", history)
    assert history["loss"][-1] < 0.6 * history["loss"][0]
    assert history["binary_accuracy"][-1] > 0.85
    weights = np.load(next(run.glob("*.npz")))
    assert "encoder/dense/kernel" in weights.files
    out = tmp_path / "web"
    result = runner.invoke(app, ["export", str(run), "--target", "web", "--out", str(out), "-q"])
    assert result.exit_code == 0, result.output
    description = json.loads((out / "model.json").read_text())
    assert [i["name"] for i in description["inputs"]] == ["left", "right"]
    mobile = tmp_path / "mobile"
    result = runner.invoke(
        app, ["export", str(run), "--target", "mobile", "--out", str(mobile), "-q"]
    )
    assert result.exit_code == 0, result.output
    assert (mobile / "model.ort").stat().st_size > 0


@pytest.mark.slow
def test_siamese_bundle_predicts_in_chromium(
    chromium: str,  # noqa: F811 - the fixture imported above
    tmp_path: Path,
) -> None:
    data = pairs(3, seed=1)
    feeds = {"left": data["left"], "right": data["right"]}
    site = tmp_path / "site"
    spec = ROOT / "models" / "siamese.yaml"
    assert bundle.export(spec, "--target", "web", "--out", site / "siamese").exit_code == 0
    page = bundle.predict_in_chromium(chromium, site, "siamese", feeds, tmp_path)
    expected = bundle.run_onnx(site / "siamese" / "model.onnx", feeds)
    bundle.assert_close(page["outputs"], expected, "siamese (3, 8) x 2")


def test_the_layer_types_a_spec_loads_include_its_nested_models() -> None:
    spec = inline_functional_spec()
    spec["models"] = {"m": {"layers": [{"type": "Conv1D", "filters": 2, "kernel_size": 1}]}}
    spec["layers"][0]["layers"].append(
        {"name": "inner", "type": "Sequential", "layers": [{"type": "LayerNormalization"}]}
    )
    assert sorted(_layer_types(spec)) == ["Concatenate", "Conv1D", "Dense", "LayerNormalization"]
