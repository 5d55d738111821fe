"""The data keys of a spec's ``train`` section: which arrays feed the model, and how each
sample's loss is weighted.

- ``data_keys``: input or output name -> the array (a ``.csv`` column prefix) feeding it;
  one array may feed an input and an output (an autoencoder). Unnamed ones use their own
  name, as without the mapping.
- ``class_weight``: class index -> weight, as Keras's ``fit(class_weight=...)``; with
  several outputs, output name -> such a mapping (Keras takes it for one output only).
  YAML gives integer keys and JSON strings ("0"): both are class indices.
- ``sample_weight``: the name of an array holding one weight per sample, for every output
  with a loss (Keras replicates one array over the outputs).

Keras refuses ``class_weight`` and ``sample_weight`` together, and so does specc. Both
weight each sample's loss, so they need a loss that gives one value per sample (Keras's
per-sample weights cannot broadcast against a loss per time step either).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import BeforeValidator, Discriminator, Field, Tag

from specc.diagnostics import Diagnostic, did_you_mean
from specc.escape import excerpt
from specc.losses import Loss
from specc.types import TensorType

UNKNOWN_DATA_KEY = "SPC218-unknown-data-key"
WEIGHTS_CONFLICT = "SPC219-sample-weights"

_INTEGER = re.compile(r"^[+-]?[0-9]+$")


def _class_index(value: Any) -> Any:
    # JSON keys are always strings: "3" names class 3 there, as 3 does in YAML.
    if isinstance(value, str) and _INTEGER.match(value):
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise ValueError(
        f'class_weight keys must be class indices (integers such as 0 or "0"); '
        f"got {excerpt(repr(value))}"
    )


ClassIndex = Annotated[int, BeforeValidator(_class_index), Field(ge=0)]
ClassWeight = Annotated[float, Field(allow_inf_nan=False)]
ArrayName = Annotated[str, Field(min_length=1, max_length=256)]


def _weights_form(value: Any) -> str:
    # Per output when every value is a mapping; else one mapping of class weights.
    if isinstance(value, dict) and value and all(isinstance(v, dict) for v in value.values()):
        return "per_output"
    return "one"


ClassWeights = Annotated[
    Annotated[dict[ClassIndex, ClassWeight], Tag("one")]
    | Annotated[dict[str, dict[ClassIndex, ClassWeight]], Tag("per_output")],
    Discriminator(_weights_form),
]


def class_weights_by_output(
    class_weight: ClassWeights | None, trained: list[str]
) -> dict[str, dict[int, float]]:
    """Each weighted output's class weights (``trained``: the outputs with a loss)."""
    if not class_weight:
        return {}
    if _weights_form(class_weight) == "per_output":
        return {name: dict(w) for name, w in class_weight.items() if name in trained}  # type: ignore[misc]
    return {name: dict(class_weight) for name in trained}  # type: ignore[arg-type]


def check_train_against_model(
    train: Any, inputs: list[str], outputs: list[str]
) -> list[Diagnostic]:
    """Problems in ``train`` (a ``TrainConfig``) that the model's names reveal."""
    found: list[Diagnostic] = []
    names = [*inputs, *outputs]
    for key in train.data_keys or {}:
        if key not in names:
            found.append(
                Diagnostic(
                    UNKNOWN_DATA_KEY,
                    f"train.data_keys names '{excerpt(key)}', which is not an input or "
                    f"output{did_you_mean(key, names)}",
                    ("train", "data_keys", key),
                    at_key=True,
                )
            )
    class_weight = train.class_weight
    if class_weight and train.sample_weight is not None:
        found.append(
            Diagnostic(
                WEIGHTS_CONFLICT,
                "train.class_weight and train.sample_weight cannot be used together (Keras "
                "refuses both at once); fold the class weights into the sample weights",
                ("train", "class_weight"),
                at_key=True,
            )
        )
    if class_weight and _weights_form(class_weight) == "per_output":
        for key in class_weight:
            if key not in outputs:
                found.append(
                    Diagnostic(
                        UNKNOWN_DATA_KEY,
                        f"train.class_weight names '{excerpt(key)}', which is not an "
                        f"output{did_you_mean(key, outputs)}",
                        ("train", "class_weight", key),
                        at_key=True,
                    )
                )
    elif class_weight and len(outputs) > 1:
        found.append(
            Diagnostic(
                WEIGHTS_CONFLICT,
                f"train.class_weight must say which output it weights: the model has "
                f"{len(outputs)} outputs; write output name -> (class index -> weight)",
                ("train", "class_weight"),
            )
        )
    return found


def check_weights_against_losses(
    train: Any, losses: Mapping[str, Loss | None], outputs: Mapping[str, TensorType]
) -> list[Diagnostic]:
    """Weighted outputs whose loss gives more than one value per sample (a loss per time
    step): a weight per sample cannot weight those, in Keras or here."""
    if not train.class_weight and train.sample_weight is None:
        return []
    weighted = [name for name, loss in losses.items() if loss is not None]
    if train.class_weight:
        weighted = list(class_weights_by_output(train.class_weight, weighted))
    field = "class_weight" if train.class_weight else "sample_weight"
    found = []
    for name in weighted:
        loss = losses[name]
        rank = len(outputs[name].full_shape)
        if loss is not None and loss.values_rank(rank) != 1:
            several = loss.values_rank(rank) > 1
            gives = "several values per sample" if several else "one value per batch"
            found.append(
                Diagnostic(
                    WEIGHTS_CONFLICT,
                    f"train.{field} weights each sample's loss, but the loss of output "
                    f"'{name}' (shape {outputs[name]}) gives "
                    f"{gives}; "
                    "weight an output whose loss has one value per sample",
                    ("train", field),
                )
            )
    return found
