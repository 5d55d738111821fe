"""Conv1D/2D/3D, DepthwiseConv1D/2D and SeparableConv1D/2D through the whole compiler.

Each case builds a spec, loads random weights from a weights file, runs the ONNX model in
onnxruntime and compares with the layer's NumPy reference (written from Keras's definition,
not from ONNX's). The references themselves are pinned by hand-computed values. Gradients
are checked for every example by tests/test_trainable_lowering.py.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from specc.diagnostics import SpecError
from specc.layers.base import LAYERS, ShapeError
from specc.layers.conv_reference import conv, depthwise_conv
from specc.onnx_model import to_model_proto
from specc.pipeline import compile_spec
from specc.types import TensorType
from specc.weights import weight_key
from tests.layer_harness import assert_matches_reference, make_layer
from tests.spec_helpers import (
    compile_with_random_weights,
    quiet_session,
    single_layer_spec,
    write_spec,
)

RTOL, ATOL = 1e-4, 1e-5


def session_for(model: onnx.ModelProto) -> ort.InferenceSession:
    """The model, fully checked, in an onnxruntime session."""
    onnx.checker.check_model(model, full_check=True)
    return quiet_session(model)


def check_against_reference(
    type_name: str,
    config: dict[str, Any],
    input_type: TensorType,
    sizes: list[tuple[int, ...]] | None = None,
) -> list[np.ndarray]:
    """Compile one layer with random weights from a weights file; for each concrete input
    shape (default: variable dims 5, batch 2) its output must equal the reference."""
    spec = single_layer_spec(type_name, config, [input_type])
    compiled, weights = compile_with_random_weights(spec, seed=1)
    layer = compiled.typed.resolved.node("layer").layer
    layer_weights = {
        w.name: weights[weight_key("layer", w.name)] for w in layer.weights([input_type])
    }
    session = session_for(to_model_proto(compiled.graph, 17, compiled.metadata))
    rng = np.random.default_rng(2)
    outputs = []
    for shape in sizes or [(2, *(5 if d is None else d for d in input_type.shape))]:
        x = rng.normal(size=shape).astype(input_type.dtype)
        got = session.run(None, {"x0": x})
        assert_matches_reference(layer, [input_type], [x], layer_weights, got, RTOL, ATOL)
        outputs.extend(got)
    return outputs


# -- the references, pinned by hand ------------------------------------------------------


def test_reference_same_padding_puts_the_odd_pixel_last() -> None:
    x = np.array([1.0, 2, 3, 4]).reshape(1, 4, 1)
    ones = np.ones((2, 1, 1))
    # total padding 1 goes after: windows [1,2] [2,3] [3,4] [4,0]
    np.testing.assert_array_equal(conv(x, ones, (1,), (1,), "same")[0, :, 0], [3, 5, 7, 4])
    # causal: all of it before
    np.testing.assert_array_equal(conv(x, ones, (1,), (1,), "causal")[0, :, 0], [1, 3, 5, 7])
    # stride 2 on 4 pixels with k 3: total max((2 - 1) * 2 + 3 - 4, 0) = 1, after
    three = np.ones((3, 1, 1))
    np.testing.assert_array_equal(conv(x, three, (2,), (1,), "same")[0, :, 0], [6, 7])
    # dilation 2, valid: x[t] + x[t + 2]
    np.testing.assert_array_equal(conv(x, ones, (1,), (2,), "valid")[0, :, 0], [4, 6])


def test_reference_groups_and_depthwise_channel_order() -> None:
    x = np.arange(1.0, 5.0).reshape(1, 1, 4)  # one pixel, channels 1..4
    kernel = np.zeros((1, 2, 4))
    kernel[0, :, 0] = [1, 10]  # filter 0 reads channels 0, 1 (group 0)
    kernel[0, :, 3] = [1, 10]  # filter 3 reads channels 2, 3 (group 1)
    np.testing.assert_array_equal(conv(x, kernel, (1,), (1,), "valid", 2)[0, 0], [21, 0, 0, 43])
    # Depthwise output channel c * m + j holds channel c times kernel[..., c, j].
    dk = np.array([[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0], [7.0, 8.0]]])
    np.testing.assert_array_equal(
        depthwise_conv(x, dk, (1,), (1,), "valid")[0, 0], [1, 2, 6, 8, 15, 18, 28, 32]
    )


# -- compiled model against the reference ------------------------------------------------

CONV1D_GRID = [
    {"filters": 2, "kernel_size": k, "padding": p, "strides": s, "dilation_rate": d}
    for k, p, (s, d) in itertools.product(
        [1, 2, 3, 4], ["valid", "same", "causal"], [(1, 1), (2, 1), (3, 1), (1, 2)]
    )
]


@pytest.mark.parametrize("config", CONV1D_GRID, ids=str)
def test_conv1d_grid(config: dict[str, Any]) -> None:
    check_against_reference("Conv1D", config, TensorType("float32", (8, 3)))


@pytest.mark.parametrize(
    ("type_name", "config", "shape"),
    [
        (
            "Conv2D",
            {"filters": 4, "kernel_size": [3, 2], "strides": [2, 3], "padding": "same"},
            (7, 8, 2),
        ),
        ("Conv2D", {"filters": 6, "kernel_size": 3, "groups": 3, "padding": "same"}, (5, 5, 3)),
        (
            "Conv2D",
            {"filters": 4, "kernel_size": 2, "groups": 2, "data_format": "channels_first"},
            (4, 5, 6),
        ),
        (
            "Conv2D",
            {"filters": 3, "kernel_size": 3, "dilation_rate": 2, "padding": "same"},
            (6, 7, 2),
        ),
        ("Conv2D", {"filters": 3, "kernel_size": 1, "activation": "log_softmax"}, (3, 4, 5)),
        (
            "Conv2D",
            {
                "filters": 2,
                "kernel_size": 2,
                "activation": {"type": "softmax", "axis": 1},
                "data_format": "channels_first",
            },
            (3, 4, 5),
        ),
        ("Conv3D", {"filters": 2, "kernel_size": 3, "strides": 2, "padding": "same"}, (4, 5, 6, 2)),
        (
            "Conv3D",
            {"filters": 4, "kernel_size": [1, 2, 3], "groups": 4, "data_format": "channels_first"},
            (4, 3, 3, 4),
        ),
        (
            "DepthwiseConv1D",
            {"kernel_size": 4, "strides": 3, "padding": "same", "depth_multiplier": 3},
            (10, 2),
        ),
        (
            "DepthwiseConv2D",
            {"kernel_size": [3, 2], "strides": [1, 2], "padding": "same"},
            (5, 7, 3),
        ),
        (
            "DepthwiseConv2D",
            {
                "kernel_size": 2,
                "depth_multiplier": 2,
                "data_format": "channels_first",
                "activation": "relu",
            },
            (3, 4, 4),
        ),
        (
            "SeparableConv1D",
            {
                "filters": 3,
                "kernel_size": 3,
                "padding": "same",
                "depth_multiplier": 2,
                "use_bias": False,
            },
            (7, 2),
        ),
        (
            "SeparableConv2D",
            {"filters": 5, "kernel_size": 2, "strides": 2, "padding": "same"},
            (5, 6, 3),
        ),
        (
            "SeparableConv2D",
            {
                "filters": 2,
                "kernel_size": 3,
                "dilation_rate": [1, 2],
                "depth_multiplier": 2,
                "data_format": "channels_first",
            },
            (2, 6, 7),
        ),
    ],
)
def test_layers_against_reference(
    type_name: str, config: dict[str, Any], shape: tuple[int, ...]
) -> None:
    check_against_reference(type_name, config, TensorType("float32", shape))


@pytest.mark.parametrize(
    ("type_name", "config"),
    [
        ("Conv2D", {"filters": 2, "kernel_size": [4, 3], "strides": [3, 2], "padding": "same"}),
        ("DepthwiseConv2D", {"kernel_size": 3, "strides": 2, "padding": "same"}),
        ("SeparableConv2D", {"filters": 2, "kernel_size": 2, "strides": 3, "padding": "same"}),
    ],
)
def test_variable_sizes_with_stride_pad_at_run_time(type_name: str, config: dict[str, Any]) -> None:
    # Under 'same' with stride > 1 the padding depends on n mod s: one model, many sizes.
    t = TensorType("float32", (None, None, 2))
    sizes = [(2, h, w, 2) for h, w in [(5, 5), (6, 7), (7, 4), (8, 9), (1, 3)]]
    outputs = check_against_reference(type_name, config, t, sizes)
    stride = config["strides"] if isinstance(config["strides"], list) else [config["strides"]] * 2
    for out, (_, h, w, _) in zip(outputs, sizes, strict=True):
        assert out.shape[1:3] == (-(-h // stride[0]), -(-w // stride[1]))


def test_variable_steps_causal_and_stride_one_same_need_no_pad_op(tmp_path: Path) -> None:
    t = TensorType("float32", (None, 3))
    for padding in ("causal", "same"):
        config = {"filters": 2, "kernel_size": 3, "dilation_rate": 2, "padding": padding}
        check_against_reference("Conv1D", config, t, [(2, 4, 3), (1, 9, 3)])
        compiled = compile_spec(write_spec(tmp_path, single_layer_spec("Conv1D", config, [t])))
        assert "Pad" not in {n.op_type for n in compiled.graph.nodes}


def test_float16_input_is_computed_in_float32() -> None:
    t = TensorType("float16", (6, 2))
    check_against_reference("Conv1D", {"filters": 2, "kernel_size": 2}, t)


# -- weights and parameter counts ---------------------------------------------------------


@pytest.mark.parametrize(
    ("type_name", "config", "shape", "weights"),
    [
        # Keras: kernel k*k*(in/groups)*filters + filters.
        (
            "Conv2D",
            {"filters": 32, "kernel_size": 3},
            (28, 28, 1),
            {"kernel": (3, 3, 1, 32), "bias": (32,)},
        ),
        (
            "Conv2D",
            {"filters": 64, "kernel_size": 3, "groups": 2},
            (8, 8, 32),
            {"kernel": (3, 3, 16, 64), "bias": (64,)},
        ),
        (
            "Conv1D",
            {"filters": 16, "kernel_size": 5, "use_bias": False},
            (100, 8),
            {"kernel": (5, 8, 16)},
        ),
        (
            "Conv3D",
            {"filters": 8, "kernel_size": 3, "data_format": "channels_first"},
            (4, 6, 6, 6),
            {"kernel": (3, 3, 3, 4, 8), "bias": (8,)},
        ),
        (
            "DepthwiseConv2D",
            {"kernel_size": 3, "depth_multiplier": 2},
            (8, 8, 8),
            {"kernel": (3, 3, 8, 2), "bias": (16,)},
        ),
        ("DepthwiseConv1D", {"kernel_size": 4}, (9, 5), {"kernel": (4, 5, 1), "bias": (5,)}),
        (
            "SeparableConv2D",
            {"filters": 32, "kernel_size": 3},
            (8, 8, 16),
            {"depthwise_kernel": (3, 3, 16, 1), "pointwise_kernel": (1, 1, 16, 32), "bias": (32,)},
        ),
        (
            "SeparableConv1D",
            {"filters": 4, "kernel_size": 3, "depth_multiplier": 3},
            (9, 2),
            {"depthwise_kernel": (3, 2, 3), "pointwise_kernel": (1, 6, 4), "bias": (4,)},
        ),
    ],
)
def test_weight_names_and_shapes_are_keras(
    type_name: str, config: dict[str, Any], shape: tuple[int, ...], weights: dict[str, tuple]
) -> None:
    layer = make_layer(type_name, **config)
    specs = layer.weights([TensorType("float32", shape)])
    assert {w.name: w.shape for w in specs} == weights
    assert [w.name for w in specs] == list(weights)  # Keras's order


def test_parameter_counts_equal_keras(tmp_path: Path) -> None:
    spec = {
        "specc": 1,
        "name": "counts",
        "inputs": {"image": {"shape": [28, 28, 1]}},
        "layers": [
            {"type": "Conv2D", "filters": 32, "kernel_size": 3},  # 3*3*1*32 + 32 = 320
            {"type": "DepthwiseConv2D", "kernel_size": 3, "depth_multiplier": 2},  # 9*32*2 + 64
            {"type": "SeparableConv2D", "filters": 16, "kernel_size": 3},  # 9*64 + 64*16 + 16
            {"type": "Conv2D", "filters": 8, "kernel_size": 1, "groups": 4},  # 4*8 + 8 = 40
        ],
    }
    compiled = compile_spec(write_spec(tmp_path, spec))
    counts = {}
    for key, array in compiled.weights.items():
        layer = key.split("/")[0]
        counts[layer] = counts.get(layer, 0) + array.size
    assert counts == {
        "conv2d": 320,
        "depthwise_conv2d": 640,
        "separable_conv2d": 1616,
        "conv2d_1": 40,
    }


# -- layouts --------------------------------------------------------------------------------


def data_transposes(graph: Any) -> list[Any]:
    """Transpose nodes on the data path (a kernel transposed from a parameter is not)."""
    return [
        n for n in graph.nodes if n.op_type == "Transpose" and n.inputs[0] not in graph.parameters
    ]


def test_conv_chain_is_transposed_once_in_and_once_out() -> None:
    spec = {
        "specc": 1,
        "name": "chain",
        "inputs": {"image": {"shape": [9, 8, 3]}},
        "layers": [
            {
                "type": "Conv2D",
                "filters": 4,
                "kernel_size": 3,
                "padding": "same",
                "activation": "relu",
            },
            {"type": "Conv2D", "filters": 5, "kernel_size": 3, "strides": 2},
            {"type": "Flatten"},
            {"type": "Dense", "units": 3},
        ],
    }
    compiled, weights = compile_with_random_weights(spec)
    assert len(data_transposes(compiled.graph)) == 2
    session = session_for(to_model_proto(compiled.graph))
    x = np.random.default_rng(0).normal(size=(2, 9, 8, 3)).astype(np.float32)
    (got,) = session.run(None, {"image": x})
    h = np.maximum(
        conv(x, weights["conv2d/kernel"], (1, 1), (1, 1), "same") + weights["conv2d/bias"], 0
    )
    h = conv(h, weights["conv2d_1/kernel"], (2, 2), (1, 1), "valid") + weights["conv2d_1/bias"]
    want = h.reshape(2, -1) @ weights["dense/kernel"] + weights["dense/bias"]
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)


def test_kernels_stay_in_keras_layout_as_parameters(tmp_path: Path) -> None:
    config = {"filters": 4, "kernel_size": [3, 2], "groups": 2}
    spec = single_layer_spec("Conv2D", config, [TensorType("float32", (5, 5, 6))])
    graph = compile_spec(write_spec(tmp_path, spec)).graph
    assert graph.parameters == ["layer.kernel", "layer.bias"]
    assert graph.initializers["layer.kernel"].shape == (3, 2, 3, 4)
    # ONNX's [filters, in / groups, kh, kw] is made in the graph, from the parameter.
    (transpose,) = [
        n for n in graph.nodes if n.op_type == "Transpose" and n not in data_transposes(graph)
    ]
    assert transpose.inputs == ["layer.kernel"]
    assert transpose.attributes["perm"] == [3, 2, 0, 1]


def test_conv_pool_conv_chain_has_two_data_transposes(tmp_path: Path) -> None:
    if "MaxPooling2D" not in LAYERS:
        pytest.skip("MaxPooling2D is not registered yet")
    spec = {
        "specc": 1,
        "name": "chain",
        "inputs": {"image": {"shape": [9, 8, 3]}},
        "layers": [
            {"type": "Conv2D", "filters": 4, "kernel_size": 3, "padding": "same"},
            {"type": "MaxPooling2D", "pool_size": 2},
            {"type": "Conv2D", "filters": 5, "kernel_size": 3},
            {"type": "Flatten"},
            {"type": "Dense", "units": 3},
        ],
    }
    compiled = compile_spec(write_spec(tmp_path, spec))
    assert len(data_transposes(compiled.graph)) == 2


def test_channels_first_data_needs_no_transpose(tmp_path: Path) -> None:
    config = {"filters": 2, "kernel_size": 3, "data_format": "channels_first"}
    spec = single_layer_spec("Conv2D", config, [TensorType("float32", (3, 6, 6))])
    compiled = compile_spec(write_spec(tmp_path, spec))
    assert data_transposes(compiled.graph) == []


# -- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("type_name", "config", "shape", "message"),
    [
        (
            "Conv2D",
            {"filters": 2, "kernel_size": 3},
            (28, 28),
            "Conv2D needs an input of rank 4 (batch, height, width, channels); got (None, 28, 28)",
        ),
        (
            "Conv1D",
            {"filters": 2, "kernel_size": 3, "data_format": "channels_first"},
            (3, 4, 5),
            "Conv1D needs an input of rank 3 (batch, channels, steps); got (None, 3, 4, 5)",
        ),
        (
            "Conv2D",
            {"filters": 2, "kernel_size": 3},
            (8, 8, None),
            "needs a known number of input channels (the last axis of",
        ),
        (
            "Conv2D",
            {"filters": 4, "kernel_size": 1, "groups": 2},
            (8, 8, 3),
            "needs input channels divisible by groups; got 3 channels with groups=2",
        ),
        (
            "Conv2D",
            {"filters": 2, "kernel_size": 5},
            (4, 8, 1),
            "Conv2D needs every spatial size at least the dilated kernel size (5, 5); "
            "got input (None, 4, 8, 1), which gives spatial size (0, 4)",
        ),
        (
            "Conv1D",
            {"filters": 2, "kernel_size": 3, "dilation_rate": 3},
            (6, 1),
            "gives spatial size (0,)",
        ),
        (
            "DepthwiseConv2D",
            {"kernel_size": 3},
            (8, 8, 3, 1),
            "DepthwiseConv2D needs an input of rank 4",
        ),
        ("SeparableConv1D", {"filters": 2, "kernel_size": 3}, (5, 2), None),
        ("Conv2D", {"filters": 2, "kernel_size": 3}, (8, 8, 3), None),
    ],
)
def test_shape_errors(
    type_name: str, config: dict[str, Any], shape: tuple, message: str | None
) -> None:
    layer = make_layer(type_name, **config)
    t = TensorType("float32", shape)
    if message is None:
        layer.output_types([t])
        return
    with pytest.raises(ShapeError) as error:
        layer.output_types([t])
    assert message in str(error.value)


def test_integer_input_is_refused() -> None:
    with pytest.raises(ShapeError, match="floating-point input; got dtype int64"):
        make_layer("Conv1D", filters=1, kernel_size=1).output_types([TensorType("int64", (4, 2))])


@pytest.mark.parametrize(
    ("type_name", "config", "path", "message"),
    [
        (
            "Conv2D",
            {"filters": 2, "kernel_size": 3, "strides": 2, "dilation_rate": 2},
            "dilation_rate",
            "strides > 1 cannot be combined with dilation_rate > 1",
        ),
        (
            "Conv2D",
            {"filters": 2, "kernel_size": [3, 3, 3]},
            "kernel_size",
            "kernel_size must be an integer or a list of 2 integers; got kernel_size=[3, 3, 3]",
        ),
        (
            "Conv1D",
            {"filters": 2, "kernel_size": 2, "strides": [1, 1]},
            "strides",
            "strides must be an integer or a list of 1 integers",
        ),
        (
            "Conv2D",
            {"filters": 6, "kernel_size": 1, "groups": 4},
            "groups",
            "filters must be divisible by groups; got filters=6, groups=4",
        ),
        (
            "Conv2D",
            {"filters": 2, "kernel_size": 3, "padding": "causal"},
            "padding",
            "padding must be 'valid' or 'same'; got 'causal'",
        ),
        ("Conv2D", {"filters": 0, "kernel_size": 3}, "filters", "filters must be greater than 0"),
        (
            "Conv3D",
            {"filters": 1, "kernel_size": [1, 0, 1]},
            "kernel_size",
            "kernel_size must be positive on every axis; got kernel_size=[1, 0, 1]",
        ),
        (
            "DepthwiseConv1D",
            {"kernel_size": 3, "depth_multiplier": 0},
            "depth_multiplier",
            "depth_multiplier must be greater than 0",
        ),
        (
            "SeparableConv2D",
            {"filters": 2, "kernel_size": 3, "dilation_rate": [2, 1], "strides": [1, 2]},
            "dilation_rate",
            "got strides=[1, 2] and dilation_rate=[2, 1]",
        ),
    ],
)
def test_config_errors_point_at_the_argument(
    tmp_path: Path, type_name: str, config: dict[str, Any], path: str, message: str
) -> None:
    spec = single_layer_spec(type_name, config, [TensorType("float32", (8, 8, 8, 2))])
    with pytest.raises(SpecError) as error:
        compile_spec(write_spec(tmp_path, spec))
    (diagnostic,) = error.value.diagnostics
    assert diagnostic.dotted_path == f"layers[0].{path}"
    assert message in diagnostic.message


def test_shape_error_points_at_groups(tmp_path: Path) -> None:
    config = {"filters": 4, "kernel_size": 1, "groups": 4}
    spec = single_layer_spec("Conv1D", config, [TensorType("float32", (5, 6))])
    with pytest.raises(SpecError) as error:
        compile_spec(write_spec(tmp_path, spec))
    (diagnostic,) = error.value.diagnostics
    assert diagnostic.code == "SPC301-shape"
    assert diagnostic.dotted_path == "layers[0].groups"
    assert "Conv1D layer 'layer': Conv1D needs input channels divisible by groups" in (
        diagnostic.message
    )
