"""Keras's ``Normalization.adapt`` for ``specc train``: the statistics of the training data.

A Normalization given no ``mean`` and ``variance`` keeps them as non-trainable weights
(``specc.layers.normalization_preprocessing``). Before the first step, ``specc train``
computes them from the data reaching the layer, as ``adapt`` does: for arrays held in
memory ``np.mean`` and ``np.var`` over every axis but the kept ones (Keras's NumPy path);
for data read a batch at a time (memory-mapped or sharded), Keras's running merge of batch
statistics (its path for datasets). The data is the whole data file, before
``validation_split``, as with the usual ``layer.adapt(x); model.fit(x,
validation_split=...)``; a layer after others sees what the model computes from it up to
there (in inference mode, with the layers before adapted first), as
``layer.adapt(prefix.predict(x))`` would. ``count`` stays 0, as Keras leaves it.
A run given ``--weights`` keeps the statistics those hold.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator

import numpy as np
import onnxruntime

from specc.layers.normalization_preprocessing import Normalization
from specc.onnx_model import DEFAULT_OPSET, to_model_proto
from specc.passes.lower import lower_to_onnx
from specc.passes.resolve import LayerNode
from specc.pipeline import CompiledModel
from specc.train.data import Dataset
from specc.train.data_shards import ShardedDataset
from specc.train.graph import TrainingGraph
from specc.types import TensorType

# Samples per batch read (and, for a layer after others, run through the model).
ADAPT_BATCH = 1024


def batch_statistics(
    batches: Iterable[np.ndarray], reduce: tuple[int, ...]
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance over ``reduce`` of the batches together, merged as Keras's adapt
    merges a dataset's batches (the lack-of-fit sum of squares)."""
    total_mean: np.ndarray | float = 0.0
    total_var: np.ndarray | float = 0.0
    count = 0
    for batch in batches:
        batch = np.asarray(batch, dtype=np.float32)
        batch_count = int(np.prod([batch.shape[a] for a in reduce])) if reduce else 1
        if batch_count == 0:
            continue
        batch_mean, batch_var = batch.mean(axis=reduce), batch.var(axis=reduce)
        count += batch_count
        batch_weight = float(batch_count) / count
        existing_weight = 1.0 - batch_weight
        new_mean = total_mean * existing_weight + batch_mean * batch_weight
        total_var = (total_var + (total_mean - new_mean) ** 2) * existing_weight + (
            batch_var + (batch_mean - new_mean) ** 2
        ) * batch_weight
        total_mean = new_mean
    return np.asarray(total_mean, np.float32), np.asarray(total_var, np.float32)


def array_statistics(data: np.ndarray, reduce: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance over ``reduce``, as Keras's adapt computes them for an array."""
    mean, var = np.mean(data, axis=reduce), np.var(data, axis=reduce)
    return np.asarray(mean, np.float32), np.asarray(var, np.float32)


def _inputs_to(compiled: CompiledModel, node: LayerNode) -> onnxruntime.InferenceSession | None:
    """A session computing ``node``'s input from the model's inputs (the model in
    inference mode up to that layer, with the weights so far); None when the input is a
    model input itself."""
    typed = compiled.typed
    ref = node.inputs[0]
    if ref.name in typed.resolved.inputs:
        return None
    prefix = dataclasses.replace(typed, resolved=dataclasses.replace(typed.resolved, outputs=[ref]))
    graph = lower_to_onnx(prefix, compiled.weights, for_training=False).graph
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3  # unused weights of later layers are expected
    model = to_model_proto(graph, DEFAULT_OPSET)
    return onnxruntime.InferenceSession(model.SerializeToString(), options)


def _layer_input_batches(
    compiled: CompiledModel, node: LayerNode, dataset: Dataset | ShardedDataset
) -> Iterator[np.ndarray]:
    """``node``'s input, batch by batch: the data of a model input, or what the model
    computes from the data up to the layer."""
    session = _inputs_to(compiled, node)
    names = [] if session is None else [i.name for i in session.get_inputs()]
    for batch in dataset.batches(ADAPT_BATCH):
        if session is None:
            yield np.asarray(batch.inputs[node.inputs[0].name])
        else:
            yield session.run(None, {name: batch.inputs[name] for name in names})[0]


def _statistics(
    compiled: CompiledModel,
    node: LayerNode,
    dataset: Dataset | ShardedDataset,
    reduce: tuple[int, ...],
) -> tuple[np.ndarray, np.ndarray]:
    """The mean and variance of ``node``'s input over ``reduce``: Keras's path for an
    array (the whole of it at once) for data held in memory, its merge of batch
    statistics for data read a batch at a time (memory-mapped or sharded)."""
    ref = node.inputs[0]
    batches = _layer_input_batches(compiled, node, dataset)
    if not isinstance(dataset, Dataset) or any(
        not isinstance(column, np.ndarray) for column in dataset.inputs.values()
    ):
        return batch_statistics(batches, reduce)
    if ref.name in compiled.typed.resolved.inputs:
        return array_statistics(dataset.inputs[ref.name], reduce)
    return array_statistics(np.concatenate(list(batches)), reduce)


def adapt_normalizations(
    compiled: CompiledModel, training: TrainingGraph, dataset: Dataset | ShardedDataset
) -> list[str]:
    """Set every un-adapted Normalization's mean and variance from ``dataset``, in the
    compiled weights and both graphs; return the names of the layers adapted."""
    typed = compiled.typed
    adapted = []
    for node in typed.resolved.nodes:
        layer = node.layer
        if not isinstance(layer, Normalization) or layer.weights_from_data() is None:
            continue
        if node.name not in typed.resolved.owning_nodes:
            continue  # a shared layer is adapted once, from its owner's input
        x_type: TensorType = typed.input_types[node.name][0]
        reduce = layer.adapt_axes(x_type)
        mean, variance = _statistics(compiled, node, dataset, reduce)
        for parameter in typed.parameters_of(node.owner):
            value = {"mean": mean, "variance": variance}.get(parameter.name)
            if value is None:
                continue
            value = value.reshape(parameter.shape)
            compiled.weights[parameter.key] = value
            compiled.graph.initializers[parameter.onnx_name] = value
            training.graph.initializers[parameter.onnx_name] = value
        adapted.append(node.name)
    return adapted
