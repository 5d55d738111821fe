"""Every example in models/ validates, builds, passes the ONNX checker and runs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from specc.pipeline import check_spec, compile_spec
from specc.summary import parameter_counts
from tests.spec_helpers import ROOT, random_inputs, run_compiled

MODELS = sorted(ROOT.joinpath("models").glob("*.yaml"))

# Parameter counts as Keras reports them for the same models (weights + biases).
KERAS_PARAMS = {
    "digits_cnn.yaml": (3 * 3 * 1 * 32 + 32)
    + (3 * 3 * 32 * 64 + 64)
    + (4 * 4 * 64 * 128 + 128)
    + (128 * 10 + 10),
    "mnist_cnn.yaml": (3 * 3 * 1 * 32 + 32) + (3 * 3 * 32 * 64 + 64) + (5 * 5 * 64 * 10 + 10),
    # Keras's IMDB bidirectional LSTM example: 2 x 4 x (in*64 + 64*64 + 64) per BiLSTM.
    "imdb_bilstm.yaml": 20000 * 128 + 2 * 4 * (128 * 64 + 64 * 64 + 64) * 2 + (128 + 1),
    # Keras's functional API guide reports 1,392,097 for the ticket classifier.
    "ticket_classifier.yaml": 1_392_097,
    "digits_mlp.yaml": (64 * 128 + 128) + (128 * 64 + 64) + (64 * 10 + 10),
    "dense_stack.yaml": (16 * 64 + 64) + (64 * 64 + 64) + (64 + 1),
    "mnist_mlp.yaml": (784 * 512 + 512) + (512 * 512 + 512) + (512 * 10 + 10),
    # The encoder is counted once, however many times it is applied (Keras: model.weights).
    "siamese.yaml": (8 * 16 + 16) + (16 * 8 + 8) + (8 + 1),
    # Keras's "text classification with Transformer" example, its custom
    # TokenAndPositionEmbedding included, counts 657,758 (Keras 3.15.1, model.count_params()).
    "transformer_classifier.yaml": 657_758,
    "two_inputs_two_outputs.yaml": (12 * 16 + 16) + 100 * 6 + (64 * 32 + 32) + 33 + (32 * 4 + 4),
}


def test_every_example_has_a_parameter_count() -> None:
    assert sorted(KERAS_PARAMS) == [p.name for p in MODELS]


def test_cnn_example_is_transposed_once_in_and_once_out() -> None:
    compiled = compile_spec(ROOT / "models" / "mnist_cnn.yaml", seed=0)
    data_path = [
        node
        for node in compiled.graph.nodes
        if node.op_type == "Transpose" and node.inputs[0] not in compiled.graph.initializers
    ]
    assert len(data_path) == 2


@pytest.mark.parametrize("path", MODELS, ids=lambda p: p.name)
def test_example_builds_and_runs(path: Path) -> None:
    typed = check_spec(path)
    trainable, frozen = parameter_counts(typed)
    assert (trainable + frozen, frozen) == (KERAS_PARAMS[path.name], 0)

    compiled = compile_spec(path, seed=0)
    inputs = random_inputs(list(compiled.typed.resolved.inputs.values()), batch=4, seed=0)
    outputs = run_compiled(compiled, inputs)
    assert len(outputs) == len(compiled.typed.outputs)
    for got, tensor in zip(outputs, compiled.typed.outputs, strict=True):
        assert got.shape == (4, *tensor.shape)
        assert np.isfinite(got).all()
