"""Fuzz target: a training data ``.csv`` for a small fixed model, through ``load_dataset``.

The input is the file's bytes. Clean: ``SpecError`` about the data file, or a dataset whose
arrays have the model's dtypes and shapes, finite values and class indices in range.
"""

from __future__ import annotations

from tests.fuzz import model
from tests.fuzz.targets import Target

# Column names as docs/data.md writes them (``features[2]``), and CSV syntax.
SYNTAX = ["features[0]", "features[2]", "tokens[3]", "score", "category", "[", "]", ",", '"']
SYNTAX += ['""', "\r\n", "\n", "\ufeff", "nan", "inf", "-0", "1e999", "9" * 30, "\x00", "[-1]"]


TARGET = Target(
    name="data_csv",
    summary="a data .csv for a fixed model through load_dataset",
    file_name="data.csv",
    check=model.check_data_file,
    positioned=False,
    tokens=lambda: SYNTAX,
)
