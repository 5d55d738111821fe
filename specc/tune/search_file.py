"""The search file of ``specc tune``: its schema, read with positions like a spec.

    metric: val_accuracy          # a history key of the spec
    mode: max                     # max | min
    trials: 6                     # Ray Tune's num_samples
    search: random                # random | grid
    space:                        # spec path -> one range
      layers[0].units: {choice: [32, 64, 128]}
      compile.optimizer.learning_rate: {loguniform: [1.0e-4, 1.0e-2]}
    scheduler: {type: ASHA, max_t: 10, grace_period: 1}

The schema checks the file's form; ``specc.tune.search_check`` checks it against the spec
(paths, the values the spec accepts, the metric).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from specc.diagnostics import Diagnostic, SpecError
from specc.limits import DEFAULT_LIMITS, Limits
from specc.registry import Registry, SpecModel
from specc.spec.errors import describe, translate
from specc.spec.loader import LoadedSpec, load_spec

SEARCH_SCHEMA = "SPC160-search-file"
# The range kinds, in the order the docs list them.
KINDS = ("choice", "uniform", "loguniform", "randint", "grid")
# No sweep needs more; a typo (trials: 1e9) should not queue a billion trials.
MAX_TRIALS = 100_000
Bounds = Annotated[list[float], Field(min_length=2, max_length=2)]
IntBounds = Annotated[list[int], Field(min_length=2, max_length=2)]
Values = Annotated[list[Any], Field(min_length=1, max_length=10_000)]


class Range(SpecModel):
    """One entry of ``space``: exactly one of the keys, as Ray Tune's sampling functions
    (``tune.choice``, ``tune.uniform``, ``tune.loguniform``, ``tune.randint`` with its upper
    bound excluded, ``tune.grid_search``)."""

    choice: Values | None = None
    uniform: Bounds | None = None
    loguniform: Bounds | None = None
    randint: IntBounds | None = None
    grid: Values | None = None

    @model_validator(mode="before")
    @classmethod
    def _one_kind(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        given = [key for key in KINDS if key in data]
        if len(given) > 1:
            raise PydanticCustomError(
                "value_error",
                "{error}",
                {"error": f"a range has one kind; got {', '.join(given)}"},
            )
        if not data:
            names = ", ".join(KINDS)
            raise PydanticCustomError(
                "value_error", "{error}", {"error": f"a range needs one of {names}"}
            )
        return data

    @property
    def kind(self) -> str:
        """Which of ``KINDS`` this range is."""
        return next(key for key in KINDS if getattr(self, key) is not None)

    @property
    def values(self) -> list[Any]:
        """What the range's key holds: the choices, or the two bounds."""
        return list(getattr(self, self.kind))


SCHEDULERS: Registry[SpecModel] = Registry("scheduler")


@SCHEDULERS.register
class Asha(SpecModel):
    """Asynchronous successive halving (Ray Tune's ``ASHAScheduler``); time is epochs."""

    type: Literal["ASHA", "ASHAScheduler"]
    # Default: the spec's epochs.
    max_t: int | None = Field(None, ge=1)
    grace_period: int = Field(1, ge=1)
    reduction_factor: float = Field(4.0, gt=1)


@SCHEDULERS.register
class MedianStopping(SpecModel):
    """Ray Tune's ``MedianStoppingRule``: stop a trial whose best result so far is worse
    than the median of the other trials' running averages at the same epoch."""

    type: Literal["MedianStopping", "MedianStoppingRule"]
    grace_period: int = Field(1, ge=1)
    min_samples_required: int = Field(3, ge=1)


class SearchFile(SpecModel):
    """A whole search file."""

    metric: str = Field(min_length=1)
    mode: Literal["max", "min"]
    trials: int = Field(1, ge=1, le=MAX_TRIALS)
    space: dict[str, Range] = Field(min_length=1)
    scheduler: SCHEDULERS.discriminated_union(accept_strings=True) | None = None  # type: ignore[valid-type]
    search: Literal["random", "grid"] = "random"


def read_search_file(path: Path, limits: Limits = DEFAULT_LIMITS) -> tuple[SearchFile, LoadedSpec]:
    """The search file at ``path``, validated, with its positions; ``SpecError`` with
    located diagnostics when it is not one."""
    loaded = load_spec(path, limits)
    if not isinstance(loaded.data, dict):
        message = "a search file is a mapping with metric, mode and space; got " + describe(
            loaded.data
        )
        raise SpecError([loaded.locate(Diagnostic(SEARCH_SCHEMA, message))])
    try:
        return SearchFile.model_validate(loaded.data), loaded
    except ValidationError as exc:
        raise SpecError(
            [loaded.locate(d) for d in translate(exc, loaded.data, SEARCH_SCHEMA)]
        ) from None
