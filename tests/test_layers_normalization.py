"""BatchNormalization, LayerNormalization, GroupNormalization: values, weights, errors, and
BatchNormalization's training mode (batch statistics, their gradient, moving updates)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper
from pydantic import ValidationError

from specc.layers.base import TRAINING_FLAG, ShapeError
from specc.onnx_model import to_model_proto
from specc.pipeline import CompiledModel, compile_spec
from specc.summary import parameter_counts
from specc.types import TensorType
from tests.layer_harness import compare_layer, make_layer, run_layer
from tests.spec_helpers import quiet_session, single_layer_spec, write_spec
from tests.test_trainable_lowering import InferenceLoss, _training_module


def _weights(layer: Any, types: list[TensorType], seed: int = 0) -> dict[str, np.ndarray]:
    """Random weights with positive variances (the harness's N(0, 1) would give NaN)."""
    rng = np.random.default_rng(seed)
    out = {}
    for w in layer.weights(types):
        value = rng.normal(size=w.shape)
        out[w.name] = (np.abs(value) + 0.1 if w.name == "moving_variance" else value).astype(
            np.float32
        )
    return out


def compare(type_name: str, config: dict[str, Any], dtype: str, shape: tuple[int, ...]) -> None:
    """onnxruntime against the NumPy reference, with defaults such as epsilon=1e-3."""
    types = [TensorType(dtype, shape[1:])]
    x = np.random.default_rng(1).normal(size=shape).astype(dtype)
    weights = _weights(make_layer(type_name, **config), types)
    (got,) = compare_layer(type_name, config, types, [x], weights, atol=1e-5)
    assert got.dtype == np.float32 and got.shape == x.shape


@pytest.mark.parametrize(
    ("config", "dtype", "shape"),
    [
        ({}, "float32", (4, 7)),
        ({}, "float32", (3, 5, 4, 6)),
        ({"axis": 1}, "float32", (2, 3, 5)),
        ({"axis": -3, "center": False}, "float32", (2, 3, 4, 2)),
        ({"scale": False}, "float16", (5, 3, 2)),
        ({"trainable": False, "momentum": 0.5}, "float32", (2, 3, 3)),
    ],
)
def test_batch_normalization_matches_reference(config: dict, dtype: str, shape: tuple) -> None:
    compare("BatchNormalization", config, dtype, shape)


@pytest.mark.parametrize(
    ("config", "shape"),
    [
        ({}, (4, 7)),
        ({"axis": [1, 2]}, (2, 3, 4)),
        ({"axis": [-1, 1]}, (2, 3, 4)),
        ({"axis": 1}, (2, 3, 5, 2)),
        ({"axis": [0, 2], "scale": False, "center": False}, (4, 3, 2)),
        ({"rms_scaling": True, "axis": [1, 2]}, (3, 2, 5)),
        ({"center": False, "epsilon": 0.5}, (3, 2, 5)),
    ],
)
def test_layer_normalization_matches_reference(config: dict, shape: tuple) -> None:
    compare("LayerNormalization", config, "float32", shape)


@pytest.mark.parametrize(
    ("config", "shape"),
    [
        ({"groups": 4}, (2, 8)),
        ({"groups": 2}, (2, 3, 5, 4)),
        ({"groups": -1}, (2, 3, 3)),
        ({"groups": 3, "axis": 1}, (2, 6, 5)),
        ({"groups": 1, "axis": 2, "center": False}, (2, 3, 4, 5)),
    ],
)
def test_group_normalization_matches_reference(config: dict, shape: tuple) -> None:
    compare("GroupNormalization", config, "float32", shape)


def test_layer_normalization_over_a_variable_axis_without_weights() -> None:
    """An unknown normalized size: decomposed, the count taken from Shape at run time."""
    types = [TensorType("float32", (2, None))]
    layer = make_layer("LayerNormalization", scale=False, center=False)
    x = np.random.default_rng(3).normal(size=(3, 2, 9)).astype(np.float32)
    (got,) = run_layer(layer, types, [x], {})
    np.testing.assert_allclose(got, layer.reference([x], {})[0], rtol=1e-5, atol=1e-5)


def test_group_normalization_of_one_group_per_channel_is_instance_normalization() -> None:
    layer = make_layer("GroupNormalization", groups=-1, center=False, scale=False)
    x = np.random.default_rng(2).normal(size=(2, 5, 3))
    (y,) = layer.reference([x], {})
    want = (x - x.mean(axis=1, keepdims=True)) / np.sqrt(x.var(axis=1, keepdims=True) + 1e-3)
    np.testing.assert_allclose(y, want)


def _compiled(tmp_path: Path, type_name: str, config: dict, types: list[TensorType]):
    return compile_spec(write_spec(tmp_path, single_layer_spec(type_name, config, types)), seed=0)


@pytest.mark.parametrize(
    ("type_name", "config", "shape", "counts", "names"),
    [
        (
            "BatchNormalization",
            {},
            (None, 8, 8, 16),
            (32, 32),
            ["gamma", "beta", "moving_mean", "moving_variance"],
        ),
        ("BatchNormalization", {"center": False}, (10,), (10, 20), None),
        ("BatchNormalization", {"scale": False, "center": False, "axis": 1}, (3, 4), (0, 6), None),
        ("BatchNormalization", {"trainable": False}, (5,), (0, 20), None),
        ("LayerNormalization", {}, (None, 12), (24, 0), ["gamma", "beta"]),
        ("LayerNormalization", {"axis": [2, 1]}, (4, 5), (40, 0), None),
        ("LayerNormalization", {"rms_scaling": True}, (6,), (6, 0), ["gamma"]),
        ("GroupNormalization", {"groups": 2}, (7, 6), (12, 0), ["gamma", "beta"]),
    ],
)
def test_parameter_counts_are_keras(
    tmp_path: Path, type_name: str, config: dict, shape: tuple, counts: tuple, names: list | None
) -> None:
    types = [TensorType("float32", shape)]
    compiled = _compiled(tmp_path, type_name, config, types)
    assert parameter_counts(compiled.typed) == counts
    if names is not None:
        assert [w.name for w in compiled.typed.parameters_of("layer")] == names


def test_layer_normalization_weights_follow_the_axis_order() -> None:
    layer = make_layer("LayerNormalization", axis=[2, 1])
    assert [w.shape for w in layer.weights([TensorType("float32", (4, 5))])] == [(5, 4), (5, 4)]


@pytest.mark.parametrize(
    ("type_name", "config", "shape", "message"),
    [
        ("BatchNormalization", {"axis": 3}, (4, 5), r"axis must be in \[-3, 2\]"),
        ("BatchNormalization", {}, (4, None), "known size on axis 2"),
        ("BatchNormalization", {"axis": 0}, (4,), "known size on axis 0"),
        ("LayerNormalization", {"axis": [1, -2]}, (4, 5), "names an axis twice"),
        ("LayerNormalization", {"axis": 1}, (None, 5), "known size on axis 1"),
        ("GroupNormalization", {"groups": 4}, (6,), "multiple of groups; got groups=4"),
        ("GroupNormalization", {"groups": 8}, (3, 4), "multiple of groups"),
        ("GroupNormalization", {"axis": 0}, (4,), "not the batch axis"),
        ("GroupNormalization", {"axis": 1, "groups": 1}, (None, 4), "known size on axis 1"),
    ],
)
def test_shape_errors(type_name: str, config: dict, shape: tuple, message: str) -> None:
    layer = make_layer(type_name, **config)
    with pytest.raises(ShapeError, match=message):
        layer.output_types([TensorType("float32", shape)])


@pytest.mark.parametrize("type_name", ["BatchNormalization", "LayerNormalization"])
def test_integer_inputs_are_rejected(type_name: str) -> None:
    with pytest.raises(ShapeError, match="floating-point input"):
        make_layer(type_name).output_types([TensorType("int32", (3,))])


@pytest.mark.parametrize(
    ("type_name", "config", "message"),
    [
        ("BatchNormalization", {"synchronized": True}, "synchronized=true"),
        ("BatchNormalization", {"axis": [1]}, "axis"),
        ("BatchNormalization", {"epsilon": -1.0}, "epsilon"),
        ("LayerNormalization", {"axis": []}, "at least one axis"),
        ("GroupNormalization", {"groups": 0}, "positive integer or -1"),
    ],
)
def test_config_errors(type_name: str, config: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        make_layer(type_name, **config)


def test_layer_normalization_over_trailing_axes_is_onnx_layer_normalization(
    tmp_path: Path,
) -> None:
    """The fused op, with Mean and InvStdDev declared (the engine needs them for gradients)."""
    types = [TensorType("float32", (3, 4))]
    fused = _compiled(tmp_path, "LayerNormalization", {"axis": [-1, -2]}, types)
    (node,) = [n for n in fused.graph.nodes if n.op_type == "LayerNormalization"]
    assert len(node.outputs) == 3 and len(node.inputs) == 3
    decomposed = _compiled(tmp_path, "LayerNormalization", {"axis": 1}, types)
    assert not [n for n in decomposed.graph.nodes if n.op_type == "LayerNormalization"]


def test_batch_normalization_chain_is_transposed_once_each_way(tmp_path: Path) -> None:
    spec = {
        "specc": 1,
        "name": "chain",
        "inputs": {"x": {"shape": [5, 4, 6]}},
        "layers": [
            {"type": "BatchNormalization"},
            {"type": "GroupNormalization", "groups": 3},
            {"type": "BatchNormalization", "trainable": False},
        ],
    }
    compiled = compile_spec(write_spec(tmp_path, spec), seed=0)
    assert [n.op_type for n in compiled.graph.nodes].count("Transpose") == 2


# --- BatchNormalization in training mode --------------------------------------------------


def _training_flag_true(compiled: CompiledModel) -> onnx.ModelProto:
    """The inference model with the training flag a constant True, as in a training graph."""
    model = to_model_proto(compiled.graph, 17, compiled.metadata)
    (flag,) = [t for t in model.graph.initializer if t.name == TRAINING_FLAG]
    flag.CopyFrom(numpy_helper.from_array(np.array(True), TRAINING_FLAG))
    return model


def _run(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    return quiet_session(model).run(None, feeds)


def _bn_spec(config: dict) -> dict:
    return {
        "specc": 1,
        "name": "bn",
        "inputs": {"x": {"shape": [4, 3]}},
        "layers": [
            {"name": "pre", "type": "Dense", "units": 3},
            {"name": "bn", "type": "BatchNormalization", **config},
        ],
    }


def test_batch_normalization_training_mode_uses_batch_statistics(tmp_path: Path) -> None:
    compiled = compile_spec(write_spec(tmp_path, _bn_spec({"momentum": 0.8})), seed=0)
    w = {k: v.astype(np.float64) for k, v in compiled.weights.items()}
    x = np.random.default_rng(3).normal(size=(6, 4, 3)).astype(np.float32)
    h = x.astype(np.float64) @ w["pre/kernel"] + w["pre/bias"]
    model = _training_flag_true(compiled)
    updates = compiled.lowered.moving_updates
    assert [(u.layer, u.parameter, u.momentum) for u in updates] == [
        ("bn", "bn.moving_mean", 0.8),
        ("bn", "bn.moving_variance", 0.8),
    ]
    # The batch statistics the training-graph builder would read, as extra outputs.
    for u in updates:
        model.graph.output.append(helper.make_empty_tensor_value_info(u.batch_statistic))
    y, batch_mean, batch_var = _run(model, {"x": x})
    mean, var = h.mean(axis=(0, 1)), h.var(axis=(0, 1))
    np.testing.assert_allclose(batch_mean, mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(batch_var, var, rtol=1e-5, atol=1e-6)
    want = (h - mean) / np.sqrt(var + 1e-3) * w["bn/gamma"] + w["bn/beta"]
    np.testing.assert_allclose(y, want, rtol=1e-4, atol=1e-5)
    # As built (flag False): the moving statistics.
    (y_inference,) = _run(to_model_proto(compiled.graph, 17), {"x": x})
    moving = (h - w["bn/moving_mean"]) / np.sqrt(w["bn/moving_variance"] + 1e-3)
    np.testing.assert_allclose(y_inference, moving * w["bn/gamma"] + w["bn/beta"], rtol=1e-5)


def test_frozen_batch_normalization_ignores_the_training_flag(tmp_path: Path) -> None:
    compiled = compile_spec(write_spec(tmp_path, _bn_spec({"trainable": False})), seed=0)
    assert TRAINING_FLAG not in compiled.graph.initializers
    assert compiled.lowered.moving_updates == []


@pytest.mark.ort_training
def test_batch_statistics_gradient_matches_finite_differences(tmp_path: Path) -> None:
    """Training mode's gradient runs through the batch statistics into the Dense before."""
    compiled = compile_spec(write_spec(tmp_path, _bn_spec({"epsilon": 0.1})), seed=0)
    model = _training_flag_true(compiled)
    rng = np.random.default_rng(5)
    params = {
        name: rng.normal(scale=0.5, size=compiled.graph.initializers[name].shape).astype(np.float32)
        for name in ("pre.kernel", "pre.bias", "bn.gamma", "bn.beta")
    }
    inputs = {"x": rng.normal(size=(5, 4, 3)).astype(np.float32)}
    loss = InferenceLoss(model, list(params), inputs)
    loss.probes = [rng.normal(size=(5, 4, 3))]
    module, state = _training_module(
        model,
        list(params),
        tmp_path / "artifacts",
        frozen_params=["bn.moving_mean", "bn.moving_variance"],
    )
    for name, value in params.items():
        state.parameters[name].data = value
    module.train()
    module.lazy_reset_grad()
    module(inputs["x"], loss.probes[0].astype(np.float32))
    for name in params:
        grad = np.asarray(state.parameters[name].grad, np.float64)
        direction = rng.normal(size=grad.shape)
        eps = 1e-3
        plus = {**params, name: (params[name] + eps * direction).astype(np.float32)}
        minus = {**params, name: (params[name] - eps * direction).astype(np.float32)}
        step = (plus[name].astype(np.float64) - minus[name]) / 2
        measured = (loss(plus) - loss(minus)) / 2
        assert abs(np.sum(grad * step) - measured) <= 1e-2 * abs(measured) + 1e-4, name
    # Training-mode BN subtracts the batch mean, so a bias before it cannot matter: its
    # gradient is zero only if the gradient also runs through the batch statistics.
    np.testing.assert_allclose(state.parameters["pre.bias"].grad, 0, atol=1e-5)
