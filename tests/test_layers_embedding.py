"""Embedding: lookups in onnxruntime against NumPy, id dtypes, shapes, weights and errors."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

import specc.layers.embedding  # noqa: F401 - registers the layer
from specc.layers.base import LAYERS
from specc.types import TensorType
from tests.layer_harness import compare_layer, make_layer, random_weights, run_layer


def compare(config: dict, t: TensorType, ids: np.ndarray) -> np.ndarray:
    """Run Embedding on ``ids``; check values, dtype and shape against the layer."""
    (got,) = compare_layer("Embedding", config, [t], [ids], weights_seed=5)
    assert got.dtype == np.float32
    return got


@pytest.mark.parametrize("dtype", ["int64", "int32"])
@pytest.mark.parametrize("shape", [(7,), (3, 5), (), (None,)])
def test_embedding_matches_reference(dtype: str, shape: tuple[int | None, ...]) -> None:
    t = TensorType(dtype, shape)
    concrete = (4, *(d or 6 for d in shape))
    ids = np.random.default_rng(0).integers(0, 11, size=concrete).astype(dtype)
    y = compare({"input_dim": 11, "output_dim": 3}, t, ids)
    assert y.shape == (*concrete, 3)


def test_embedding_rows_are_the_table_rows() -> None:
    layer = make_layer("Embedding", input_dim=4, output_dim=2)
    t = TensorType("int64", (3,))
    table = np.arange(8, dtype=np.float32).reshape(4, 2)
    ids = np.array([[0, 3, 3], [2, 1, 0]], np.int64)
    (y,) = run_layer(layer, [t], [ids], {"embeddings": table})
    np.testing.assert_array_equal(y[0], [[0, 1], [6, 7], [6, 7]])
    np.testing.assert_array_equal(y[1], [[4, 5], [2, 3], [0, 1]])


def test_embedding_truncates_float_ids_like_keras() -> None:
    ids = np.array([[0.0, 2.9, 4.99], [1.2, 3.0, 0.7]], np.float32)
    y = compare({"input_dim": 5, "output_dim": 4}, TensorType("float32", (3,)), ids)
    table = random_weights(make_layer("Embedding", input_dim=5, output_dim=4), [], seed=5)
    np.testing.assert_allclose(y[0, 1], table["embeddings"][2])
    np.testing.assert_allclose(y[0, 2], table["embeddings"][4])


def test_embedding_weight_spec() -> None:
    layer = make_layer("Embedding", input_dim=9, output_dim=5, embeddings_regularizer="l2")
    (spec,) = layer.weights([TensorType("int64", (3,))])
    assert spec.name == "embeddings"
    assert spec.shape == (9, 5)
    assert spec.initializer.type == "uniform"
    assert spec.regularizer is not None
    assert spec.constraint is None


def test_embedding_mask_zero_makes_a_mask() -> None:
    """The lookup is the same; the ids equal to 0 are masked (tests/test_masks.py)."""
    layer = make_layer("Embedding", input_dim=9, output_dim=5, mask_zero=True)
    assert layer.output_types([TensorType("int64", (3,))]) == [TensorType("float32", (3, 5))]
    assert layer.mask_rule().kind == "compute"
    assert make_layer("Embedding", input_dim=9, output_dim=5).mask_rule().kind == "drop"


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"input_dim": 0, "output_dim": 3}, "greater than 0"),
        ({"input_dim": 3, "output_dim": -1}, "greater than 0"),
        ({"input_dim": 3, "output_dim": 2, "input_length": 5}, "input_length"),
    ],
)
def test_embedding_rejects_bad_config(config: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        make_layer("Embedding", **config)


def test_examples_run() -> None:
    for config, types in LAYERS.get("Embedding").examples():
        (t,) = types
        concrete = (3, *(d or 4 for d in t.shape))
        ids = np.random.default_rng(1).integers(0, config["input_dim"], size=concrete)
        compare(config, t, ids.astype(t.dtype))
