"""Losses: Keras 3's ``keras.losses``, under every name ``losses.get`` accepts.

Keras 3 resolves a loss name exactly (case-sensitive) against its class names, its function
names and six short aliases (``bce``, ``kld``, ``mae``, ``mse``, ``mape``, ``msle``, each
also in capitals). specc accepts exactly those; the canonical name is the class name.
Names Keras 2 knew but Keras 3 dropped (``logcosh``, ``kullback_leibler_divergence``) are
not accepted. A name and a mapping with only ``type`` mean the same loss, as in Keras,
where the function and the default-constructed class compute the same values.

Keras's ``reduction`` is accepted where training can honour it: ``sum_over_batch_size``
(the default), its synonym ``mean``, ``mean_with_sample_weight`` (the same as ``mean``
without sample weights, which specc does not take) and ``sum``. ``none`` and null are
rejected: training needs one number per batch. Keras's ``name`` and ``dtype`` arguments do
not change what is trained and are not accepted.

Each loss has two derivations of Keras 3's formula: ``lower`` emits ONNX ops that have
gradients in onnxruntime-training, and ``per_sample`` / ``reference`` compute it in NumPy
float64, independently, for tests and for the metrics that wrap these functions.

Loss modules are discovered, not listed: adding a loss means adding its class to a family
module (or a new module here) and nothing else. The registry, the schema, the docs table
and the test matrix derive from it. ``LOSSES`` imports a module when one of its losses is
first asked for (which module holds which is read from the source, as for layers), and
every module when it is walked or a class is taken from this package by name.
"""

from typing import Any

from specc.losses.base import EPSILON, LOSSES, Loss, LossExample, PerSample, reduce_reference

# The family modules keep their place in the listings; later modules follow by name.
LOSSES.list_first("crossentropy", "hinge", "probabilistic", "regression")


def __getattr__(name: str) -> Any:
    # The loss classes are imported when first asked for (``LOSSES`` imports only the
    # modules of the losses a spec names).
    if name == "LossField":
        #: The field type of one loss in ``compile.loss``: a name or a mapping with ``type``.
        return LOSSES.discriminated_union()
    return LOSSES.package_attribute(name)


__all__ = [
    "EPSILON",
    "LOSSES",
    "BinaryCrossentropy",
    "CategoricalCrossentropy",
    "CategoricalHinge",
    "CosineSimilarity",
    "Hinge",
    "Huber",
    "KLDivergence",
    "LogCosh",
    "Loss",
    "LossExample",
    "LossField",
    "MeanAbsoluteError",
    "MeanAbsolutePercentageError",
    "MeanSquaredError",
    "MeanSquaredLogarithmicError",
    "PerSample",
    "Poisson",
    "SparseCategoricalCrossentropy",
    "SquaredHinge",
    "reduce_reference",
]
