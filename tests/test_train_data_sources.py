"""Where training data comes from: data_keys, .npy folders (memory-mapped), .npz shards,
batches prepared ahead; and hostile data, refused with one located message (exit 1).

The .npy folder and the shards give the very history the same samples give in one .npz
when shuffling is off (the batches are the same); with shuffling every sample is still
seen once per epoch.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from specc.cli.app import app
from specc.diagnostics import SpecError
from specc.train.data import DataKeys, Dataset, load_dataset
from specc.train.data_mapped import MappedArray
from specc.train.data_prefetch import prefetched
from specc.train.data_shards import ShardedDataset
from specc.train.data_targets import Target
from specc.train.run import TrainOptions, train_spec
from specc.types import TensorType

CLASSIFIER = """
specc: 1
inputs: {image: {shape: [4]}}
layers:
  - {name: h, type: Dense, units: 5, activation: relu}
  - {name: digit, type: Dense, units: 3, activation: softmax}
compile: {optimizer: adam, loss: sparse_categorical_crossentropy, metrics: [accuracy]}
train: {data_keys: {image: x, digit: y}, batch_size: 8, epochs: 2, seed: 0}
"""

AUTOENCODER = """
specc: 1
inputs: {pixels: {shape: [6]}}
layers:
  - {name: code, type: Dense, units: 2, activation: tanh}
  - {name: recon, type: Dense, units: 6}
