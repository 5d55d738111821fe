"""Training data: loading .npz and .csv files, every check with its message, Keras's split
and batching rules."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from specc.diagnostics import SpecError
from specc.limits import Limits
from specc.losses import LOSSES, Loss
from specc.npz import NpzFile
from specc.pipeline import check_spec
from specc.train import data_codes
from specc.train.data import Dataset, IdRange, Target, id_ranges, load_dataset, targets_for
from specc.types import TensorType
from tests.spec_helpers import ROOT, write_spec

DIGITS = ROOT / "models" / "data" / "digits.npz"

F32 = TensorType("float32", ())
SPARSE10 = Target(TensorType("int64", ()), "sparse", 10)
ONE_HOT10 = Target(TensorType("float32", (10,)), "one_hot")


def f32(*shape: int | None) -> TensorType:
    return TensorType("float32", tuple(shape))


def problems(call, *args, **kwargs) -> list[tuple[str, str]]:
    """``(code, message)`` of every diagnostic ``call`` raises; each one is on the file and
    has no position."""
    with pytest.raises(SpecError) as info:
        call(*args, **kwargs)
    for d in info.value.diagnostics:
        assert d.position is None and d.path == ()
    return [(d.code, d.message) for d in info.value.diagnostics]


def from_arrays(arrays, inputs, targets) -> list[tuple[str, str]]:
    return problems(Dataset.from_arrays, arrays, inputs, targets)


def write_csv(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "data.csv"
    path.write_text(text)
    return path


# --- digits.npz ---------------------------------------------------------------------------


def test_digits_loads_for_an_mlp() -> None:
    data = load_dataset(DIGITS, {"pixels": f32(64)}, {"digit": SPARSE10})
    assert len(data) == 1797
    assert data.inputs["pixels"].shape == (1797, 64)
    assert data.inputs["pixels"].dtype == np.float32
    assert data.targets["digit"].dtype == np.int64
    assert set(np.unique(data.targets["digit"])) == set(range(10))
    assert data.unused == ("image",)
    assert data.file == str(DIGITS)


def test_digits_loads_for_a_cnn() -> None:
    data = load_dataset(DIGITS, {"image": f32(8, 8, 1)}, {"digit": SPARSE10})
    assert data.inputs["image"].shape == (1797, 8, 8, 1)
    assert data.unused == ("pixels",)
    raw = np.load(DIGITS)
    np.testing.assert_array_equal(data.inputs["image"].reshape(1797, 64), raw["pixels"])


def test_the_wrong_digits_array_for_a_cnn() -> None:
    assert problems(load_dataset, DIGITS, {"pixels": f32(8, 8, 1)}, {"digit": SPARSE10}) == [
        (
            "SPC524-data-shape",
            "array 'pixels' for input 'pixels' must have shape (None, 8, 8, 1); got (1797, 64) "
            "(the same 64 values per sample: reshape it to (1797, 8, 8, 1))",
        )
    ]


def test_digits_with_a_categorical_loss_hints_at_the_sparse_one() -> None:
    assert problems(load_dataset, DIGITS, {"pixels": f32(64)}, {"digit": ONE_HOT10}) == [
        (
            "SPC526-label-form",
            "array 'digit' for output 'digit' must be one-hot labels of shape (None, 10) for "
            "categorical_crossentropy; got class indices of shape (1797,); use the loss "
            "sparse_categorical_crossentropy, or one-hot encode the labels",
        )
    ]


# --- reading files ------------------------------------------------------------------------


def test_unreadable_files(tmp_path: Path) -> None:
    inputs, targets = {"x": F32}, {}
    missing = tmp_path / "nope.npz"
    assert problems(load_dataset, missing, inputs, targets) == [
        ("SPC521-data-file", f"no such data file: {missing}")
    ]
    assert problems(load_dataset, tmp_path / "nope.csv", inputs, targets)[0][0] == (
        "SPC521-data-file"
    )
    other = tmp_path / "train.txt"
    other.write_text("x\n1\n")
    assert problems(load_dataset, other, inputs, targets) == [
        (
            "SPC521-data-file",
            "data must be a .npz or .csv file, or a folder of .npy files or of .npz shards; "
            "got 'train.txt'",
        )
    ]
    garbage = tmp_path / "garbage.npz"
    garbage.write_text("not a zip")
    assert problems(load_dataset, garbage, inputs, targets) == [
        (
            "SPC521-data-file",
            "not an .npz file (a zip archive of .npy arrays, as numpy.savez writes)",
        )
    ]


def test_npz_object_arrays_are_refused_without_mentioning_pickle(tmp_path: Path) -> None:
    path = tmp_path / "objects.npz"
    np.savez(path, x=np.array([{"a": 1}, None], dtype=object))
    assert problems(load_dataset, path, {"x": F32}, {}) == [
        (
            "SPC525-data-dtype",
            "array 'x' for input 'x' must hold numbers (float32); got dtype object",
        )
    ]


def test_diagnostics_name_the_data_file(tmp_path: Path) -> None:
    path = tmp_path / "d.npz"
    np.savez(path, y=np.zeros(3))
    with pytest.raises(SpecError) as info:
        load_dataset(path, {"x": F32}, {})
    [diagnostic] = info.value.diagnostics
    assert diagnostic.file == str(path)
    assert diagnostic.as_text() == (
        f"{path}: error: no array 'x' for input 'x' of shape (None,); the file has 'y' "
        "[SPC522-missing-data]"
    )


# --- the checks, one by one ---------------------------------------------------------------


def test_missing_array_suggests_the_nearest_name() -> None:
    assert from_arrays({"image": np.zeros((2, 8, 8, 1))}, {"images": f32(8, 8, 1)}, {}) == [
        (
            "SPC522-missing-data",
            "no array 'images' for input 'images' of shape (None, 8, 8, 1); did you mean 'image'?",
        )
    ]


def test_missing_array_lists_a_few_others_or_counts_many() -> None:
    few = {"a": np.zeros(2), "b": np.zeros(2)}
    assert from_arrays(few, {"x": F32}, {}) == [
        (
            "SPC522-missing-data",
            "no array 'x' for input 'x' of shape (None,); the file has 'a', 'b'",
        )
    ]
    many = {f"q{i}": np.zeros(2) for i in range(11)}
    assert from_arrays(many, {"x": F32}, {}) == [
        (
            "SPC522-missing-data",
            "no array 'x' for input 'x' of shape (None,); the file has 11 others",
        )
    ]


def test_missing_labels_name_the_output() -> None:
    assert from_arrays({"x": np.zeros(2)}, {"x": F32}, {"label": SPARSE10}) == [
        ("SPC522-missing-data", "no array 'label' for output 'label' of shape (None,)")
    ]


def test_extra_arrays_are_ignored_and_listed() -> None:
    data = Dataset.from_arrays(
        {"notes": np.array(["a", "b"]), "x": np.zeros(2), "w": np.ones(5)}, {"x": F32}, {}
    )
    assert data.unused == ("notes", "w")
    assert list(data.inputs) == ["x"] and data.targets == {}


def test_length_mismatch_names_both_counts() -> None:
    arrays = {"pixels": np.zeros((1797, 64)), "digit": np.zeros(1000, dtype=np.int64)}
    assert from_arrays(arrays, {"pixels": f32(64)}, {"digit": SPARSE10}) == [
        (
            "SPC523-data-length",
            "array 'digit' has 1000 samples but array 'pixels' has 1797; every array needs one "
            "entry per sample",
        )
    ]


def test_empty_data() -> None:
    assert from_arrays({"x": np.zeros((0, 3))}, {"x": f32(3)}, {}) == [
        ("SPC523-data-length", "array 'x' holds no samples; the data is empty")
    ]


def test_shape_mismatch_without_a_reshape_hint() -> None:
    assert from_arrays({"x": np.zeros((5, 3))}, {"x": f32(4)}, {}) == [
        ("SPC524-data-shape", "array 'x' for input 'x' must have shape (None, 4); got (5, 3)")
    ]


def test_a_scalar_is_not_an_array_of_samples() -> None:
    assert from_arrays({"x": np.float32(1.0)}, {"x": f32(4)}, {}) == [
        (
            "SPC524-data-shape",
            "array 'x' for input 'x' must have shape (None, 4); got a scalar (one value for all "
            "samples)",
        )
    ]


def test_variable_dimensions_take_any_size() -> None:
    inputs = {"seq": f32(None, 3)}
    assert Dataset.from_arrays({"seq": np.zeros((2, 5, 3))}, inputs, {}).inputs["seq"].shape == (
        2,
        5,
        3,
    )
    assert len(Dataset.from_arrays({"seq": np.zeros((4, 9, 3))}, inputs, {})) == 4
    assert from_arrays({"seq": np.zeros((4, 9, 2))}, inputs, {}) == [
        (
            "SPC524-data-shape",
            "array 'seq' for input 'seq' must have shape (None, None, 3); got (4, 9, 2)",
        )
    ]


def test_a_trailing_axis_of_one_is_added_or_dropped_as_keras_does() -> None:
    data = Dataset.from_arrays(
        {"x": np.zeros((3, 4, 1)), "y": np.zeros(3), "c": np.array([[1], [0], [2]])},
        {"x": f32(4)},
        {"y": Target(f32(1)), "c": SPARSE10},
    )
    assert data.inputs["x"].shape == (3, 4)
    assert data.targets["y"].shape == (3, 1)
    assert data.targets["c"].shape == (3,)
    np.testing.assert_array_equal(data.targets["c"], [1, 0, 2])


def test_non_numeric_arrays() -> None:
    assert from_arrays({"x": np.array(["a", "b"])}, {"x": F32}, {}) == [
        ("SPC525-data-dtype", "array 'x' for input 'x' must hold numbers (float32); got dtype <U1")
    ]


def test_float_inputs_take_ints_and_bools_and_cast_them() -> None:
    data = Dataset.from_arrays(
        {"a": np.array([1, 2]), "b": np.array([True, False]), "c": np.array([0.1, 0.2])},
        {"a": F32, "b": F32, "c": TensorType("float16", ())},
        {},
    )
    assert data.inputs["a"].dtype == np.float32 and data.inputs["a"].tolist() == [1.0, 2.0]
    assert data.inputs["b"].tolist() == [1.0, 0.0]
    assert data.inputs["c"].dtype == np.float16


def test_int_inputs_take_whole_floats_and_refuse_fractions() -> None:
    ids = TensorType("int64", (2,))
    data = Dataset.from_arrays({"ids": np.array([[1.0, 3.0], [0.0, 2.0]])}, {"ids": ids}, {})
    assert data.inputs["ids"].dtype == np.int64
    assert data.inputs["ids"].tolist() == [[1, 3], [0, 2]]
    fractions = np.array([[1.0, 3.0], [0.5, 2.5]])
    assert from_arrays({"ids": fractions}, {"ids": ids}, {}) == [
        (
            "SPC525-data-dtype",
            "array 'ids' for input 'ids' must hold whole numbers (int64); got 0.5 at sample 1 "
            "(and 1 more)",
        )
    ]


def test_int_inputs_must_fit_their_dtype() -> None:
    big = np.array([1, 3_000_000_000])
    assert from_arrays({"ids": big}, {"ids": TensorType("int32", ())}, {}) == [
        (
            "SPC525-data-dtype",
            "array 'ids' for input 'ids' must hold numbers within the range of int32; got "
            "3000000000 at sample 1",
        )
    ]


def test_bool_inputs_take_zeros_and_ones() -> None:
    flag = TensorType("bool", ())
    data = Dataset.from_arrays({"f": np.array([0, 1, 1])}, {"f": flag}, {})
    assert data.inputs["f"].dtype == np.bool_ and data.inputs["f"].tolist() == [False, True, True]
    assert from_arrays({"f": np.array([0, 2])}, {"f": flag}, {}) == [
        (
            "SPC525-data-dtype",
            "array 'f' for input 'f' must hold booleans (bool, or numbers 0 and 1); got 2 at "
            "sample 1",
        )
    ]


def test_nan_and_inf_are_refused() -> None:
    x = np.zeros((20, 2), dtype=np.float32)
    x[12, 1] = np.nan
    x[15, 0] = np.inf
    x[19, 0] = -np.inf
    assert from_arrays({"x": x}, {"x": f32(2)}, {}) == [
        (
            "SPC528-not-finite",
            "array 'x' for input 'x' must hold finite numbers; got nan at sample 12 (and 2 more)",
        )
    ]
    y = np.array([0.0, np.nan])
    assert from_arrays({"x": x[:2], "y": y}, {"x": f32(2)}, {"y": Target(F32)}) == [
        (
            "SPC528-not-finite",
            "array 'y' for output 'y' must hold finite numbers; got nan at sample 1",
        )
    ]


def test_values_that_overflow_float16() -> None:
    assert from_arrays({"h": np.array([1.0, 1e5])}, {"h": TensorType("float16", ())}, {}) == [
        (
            "SPC528-not-finite",
            "array 'h' for input 'h' must hold numbers that fit float16; got 100000.0 at sample 1",
        )
    ]


def test_one_hot_labels_for_a_sparse_loss() -> None:
    one_hot = np.eye(10, dtype=np.float32)[[3, 1, 4]]
    assert from_arrays({"x": np.zeros(3), "d": one_hot}, {"x": F32}, {"d": SPARSE10}) == [
        (
            "SPC526-label-form",
            "array 'd' for output 'd' must be class indices of shape (None,) for "
            "sparse_categorical_crossentropy; got one-hot labels of shape (3, 10); use the loss "
            "categorical_crossentropy, or give each sample's class index (the argmax of its row)",
        )
    ]


def test_fractional_class_indices_for_a_categorical_loss_are_just_a_shape_error() -> None:
    labels = np.array([0.5, 1.0])
    assert from_arrays({"x": np.zeros(2), "d": labels}, {"x": F32}, {"d": ONE_HOT10}) == [
        ("SPC524-data-shape", "array 'd' for output 'd' must have shape (None, 10); got (2,)")
    ]


def test_sparse_labels_out_of_range() -> None:
    labels = np.array([1, 10, 3, 12, -1])
    assert from_arrays({"x": np.zeros(5), "d": labels}, {"x": F32}, {"d": SPARSE10}) == [
        (
            "SPC527-label-range",
            "array 'd' for output 'd' must hold class indices 0 to 9, for 10 classes; got 10 at "
            "sample 1 (and 2 more)",
        )
    ]


def test_sparse_labels_may_be_the_ignore_class() -> None:
    target = Target(TensorType("int64", ()), "sparse", 3, ignore_class=-1)
    data = Dataset.from_arrays(
        {"x": np.zeros(3), "d": np.array([2.0, -1.0, 0.0])}, {"x": F32}, {"d": target}
    )
    assert data.targets["d"].tolist() == [2, -1, 0]
    assert from_arrays({"x": np.zeros(2), "d": np.array([-2, 1])}, {"x": F32}, {"d": target}) == [
        (
            "SPC527-label-range",
            "array 'd' for output 'd' must hold class indices 0 to 2, for 3 classes, or "
            "ignore_class -1; got -2 at sample 0",
        )
    ]


def test_sparse_labels_must_be_whole_numbers() -> None:
    labels = np.array([1.0, 2.5])
    assert from_arrays({"x": np.zeros(2), "d": labels}, {"x": F32}, {"d": SPARSE10}) == [
        (
            "SPC525-data-dtype",
            "array 'd' for output 'd' must hold whole numbers (class indices); got 2.5 at sample 1",
        )
    ]


def test_every_problem_is_reported_at_once() -> None:
    arrays = {"a": np.zeros((4, 3)), "b": np.array([np.nan] * 5), "d": np.array([0, 1, 2, 99])}
    inputs = {"a": f32(2), "b": F32, "c": F32}
    found = from_arrays(arrays, inputs, {"d": SPARSE10})
    assert [code for code, _ in found] == [
        "SPC524-data-shape",
        "SPC528-not-finite",
        "SPC522-missing-data",
        "SPC527-label-range",
        "SPC523-data-length",
    ]


def test_a_bare_label_type_is_a_target_of_plain_values() -> None:
    data = Dataset.from_arrays({"x": np.zeros(2), "y": np.array([1, 2])}, {"x": F32}, {"y": F32})
    assert data.targets["y"].dtype == np.float32


@pytest.mark.skipif(not hasattr(Loss, "label_type"), reason="Loss.label_type is not there yet")
def test_targets_from_losses() -> None:
    sparse = LOSSES.get("sparse_categorical_crossentropy")(ignore_class=-1)
    categorical = LOSSES.get("categorical_crossentropy")()
    mse = LOSSES.get("mse")()
    prediction = f32(10)
    targets = targets_for(
        {"a": sparse, "b": categorical, "c": mse, "d": None},
        {"a": prediction, "b": prediction, "c": prediction, "d": prediction},
    )
    assert list(targets) == ["a", "b", "c"]
    assert targets["a"] == Target(TensorType("int64", ()), "sparse", 10, ignore_class=-1)
    assert targets["b"] == Target(f32(10), "one_hot")
    assert targets["c"] == Target(f32(10))


def test_ids_for_an_embedding_must_index_its_table() -> None:
    ids = {"tok": IdRange(10, "embed")}
    tokens = TensorType("int32", (3,))
    good = np.array([[0, 9, 3], [1, 2, 3]])
    data = Dataset.from_arrays({"tok": good}, {"tok": tokens}, {}, ids=ids)
    assert data.inputs["tok"].tolist() == good.tolist()
    bad = np.array([[0, 9, 3], [1, 10, 3], [-1, 2, 3]])
    assert problems(Dataset.from_arrays, {"tok": bad}, {"tok": tokens}, {}, ids=ids) == [
        (
            "SPC531-embedding-id",
            "array 'tok' for input 'tok' feeds Embedding layer 'embed' (input_dim 10), so it "
            "must hold ids 0 to 9; got 10 at sample 1 (and 1 more); raise input_dim or map "
            "the ids into range",
        )
    ]


def test_float_ids_are_truncated_first_as_the_embedding_does() -> None:
    ids = {"tok": IdRange(10, "embed")}
    floats = TensorType("float32", ())
    fine = np.array([-0.9, 0.0, 9.99])
    assert len(Dataset.from_arrays({"tok": fine}, {"tok": floats}, {}, ids=ids)) == 3
    assert problems(
        Dataset.from_arrays, {"tok": np.array([1.0, 10.0])}, {"tok": floats}, {}, ids=ids
    )[0][1].endswith("got 10.0 at sample 1; raise input_dim or map the ids into range")


def test_only_inputs_are_checked_as_ids() -> None:
    # An output that happens to share nothing with the Embedding is not an id.
    ids = {"tok": IdRange(2, "embed")}
    arrays = {"tok": np.array([0, 1]), "y": np.array([5.0, 7.0])}
    data = Dataset.from_arrays(arrays, {"tok": TensorType("int64", ())}, {"y": F32}, ids=ids)
    assert data.targets["y"].tolist() == [5.0, 7.0]


@pytest.mark.parametrize(
    ("layers", "expected"),
    [
        (
            [{"name": "e", "type": "Embedding", "input_dim": 7, "output_dim": 2, "inputs": "t"}],
            {"t": IdRange(7, "e")},
        ),
        (
            [
                {
                    "name": "big",
                    "type": "Embedding",
                    "input_dim": 9,
                    "output_dim": 2,
                    "inputs": "t",
                },
                {
                    "name": "small",
                    "type": "Embedding",
                    "input_dim": 4,
                    "output_dim": 2,
                    "inputs": "t",
                },
            ],
            {"t": IdRange(4, "small")},
        ),
        (
            [
                {
                    "name": "td",
                    "type": "TimeDistributed",
                    "inputs": "t",
                    "layer": {"type": "Embedding", "input_dim": 5, "output_dim": 2},
                },
            ],
            {"t": IdRange(5, "td")},
        ),
        (
            [
                {"name": "r", "type": "Reshape", "target_shape": [6], "inputs": "t"},
                {"name": "e", "type": "Embedding", "input_dim": 5, "output_dim": 2},
            ],
            {},
        ),
    ],
)
def test_id_ranges_come_from_the_typed_graph(tmp_path: Path, layers: list, expected: dict) -> None:
    spec = {
        "specc": 1,
        "inputs": {"t": {"shape": [3, 2], "dtype": "int32"}},
        "layers": layers,
        "outputs": [layers[-1]["name"]],
    }
    assert id_ranges(check_spec(write_spec(tmp_path, spec))) == expected


@pytest.mark.parametrize(
    ("given", "expected", "hint"),
    [
        ((200, 3, 16, 16), (16, 16, 3), "transpose it with np.transpose(array, (0, 2, 3, 1))"),
        ((200, 16, 16, 3), (3, 16, 16), "transpose it with np.transpose(array, (0, 3, 1, 2))"),
        ((5, 4, 2), (2, 4), "transpose it with np.transpose(array, (0, 2, 1))"),
        ((5, 2, 3, 4), (4, 2, 3), "transpose it with np.transpose(array, (0, 3, 1, 2))"),
        ((5, 12), (3, 4), "the same 12 values per sample: reshape it to (5, 3, 4)"),
        ((5, 6, 2), (3, 4), "the same 12 values per sample: reshape it to (5, 3, 4)"),
    ],
)
def test_shape_hints_transpose_axes_in_another_order(
    given: tuple[int, ...], expected: tuple[int, ...], hint: str
) -> None:
    [(code, message)] = from_arrays({"x": np.zeros(given)}, {"x": f32(*expected)}, {})
    assert code == "SPC524-data-shape"
    assert hint in message
    assert ("reshape" in hint) == ("reshape it" in message)


def test_npz_arrays_of_the_wrong_shape_are_never_read(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "d.npz"
    np.savez(path, x=np.zeros((4, 3), np.float32), y=np.zeros(4))
    read: list[list[str]] = []
    original = NpzFile.read
    monkeypatch.setattr(
        NpzFile, "read", lambda self, keys: read.append(list(keys)) or original(self, keys)
    )
    assert problems(load_dataset, path, {"x": f32(5)}, {"y": Target(F32)}) == [
        ("SPC524-data-shape", "array 'x' for input 'x' must have shape (None, 5); got (4, 3)")
    ]
    assert read == [["y"]]


def test_npz_text_arrays_nobody_uses_are_never_read(tmp_path: Path) -> None:
    path = tmp_path / "d.npz"
    np.savez(path, x=np.zeros(3), notes=np.array([{"a": 1}, None, 2], dtype=object))
    data = load_dataset(path, {"x": F32}, {})
    assert data.unused == ("notes",)


def test_an_empty_npz_says_so(tmp_path: Path) -> None:
    path = tmp_path / "d.npz"
    np.savez(path)
    assert problems(load_dataset, path, {"x": F32}, {}) == [
        ("SPC521-data-file", "the file holds no arrays (an empty .npz)")
    ]


def test_npz_limits(tmp_path: Path) -> None:
    path = tmp_path / "d.npz"
    np.savez(path, x=np.zeros(300))
    assert problems(load_dataset, path, {"x": F32}, {}, Limits(array_bytes=1000)) == [
        (
            "SPC530-data-limit",
            "array 'x' is (300,) float64: 2,400 bytes; the limit is 1,000; raise it with "
            "--limit array_bytes=2400",
        )
    ]


# --- .csv ---------------------------------------------------------------------------------


def test_csv_scalar_columns_and_sparse_labels(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "id,age,digit,height\nann,31,2,1.5\nbob,40,0,1.75\n\n")
    data = load_dataset(path, {"age": F32, "height": f32(1)}, {"digit": SPARSE10})
    assert data.inputs["age"].tolist() == [31.0, 40.0]
    assert data.inputs["height"].tolist() == [[1.5], [1.75]]
    assert data.targets["digit"].dtype == np.int64 and data.targets["digit"].tolist() == [2, 0]
    assert data.unused == ("id",)


def test_csv_multi_column_features_reshape_in_c_order(tmp_path: Path) -> None:
    # Columns out of order on purpose: the index, not the position, says where a value goes.
    path = write_csv(
        tmp_path,
        "img[1],img[0],img[2],img[3],cls[0],cls[1],cls[2]\n"
        "0.5,0.0,0.5,1.0,0,1,0\n"
        "0.0,1.0,0.0,1.0,1,0,0\n",
    )
    data = load_dataset(path, {"img": f32(2, 2, 1)}, {"cls": Target(f32(3), "one_hot")})
    np.testing.assert_array_equal(
        data.inputs["img"],
        np.array([[0.0, 0.5, 0.5, 1.0], [1.0, 0.0, 0.0, 1.0]]).reshape(2, 2, 2, 1),
    )
    assert data.inputs["img"][0, 0, 1, 0] == 0.5  # img[1]: row 0, column 1
    assert data.targets["cls"].tolist() == [[0, 1, 0], [1, 0, 0]]


def test_csv_one_variable_dimension_is_worked_out(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "s[0],s[1],s[2],s[3],s[4],s[5]\n1,2,3,4,5,6\n")
    data = load_dataset(path, {"s": f32(None, 2)}, {})
    assert data.inputs["s"].tolist() == [[[1, 2], [3, 4], [5, 6]]]
    assert problems(load_dataset, path, {"s": f32(None, None, 2)}, {}) == [
        (
            "SPC524-data-shape",
            "input 's' has shape (None, None, None, 2) with several variable dimensions, which "
            "columns cannot give; use a .npz file",
        )
    ]


def test_csv_wrong_column_count(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "p[0],p[1],p[2]\n1,2,3\n")
    assert problems(load_dataset, path, {"p": f32(2, 2)}, {}) == [
        (
            "SPC524-data-shape",
            "columns 'p[0]' to 'p[2]' for input 'p' must have shape (None, 2, 2); got (1, 3)",
        )
    ]


def test_csv_one_hot_and_sparse_mixups(tmp_path: Path) -> None:
    sparse_file = write_csv(tmp_path, "x,cls\n0.1,2\n0.2,0\n")
    assert problems(load_dataset, sparse_file, {"x": F32}, {"cls": Target(f32(3), "one_hot")}) == [
        (
            "SPC526-label-form",
            "column 'cls' for output 'cls' must be one-hot labels of shape (None, 3) for "
            "categorical_crossentropy; got class indices of shape (2,); use the loss "
            "sparse_categorical_crossentropy, or one-hot encode the labels",
        )
    ]
    one_hot_file = tmp_path / "one_hot.csv"
    one_hot_file.write_text("x,cls[0],cls[1],cls[2]\n0.1,0,0,1\n0.2,1,0,0\n")
    sparse3 = Target(TensorType("int64", ()), "sparse", 3)
    assert problems(load_dataset, one_hot_file, {"x": F32}, {"cls": sparse3}) == [
        (
            "SPC526-label-form",
            "columns 'cls[0]' to 'cls[2]' for output 'cls' must be class indices of shape (None,) "
            "for sparse_categorical_crossentropy; got one-hot labels of shape (2, 3); use the "
            "loss categorical_crossentropy, or give each sample's class index (the argmax of its "
            "row)",
        )
    ]


def test_csv_values_are_located_by_line(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "x,digit\n0.1,1\n\n0.2,12\n")
    assert problems(load_dataset, path, {"x": F32}, {"digit": SPARSE10}) == [
        (
            "SPC527-label-range",
            "column 'digit' for output 'digit' must hold class indices 0 to 9, for 10 classes; "
            "got 12 at line 4",
        )
    ]
    nan = write_csv(tmp_path, "x\n0.1\nnan\n")
    assert problems(load_dataset, nan, {"x": F32}, {}) == [
        (
            "SPC528-not-finite",
            "column 'x' for input 'x' must hold finite numbers; got nan at line 3",
        )
    ]


def test_csv_missing_columns(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "imag[0],imag[1],digit\n1,2,3\n")
    assert problems(load_dataset, path, {"image": f32(2)}, {"digit": SPARSE10}) == [
        (
            "SPC522-missing-data",
            "no column 'image' (or columns 'image[0]', 'image[1]', ...) for input 'image' of "
            "shape (None, 2); did you mean 'imag'?",
        )
    ]


def test_csv_gaps_and_mixed_forms(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "v[0],v[1],v[3],v[5],w,w[0]\n1,2,3,4,5,6\n")
    assert problems(load_dataset, path, {"v": f32(6), "w": F32}, {}) == [
        (
            "SPC524-data-shape",
            "columns 'v[0]' to 'v[5]' for input 'v' must be numbered without gaps; got no column "
            "'v[2]' (and 1 more)",
        ),
        (
            "SPC521-data-file",
            "both column 'w' and column 'w[0]' are given for input 'w'; use one of the two forms",
        ),
    ]


def test_csv_non_numbers(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "x,y\n1,2\n3,abc\n4,\n")
    assert problems(load_dataset, path, {"x": F32}, {"y": Target(F32)}) == [
        ("SPC521-data-file", "column 'y' must hold numbers; got 'abc' at line 3")
    ]
    empty_cell = write_csv(tmp_path, "x,y\n1,\n")
    assert problems(load_dataset, empty_cell, {"y": F32}, {}) == [
        ("SPC521-data-file", "column 'y' must hold numbers; got an empty cell at line 2")
    ]


def test_csv_malformed_files(tmp_path: Path) -> None:
    inputs = {"x": F32}
    assert problems(load_dataset, write_csv(tmp_path, ""), inputs, {}) == [
        ("SPC521-data-file", "the file is empty; expected a header row naming the columns")
    ]
    assert problems(
        load_dataset, write_csv(tmp_path, "0.1,0.2,0.3,0.4,0.5\n1,2,3,4,5\n"), inputs, {}
    ) == [
        (
            "SPC521-data-file",
            "the first row must be a header naming the columns (inputs and outputs, 'x[0]', "
            "'x[1]', ... for several values); got numbers: 0.1,0.2,0.3,0.4,...",
        )
    ]
    assert problems(load_dataset, write_csv(tmp_path, "x,y,x,\n1,2,3,4\n"), inputs, {}) == [
        ("SPC521-data-file", "column 'x' appears twice (columns 1 and 3)"),
        ("SPC521-data-file", "header column 4 has no name"),
    ]
    assert problems(load_dataset, write_csv(tmp_path, "x,y\n1,2\n3\n4,5,6\n"), inputs, {}) == [
        ("SPC521-data-file", "line 3 has 1 value; the header names 2 columns")
    ]
    assert problems(load_dataset, write_csv(tmp_path, "x\n"), inputs, {}) == [
        ("SPC523-data-length", "column 'x' holds no samples; the data is empty")
    ]


def test_csv_ints_stay_exact(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "ids\n9007199254740993\n")  # 2**53 + 1: not a float64
    data = load_dataset(path, {"ids": TensorType("int64", ())}, {})
    assert data.inputs["ids"].tolist() == [2**53 + 1]


def test_csv_matches_npz(tmp_path: Path) -> None:
    raw = np.load(DIGITS)
    pixels, digit = raw["pixels"][:50], raw["digit"][:50]
    header = ",".join([*(f"image[{i}]" for i in range(64)), "digit"])
    rows = [
        ",".join([*(repr(float(v)) for v in p), str(d)]) for p, d in zip(pixels, digit, strict=True)
    ]
    path = write_csv(tmp_path, "\n".join([header, *rows]) + "\n")
    data = load_dataset(path, {"image": f32(8, 8, 1)}, {"digit": SPARSE10})
    np.testing.assert_array_equal(data.inputs["image"], raw["image"][:50])
    np.testing.assert_array_equal(data.targets["digit"], digit)


# --- split and batches --------------------------------------------------------------------


def numbered(count: int) -> Dataset:
    """A dataset whose sample i has input i and label i, to see where samples go."""
    samples = np.arange(count)
    return Dataset.from_arrays({"x": samples, "y": samples}, {"x": F32}, {"y": Target(F32)})


@pytest.mark.parametrize(
    ("count", "validation_split", "train"),
    [
        # floor(count * (1.0 - validation_split)) in floating point, as Keras computes it.
        (10, 0.25, 7),  # 7.5
        (10, 0.3, 7),  # 7.000000000000001
        (10, 0.7, 3),  # 3.0000000000000004
        (100, 0.9, 9),  # 9.999999999999998, not 10
        (1797, 0.2, 1437),  # 1437.6000000000001
        (3, 0.5, 1),
    ],
)
def test_split_takes_the_last_samples_as_keras(
    count: int, validation_split: float, train: int
) -> None:
    training, validation = numbered(count).split(validation_split)
    assert validation is not None
    assert training.inputs["x"].tolist() == list(range(train))
    assert validation.inputs["x"].tolist() == list(range(train, count))
    assert validation.targets["y"].tolist() == list(range(train, count))


def test_split_zero_is_no_validation() -> None:
    data = numbered(5)
    assert data.split(0.0) == (data, None)


@pytest.mark.parametrize(
    ("count", "validation_split", "split_at"), [(10, 0.9, 0), (1, 0.5, 0), (5, 1e-17, 5)]
)
def test_split_that_leaves_a_side_empty(count: int, validation_split: float, split_at: int) -> None:
    samples = "sample" if count == 1 else "samples"
    assert problems(numbered(count).split, validation_split) == [
        (
            "SPC529-validation-split",
            f"validation_split={validation_split} needs at least one training and one "
            f"validation sample; got {count} {samples}, which split into {split_at} and "
            f"{count - split_at}; give more data or another validation_split",
        )
    ]


def test_batches_in_order_with_a_smaller_last_batch() -> None:
    data = numbered(70)
    batches = list(data.batches(32))
    assert [b.size for b in batches] == [32, 32, 6]
    assert data.steps(32) == 3 and data.steps(35) == 2
    assert np.concatenate([b.inputs["x"] for b in batches]).tolist() == list(range(70))
    assert list(batches[0].targets) == ["y"]


def test_shuffling_is_one_permutation_per_epoch_from_the_generator() -> None:
    data = numbered(70)
    rng = np.random.default_rng(7)
    first = np.concatenate([b.inputs["x"] for b in data.batches(32, True, rng)])
    second = np.concatenate([b.inputs["x"] for b in data.batches(32, True, rng)])
    expected = np.random.default_rng(7)
    assert first.tolist() == expected.permutation(70).tolist()
    assert second.tolist() == expected.permutation(70).tolist()
    assert first.tolist() != second.tolist()
    again = np.concatenate(
        [b.inputs["x"] for b in data.batches(32, True, np.random.default_rng(7))]
    )
    assert again.tolist() == first.tolist()
    # Inputs and labels move together.
    for batch in data.batches(16, True, np.random.default_rng(1)):
        np.testing.assert_array_equal(batch.inputs["x"], batch.targets["y"])


def test_bad_batch_size_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="batch_size must be a positive integer; got 0"):
        next(numbered(3).batches(0))


@given(
    count=st.integers(1, 200),
    batch_size=st.integers(1, 64),
    validation_split=st.floats(0.0, 0.99),
    seed=st.integers(0, 2**32 - 1),
)
def test_every_training_sample_once_per_epoch(
    count: int, batch_size: int, validation_split: float, seed: int
) -> None:
    split_at = math.floor(count * (1.0 - validation_split))
    if validation_split and split_at in (0, count):
        return  # the error case, tested above
    training, _ = numbered(count).split(validation_split)
    batches = list(training.batches(batch_size, True, np.random.default_rng(seed)))
    sizes = [b.size for b in batches]
    assert all(size == batch_size for size in sizes[:-1]) and 0 < sizes[-1] <= batch_size
    seen = np.concatenate([b.inputs["x"] for b in batches])
    assert sorted(seen.tolist()) == list(range(len(training)))


def test_every_data_code_is_in_the_data_docs() -> None:
    codes = {v for k, v in vars(data_codes).items() if k.isupper() and str(v).startswith("SPC")}
    text = (ROOT / "docs" / "data.md").read_text()
    assert len(codes) == 11
    assert all(f"| {code} |" in text for code in codes)
