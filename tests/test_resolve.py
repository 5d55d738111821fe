"""Graph resolution: default names and inputs, any order, shared layers, several outputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from specc.pipeline import check_spec, compile_spec
from specc.summary import parameter_counts, render_summary
from specc.weights import save_weights
from tests.spec_helpers import run_compiled, write_spec


def test_keras_default_names_skip_taken_names(tmp_path: Path) -> None:
    spec = {
        "specc": 1,
        "layers": [
            {"type": "Dense", "units": 3, "input_shape": [2]},
            {"type": "Dense", "units": 3, "name": "dense_1"},
            {"type": "Dense", "units": 3},
            {"type": "RepeatVector", "n": 2},
            {"type": "Flatten"},
        ],
    }
    typed = check_spec(write_spec(tmp_path, spec))
    assert [n.name for n in typed.resolved.nodes] == [
        "dense",
        "dense_1",
        "dense_2",
        "repeat_vector",
        "flatten",
    ]
    assert list(typed.resolved.inputs) == ["input_layer"]
    assert typed.resolved.model_name == "sequential"


def test_entries_in_any_order(tmp_path: Path) -> None:
    spec = {
        "specc": 1,
        "inputs": {"x": {"shape": [4]}},
        "layers": [
            {"name": "head", "type": "Dense", "units": 2, "inputs": "body"},
            {"name": "body", "type": "Dense", "units": 3, "inputs": "x"},
        ],
        "outputs": ["head"],
    }
    typed = check_spec(write_spec(tmp_path, spec))
    assert [n.name for n in typed.resolved.nodes] == ["body", "head"]
    assert str(typed.outputs[0]) == "(None, 2)"


def test_shared_layer_uses_one_set_of_weights(tmp_path: Path) -> None:
    spec = {
        "specc": 1,
        "inputs": {"a": {"shape": [4]}, "b": {"shape": [4]}},
        "layers": [
            {"name": "enc_a", "type": "Dense", "units": 3, "activation": "tanh", "inputs": "a"},
            {"name": "enc_b", "shares": "enc_a", "inputs": "b"},
            {"name": "diff", "type": "Subtract", "inputs": ["enc_a", "enc_b"]},
        ],
        "outputs": ["diff", "enc_b"],
    }
    path = write_spec(tmp_path, spec)
    typed = check_spec(path)
    assert parameter_counts(typed) == (4 * 3 + 3, 0)
    assert "enc_b (Dense)" in render_summary(typed)
    rng = np.random.default_rng(0)
    kernel = rng.normal(size=(4, 3)).astype(np.float32)
    bias = rng.normal(size=3).astype(np.float32)
    save_weights(tmp_path / "w.npz", {"enc_a/kernel": kernel, "enc_a/bias": bias})
    compiled = compile_spec(path, tmp_path / "w.npz")
    assert sorted(compiled.graph.parameters) == ["enc_a.bias", "enc_a.kernel"]
    a, b = rng.normal(size=(2, 5, 4)).astype(np.float32)
    diff, enc_b = run_compiled(compiled, [a, b])
    np.testing.assert_allclose(enc_b, np.tanh(b @ kernel + bias), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(diff, np.tanh(a @ kernel + bias) - enc_b, rtol=1e-5, atol=1e-6)


def test_graph_io_names_and_order(tmp_path: Path) -> None:
    spec = {
        "specc": 1,
        "inputs": {"second": {"shape": [2]}, "first": {"shape": [3]}},
        "layers": [
            {"name": "p", "type": "Dense", "units": 1, "inputs": "first"},
            {"name": "q", "type": "Dense", "units": 2, "inputs": "second"},
        ],
        "outputs": ["q", "p"],
    }
    compiled = compile_spec(write_spec(tmp_path, spec), seed=0)
    assert [name for name, _ in compiled.graph.inputs] == ["second", "first"]
    assert [name for name, _ in compiled.graph.outputs] == ["q", "p"]
    assert {node.name.split("/")[0] for node in compiled.graph.nodes} >= {"p", "q"}
    assert "p.kernel" in compiled.graph.parameters
