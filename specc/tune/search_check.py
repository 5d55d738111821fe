"""A search file checked against its spec, before any trial runs.

Every problem is pinned into the search file: a path that names no place in the spec, a
range the spec cannot take (each choice, and each range's bounds and a value inside it, is
put into the spec and the spec checked as ``specc validate`` does), bounds the wrong way
round, a metric the spec's training does not log, a scheduler that cannot stop anything.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from specc.diagnostics import Diagnostic, SpecError, SpecPath, did_you_mean
from specc.limits import Limits
from specc.passes.shapes import TypedGraph
from specc.pipeline import check_text
from specc.spec.callbacks_check import history_directions
from specc.spec.loader import LoadedSpec
from specc.tune.search_file import Asha, Range, SearchFile
from specc.tune.space import PathError, parse_path, resolve_path, with_values

SEARCH_PATH = "SPC161-search-path"
SEARCH_VALUE = "SPC162-search-value"
SEARCH_RANGE = "SPC163-search-range"
SEARCH_METRIC = "SPC164-search-metric"
VALIDATION_PREFIX = "val_"


@dataclass(frozen=True)
class Sample:
    """One value a range can give, put into the spec to check it; ``where`` says which
    part of the range it stands for, ``at`` is its place in the search file."""

    value: Any
    where: str
    at: SpecPath


def check_search(
    search: SearchFile,
    search_file: LoadedSpec,
    spec: LoadedSpec,
    typed: TypedGraph,
    validation: bool,
    limits: Limits,
) -> dict[SpecPath, Range]:
    """The search space by spec path; ``SpecError`` with every problem, pinned into the
    search file. ``typed``: the spec checked; ``validation``: whether the trials have
    validation data (a ``val_`` metric needs it)."""
    problems: list[Diagnostic] = []
    space: dict[SpecPath, Range] = {}
    for text, entry in search.space.items():
        try:
            path = parse_path(text)
            resolve_path(spec.data, path)
        except PathError as exc:
            problems.append(Diagnostic(SEARCH_PATH, str(exc), ("space", text), at_key=True))
            continue
        found = _range_problems(search, text, entry)
        if not found:
            found = _value_problems(spec, path, text, entry, limits)
        problems += found
        space[path] = entry
    problems += _metric_problems(search, typed, validation)
    problems += _scheduler_problems(search)
    if problems:
        raise SpecError([search_file.locate(d) for d in problems])
    return space


def _range_problems(search: SearchFile, text: str, entry: Range) -> list[Diagnostic]:
    kind, values = entry.kind, entry.values
    at = ("space", text, kind)
    if search.search == "grid" and kind not in ("grid", "choice"):
        message = (
            f"search: grid tries every value, so each range must list them (grid or "
            f"choice); {kind} has no finite list"
        )
        return [Diagnostic(SEARCH_RANGE, message, at)]
    if kind in ("uniform", "loguniform", "randint"):
        low, high = values
        if kind == "loguniform" and low <= 0:
            message = f"loguniform needs bounds above 0 (it samples the logarithm); got {low}"
            return [Diagnostic(SEARCH_RANGE, message, (*at, 0))]
        if low >= high:
            bound = "the upper bound is excluded, so it " if kind == "randint" else "it "
            message = f"{kind} [{low}, {high}]: {bound}needs the lower bound below the upper"
            return [Diagnostic(SEARCH_RANGE, message, at)]
    return []


def _samples(entry: Range, text: str) -> Iterator[Sample]:
    """The values that stand for a range: every listed value, else both bounds and one
    value strictly inside (a sampled float, which an integer field refuses)."""
    kind, values = entry.kind, entry.values
    at = ("space", text, kind)
    if kind in ("choice", "grid"):
        for k, value in enumerate(values):
            yield Sample(value, f"{kind} value {k + 1}", (*at, k))
        return
    low, high = values
    if kind == "randint":  # Ray's randint excludes the upper bound
        yield Sample(int(low), "the lower bound", (*at, 0))
        yield Sample(int(high) - 1, "the largest value below the upper bound", (*at, 1))
        return
    inside = math.sqrt(low * high) if kind == "loguniform" else (low + high) / 2
    # The bounds as written (a field of integers takes 8, not 8.0), then a value drawn
    # from inside, a float as Ray's sampler draws it.
    yield Sample(_as_written(low), "the lower bound", (*at, 0))
    yield Sample(_as_written(high), "the upper bound", (*at, 1))
    yield Sample(float(inside), f"a value inside the range ({kind} draws floats)", at)


def _as_written(bound: float) -> float | int:
    return int(bound) if float(bound).is_integer() else bound


def _value_problems(
    spec: LoadedSpec, path: SpecPath, text: str, entry: Range, limits: Limits
) -> list[Diagnostic]:
    """The spec's problems with each sample put in, as problems of the search file."""
    found: list[Diagnostic] = []
    seen: set[str] = set()
    for sample in _samples(entry, text):
        candidate = with_values(spec.data, {path: sample.value})
        try:
            check_text(json.dumps(candidate, allow_nan=False), spec.file, True, limits)
        except SpecError as error:
            for problem in error.diagnostics:
                # The same complaint about every value (a misspelt key) is said once.
                if problem.message in seen:
                    continue
                seen.add(problem.message)
                if problem.at_key and problem.path == path:
                    # The path's last key is one the spec's entry does not take.
                    message = f"{text} names no field of the spec: {problem.message}"
                    found.append(Diagnostic(problem.code, message, ("space", text), at_key=True))
                    continue
                where = f" (in the spec at {problem.dotted_path})" if problem.path else ""
                message = (
                    f"{text} = {_shown(sample.value)}, {sample.where}, makes the spec "
                    f"invalid: {problem.message}{where}"
                )
                found.append(Diagnostic(problem.code, message, sample.at))
        except (TypeError, ValueError) as exc:  # a value JSON cannot hold (.inf)
            found.append(Diagnostic(SEARCH_VALUE, f"{text}: {exc}", sample.at))
    return found


