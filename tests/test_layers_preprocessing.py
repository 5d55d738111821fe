"""Activation, normalization and preprocessing layers against Keras 3.15.1 itself (values
stored by tests/keras_reference/make_layers_pre.py, JAX backend), their argument checks,
and Normalization's adapt in ``specc train``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from specc.diagnostics import SpecError
from specc.layers.normalization_preprocessing import Normalization
from specc.pipeline import compile_data
from specc.train.adapt import array_statistics, batch_statistics
from specc.train.run import TrainOptions, train_spec
from specc.types import TensorType
from tests.keras_reference.layers_pre_cases import (
    CASES,
    adapt_data,
    case_input,
    case_weights,
)
from tests.layer_harness import make_layer, run_layer

KERAS = np.load(Path(__file__).parent / "keras_reference" / "layers_pre.npz")
BACKENDS = ["standard", pytest.param("ort-training", marks=pytest.mark.ort_training)]


def _keras_weights(name: str, weights: Any) -> dict[str, np.ndarray]:
    if weights == "adapt":
        return {key: KERAS[f"{name}/w/{key}"] for key in ("mean", "variance", "count")}
    return case_weights(name, weights)


@pytest.mark.parametrize(
    ("name", "type_name", "config", "shape", "weights"), CASES, ids=[c[0] for c in CASES]
)
def test_layer_matches_keras(
    name: str, type_name: str, config: dict, shape: tuple[int, ...], weights: Any
) -> None:
    layer = make_layer(type_name, **config)
    types = [TensorType("int32" if name.endswith("_int") else "float32", shape)]
    given = _keras_weights(name, weights)
    assert [w.name for w in layer.weights(types)] == list(given)
    (got,) = run_layer(layer, types, [case_input(name, shape)], given)
    want = KERAS[f"{name}/y"]
    assert (got.shape, got.dtype) == (want.shape, want.dtype)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    # The NumPy reference is a second derivation of the same numbers.
    (reference,) = layer.reference([case_input(name, shape)], given)
    np.testing.assert_allclose(reference, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["normalization_adapted", "normalization_adapted_none"])
def test_adapt_computes_keras_statistics(name: str) -> None:
    (_, _, config, shape, _) = next(c for c in CASES if c[0] == name)
    layer = make_layer("Normalization", **config)
    assert isinstance(layer, Normalization)
    data = adapt_data(name, shape)
    reduce = layer.adapt_axes(TensorType("float32", shape))
    mean, variance = array_statistics(data, reduce)
    np.testing.assert_allclose(mean, KERAS[f"{name}/w/mean"], rtol=1e-6)
    np.testing.assert_allclose(variance, KERAS[f"{name}/w/variance"], rtol=1e-6)
    # Merged batch by batch (data read shard by shard), the same statistics.
    chunks = [data[:7], data[7:8], data[8:30], data[30:]]
    mean, variance = batch_statistics(chunks, reduce)
    np.testing.assert_allclose(mean, KERAS[f"{name}/w/mean"], rtol=1e-5)
    np.testing.assert_allclose(variance, KERAS[f"{name}/w/variance"], rtol=1e-5)


def _spec(norm: dict[str, Any], before: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "specc": 1,
        "name": "normalized",
        "inputs": {"x": {"shape": [3]}},
        "layers": [
            *(before or []),
            {"name": "norm", "type": "Normalization", **norm},
            {"name": "out", "type": "Dense", "units": 1},
        ],
        "compile": {"optimizer": "sgd", "loss": "mse"},
    }


def test_unadapted_normalization_is_refused_at_build() -> None:
    with pytest.raises(SpecError) as caught:
        compile_data(_spec({}))
    (problem,) = caught.value.diagnostics
    assert problem.code == "SPC417-weights-from-data"
    assert problem.path == ("layers", 0)
    assert problem.position is not None and problem.position.line > 1
    assert "give them in the spec, train the spec" in problem.message
    # Given statistics, or weights, build fine; so does a training lowering.
    compile_data(_spec({"mean": 1.0, "variance": 2.0}))
    compile_data(_spec({}), weights=lambda typed: _weights_for(typed))
    compile_data(_spec({}), for_training=True)


def _weights_for(typed: Any) -> dict[str, np.ndarray]:
    return {p.key: np.ones(p.shape, np.float32) for p in typed.parameters}


def _data(tmp_path: Path, form: str) -> tuple[Path, np.ndarray]:
    """50 samples of x (3 features, unequal means and scales) and labels, as one .npz, a
    folder of .npy files (memory-mapped) or a folder of .npz shards."""
    rng = np.random.default_rng(0)
    x = (rng.normal(size=(50, 3)) * [1.0, 4.0, 0.1] + [2.0, -1.0, 0.0]).astype(np.float32)
    out = rng.normal(size=(50, 1)).astype(np.float32)
    if form == "npz":
        np.savez(tmp_path / "data.npz", x=x, out=out)
        return tmp_path / "data.npz", x
    folder = tmp_path / "data"
    folder.mkdir()
    if form == "npy":
        np.save(folder / "x.npy", x)
        np.save(folder / "out.npy", out)
    else:
        for k, part in enumerate(np.array_split(np.arange(50), 3)):
            np.savez(folder / f"part{k}.npz", x=x[part], out=out[part])
    return folder, x


def _train(
    tmp_path: Path, spec: dict[str, Any], backend: str = "standard", form: str = "npz"
) -> Any:
    import json

    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))
    data, x = _data(tmp_path, form)
    options = TrainOptions(epochs=1, batch_size=16, validation_split=0.2, backend=backend)
    return train_spec(path, data, options), x


@pytest.mark.parametrize("backend", BACKENDS)
def test_train_adapts_normalization_to_the_whole_data(tmp_path: Path, backend: str) -> None:
    result, x = _train(tmp_path, _spec({}), backend)
    _assert_adapted(result, x)


@pytest.mark.parametrize("form", ["npy", "shards"])
def test_train_adapts_to_data_read_a_batch_at_a_time(tmp_path: Path, form: str) -> None:
    result, x = _train(tmp_path, _spec({}), form=form)
    _assert_adapted(result, x)


def _assert_adapted(result: Any, x: np.ndarray) -> None:
    np.testing.assert_allclose(result.weights["norm/mean"], x.mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(result.weights["norm/variance"], x.var(axis=0), rtol=1e-5)
    assert result.weights["norm/count"] == 0
    # The trained graph normalizes with them: its inputs to Dense have mean 0, variance 1.
    layer = make_layer("Normalization")
    weights = {k: result.weights[f"norm/{k}"] for k in ("mean", "variance", "count")}
    (y,) = run_layer(layer, [TensorType("float32", (3,))], [x], weights)
    np.testing.assert_allclose(y.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(y.var(axis=0), 1.0, rtol=1e-4)


def test_train_adapts_a_normalization_after_other_layers(tmp_path: Path) -> None:
    # The layer sees what the model computes before it: here 2x + 1, then the first
    # Normalization's output (mean 0, variance 1 once adapted itself).
    before = [
        {"name": "scaled", "type": "Rescaling", "scale": 2.0, "offset": 1.0},
        {"name": "first", "type": "Normalization"},
    ]
    spec = _spec({}, before=before)
    result, x = _train(tmp_path, spec)
    np.testing.assert_allclose(result.weights["first/mean"], (2 * x + 1).mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(result.weights["norm/mean"], 0.0, atol=1e-5)
    np.testing.assert_allclose(result.weights["norm/variance"], 1.0, rtol=1e-4)


def test_adapted_weights_normalize_and_invert() -> None:
    types = [TensorType("float32", (2, 3))]
    weights = {
        "mean": np.array([1.0, -1.0, 0.5], np.float32),
        "variance": np.array([4.0, 0.0, 1e-20], np.float32),
        "count": np.zeros((), np.float32),
    }
    x = np.random.default_rng(0).normal(size=(4, 2, 3)).astype(np.float32)
    for invert in (False, True):
        layer = make_layer("Normalization", invert=invert)
        (got,) = run_layer(layer, types, [x], weights)
        (want,) = layer.reference([x], weights)
        np.testing.assert_allclose(got, want, rtol=1e-5)
    # A zero variance divides by Keras's epsilon, 1e-7.
    (got,) = run_layer(make_layer("Normalization"), types, [x], weights)
    np.testing.assert_allclose(got[..., 1], (x[..., 1] + 1.0) / 1e-7, rtol=1e-5)


@pytest.mark.parametrize(
    ("type_name", "config", "words"),
    [
        ("ReLU", {"threshold": -1.0}, "greater than or equal to 0"),
        ("LeakyReLU", {"negative_slope": -0.1}, "greater than or equal to 0"),
        ("PReLU", {"shared_axes": [0]}, "counted from 1"),
        ("Softmax", {"axis": []}, "at least one axis"),
        ("Normalization", {"mean": 1.0}, "given together"),
        ("Normalization", {"mean": [1.0, 2.0], "variance": [1.0]}, "same shape"),
        ("Normalization", {"axis": None, "mean": [1.0], "variance": [1.0]}, "rank of mean"),
        (
            "Resizing",
            {"height": 2, "width": 2, "crop_to_aspect_ratio": True, "pad_to_aspect_ratio": True},
            "only one of",
        ),
        ("Resizing", {"height": 2, "width": 2, "interpolation": "area"}, "bilinear"),
        ("Rescaling", {"scale": []}, "at least one value"),
    ],
)
def test_keras_argument_checks(type_name: str, config: dict, words: str) -> None:
    with pytest.raises(ValidationError, match=words):
        make_layer(type_name, **config)


@pytest.mark.parametrize(
    ("type_name", "config", "shape", "words"),
    [
        ("PReLU", {}, (None, 3), "known size on axis 1"),
        ("PReLU", {"shared_axes": 3}, (2, 3), "axes of the input"),
        ("RMSNormalization", {"axis": 1}, (3, 4), "trailing axes"),
        ("Normalization", {"axis": 0}, (3,), "known size"),
        ("Normalization", {"mean": [1.0, 2.0], "variance": [1.0, 2.0]}, (3,), "broadcast"),
        ("Rescaling", {"scale": [1.0, 2.0]}, (3,), "last axis"),
        ("Resizing", {"height": 2, "width": 2}, (None, 4, 3), "known height and width"),
        ("Resizing", {"height": 2, "width": 2}, (4, 3), "4D input"),
        ("CenterCrop", {"height": 2, "width": 2}, (4, 4, 1), None),
    ],
)
def test_shape_checks(type_name: str, config: dict, shape: tuple, words: str | None) -> None:
    from specc.layers.base import ShapeError

    layer = make_layer(type_name, **config)
    types = [TensorType("float32", shape)]
    if words is None:
        assert layer.output_types(types) == [TensorType("float32", (2, 2, 1))]
        return
    with pytest.raises(ShapeError, match=words):
        layer.output_types(types)


def test_resampling_matrices_count_against_the_size_limit() -> None:
    # 2**15 rows down to 2**14: a small output, but a 2**29-element resampling matrix.
    spec = {
        "specc": 1,
        "inputs": {"x": {"shape": [2**15, 1, 1]}},
        "layers": [{"name": "resize", "type": "Resizing", "height": 2**14, "width": 1}],
    }
    with pytest.raises(SpecError) as caught:
        compile_data(spec)
    (problem,) = caught.value.diagnostics
    assert problem.code == "SPC306-value-size"
    assert "a resampling matrix" in problem.message
    # Nearest needs no matrix.
    spec["layers"][0]["interpolation"] = "nearest"
    compile_data(spec)


def test_prelu_between_convolutions_adds_no_transposes() -> None:
    spec = {
        "specc": 1,
        "inputs": {"x": {"shape": [6, 6, 2]}},
        "layers": [
            {"name": "c1", "type": "Conv2D", "filters": 3, "kernel_size": 3},
            {"name": "act", "type": "PReLU", "shared_axes": [1, 2]},
            {"name": "c2", "type": "Conv2D", "filters": 2, "kernel_size": 3},
        ],
    }
    nodes = {n.name: n for n in compile_data(spec).graph.nodes}
    # PReLU reads the first convolution's output and the second reads PReLU's: no
    # transpose of the data between them (only alpha's own, (1, 1, 3) -> (3, 1, 1)).
    conv_out = nodes["c1/Conv"].outputs[0]
    assert conv_out in nodes["act/Neg"].inputs + nodes["act/Relu_1"].inputs
    assert nodes["c2/Conv"].inputs[0] == nodes["act/Add"].outputs[0]
    assert [n for n in nodes if n.startswith("act/") and "Transpose" in n] == ["act/Transpose"]


@pytest.mark.parametrize(
    ("layer", "shape"),
    [
        ({"type": "PReLU", "alpha_initializer": "random_normal"}, (3, 4)),
        ({"type": "RMSNormalization", "axis": [1, 2]}, (3, 4)),
        ({"type": "Normalization", "axis": [2]}, (3, 4)),
    ],
    ids=["PReLU", "RMSNormalization", "Normalization"],
)
def test_gradients_reach_the_layers_before(layer: dict, shape: tuple) -> None:
    """The layer matrix checks these layers' own weights; here a Dense before them."""
    from specc.passes.lower import expected_weight_shapes
    from tests.autodiff_harness import check_graph_gradients

    spec = {
        "specc": 1,
        "inputs": {"x": {"shape": list(shape)}},
        "layers": [{"name": "dense", "type": "Dense", "units": shape[-1]}, {"name": "l", **layer}],
    }

    def weights(typed: Any) -> dict[str, np.ndarray]:
        rng = np.random.default_rng(0)
        drawn = {
            key: rng.normal(scale=0.5, size=s).astype(np.float32)
            for key, s in expected_weight_shapes(typed).items()
        }
        if "l/variance" in drawn:  # a variance is positive
            drawn["l/variance"] = np.abs(drawn["l/variance"]) + 0.5
        return drawn

    compiled = compile_data(spec, weights=weights, for_training=True)
    graph = compiled.graph
    assert "dense.kernel" in graph.parameters
    feeds = {"x": np.random.default_rng(1).normal(size=(2, *shape)).astype(np.float32)}
    assert check_graph_gradients(graph, ["dense.kernel", "dense.bias"], feeds) == []