compile: {optimizer: {type: Adam, learning_rate: 0.05}, loss: mse}
train: {data_keys: {pixels: x, recon: x}, batch_size: 10, epochs: 12, seed: 0}
"""


def _arrays(samples: int = 45) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(samples, 4)).astype(np.float32)
    return {"x": x, "y": (x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 0.5)}


def _spec(tmp_path: Path, text: str) -> Path:
    spec = tmp_path / "spec.yaml"
    spec.write_text(text)
    return spec


def _history(spec: Path, data: Path, shuffle: bool = False) -> dict:
    options = TrainOptions(shuffle=shuffle, validation_split=0.2, seed=0)
    return train_spec(spec, data, options).history


def test_data_keys_name_the_arrays(tmp_path: Path) -> None:
    np.savez(tmp_path / "d.npz", **_arrays())
    history = _history(_spec(tmp_path, CLASSIFIER), tmp_path / "d.npz")
    assert set(history) == {"loss", "accuracy", "val_loss", "val_accuracy"}


def test_an_autoencoder_trains_on_one_array(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    x = (rng.normal(size=(60, 2)) @ rng.normal(size=(2, 6))).astype(np.float32)
    np.savez(tmp_path / "d.npz", x=x)
    result = train_spec(_spec(tmp_path, AUTOENCODER), tmp_path / "d.npz", TrainOptions(seed=0))
    loss = result.history["loss"]
    assert loss[-1] < 0.5 * loss[0]
    assert result.unused_data == ()


def test_command_line_data_keys_override_the_spec(tmp_path: Path) -> None:
    arrays = _arrays()
    np.savez(tmp_path / "d.npz", features=arrays["x"], y=arrays["y"])
    spec = _spec(tmp_path, CLASSIFIER)
    args = ["train", str(spec), "--data", str(tmp_path / "d.npz"), "-o", str(tmp_path / "o"), "-q"]
    result = CliRunner().invoke(app, [*args, "--data-keys", "image=features"])
    assert result.exit_code == 0, result.output
    assert len(json.loads((tmp_path / "o" / "history.json").read_text())["loss"]) == 2
    result = CliRunner().invoke(app, [*args, "--data-keys", "imag=features"])
    assert result.exit_code == 1
    assert "--data-keys names 'imag', which is not an input or output; did you mean 'image'?" in (
        result.output
    )
    result = CliRunner().invoke(app, [*args, "--data-keys", "image"])
    assert result.exit_code == 2
    assert "NAME=ARRAY" in result.output


def test_a_missing_array_names_its_key(tmp_path: Path) -> None:
    arrays = _arrays()
    np.savez(tmp_path / "d.npz", xx=arrays["x"], y=arrays["y"])
    with pytest.raises(SpecError) as error:
        _history(_spec(tmp_path, CLASSIFIER), tmp_path / "d.npz")
    (problem,) = error.value.diagnostics
    assert problem.code == "SPC522-missing-data"
    assert problem.message == "no array 'x' for input 'image' of shape (None, 4); the file has 'xx'"


def test_spec_names_are_checked_with_a_suggestion(tmp_path: Path) -> None:
    text = CLASSIFIER.replace("{image: x, digit: y}", "{imag: x, digit: y}")
    result = CliRunner().invoke(app, ["validate", str(_spec(tmp_path, text))])
    assert result.exit_code == 1
    assert "spec.yaml:8:" in result.output
    assert (
        "train.data_keys names 'imag', which is not an input or output; did you mean 'image'?"
        in (result.output)
    )


def _folder(tmp_path: Path, arrays: dict[str, np.ndarray]) -> Path:
    folder = tmp_path / "npy"
    folder.mkdir()
    for name, array in arrays.items():
        np.save(folder / f"{name}.npy", array)
    return folder


def _shards(tmp_path: Path, arrays: dict[str, np.ndarray], cuts: list[int]) -> Path:
    folder = tmp_path / "shards"
    folder.mkdir()
    edges = [0, *cuts, len(next(iter(arrays.values())))]
    for k, (start, stop) in enumerate(itertools.pairwise(edges)):
        np.savez(folder / f"part{k:02d}.npz", **{n: a[start:stop] for n, a in arrays.items()})
    return folder


def test_npy_folder_and_shards_give_the_one_file_history(tmp_path: Path) -> None:
    arrays = _arrays()
    np.savez(tmp_path / "d.npz", **arrays)
    spec = _spec(tmp_path, CLASSIFIER)
    whole = _history(spec, tmp_path / "d.npz")
    # Shard ends fall inside batches (8) and inside the validation split (the last 9).
    for data in (_folder(tmp_path, arrays), _shards(tmp_path, arrays, [5, 19, 20, 40])):
        assert _history(spec, data) == whole


def test_shuffled_shards_see_every_sample_once_per_epoch(tmp_path: Path) -> None:
    arrays = {"x": np.arange(50, dtype=np.float32).reshape(50, 1)}
    folder = _shards(tmp_path, arrays, [7, 20, 33])
    data = load_dataset(folder, {"x": TensorType("float32", (1,))}, {})
    assert isinstance(data, ShardedDataset) and len(data) == 50
    rng = np.random.default_rng(4)
    first = [b.inputs["x"][:, 0] for b in data.batches(8, True, rng)]
    second = [b.inputs["x"][:, 0] for b in data.batches(8, True, rng)]
    assert [len(b) for b in first] == [8] * 6 + [2]
    for epoch in (first, second):
        assert sorted(np.concatenate(epoch).tolist()) == list(range(50))
    assert not np.array_equal(np.concatenate(first), np.concatenate(second))
    training, validation = data.split(0.3)
    assert validation is not None
    assert [b.inputs["x"][0, 0] for b in validation.batches(100)] == [35.0]
    assert len(training) == 35


def test_a_memory_mapped_array_is_read_per_batch(tmp_path: Path) -> None:
    folder = _folder(tmp_path, {"x": np.arange(12, dtype=np.int32).reshape(6, 2)})
    data = load_dataset(folder, {"x": TensorType("float32", (2,))}, {})
    assert isinstance(data, Dataset)
    assert isinstance(data.inputs["x"], MappedArray)
    train, validation = data.split(0.5)
    assert isinstance(train.inputs["x"], MappedArray)  # a split stays on disk
    (batch,) = list(validation.batches(3))
    assert batch.inputs["x"].dtype == np.float32
    assert batch.inputs["x"].tolist() == [[6, 7], [8, 9], [10, 11]]


def test_a_memory_mapped_array_is_checked_in_blocks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from specc.train import data_mapped

    monkeypatch.setattr(data_mapped, "CHECK_BLOCK_BYTES", 16)  # 2 samples a block
    x = np.zeros((9, 2), np.float32)
    x[7, 1] = np.nan
    x[8, 0] = np.inf
    with pytest.raises(SpecError) as error:
        load_dataset(_folder(tmp_path, {"x": x}), {"x": TensorType("float32", (2,))}, {})
    (problem,) = error.value.diagnostics
    assert problem.code == "SPC528-not-finite"
    assert "got nan at sample 7" in problem.message


def test_sample_weights_come_from_the_folder(tmp_path: Path) -> None:
    arrays = {"x": np.ones((4, 1), np.float32), "w": np.array([1, 2, 3, 4], np.float32)}
    keys = DataKeys({}, "w")
    data = load_dataset(
        _folder(tmp_path, arrays),
        {"x": TensorType("float32", (1,))},
        {"x": Target(TensorType("float32", (1,)))},
        keys=keys,
    )
    (batch,) = list(data.batches(4))
    assert batch.weights["x"].tolist() == [1, 2, 3, 4]


def test_batches_are_prepared_ahead_on_another_thread() -> None:
    threads = []

    def items():
        for i in range(5):
            threads.append(threading.current_thread())
            yield i

    assert list(prefetched(items(), depth=2)) == [0, 1, 2, 3, 4]
    assert all(t is not threading.current_thread() for t in threads)

    def failing():
        yield 1
        raise SpecError([])

    got = prefetched(failing())
    assert next(got) == 1
    with pytest.raises(SpecError):
        next(got)
    # A consumer that stops early ends the thread.
    endless = prefetched(iter(int, 1))
    next(endless)
    endless.close()
    assert not any(t.name == "specc-batches" for t in threading.enumerate())


def test_a_batches_generator_open_at_interpreter_exit_does_not_hang() -> None:
    # Its daemon thread is frozen by then; joining it waited forever on Python 3.13.
    script = (
        "import itertools\n"
        "from specc.train.data_prefetch import prefetched\n"
        "batches = prefetched(itertools.count())\n"
        "next(batches)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], timeout=60, capture_output=True)
    assert done.returncode == 0, done.stderr.decode()


def test_an_exception_out_of_fit_ends_the_batches_thread(tmp_path: Path) -> None:
    np.savez(tmp_path / "d.npz", **_arrays())

    def fails(log: object, epoch_end: bool) -> None:
        raise RuntimeError("stop here")

    with pytest.raises(RuntimeError) as raised:
        train_spec(
            _spec(tmp_path, CLASSIFIER), tmp_path / "d.npz", TrainOptions(seed=0), on_progress=fails
        )
    # The traceback still holds fit's frame; the thread ended when fit was left anyway.
    assert raised.value.__traceback__ is not None
    assert not any(t.name == "specc-batches" for t in threading.enumerate())


# Hostile data: one located message each, exit 1, no traceback.


def _train(tmp_path: Path, spec_text: str, data: Path) -> tuple[int, str]:
    spec = _spec(tmp_path, spec_text)
    result = CliRunner().invoke(
        app, ["train", str(spec), "--data", str(data), "-o", str(tmp_path / "o"), "-q"]
    )
    return result.exit_code, result.output


def _pickled_npy(path: Path) -> None:
    np.save(path, np.array([{"evil": 1}] * 45, dtype=object), allow_pickle=True)


def test_a_pickled_npy_is_refused(tmp_path: Path) -> None:
    arrays = _arrays()
    folder = _folder(tmp_path, arrays)
    _pickled_npy(folder / "x.npy")
    code, output = _train(tmp_path, CLASSIFIER, folder)
    assert code == 1, output
    assert output.count("error:") == 1
    assert "file 'x.npy' holds Python objects (pickled data, which specc never loads)" in output
    assert "Traceback" not in output


def test_an_oversized_npy_header_is_refused(tmp_path: Path) -> None:
    folder = _folder(tmp_path, _arrays())
    big = b"\x93NUMPY\x02\x00" + (200_000).to_bytes(4, "little") + b" " * 200_000
    (folder / "x.npy").write_bytes(big)
    code, output = _train(tmp_path, CLASSIFIER, folder)
    assert code == 1, output
    assert output.count("error:") == 1
    assert "has a 200,000-byte .npy header; numpy writes at most 10,000" in output


def test_a_shard_with_mismatched_lengths_is_refused(tmp_path: Path) -> None:
    arrays = _arrays()
    folder = _shards(tmp_path, arrays, [20])
    np.savez(folder / "part01.npz", x=arrays["x"][20:], y=arrays["y"][20:40])
    code, output = _train(tmp_path, CLASSIFIER, folder)
    assert code == 1, output
    assert output.count("error:") == 1
    assert "part01.npz: error: array 'y' has 20 samples but array 'x' has 25" in output


def test_a_class_weight_key_that_is_not_a_class_is_refused(tmp_path: Path) -> None:
    np.savez(tmp_path / "d.npz", **_arrays())
    text = CLASSIFIER.replace("seed: 0}", "seed: 0, class_weight: {abc: 2.0}}")
    code, output = _train(tmp_path, text, tmp_path / "d.npz")
    assert code == 1, output
    assert output.count("error:") == 1
    assert "spec.yaml:8:" in output
    assert "class_weight keys must be class indices (integers such as 0 or \"0\"); got 'abc'" in (
        output
    )


def test_class_weight_in_json_takes_string_keys(tmp_path: Path) -> None:
    np.savez(tmp_path / "d.npz", **_arrays())

    data = yaml.safe_load(CLASSIFIER)
    data["train"]["class_weight"] = {"0": 1.0, "2": 3.0}
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(data))
    result = CliRunner().invoke(
        app,
        ["train", str(spec), "--data", str(tmp_path / "d.npz"), "-o", str(tmp_path / "o"), "-q"],
    )
    assert result.exit_code == 0, result.output


def test_arrays_in_memory_take_keys_and_sample_weights() -> None:
    x = np.arange(6, dtype=np.float32).reshape(3, 2)
    data = Dataset.from_arrays(
        {"a": x, "weights": np.array([[1.0], [0.5], [2.0]])},
        {"x": TensorType("float32", (2,))},
        {"x": TensorType("float32", (2,))},
        keys=DataKeys({"x": "a"}, "weights"),
    )
    (batch,) = list(data.batches(3))
    assert batch.inputs["x"].tolist() == batch.targets["x"].tolist() == x.tolist()
    assert batch.weights == {"x": pytest.approx(np.array([1.0, 0.5, 2.0], np.float32))}
    with pytest.raises(SpecError) as error:
        Dataset.from_arrays(
            {"a": x},
            {"x": TensorType("float32", (2,))},
            {},
            keys=DataKeys({"x": "a"}, "weights"),
        )
    (problem,) = error.value.diagnostics
    assert problem.message == "no array 'weights' for train.sample_weight of shape (None,)"


def test_mapped_reads_agree_with_the_array(tmp_path: Path) -> None:
    x = np.arange(40, dtype=">i4").reshape(20, 2)  # big-endian, converted on reading
    folder = _folder(tmp_path, {"x": x})
    data = load_dataset(folder, {"x": TensorType("float32", (2,))}, {})
    assert isinstance(data, Dataset)
    array = data.inputs["x"]
    assert isinstance(array, MappedArray)
    view = array.view(slice(5, 17)).view(slice(3, 12))  # rows 8 to 16
    np.testing.assert_array_equal(view[2:6], x[10:14].astype(np.float32))
    np.testing.assert_array_equal(view[np.array([4, 0, 8])], x[[12, 8, 16]].astype(np.float32))
    strided = array.view(slice(1, 20, 4))  # rows 1, 5, 9, 13, 17
    np.testing.assert_array_equal(strided[1:3], x[[5, 9]].astype(np.float32))
    shuffled = np.concatenate(
        [b.inputs["x"] for b in data.batches(6, True, np.random.default_rng(0))]
    )
    assert sorted(shuffled[:, 0].tolist()) == list(range(0, 40, 2))
