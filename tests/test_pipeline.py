"""The compile entries for a spec held in memory run the same passes as the file entries."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from specc.diagnostics import SpecError
from specc.passes.lower import expected_weight_shapes
from specc.passes.shapes import TypedGraph
from specc.pipeline import check_spec, check_text, compile_data, compile_spec, compile_text

MODEL = Path(__file__).parent.parent / "models" / "dense_stack.yaml"

SPEC = {
    "specc": 1,
    "name": "tiny",
    "inputs": {"x": {"shape": [3], "dtype": "float32"}},
    "layers": [{"name": "dense", "type": "Dense", "inputs": ["x"], "units": 2}],
}


def test_text_compiles_as_the_file_does() -> None:
    """The same graph and the same drawn weights from the text as from the file."""
    from_file = compile_spec(MODEL, seed=1)
    from_text = compile_text(MODEL.read_text(), str(MODEL), seed=1)
    assert [n.op_type for n in from_text.graph.nodes] == [n.op_type for n in from_file.graph.nodes]
    assert from_text.weights.keys() == from_file.weights.keys()
    for key, array in from_file.weights.items():
        np.testing.assert_array_equal(from_text.weights[key], array)
    assert from_text.metadata == from_file.metadata
    assert check_text(MODEL.read_text()).outputs == check_spec(MODEL).outputs


def test_data_compiles_with_given_weights() -> None:
    """Weights given by key, or by a function of the checked graph, are the ones used."""
    kernel = np.arange(6, dtype=np.float32).reshape(3, 2)
    given = {"dense/kernel": kernel, "dense/bias": np.ones(2, np.float32)}
    compiled = compile_data(SPEC, weights=given)
    np.testing.assert_array_equal(compiled.weights["dense/kernel"], kernel)

    def zeros(typed: TypedGraph) -> dict[str, np.ndarray]:
        return {k: np.zeros(s, np.float32) for k, s in expected_weight_shapes(typed).items()}

    compiled = compile_data(SPEC, weights=zeros)
    assert all(not array.any() for array in compiled.weights.values())


def test_diagnostics_point_into_the_text() -> None:
    """An error in a spec mapping is located at its line in the JSON text compiled."""
    bad = json.loads(json.dumps(SPEC))
    bad["layers"][0]["units"] = 0
    with pytest.raises(SpecError) as error:
        compile_data(bad)
    (diagnostic,) = error.value.diagnostics
    assert diagnostic.file == "<spec>"
    assert diagnostic.position is not None and diagnostic.position.line > 1
    with pytest.raises(SpecError):
        compile_data(SPEC, weights={"dense/kernel": np.zeros((2, 2), np.float32)})
