"""Fuzz target: a weights file (``specc build --weights``) for a small fixed model.

The input is an ``.npz`` or a recipe for one (``npz_recipe``) whose members are mostly
named after the model's weights. It goes through ``compile_spec`` with the weights file:
``load_weights``, then the checks of keys, shapes and dtypes against the model. Clean:
the model compiles, or ``SpecError`` about the weights file.
"""

from __future__ import annotations

from pathlib import Path

from specc.pipeline import compile_spec
from tests.fuzz import model, npz_recipe
from tests.fuzz.targets import Target


def prepare(data: bytes) -> bytes:
    """The weights file that ``data`` describes."""
    return npz_recipe.build(data, tuple(model.WEIGHTS))


def check(path: Path) -> None:
    """Compile the fixed model with the weights file at ``path``."""
    compile_spec(model.spec_file(path.parent), weights_path=path)


TARGET = Target(
    name="weights_npz",
    summary="a weights .npz for a fixed model through compile_spec(weights_path=...)",
    file_name="weights.npz",
    check=check,
    positioned=False,
    prepare=prepare,
    instrument=npz_recipe.READERS,
    tokens=lambda: list(model.WEIGHTS),
)
