"""Fuzz target: a training data ``.npz`` for a small fixed model, through ``load_dataset``.

The input is an ``.npz`` or a recipe for one (``npz_recipe``) whose members are mostly
named after the model's inputs and outputs. Clean: ``SpecError`` about the data file, or a
dataset whose arrays have the model's dtypes and shapes, finite values and class indices
in range.
"""

from __future__ import annotations

from tests.fuzz import model, npz_recipe
from tests.fuzz.targets import Target


def prepare(data: bytes) -> bytes:
    """The data file that ``data`` describes."""
    return npz_recipe.build(data, model.DATA_NAMES)


TARGET = Target(
    name="data_npz",
    summary="a data .npz for a fixed model through load_dataset",
    file_name="data.npz",
    check=model.check_data_file,
    positioned=False,
    prepare=prepare,
    instrument=npz_recipe.READERS,
    tokens=lambda: list(model.DATA_NAMES),
)
