import numpy as np

from specc.types import TensorType
from tests.layer_harness import make_layer, random_weights, run_layer


def test_dense_matches_reference() -> None:
    layer = make_layer("Dense", units=3, activation="selu")
    types = [TensorType("float32", (4,))]
    x = np.random.default_rng(1).normal(size=(5, 4)).astype(np.float32)
    w = random_weights(layer, types)
    (got,) = run_layer(layer, types, [x], w)
    (want,) = layer.reference([x], w)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
