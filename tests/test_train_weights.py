"""Sample and class weights: the batch loss is Keras 3's weighted reduction, in both backends.

The reference is written here from Keras 3.15.1's ``losses/loss.py`` (``apply_mask``,
``reduce_weighted_values``, ``reduce_values``) and ``data_adapter_utils
.class_weight_to_sample_weights``, in NumPy float64, from the predictions the step itself
returns: ``sum_over_batch_size`` divides the weighted sum by the number of values, not by
the weights' sum. Batches of several sizes, the last one smaller; two outputs with loss
weights; both backends.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from specc.diagnostics import SpecError
from specc.spec.compile import losses_by_output
from specc.train.backend import open_session
from specc.train.data import DataKeys, load_dataset
from specc.train.data_targets import targets_for
from specc.train.data_weights import class_weight_to_sample_weights
from specc.train.fit import _target_feeds
from specc.train.run import TrainOptions, prepare, train_spec

BACKENDS = [
    "standard",
    pytest.param("ort-training", marks=pytest.mark.ort_training),
]

TWO_OUTPUTS = """
specc: 1
inputs: {{x: {{shape: [4]}}}}
layers:
  - {{name: h, type: Dense, units: 6, activation: tanh}}
  - {{name: cls, type: Dense, units: 3, activation: softmax, inputs: h}}
  - {{name: reg, type: Dense, units: 1, inputs: h}}
outputs: [cls, reg]
compile:
  optimizer: sgd
  loss: {{cls: {cls_loss}, reg: {reg_loss}}}
  loss_weights: {{cls: 0.5, reg: 2.0}}
train:
{train}
"""


def keras_reduce(
    values: np.ndarray, weights: np.ndarray | None, mask: np.ndarray | None, reduction: str
) -> float:
    """Keras 3.15.1's ``reduce_weighted_values`` for per-sample values (rank 1)."""
    values = values.astype(np.float64)
    if mask is not None:
        mask = mask.astype(np.float64)
        if reduction in ("mean", "sum_over_batch_size"):
            valid = mask.sum()
            mask = mask * (mask.size / valid if valid else 0.0)
        weights = mask if weights is None else weights * mask
    if weights is not None:
        values = values * weights
    total = values.sum()
    if reduction == "sum":
        return float(total)
    divisor = (
        weights.sum()
        if reduction == "mean_with_sample_weight" and weights is not None
        else values.size
    )
    return float(total / divisor) if divisor else 0.0


def keras_class_weights(labels: np.ndarray, class_weight: dict[int, float]) -> np.ndarray:
    """Keras's loop, sample by sample."""
    y = labels
    if y.ndim > 1:
        y = np.argmax(y, axis=-1) if y.shape[-1] != 1 else np.squeeze(y, axis=-1)
    y = np.round(y).astype("int32")
    return np.array([class_weight.get(int(c), 1.0) for c in y], np.float32)


