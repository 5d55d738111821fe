"""Conv1DTranspose, Conv2DTranspose and Conv3DTranspose: Keras's shapes and numbers.

The lowering (zero insertion, Keras's JAX-backend padding, a Conv with the flipped kernel)
is compared through the whole compiler with the reference, which scatters every input pixel
and crops as TensorFlow's conv_transpose does; hand-computed values pin the reference.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from specc.diagnostics import SpecError
from specc.layers.conv_reference import conv_transpose
from specc.pipeline import compile_spec
from specc.types import TensorType
from tests.layer_harness import make_layer
from tests.spec_helpers import single_layer_spec, write_spec
from tests.test_layers_conv import check_against_reference, data_transposes

X = np.array([1.0, 2.0, 3.0]).reshape(1, 3, 1)
ONES = np.ones((3, 1, 1))


@pytest.mark.parametrize(
    ("padding", "output_padding", "want"),
    [
        # The full scatter of [1, 2, 3] with stride 2 and a kernel of ones is
        # [1, 1, 3, 2, 5, 3, 3]; 'valid' keeps it, 'same' keeps n * s = 6 from the start.
        ("valid", None, [1, 1, 3, 2, 5, 3, 3]),
        ("valid", (1,), [1, 1, 3, 2, 5, 3, 3, 0]),
        ("same", None, [1, 1, 3, 2, 5, 3]),
        ("same", (0,), [1, 3, 2, 5, 3]),
        ("same", (1,), [1, 1, 3, 2, 5, 3]),
    ],
)
def test_reference_by_hand(padding: str, output_padding: tuple | None, want: list) -> None:
    got = conv_transpose(X, ONES, (2,), (1,), padding, output_padding)
    np.testing.assert_array_equal(got[0, :, 0], want)


def test_reference_crops_from_the_front_when_padding_is_odd() -> None:
    # k 2, s 3, 'same', output_padding 1 on [1, 2]: scatter [1, 10, 0, 2, 20], out 4, and
    # TF's forward padding total (2-1)*3 + 2 - 4 = 1 puts its zero after: keep from 0.
    kernel = np.array([1.0, 10.0]).reshape(2, 1, 1)
    got = conv_transpose(np.array([1.0, 2.0]).reshape(1, 2, 1), kernel, (3,), (1,), "same", (1,))
    np.testing.assert_array_equal(got[0, :, 0], [1, 10, 0, 2])
    # k 4, s 2, 'same' on one pixel: scatter [1, 10, 100, 1000], out 2, total 2: keep [1:3].
    kernel = np.array([1.0, 10.0, 100.0, 1000.0]).reshape(4, 1, 1)
    got = conv_transpose(np.ones((1, 1, 1)), kernel, (2,), (1,), "same", None)
    np.testing.assert_array_equal(got[0, :, 0], [10, 100])


@pytest.mark.parametrize(
    ("type_name", "config", "shape", "want"),
    [
        # Cases from Keras's conv_transpose_test.py.
        ("Conv1DTranspose", {"filters": 5, "kernel_size": 2, "strides": 2}, (8, 4), (16, 5)),
        (
            "Conv1DTranspose",
            {"filters": 6, "kernel_size": 2, "strides": 3, "padding": "same", "output_padding": 2},
            (8, 4),
            (23, 6),
        ),
        (
            "Conv2DTranspose",
            {
                "filters": 6,
                "kernel_size": [2, 3],
                "strides": [2, 1],
                "data_format": "channels_first",
            },
            (4, 8, 8),
            (6, 16, 10),
        ),
        (
            "Conv2DTranspose",
            {"filters": 2, "kernel_size": 7, "strides": 16},
            (14, 14, 2),
            (224, 224, 2),
        ),
        (
            "Conv3DTranspose",
            {"filters": 6, "kernel_size": [2, 2, 3], "strides": [2, 1, 2]},
            (8, 8, 8, 4),
            (16, 9, 17, 6),
        ),
        (
            "Conv2DTranspose",
            {"filters": 3, "kernel_size": 3, "strides": 2, "padding": "same"},
            (None, 5, 2),
            (None, 10, 3),
        ),
        (
            "Conv1DTranspose",
            {"filters": 1, "kernel_size": 3, "dilation_rate": 2},
            (4, 1),
            (8, 1),
        ),
    ],
)
def test_output_shapes_are_keras(
    type_name: str, config: dict[str, Any], shape: tuple, want: tuple
) -> None:
    layer = make_layer(type_name, **config)
    (out,) = layer.output_types([TensorType("float32", shape)])
    assert out.shape == want


def _grid() -> list[dict[str, Any]]:
    configs = []
    for k, padding in itertools.product([1, 2, 3, 4], ["valid", "same"]):
        for s, d in [(1, 1), (2, 1), (3, 1), (1, 2)]:
            for op in [None, *range(s)]:
                config = {"filters": 2, "kernel_size": k, "strides": s, "padding": padding}
                config["dilation_rate"] = d
                if op is not None:
                    config["output_padding"] = op
                configs.append(config)
    return configs


@pytest.mark.parametrize("config", _grid(), ids=str)
def test_conv1d_transpose_grid(config: dict[str, Any]) -> None:
    check_against_reference("Conv1DTranspose", config, TensorType("float32", (4, 3)))


@pytest.mark.parametrize(
    ("type_name", "config", "shape"),
    [
        (
            "Conv2DTranspose",
            {"filters": 3, "kernel_size": [3, 2], "strides": [2, 3], "padding": "same"},
            (3, 4, 2),
        ),
        (
            "Conv2DTranspose",
            {
                "filters": 2,
                "kernel_size": [1, 4],
                "strides": [3, 2],
                "output_padding": [2, 1],
                "data_format": "channels_first",
                "activation": "relu",
            },
            (3, 3, 2),
        ),
        (
            "Conv2DTranspose",
            {"filters": 2, "kernel_size": 2, "activation": {"type": "softmax", "axis": -1}},
            (3, 3, 2),
        ),
        (
            "Conv3DTranspose",
            {"filters": 2, "kernel_size": [3, 1, 2], "strides": [1, 2, 3], "padding": "same"},
            (2, 3, 2, 3),
        ),
        (
            "Conv3DTranspose",
            {"filters": 3, "kernel_size": 2, "dilation_rate": [2, 1, 1], "use_bias": False},
            (3, 2, 2, 2),
        ),
    ],
)
def test_layers_against_reference(
    type_name: str, config: dict[str, Any], shape: tuple[int, ...]
) -> None:
    check_against_reference(type_name, config, TensorType("float32", shape))


@pytest.mark.parametrize("output_padding", [None, [0, 1], [2, 0]])
def test_variable_sizes(output_padding: list[int] | None) -> None:
    config: dict[str, Any] = {"filters": 2, "kernel_size": [2, 3], "strides": [3, 2]}
    config["padding"] = "same"
    if output_padding is not None:
        config["output_padding"] = output_padding
    t = TensorType("float32", (None, None, 2))
    # (Height 1 with output_padding 0 would give an empty output.)
    sizes = [(2, h, w, 2) for h, w in [(2, 1), (3, 5), (4, 3)]]
    check_against_reference("Conv2DTranspose", config, t, sizes)


def test_lowering_has_no_conv_transpose_and_one_data_transpose_each_way(tmp_path: Path) -> None:
    config = {"filters": 2, "kernel_size": 3, "strides": 2, "padding": "same"}
    spec = single_layer_spec("Conv2DTranspose", config, [TensorType("float32", (4, 4, 3))])
    compiled = compile_spec(write_spec(tmp_path, spec))
    ops = [n.op_type for n in compiled.graph.nodes]
    assert "ConvTranspose" not in ops
    assert ops.count("Conv") == 1
    assert len(data_transposes(compiled.graph)) == 2
    # The kernel is flipped by Gather on its parameter, never by a negative-step Slice.
    assert ops.count("Gather") == 2


@pytest.mark.parametrize(
    ("config", "path", "message"),
    [
        (
            {"filters": 2, "kernel_size": 3, "strides": 2, "output_padding": 2},
            "output_padding",
            "output_padding must be smaller than strides on every axis; "
            "got output_padding=2 and strides=2",
        ),
        (
            {"filters": 2, "kernel_size": 3, "output_padding": [0, 0, 0]},
            "output_padding",
            "output_padding must be an integer or a list of 2 integers",
        ),
        (
            {"filters": 2, "kernel_size": 3, "output_padding": -1},
            "output_padding",
            "output_padding must be at least 0 on every axis",
        ),
        (
            {"filters": 2, "kernel_size": 3, "strides": [1, 2], "dilation_rate": [2, 1]},
            "dilation_rate",
            "strides > 1 cannot be combined with dilation_rate > 1",
        ),
    ],
)
def test_config_errors(tmp_path: Path, config: dict[str, Any], path: str, message: str) -> None:
    spec = single_layer_spec("Conv2DTranspose", config, [TensorType("float32", (4, 4, 3))])
    with pytest.raises(SpecError) as error:
        compile_spec(write_spec(tmp_path, spec))
    (diagnostic,) = error.value.diagnostics
    assert diagnostic.dotted_path == f"layers[0].{path}"
    assert message in diagnostic.message


def test_empty_output_is_a_shape_error(tmp_path: Path) -> None:
    # 'same' with output_padding 0 and an even kernel: (1 - 1) * 2 + 0 + 0 = 0 steps.
    config = {"filters": 1, "kernel_size": 2, "strides": 2, "padding": "same", "output_padding": 0}
    spec = single_layer_spec("Conv1DTranspose", config, [TensorType("float32", (1, 3))])
    with pytest.raises(SpecError) as error:
        compile_spec(write_spec(tmp_path, spec))
    (diagnostic,) = error.value.diagnostics
    assert diagnostic.code == "SPC301-shape"
    assert "needs a non-empty output on every spatial axis; got input (None, 1, 3)" in (
        diagnostic.message
    )
