"""LocallyConnected1D/2D: values against Keras's formulas, Keras's weight layouts and counts,
and errors."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from specc.layers.base import ShapeError
from specc.layers.locally_connected_kernels import kernel_index, make_geometry, patch_positions
from specc.pipeline import compile_spec
from specc.summary import parameter_counts
from specc.types import TensorType
from tests.layer_harness import compare_layer, make_layer, run_layer
from tests.spec_helpers import single_layer_spec, write_spec


def compare(type_name: str, config: dict[str, Any], shape: tuple[int, ...]) -> np.ndarray:
    """Run the layer in onnxruntime; check values, dtype and shape against the layer."""
    types = [TensorType("float32", shape[1:])]
    x = np.random.default_rng(1).normal(size=shape).astype(np.float32)
    (got,) = compare_layer(type_name, config, types, [x], atol=1e-5)
    return got


@pytest.mark.parametrize("implementation", [1, 2, 3])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize(
    ("config", "spatial"),
    [
        ({"filters": 3, "kernel_size": 3}, (7,)),
        ({"filters": 2, "kernel_size": 2, "strides": 3}, (8,)),
        ({"filters": 2, "kernel_size": [2, 3], "strides": [1, 2]}, (4, 7)),
        ({"filters": 1, "kernel_size": 1, "activation": "relu"}, (3, 2)),
    ],
)
def test_matches_reference(
    config: dict, spatial: tuple, data_format: str, implementation: int
) -> None:
    type_name = f"LocallyConnected{len(spatial)}D"
    shape = (2, 3, *spatial) if data_format == "channels_first" else (2, *spatial, 3)
    compare(
        type_name, {**config, "data_format": data_format, "implementation": implementation}, shape
    )


@pytest.mark.parametrize("implementation", [2, 3])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize(
    ("kernel_size", "strides", "spatial"),
    [(3, 1, (5,)), (4, 2, (7,)), (2, 3, (7,)), ([3, 2], [2, 1], (5, 4)), (5, 1, (3, 3))],
)
def test_same_padding_matches_reference(
    kernel_size: Any, strides: Any, spatial: tuple, data_format: str, implementation: int
) -> None:
    type_name = f"LocallyConnected{len(spatial)}D"
    shape = (2, 2, *spatial) if data_format == "channels_first" else (2, *spatial, 2)
    config = {
        "filters": 2,
        "kernel_size": kernel_size,
        "strides": strides,
        "padding": "same",
        "data_format": data_format,
        "implementation": implementation,
    }
    got = compare(type_name, config, shape)
    sizes = got.shape[2:] if data_format == "channels_first" else got.shape[1:-1]
    steps = strides if isinstance(strides, list) else [strides] * len(spatial)
    assert list(sizes) == [math.ceil(n / s) for n, s in zip(spatial, steps, strict=True)]


def test_implementations_compute_the_same_function() -> None:
    """One set of unshared weights, stored in each implementation's layout, gives one output."""
    shape, filters, kernel = (2, 5, 4, 3), 2, (2, 3)
    x = np.random.default_rng(0).normal(size=shape).astype(np.float32)
    g = make_geometry((5, 4), kernel, (1, 1), "valid", 3, filters)
    w1 = np.random.default_rng(1).normal(size=(g.patches, g.window * 3, filters))
    # Implementation 1's channels_last feature order is (offset, channel).
    per_patch = w1.reshape(g.patches, g.window, 3, filters).transpose(0, 2, 1, 3)
    outputs = []
    for implementation in (1, 2, 3):
        layer = make_layer(
            "LocallyConnected2D",
            filters=filters,
            kernel_size=list(kernel),
            implementation=implementation,
            use_bias=False,
        )
        (spec,) = layer.weights([TensorType("float32", shape[1:])])
        if implementation == 1:
            stored = w1
        else:
            stored = np.zeros(spec.shape)
            index = kernel_index(g, implementation, channels_first=False)
            stored.reshape(-1)[index.reshape(-1)] = per_patch.reshape(-1)
        (y,) = run_layer(
            layer, [TensorType("float32", shape[1:])], [x], {"kernel": stored.astype(np.float32)}
        )
        outputs.append(y)
    np.testing.assert_allclose(outputs[1], outputs[0], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(outputs[2], outputs[0], rtol=1e-5, atol=1e-5)


def test_patches_run_row_major_over_outputs_and_kernel() -> None:
    g = make_geometry((3, 4), (2, 2), (1, 2), "valid", 1, 1)
    positions, inside = patch_positions(g)
    assert g.outputs == (2, 2) and inside.all()
    # Output (0, 1) starts at input (0, 2): offsets (0,0), (0,1), (1,0), (1,1).
    assert positions[1].tolist() == [2, 3, 6, 7]


def _counts(tmp_path: Path, type_name: str, config: dict, shape: tuple) -> tuple[int, int]:
    spec = single_layer_spec(type_name, config, [TensorType("float32", shape)])
    return parameter_counts(compile_spec(write_spec(tmp_path, spec), seed=0).typed)


@pytest.mark.parametrize(
    ("type_name", "config", "shape", "kernel", "trainable"),
    [
        # Keras's docstring example: (30*30)*(3*3*3*64) + (30*30)*64.
        ("LocallyConnected2D", {"filters": 64, "kernel_size": 3}, (32, 32, 3), (900, 27, 64),
         1_612_800),
        ("LocallyConnected1D", {"filters": 64, "kernel_size": 3}, (10, 32), (8, 96, 64), 49_664),
        ("LocallyConnected1D", {"filters": 4, "kernel_size": 3, "implementation": 2}, (10, 5),
         (10, 5, 8, 4), 10 * 5 * 8 * 4 + 8 * 4),
        ("LocallyConnected1D", {"filters": 4, "kernel_size": 3, "implementation": 2,
                                "data_format": "channels_first"}, (5, 10), (5, 10, 4, 8), None),
        # 3 + 2 + 2 connected inputs per axis for a size-3 kernel, "same", on 3 positions.
        ("LocallyConnected2D", {"filters": 2, "kernel_size": 3, "implementation": 3,
                                "padding": "same", "use_bias": False}, (3, 3, 1), (98,), 98),
    ],
)  # fmt: skip
def test_weights_have_keras_layouts_and_counts(
    tmp_path: Path, type_name: str, config: dict, shape: tuple, kernel: tuple, trainable: Any
) -> None:
    layer = make_layer(type_name, **config)
    specs = layer.weights([TensorType("float32", shape)])
    assert specs[0].name == "kernel" and specs[0].shape == kernel
    if trainable is not None:
        assert _counts(tmp_path, type_name, config, shape) == (trainable, 0)


def test_bias_shape_is_outputs_then_filters() -> None:
    layer = make_layer("LocallyConnected2D", filters=5, kernel_size=2, data_format="channels_first")
    (kernel, bias) = layer.weights([TensorType("float32", (3, 4, 6))])
    assert kernel.shape == (15, 12, 5) and bias.shape == (3, 5, 5)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"filters": 2, "kernel_size": 2, "padding": "same"}, "needs implementation 2 or 3"),
        ({"filters": 2, "kernel_size": [2, 2]}, "list of 1 positive"),
        ({"filters": 2, "kernel_size": 0}, "positive integer"),
        ({"filters": 0, "kernel_size": 2}, "greater than 0"),
        ({"filters": 2, "kernel_size": 2, "padding": "causal"}, "padding"),
        ({"filters": 2, "kernel_size": 2, "implementation": 4}, "implementation"),
    ],
)
def test_config_errors(config: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        make_layer("LocallyConnected1D", **config)


@pytest.mark.parametrize(
    ("type_name", "config", "shape", "message"),
    [
        ("LocallyConnected1D", {"kernel_size": 4}, (3, 2), "at least the kernel's"),
        ("LocallyConnected1D", {"kernel_size": 2}, (None, 2), "known spatial and channel"),
        ("LocallyConnected1D", {"kernel_size": 2}, (5, None), "known spatial and channel"),
        ("LocallyConnected1D", {"kernel_size": 2}, (5,), "rank-3 input"),
        ("LocallyConnected2D", {"kernel_size": [1, 3]}, (4, 2, 1), "at least the kernel's"),
    ],
)
def test_shape_errors(type_name: str, config: dict, shape: tuple, message: str) -> None:
    layer = make_layer(type_name, filters=2, **config)
    with pytest.raises(ShapeError, match=message):
        layer.output_types([TensorType("float32", shape)])


def test_channels_last_works_channels_first_inside(tmp_path: Path) -> None:
    """With a pointwise activation the layer takes ONNX's layout: a chain of two transposes
    only at the ends; softmax needs the spec's layout and transposes inside instead."""
    spec = {
        "specc": 1,
        "name": "chain",
        "inputs": {"x": {"shape": [6, 5, 2]}},
        "layers": [
            {"type": "LocallyConnected2D", "filters": 3, "kernel_size": 2, "activation": "relu"},
            {"type": "LocallyConnected2D", "filters": 2, "kernel_size": 2},
        ],
    }
    compiled = compile_spec(write_spec(tmp_path, spec), seed=0)
    ops = [n.op_type for n in compiled.graph.nodes]
    # Per layer: the patch Transpose, the implementation-1 kernel Transpose, the output
    # Transpose and the bias Transpose; plus one in and one out of the channels-first chain.
    assert ops.count("Transpose") == 4 * 2 + 2