def sparse_ce(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    p = np.clip(probs.astype(np.float64), 1e-7, 1 - 1e-7)
    p = p / p.sum(-1, keepdims=True)
    return -np.log(p[np.arange(len(labels)), labels])


def mse(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    return np.mean((pred.astype(np.float64) - target.reshape(pred.shape)) ** 2, axis=-1)


def _data(tmp_path: Path, samples: int = 13) -> Path:
    rng = np.random.default_rng(3)
    path = tmp_path / "d.npz"
    np.savez(
        path,
        x=rng.normal(size=(samples, 4)).astype(np.float32),
        c=rng.integers(0, 3, size=samples),
        r=rng.normal(size=(samples, 1)).astype(np.float32),
        w=rng.uniform(0, 3, size=samples).astype(np.float32),
    )
    return path


def _batches(spec: Path, data: Path, backend: str, batch_size: int) -> list[dict]:
    """Each batch's feeds and the train step's outputs (before any update)."""
    compiled, training = prepare(spec, None, 0, weighted=True, predictions=True)
    config = compiled.compile
    assert config is not None and compiled.train is not None
    predictions = dict(compiled.graph.outputs)
    targets = targets_for(losses_by_output(config, list(predictions)), predictions)
    keys = DataKeys(compiled.train.data_keys or {}, compiled.train.sample_weight)
    dataset = load_dataset(data, dict(compiled.typed.resolved.inputs), targets, keys=keys)
    if compiled.train.class_weight:
        from specc.spec.train_data import class_weights_by_output

        dataset = dataset.with_class_weight(
            class_weights_by_output(compiled.train.class_weight, list(targets))
        )
    session = open_session(training, backend, 17, "cpu")
    try:
        session.use_optimizer(config.optimizer)
        found = []
        for batch in dataset.batches(batch_size):
            feeds = {**batch.inputs, **_target_feeds(training, batch)}
            found.append({"batch": batch, "feeds": feeds, "out": session.train_step(feeds)})
        return found
    finally:
        session.close()


def _spec(
    tmp_path: Path,
    train: str,
    cls_loss: str = "sparse_categorical_crossentropy",
    reg_loss: str = "mse",
) -> Path:
    spec = tmp_path / "s.yaml"
    spec.write_text(TWO_OUTPUTS.format(train=train, cls_loss=cls_loss, reg_loss=reg_loss))
    return spec


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("batch_size", [4, 5, 13])
def test_sample_weight_gives_keras_weighted_loss(
    tmp_path: Path, backend: str, batch_size: int
) -> None:
    spec = _spec(tmp_path, "  data_keys: {cls: c, reg: r}\n  sample_weight: w")
    data = _data(tmp_path)
    steps = _batches(spec, data, backend, batch_size)
    assert len(steps[-1]["batch"].inputs["x"]) == 13 % batch_size or batch_size == 13
    for step in steps:
        batch, out = step["batch"], step["out"]
        w = batch.weights["cls"].astype(np.float64)
        np.testing.assert_array_equal(batch.weights["reg"], batch.weights["cls"])
        cls = keras_reduce(
            sparse_ce(out["cls"], batch.targets["cls"]), w, None, "sum_over_batch_size"
        )
        reg = keras_reduce(mse(out["reg"], batch.targets["reg"]), w, None, "sum_over_batch_size")
        np.testing.assert_allclose(out["cls_loss"], cls, rtol=2e-5)
        np.testing.assert_allclose(out["reg_loss"], reg, rtol=2e-5)
        np.testing.assert_allclose(out["loss"], 0.5 * cls + 2.0 * reg, rtol=2e-5)
        # Divided by the batch size, not by the weights' sum.
        assert not np.isclose(
            cls,
            keras_reduce(
                sparse_ce(out["cls"], batch.targets["cls"]), w, None, "mean_with_sample_weight"
            ),
        )


@pytest.mark.parametrize("backend", BACKENDS)
def test_class_weight_per_output_gives_keras_weighted_loss(tmp_path: Path, backend: str) -> None:
    # JSON-style string keys and YAML integers, per output.
    train = "  data_keys: {cls: c, reg: r}\n  class_weight: {cls: {'0': 0.25, 2: 4.0}}"
    spec = _spec(tmp_path, train)
    for step in _batches(spec, _data(tmp_path), backend, 5):
        batch, out = step["batch"], step["out"]
        labels = batch.targets["cls"]
        w = keras_class_weights(labels, {0: 0.25, 2: 4.0})
        np.testing.assert_array_equal(step["feeds"]["cls.sample_weight"], w)
        cls = keras_reduce(
            sparse_ce(out["cls"], labels), w.astype(np.float64), None, "sum_over_batch_size"
        )
        reg = keras_reduce(mse(out["reg"], batch.targets["reg"]), None, None, "sum_over_batch_size")
        np.testing.assert_allclose(out["cls_loss"], cls, rtol=2e-5)
        np.testing.assert_allclose(out["reg_loss"], reg, rtol=2e-5)
        np.testing.assert_allclose(out["loss"], 0.5 * cls + 2.0 * reg, rtol=2e-5)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("reduction", ["sum", "mean_with_sample_weight", "mean"])
def test_other_reductions_and_ignored_labels(tmp_path: Path, backend: str, reduction: str) -> None:
    cls_loss = f"{{type: SparseCategoricalCrossentropy, ignore_class: 1, reduction: {reduction}}}"
    reg_loss = f"{{type: MeanSquaredError, reduction: {reduction}}}"
    spec = _spec(tmp_path, "  data_keys: {cls: c, reg: r}\n  sample_weight: w", cls_loss, reg_loss)
    for step in _batches(spec, _data(tmp_path), backend, 6):
        batch, out = step["batch"], step["out"]
        labels = batch.targets["cls"]
        w = batch.weights["cls"].astype(np.float64)
        mask = labels != 1
        values = np.where(mask, sparse_ce(out["cls"], np.where(mask, labels, 0)), 0.0)
        cls = keras_reduce(values, w, mask, reduction)
        reg = keras_reduce(mse(out["reg"], batch.targets["reg"]), w, None, reduction)
        np.testing.assert_allclose(out["cls_loss"], cls, rtol=2e-5, atol=1e-7)
        np.testing.assert_allclose(out["reg_loss"], reg, rtol=2e-5)


def test_class_weights_follow_keras_for_every_label_form() -> None:
    weights = {0: 0.5, 2: 3.0}
    sparse = np.array([0, 1, 2, 2])
    one_hot = np.eye(3)[sparse]
    column = sparse.reshape(-1, 1).astype(np.float32) + 0.2  # rounded, as Keras rounds
    for labels in (sparse, one_hot, column):
        np.testing.assert_array_equal(
            class_weight_to_sample_weights(labels, weights), keras_class_weights(labels, weights)
        )


def test_weights_train_and_validation_carries_sample_weights(tmp_path: Path) -> None:
    spec = _spec(
        tmp_path, "  data_keys: {cls: c, reg: r}\n  sample_weight: w\n  validation_split: 0.25"
    )
    data = _data(tmp_path, 40)
    weighted = train_spec(spec, data, TrainOptions(epochs=2, batch_size=8, shuffle=False, seed=1))
    assert len(weighted.history["val_loss"]) == 2
    # The same run with every weight 1 is the unweighted run, validation included.
    with np.load(data) as arrays:
        ones = {**arrays, "w": np.ones(40, np.float32)}
    np.savez(tmp_path / "ones.npz", **ones)
    unit = train_spec(
        spec, tmp_path / "ones.npz", TrainOptions(epochs=2, batch_size=8, shuffle=False, seed=1)
    )
    plain_spec = _spec(tmp_path, "  data_keys: {cls: c, reg: r}\n  validation_split: 0.25")
    plain = train_spec(
        plain_spec, data, TrainOptions(epochs=2, batch_size=8, shuffle=False, seed=1)
    )
    for key in plain.history:
        np.testing.assert_allclose(unit.history[key], plain.history[key], rtol=1e-5, err_msg=key)
    assert not np.allclose(weighted.history["val_loss"], plain.history["val_loss"])


def test_class_weight_leaves_validation_unweighted(tmp_path: Path) -> None:
    # Keras converts class_weight for the training batches only.
    options = TrainOptions(epochs=1, batch_size=8, shuffle=False, seed=1)
    data = _data(tmp_path, 40)
    base = "  data_keys: {cls: c, reg: r}\n  validation_split: 0.25"
    weighted = train_spec(
        _spec(tmp_path, base + "\n  class_weight: {cls: {0: 9.0}}"), data, options
    )
    plain = train_spec(_spec(tmp_path, base), data, options)
    # One epoch: validation runs on the weights after it, which the weighting changed; the
    # first batch's loss is the weighted one, so the training losses differ.
    assert weighted.history["loss"] != plain.history["loss"]
    assert "val_cls_loss" in weighted.history


def test_weights_need_one_loss_value_per_sample(tmp_path: Path) -> None:
    spec = tmp_path / "seq.yaml"
    spec.write_text(
        """
specc: 1
inputs: {x: {shape: [5, 2]}}
layers:
  - {name: y, type: Dense, units: 3, activation: softmax}
compile: {optimizer: sgd, loss: sparse_categorical_crossentropy}
train: {sample_weight: w}
"""
    )
    with pytest.raises(SpecError) as error:
        prepare(spec, None, 0, weighted=True)
    (problem,) = error.value.diagnostics
    assert problem.code == "SPC219-sample-weights"
    assert "several values per sample" in problem.message
    assert problem.position is not None


@pytest.mark.ort_training
def test_both_backends_train_the_same_weighted_run(tmp_path: Path) -> None:
    spec = _spec(
        tmp_path,
        "  data_keys: {cls: c, reg: r}\n  class_weight: {cls: {0: 3.0}}\n  validation_split: 0.25",
    )
    data = _data(tmp_path, 40)
    histories = [
        train_spec(
            spec, data, TrainOptions(epochs=2, batch_size=8, seed=1, backend=backend)
        ).history
        for backend in ("standard", "ort-training")
    ]
    for key in histories[0]:
        np.testing.assert_allclose(histories[0][key], histories[1][key], rtol=1e-4, err_msg=key)


@pytest.mark.parametrize("reduction", ["sum_over_batch_size", "mean_with_sample_weight"])
def test_weighted_loss_gradients_match_finite_differences(tmp_path: Path, reduction: str) -> None:
    import dataclasses

    from tests.autodiff_harness import check_graph_gradients

    cls_loss = f"{{type: SparseCategoricalCrossentropy, ignore_class: 1, reduction: {reduction}}}"
    reg_loss = f"{{type: MeanSquaredError, reduction: {reduction}}}"
    spec = _spec(tmp_path, "  data_keys: {cls: c, reg: r}\n  sample_weight: w", cls_loss, reg_loss)
    _, training = prepare(spec, None, 0, weighted=True)
    graph = dataclasses.replace(
        training.graph, outputs=[o for o in training.graph.outputs if o[0] == "loss"]
    )
    rng = np.random.default_rng(5)
    feeds = {
        "x": rng.normal(size=(6, 4)).astype(np.float32),
        "cls.target": np.array([0, 1, 2, 2, 1, 0], np.int64),
        "reg.target": rng.normal(size=(6, 1)).astype(np.float32),
        "cls.sample_weight": rng.uniform(0.5, 2, size=6).astype(np.float32),
        "reg.sample_weight": rng.uniform(0.5, 2, size=6).astype(np.float32),
    }
    wrt = [*training.trainable, "cls.sample_weight", "reg.sample_weight"]
    assert check_graph_gradients(graph, wrt, feeds) == []
