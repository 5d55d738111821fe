"""evaluate_spec: what ``specc evaluate`` computes, Keras's ``model.evaluate`` on a data file.

prepare            the spec compiled for training, with the weights to evaluate
data_layout        the inputs and the labels of every output with a loss, read and checked
EvaluationSession  the default backend's evaluation graph alone
                   (``specc.train.evaluation_graph``): the forward pass in inference mode,
                   the losses and the penalties; no gradients, no optimizer
fit.evaluate       Keras's means over the batches: each loss weighted by its batch's size,
                   each metric accumulated as Keras's stateful metric does

The result carries Keras's names: ``loss`` (the total, regularization penalties included,
as ``compute_loss`` adds them), ``<output>_loss`` for a model with several outputs, and each
compiled metric by its history name.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from specc.limits import DEFAULT_LIMITS, Limits
from specc.onnx_model import DEFAULT_OPSET
from specc.train.backend import DEFAULT_BACKEND, check_backend
from specc.train.evaluation_session import EvaluationSession
from specc.train.fit import HistoryValue, evaluate
from specc.train.run import data_layout, prepare

# Keras's evaluate(batch_size=None) default.
DEFAULT_BATCH_SIZE = 32


@dataclass(frozen=True)
class Evaluation:
    """Keras's ``evaluate(..., return_dict=True)``, and what it was computed over."""

    values: dict[str, HistoryValue]
    samples: int
    batch_size: int
    # Arrays or columns of the data file that no input or output takes.
    unused_data: tuple[str, ...] = ()


def evaluate_spec(
    spec: str | Path,
    data: str | Path,
    weights: str | Path | None = None,
    seed: int | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    limits: Limits = DEFAULT_LIMITS,
    opset: int = DEFAULT_OPSET,
) -> Evaluation:
    """The loss and the metrics of ``spec`` (its ``compile`` section) over ``data``, with
    ``weights`` (a weights file), else the spec's initializers drawn with ``seed``.

    Raises ``SpecError`` for a spec without a ``compile`` section and for data that does
    not fit the model (every problem at once); ``EngineError`` when onnxruntime cannot
    start.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer; got {batch_size}")
    check_backend(DEFAULT_BACKEND, "cpu", str(spec))
    compiled, training = prepare(spec, weights, seed, limits, fused_recurrence=True)
    # The spec's train.data_keys name the arrays here too, as in specc train.
    dataset = data_layout(compiled).load(data, limits)
    session = EvaluationSession(training, opset, "cpu")
    try:
        values = evaluate(training, session, dataset, batch_size, prefix="")
    finally:
        session.close()
    return Evaluation(values, len(dataset), batch_size, tuple(dataset.unused))
