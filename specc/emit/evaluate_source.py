"""What ``specc evaluate`` compiles: a spec (with ``--weights``, or its initializers), or the
spec of a folder ``specc train`` wrote, with that folder's weights.

A trained folder holds the inference model, its weights and the spec it was trained from
(``spec.json``), whose ``compile`` section (loss, loss weights, metrics) evaluation needs;
``--spec`` names another (or the spec for a folder without one). That spec is checked as
any spec is, and the folder is read as ``specc export`` reads it
(``specc.emit.trained``: nothing in it trusted), and its ``weights.npz`` is checked against
the spec as any weights file is.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from specc.diagnostics import Diagnostic, SpecError
from specc.emit.trained import (
    EXPORT_SOURCE,
    TRAINED_SPEC,
    TRAINED_WEIGHTS,
    TRAINED_WEIGHTS_CODE,
    read_trained_folder,
)
from specc.limits import DEFAULT_LIMITS, Limits


@dataclass(frozen=True)
class EvaluationSource:
    """The spec to compile and the weights file to load (None: its initializers)."""

    spec: Path
    weights: Path | None


def evaluation_source(
    source: Path,
    spec: Path | None = None,
    weights: Path | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> EvaluationSource:
    """The spec and weights to evaluate for ``source`` (a spec file, or a trained folder
    with ``spec``); ``SpecError`` for a combination that does not fit, or a folder that
    is not one ``specc train`` wrote."""
    if not source.is_dir():
        if spec is not None:
            message = "--spec applies to a trained folder; a spec file is its own spec"
            raise SpecError([Diagnostic(EXPORT_SOURCE, message, (), str(source))])
        return EvaluationSource(source, weights)
    if weights is not None:
        message = "--weights applies to a spec; a trained folder has its weights"
        raise SpecError([Diagnostic(EXPORT_SOURCE, message, (), str(source))])
    if spec is None:
        spec = source / TRAINED_SPEC
        if not spec.is_file():
            message = (
                f"{source} holds no {TRAINED_SPEC} (the loss and metrics): evaluating it "
                "needs the spec it was trained from (--spec SPEC)"
            )
            raise SpecError([Diagnostic(EXPORT_SOURCE, message, (), str(source))])
    read_trained_folder(source, limits)
    trained = source / TRAINED_WEIGHTS
    if not trained.is_file():
        message = f"{source} holds no {TRAINED_WEIGHTS}; the folder is not one specc train wrote"
        raise SpecError([Diagnostic(TRAINED_WEIGHTS_CODE, message, (), str(source))])
    return EvaluationSource(spec, trained)