def _shown(value: Any) -> str:
    text = json.dumps(value, allow_nan=True)
    return text if len(text) <= 40 else text[:37] + "..."


def history_keys(typed: TypedGraph, validation: bool) -> list[str]:
    """The keys each epoch of the spec's training logs (``loss``, ``accuracy``, and their
    ``val_`` twins when there is validation data)."""
    spec = typed.resolved.spec
    if spec.compile is None:
        return []
    outputs = [str(ref) for ref in typed.resolved.outputs]
    keys = list(history_directions(spec.compile, outputs))
    return keys + ([VALIDATION_PREFIX + key for key in keys] if validation else [])


def _metric_problems(search: SearchFile, typed: TypedGraph, validation: bool) -> list[Diagnostic]:
    keys = history_keys(typed, validation)
    metric = search.metric
    if metric in keys:
        return []
    if metric.startswith(VALIDATION_PREFIX) and metric in history_keys(typed, True):
        message = (
            f"metric '{metric}' is logged only with validation data: give the spec a "
            "train.validation_split, or pass --validation-data"
        )
    elif not keys:
        message = "the spec has no compile section, so its training logs nothing to tune"
    else:
        message = (
            f"metric '{metric}' is not a key of the spec's history{did_you_mean(metric, keys)}"
        )
    return [Diagnostic(SEARCH_METRIC, message, ("metric",))]


def _scheduler_problems(search: SearchFile) -> list[Diagnostic]:
    scheduler = search.scheduler
    if (
        isinstance(scheduler, Asha)
        and scheduler.max_t is not None
        and scheduler.grace_period > scheduler.max_t
    ):
        message = (
            f"grace_period ({scheduler.grace_period}) must be at most max_t "
            f"({scheduler.max_t}): no trial could be stopped before its end"
        )
        return [Diagnostic(SEARCH_RANGE, message, ("scheduler", "grace_period"))]
    return []
