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
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from specc.registry import Registry, SpecModel

Reduction = Literal["sum_over_batch_size", "mean", "mean_with_sample_weight", "sum"]
LabelSmoothing = Annotated[float, Field(ge=0, le=1)]


class Loss(SpecModel):
    """Base of every loss: Keras's ``Loss`` arguments that training can honour."""

    reduction: Reduction = "sum_over_batch_size"

    @property
    def expects_sparse_labels(self) -> bool:
        """Whether targets are integer class indices rather than one value per prediction."""
        return False

    @property
    def divides_by_batch_size(self) -> bool:
        """True for the mean reductions, False for ``sum``."""
        return self.reduction != "sum"


LOSSES: Registry[Loss] = Registry("loss")


@LOSSES.register
class MeanSquaredError(Loss):
    """``mean(square(y_true - y_pred), axis=-1)``."""

    type: Literal["MeanSquaredError", "mean_squared_error", "mse", "MSE"] = "MeanSquaredError"


@LOSSES.register
class MeanAbsoluteError(Loss):
    """``mean(abs(y_true - y_pred), axis=-1)``."""

    type: Literal["MeanAbsoluteError", "mean_absolute_error", "mae", "MAE"] = "MeanAbsoluteError"


@LOSSES.register
class MeanAbsolutePercentageError(Loss):
    """``100 * mean(abs((y_true - y_pred) / max(abs(y_true), epsilon)), axis=-1)``."""

    type: Literal[
        "MeanAbsolutePercentageError", "mean_absolute_percentage_error", "mape", "MAPE"
    ] = "MeanAbsolutePercentageError"


@LOSSES.register
class MeanSquaredLogarithmicError(Loss):
    """``mean(square(log(y_true + 1) - log(y_pred + 1)), axis=-1)``, inputs clipped at epsilon."""

    type: Literal[
        "MeanSquaredLogarithmicError", "mean_squared_logarithmic_error", "msle", "MSLE"
    ] = "MeanSquaredLogarithmicError"


@LOSSES.register
class Huber(Loss):
    """``0.5 * x**2`` where ``|x| <= delta``, else ``delta * |x| - 0.5 * delta**2``; mean."""

    type: Literal["Huber", "huber"] = "Huber"
    # Keras does not check it; at delta <= 0 the loss is no longer a loss.
    delta: Annotated[float, Field(gt=0, allow_inf_nan=False)] = 1.0


@LOSSES.register
class LogCosh(Loss):
    """``mean(log(cosh(y_pred - y_true)), axis=-1)``."""

    type: Literal["LogCosh", "log_cosh"] = "LogCosh"


class _FromLogits(Loss):
    """A loss whose predictions may be probabilities or logits."""

    from_logits: bool = False


@LOSSES.register
class BinaryCrossentropy(_FromLogits):
    """Binary cross-entropy, labels smoothed towards 0.5, mean over ``axis``."""

    type: Literal["BinaryCrossentropy", "binary_crossentropy", "bce", "BCE"] = "BinaryCrossentropy"
    label_smoothing: LabelSmoothing = 0.0
    axis: int = -1


@LOSSES.register
class CategoricalCrossentropy(_FromLogits):
    """Cross-entropy against one-hot labels along ``axis``, labels smoothed uniformly."""

    type: Literal["CategoricalCrossentropy", "categorical_crossentropy"] = "CategoricalCrossentropy"
    label_smoothing: LabelSmoothing = 0.0
    axis: int = -1


@LOSSES.register
class SparseCategoricalCrossentropy(_FromLogits):
    """Cross-entropy against integer class labels; ``ignore_class`` entries count for 0.

    Keras 3's class takes no ``axis`` (only the function does, fixed at -1 when named by a
    string), so neither does specc.
    """

    type: Literal["SparseCategoricalCrossentropy", "sparse_categorical_crossentropy"] = (
        "SparseCategoricalCrossentropy"
    )
    ignore_class: int | None = None

    @property
    def expects_sparse_labels(self) -> bool:
        """Targets are class indices."""
        return True


@LOSSES.register
class KLDivergence(Loss):
    """``sum(y_true * log(y_true / y_pred), axis=-1)``, both clipped to ``[epsilon, 1]``."""

    type: Literal["KLDivergence", "kl_divergence", "kld", "KLD"] = "KLDivergence"


@LOSSES.register
class Poisson(Loss):
    """``mean(y_pred - y_true * log(y_pred + epsilon), axis=-1)``."""

    type: Literal["Poisson", "poisson"] = "Poisson"


@LOSSES.register
class Hinge(Loss):
    """``mean(maximum(1 - y_true * y_pred, 0), axis=-1)``; 0/1 labels mapped to -1/1."""

    type: Literal["Hinge", "hinge"] = "Hinge"


@LOSSES.register
class SquaredHinge(Loss):
    """``mean(square(maximum(1 - y_true * y_pred, 0)), axis=-1)``; 0/1 labels to -1/1."""

    type: Literal["SquaredHinge", "squared_hinge"] = "SquaredHinge"


@LOSSES.register
class CategoricalHinge(Loss):
    """``maximum(max((1 - y_true) * y_pred) - sum(y_true * y_pred) + 1, 0)``."""

    type: Literal["CategoricalHinge", "categorical_hinge"] = "CategoricalHinge"


@LOSSES.register
class CosineSimilarity(Loss):
    """``-sum(l2_normalize(y_true) * l2_normalize(y_pred), axis)``."""

    type: Literal["CosineSimilarity", "cosine_similarity"] = "CosineSimilarity"
    axis: int = -1


#: The field type of one loss in ``compile.loss``: a name or a mapping with ``type``.
LossField = LOSSES.discriminated_union()
