"""Data whose values are wrong for the model: ids past an Embedding's table, images with
their axes in another order, NaN and infinity. Each is refused before training with the
array, the value and where it is, and advice that fixes it."""

from __future__ import annotations

import numpy as np

from tests.hostile.case import Case, Content
from tests.hostile.npz_files import npz

FAMILY = "data values"

TOKENS = """\
specc: 1
name: tokens
inputs:
  ids: {shape: [5], dtype: int32}
layers:
  - {name: embed, type: Embedding, input_dim: 10, output_dim: 2, inputs: ids}
  - {name: flat, type: Flatten}
  - {name: out, type: Dense, units: 1}
outputs: [out]
compile:
  optimizer: sgd
  loss: mse
"""
IMAGES = """\
specc: 1
name: images
inputs:
  image: {shape: [16, 16, 3]}
layers:
  - {name: flat, type: Flatten, inputs: image}
  - {name: out, type: Dense, units: 2, activation: softmax}
outputs: [out]
compile:
  optimizer: sgd
  loss: sparse_categorical_crossentropy
"""
IDS = np.arange(40).reshape(8, 5) % 10
TARGET = np.linspace(0, 1, 8)


def train(spec: str, data: Content, suffix: str = "npz", *options: str) -> dict:
    """The ``argv`` and ``files`` of a ``train --data`` case."""
    argv = ["train", "spec.yaml", "--data", f"d.{suffix}", "-o", "out", "-q", "--epochs", "1"]
    return {"argv": [*argv, *options], "files": {"spec.yaml": spec, f"d.{suffix}": data}}


def with_id(value: float, row: int = 3, column: int = 2) -> np.ndarray:
    ids = IDS.astype(np.float64 if value != int(value) else np.int64)
    ids[row, column] = value
    return ids


CASES = [
    Case(
        FAMILY,
        "token id past input_dim",
        **train(TOKENS, npz(ids=with_id(12), out=TARGET)),
        output_has=(
            r"array 'ids' for input 'ids' feeds Embedding layer 'embed' \(input_dim 10\), so it "
            r"must hold ids 0 to 9; got 12 at sample 3; raise input_dim or map the ids into "
            r"range \[SPC531-embedding-id\]",
        ),
    ),
    Case(
        FAMILY,
        "token id equal to input_dim",
        **train(TOKENS, npz(ids=with_id(10, row=7), out=TARGET)),
        output_has=(r"got 10 at sample 7",),
    ),
    Case(
        FAMILY,
        "negative token id",
        **train(TOKENS, npz(ids=with_id(-1), out=TARGET)),
        output_has=(r"got -1 at sample 3", r"SPC531"),
    ),
    Case(
        FAMILY,
        "token id past input_dim in a .csv",
        **train(
            TOKENS,
            "ids[0],ids[1],ids[2],ids[3],ids[4],out\n1,2,3,4,5,0.5\n1,2,30,4,5,0.5\n",
            "csv",
        ),
        output_has=(r"columns 'ids\[0\]' to 'ids\[4\]' .* got 30 at line 3",),
    ),
    Case(
        FAMILY,
        "float token id past input_dim",
        **train(
            TOKENS.replace("dtype: int32", "dtype: float32"),
            npz(ids=with_id(10.5), out=TARGET),
        ),
        output_has=(r"got 10.5 at sample 3",),
    ),
    Case(
        FAMILY,
        "token id past input_dim in validation data",
        argv=[*train(TOKENS, b"")["argv"], "--validation-data", "v.npz"],
        files={
            "spec.yaml": TOKENS,
            "d.npz": npz(ids=IDS, out=TARGET),
            "v.npz": npz(ids=with_id(99, row=1), out=TARGET),
        },
        output_has=(r"v.npz: error: .*got 99 at sample 1",),
    ),
    Case(
        FAMILY,
        "channels first for channels last",
        **train(IMAGES, npz(image=np.zeros((20, 3, 16, 16), np.float32), out=np.zeros(20))),
        output_has=(
            r"array 'image' for input 'image' must have shape \(None, 16, 16, 3\); got "
            r"\(20, 3, 16, 16\) \(the same axes in another order: transpose it with "
            r"np.transpose\(array, \(0, 2, 3, 1\)\); a reshape would scramble the values\)",
        ),
    ),
    Case(
        FAMILY,
        "channels last for channels first",
        **train(
            IMAGES.replace("[16, 16, 3]", "[3, 8, 16]"),
            npz(image=np.zeros((20, 8, 16, 3), np.float32), out=np.zeros(20)),
        ),
        output_has=(r"np.transpose\(array, \(0, 3, 1, 2\)\)",),
    ),
    Case(
        FAMILY,
        "flat pixels for an image",
        **train(IMAGES, npz(image=np.zeros((20, 768), np.float32), out=np.zeros(20))),
        output_has=(r"the same 768 values per sample: reshape it to \(20, 16, 16, 3\)",),
    ),
    Case(
        FAMILY,
        "NaN in float labels",
        **train(TOKENS, npz(ids=IDS, out=np.where(TARGET > 0.5, np.nan, TARGET))),
        output_has=(r"array 'out' for output 'out' must hold finite numbers; got nan at sample 4",),
    ),
    Case(
        FAMILY,
        "NaN in class labels",
        **train(
            IMAGES,
            npz(image=np.zeros((4, 16, 16, 3)), out=np.array([0, 1, np.nan, 1])),
        ),
        output_has=(r"got nan at sample 2", r"SPC528-not-finite"),
    ),
    Case(
        FAMILY,
        "infinity in inputs",
        **train(IMAGES, npz(image=np.full((4, 16, 16, 3), np.inf), out=np.zeros(4))),
        output_has=(r"must hold finite numbers; got inf at sample 0 \(and 3071 more\)",),
    ),
    Case(
        FAMILY,
        "class label past the classes",
        **train(IMAGES, npz(image=np.zeros((4, 16, 16, 3)), out=np.array([0, 1, 2, 1]))),
        output_has=(r"must hold class indices 0 to 1, for 2 classes; got 2 at sample 2",),
    ),
]
