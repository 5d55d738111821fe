"""Make a learnable data set for any example spec: inputs at random, targets from a teacher.

    python models/data/generate.py models/ticket_classifier.yaml -o ticket.npz --samples 512

Float inputs are drawn from N(0, 1); integer inputs read by an Embedding are token ids
below its ``input_dim``. A fixed random "teacher" turns each sample's inputs into a
feature vector and then into every output's target, in the form its loss takes: class
indices, one-hot rows, 0/1 labels or real values. The arrays are named after the spec's
inputs and outputs, as ``specc train`` expects.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np

from specc.layers.embedding import Embedding
from specc.pipeline import check_spec
from specc.spec.compile import losses_by_output
from specc.train.data_targets import targets_for
from specc.types import DTYPES, TensorType

VARIABLE_SIZE = 12  # the length given to a variable (null) dimension
TEACHER_FEATURES = 16


def _vocabulary(spec_path: Path) -> dict[str, int]:
    """For each integer input read by Embeddings, the smallest ``input_dim`` among them."""
    typed = check_spec(spec_path)
    sizes: dict[str, int] = {}
    for node in typed.resolved.nodes:
        if isinstance(node.layer, Embedding):
            for ref in node.inputs:
                sizes[ref.name] = min(
                    sizes.get(ref.name, node.layer.input_dim), node.layer.input_dim
                )
    return sizes


def make_dataset(spec_path: str | Path, samples: int = 512, seed: int = 0) -> dict[str, np.ndarray]:
    """Arrays for every input and every output that has a loss."""
    spec_path = Path(spec_path)
    typed = check_spec(spec_path)
    compile_config = typed.resolved.spec.compile
    if compile_config is None:
        raise SystemExit(f"{spec_path} has no compile section: nothing to train")
    rng = np.random.default_rng(seed)
    vocabulary = _vocabulary(spec_path)
    arrays: dict[str, np.ndarray] = {}
    features = []
    for name, tensor in typed.resolved.inputs.items():
        shape = (samples, *(VARIABLE_SIZE if d is None else d for d in tensor.shape))
        if tensor.dtype in ("int32", "int64"):
            vocab = vocabulary.get(name, 10)
            ids = rng.integers(0, vocab, size=shape)
            arrays[name] = ids.astype(DTYPES[tensor.dtype])
            table = rng.normal(size=(vocab, 4))
            features.append(table[ids].reshape(samples, -1, 4).mean(axis=1))
        else:
            values = rng.normal(size=shape)
            arrays[name] = values.astype(DTYPES[tensor.dtype])
            flat = values.reshape(samples, -1)
            projection = rng.normal(size=(flat.shape[1], 4)) / math.sqrt(flat.shape[1])
            features.append(flat @ projection)
    hidden = np.tanh(
        np.concatenate(features, axis=1) @ rng.normal(size=(4 * len(features), TEACHER_FEATURES))
    )
    outputs = [str(ref) for ref in typed.resolved.outputs]
    predictions = dict(zip(outputs, typed.outputs, strict=True))
    losses = losses_by_output(compile_config, outputs)
    for name, target in targets_for(losses, predictions).items():
        arrays[name] = _teach(
            rng, hidden, target.form, target.type, predictions[name], losses[name]
        )
    return arrays


def _teach(
    rng: np.random.Generator,
    hidden: np.ndarray,
    form: str,
    label: TensorType,
    prediction: TensorType,
    loss: object,
) -> np.ndarray:
    samples = hidden.shape[0]
    shape = tuple(VARIABLE_SIZE if d is None else d for d in prediction.shape)
    size = math.prod(shape)
    scores = (hidden @ rng.normal(size=(hidden.shape[1], size))).reshape(samples, *shape)
    if form in ("sparse", "one_hot"):
        classes = scores.argmax(axis=-1)
        if form == "sparse":
            return classes.astype(DTYPES[label.dtype])
        return np.eye(shape[-1], dtype=np.float32)[classes]
    if type(loss).__name__ in ("BinaryCrossentropy", "Hinge", "SquaredHinge"):
        return (scores > 0).astype(np.float32)
    return np.tanh(scores).astype(np.float32)


def main() -> None:
    """Write the data set of one spec."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("spec", type=Path)
    parser.add_argument("-o", "--out", type=Path, required=True)
    parser.add_argument("--samples", type=int, default=512)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    arrays = make_dataset(args.spec, args.samples, args.seed)
    np.savez_compressed(args.out, **arrays)
    print(f"wrote {args.out}: " + ", ".join(f"{k} {v.shape} {v.dtype}" for k, v in arrays.items()))


if __name__ == "__main__":
    main()
