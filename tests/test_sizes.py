"""Size limits in shape inference: parameters and values per sample are refused at the
layer responsible, before anything is drawn, with the limit to raise."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from specc.diagnostics import SpecError
from specc.limits import DEFAULT_LIMITS, Limits
from specc.pipeline import check_spec, compile_spec
from tests.spec_helpers import write_spec


def functional(*layers: dict[str, Any], shape: list[int | None], dtype: str = "float32") -> dict:
    """A spec applying ``layers`` in order to one input ``x``."""
    return {"specc": 1, "inputs": {"x": {"shape": shape, "dtype": dtype}}, "layers": list(layers)}


def refused(tmp_path: Path, spec: dict, limits: Limits = DEFAULT_LIMITS) -> list[Any]:
    """The diagnostics ``check_spec`` raises."""
    with pytest.raises(SpecError) as info:
        check_spec(write_spec(tmp_path, spec), limits)
    return info.value.diagnostics


def test_a_layer_over_the_parameter_limit_is_refused_at_its_entry(tmp_path: Path) -> None:
    spec = functional({"type": "Dense", "units": 2_000_000}, shape=[2_000_000])
    (diagnostic,) = [d for d in refused(tmp_path, spec) if d.code == "SPC305-params"]
    assert diagnostic.path == ("layers", 0)
    assert diagnostic.position is not None and diagnostic.position.line > 1
    assert "Dense layer 'dense' has 4,000,002,000,000 parameters" in diagnostic.message
    assert "its kernel of shape (2000000, 2000000) holds 4,000,000,000,000" in diagnostic.message
    assert "raise it with --limit params=4000002000000" in diagnostic.message


def test_build_refuses_before_drawing_any_weight(tmp_path: Path) -> None:
    spec = functional(
        {"type": "Embedding", "input_dim": 10**12, "output_dim": 8}, shape=[5], dtype="int32"
    )
    with pytest.raises(SpecError) as info:
        compile_spec(write_spec(tmp_path, spec))
    assert [d.code for d in info.value.diagnostics] == ["SPC305-params"]


def test_the_total_is_reported_where_it_passes_the_limit(tmp_path: Path) -> None:
    spec = functional(
        {"type": "Dense", "units": 100},
        {"type": "Dense", "units": 100},
        {"type": "Dense", "units": 100},
        shape=[100],
    )
    limits = Limits(params=15_000)  # each layer has 10,100
    (diagnostic,) = refused(tmp_path, spec, limits)
    assert diagnostic.path == ("layers", 1)
    assert "the model has 30,300 parameters" in diagnostic.message
    assert "passes the limit at Dense layer 'dense_1', which adds 10,100" in diagnostic.message
    assert check_spec(write_spec(tmp_path, spec), Limits(params=30_300)) is not None


def test_shared_weights_count_once(tmp_path: Path) -> None:
    spec = {
        "specc": 1,
        "inputs": {"a": {"shape": [100]}, "b": {"shape": [100]}},
        "layers": [
            {"name": "d", "type": "Dense", "units": 100, "inputs": "a"},
            {"name": "e", "shares": "d", "inputs": "b"},
            {"type": "Add", "inputs": ["d", "e"]},
        ],
    }
    check_spec(write_spec(tmp_path, spec), Limits(params=10_100))


@pytest.mark.parametrize(
    ("layer", "shape", "what"),
    [
        (
            {"type": "RepeatVector", "n": 10**9},
            [4],
            "RepeatVector layer 'repeat_vector' outputs (None, 1000000000, 4)",
        ),
        ({"type": "UpSampling1D", "size": 10**9}, [8, 1], "outputs (None, 8000000000, 1)"),
        ({"type": "ZeroPadding1D", "padding": 10**9}, [8, 1], "outputs (None, 2000000008, 1)"),
        ({"type": "Reshape", "target_shape": [-1, 1]}, [10**9], "input 'x' (None, 1000000000)"),
        (
            {"type": "AveragePooling1D", "pool_size": 10**9, "padding": "same"},
            [8, 1],
            "builds a pooling window (1000000000,): 1,000,000,000 elements,",
        ),
        (
            {"type": "MaxPooling1D", "pool_size": 10**9, "padding": "same"},
            [None, 1],
            "builds its window slices (None, 1000000000, None, 1)",
        ),
        (
            {"type": "Lambda", "expression": "sum(reshape(x, [100000, 100000, -1]), axis=[1, 2])"},
            [None, 4],
            "builds the value at column 5 of its expression (None, 100000, 100000, None)",
        ),
        (
            {
                "type": "TimeDistributed",
                "layer": {"type": "AveragePooling1D", "pool_size": 10**9, "padding": "same"},
            },
            [3, 8, 1],
            "builds a pooling window (1000000000,)",
        ),
    ],
)
def test_values_over_the_activation_limit(
    tmp_path: Path, layer: dict, shape: list, what: str
) -> None:
    (diagnostic,) = refused(tmp_path, functional(layer, shape=shape))
    assert diagnostic.code == "SPC306-value-size"
    assert what in diagnostic.message
    assert "raise it with --limit activation_elements=" in diagnostic.message


def test_an_input_over_the_limit_is_refused_at_its_shape(tmp_path: Path) -> None:
    (diagnostic,) = refused(tmp_path, functional({"type": "Flatten"}, shape=[10**6, 10**6]))
    assert diagnostic.path == ("inputs", "x", "shape")
    sequential = {"specc": 1, "layers": [{"type": "Flatten", "input_shape": [10**6, 10**6]}]}
    (diagnostic,) = refused(tmp_path, sequential)
    assert diagnostic.path == ("layers", 0, "input_shape")


def test_variable_dimensions_count_as_one(tmp_path: Path) -> None:
    repeat = {"type": "RepeatVector", "n": 2**27}
    typed = check_spec(write_spec(tmp_path, functional(repeat, shape=[None])))
    assert typed.outputs[0].shape == (2**27, None)
    (diagnostic,) = refused(tmp_path, functional(repeat, shape=[4]))
    assert "536,870,912 elements per sample" in diagnostic.message


def test_layers_after_a_refused_one_are_skipped(tmp_path: Path) -> None:
    spec = functional(
        {"type": "RepeatVector", "n": 10**9},
        {"type": "Flatten"},
        {"type": "Dense", "units": 1},
        shape=[4],
    )
    assert len(refused(tmp_path, spec)) == 1


def test_limits_are_raised_by_the_user(tmp_path: Path) -> None:
    spec = functional({"type": "RepeatVector", "n": 10**8}, shape=[4])
    refused(tmp_path, spec)
    typed = check_spec(write_spec(tmp_path, spec), Limits(activation_elements=4 * 10**8))
    assert typed.outputs[0].shape == (10**8, 4)
