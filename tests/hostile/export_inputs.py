"""Inputs for the ``specc export`` families: small specs with any name or labels, and
trained folders with one thing wrong."""

from __future__ import annotations

import functools
import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from tests.hostile.case import Content, Outcome

Check = Callable[[Outcome], str | None]

# JSON, not YAML: any string, control characters included, is written exactly.
SPEC = "spec.json"


def spec_text(
    name: str | None = "tiny",
    labels: Any = None,
    units: int = 3,
    activation: str = "softmax",
    two_outputs: bool = False,
    loss: bool = False,
) -> str:
    """A spec of one Dense layer (or two heads), with ``name`` and ``metadata.labels``."""
    spec: dict[str, Any] = {"specc": 1}
    if name is not None:
        spec["name"] = name
    spec["layers"] = [
        {
            "type": "Dense",
            "name": "dense",
            "units": units,
            "activation": activation,
            "input_shape": [4],
        }
    ]
    if two_outputs:
        spec["layers"].append(
            {
                "type": "Dense",
                "name": "other",
                "units": 2,
                "activation": "softmax",
                "inputs": "input_layer",
            }
        )
        spec["outputs"] = ["dense", "other"]
    if loss:
        spec["compile"] = {"loss": "sparse_categorical_crossentropy"}
    if labels is not None:
        spec["metadata"] = {"labels": labels}
    return json.dumps(spec)


@functools.cache
def model_bytes() -> bytes:
    """The ONNX model ``specc build`` writes for the tiny spec (3 classes, labels a b c)."""
    from specc.onnx_model import to_model_proto
    from specc.pipeline import compile_spec

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / SPEC
        path.write_text(spec_text(labels={"dense": ["a", "b", "c"]}, loss=True))
        compiled = compile_spec(path, seed=0)
        return to_model_proto(compiled.graph, 17, compiled.metadata).SerializeToString()


def trained_model() -> onnx.ModelProto:
    """A fresh copy of the tiny trained model."""
    model = onnx.ModelProto()
    model.ParseFromString(model_bytes())
    return model


def description() -> dict[str, Any]:
    """The tiny model's ``specc.model`` metadata."""
    props = {p.key: p.value for p in trained_model().metadata_props}
    return json.loads(props["specc.model"])


def _weights(path: Path) -> None:
    np.savez(path, **{"dense.kernel": np.zeros((4, 3), np.float32)})


def trained_folder(
    model: Content | None = None, weights: Content | None = None, folder: str = "run"
) -> dict[str, Content]:
    """The files of a folder ``specc train`` wrote (``run/``), with ``model`` (bytes or a
    writer) instead of its model.onnx and ``weights`` instead of its weights.npz."""
    return {
        f"{folder}/model.onnx": model_bytes() if model is None else model,
        f"{folder}/weights.npz": _weights if weights is None else weights,
        f"{folder}/history.json": '{"loss": [1.0]}\n',
    }


def with_model(change: Callable[[onnx.ModelProto], None]) -> bytes:
    """The tiny model's bytes after ``change``."""
    model = trained_model()
    change(model)
    return model.SerializeToString()


def with_description(text: str) -> bytes:
    """The tiny model with ``text`` as its ``specc.model`` metadata."""

    def change(model: onnx.ModelProto) -> None:
        for prop in model.metadata_props:
            if prop.key == "specc.model":
                prop.value = text

    return with_model(change)


def described(**changes: Any) -> bytes:
    """The tiny model with its description's top-level keys changed."""
    return with_description(json.dumps({**description(), **changes}))


def output_described(**changes: Any) -> bytes:
    """The tiny model with its output's description changed."""
    desc = description()
    desc["outputs"] = [{**desc["outputs"][0], **changes}]
    return with_description(json.dumps(desc))


def check_all(*checks: Check) -> Check:
    """The first problem any of ``checks`` finds."""

    def check(outcome: Outcome) -> str | None:
        for one in checks:
            problem = one(outcome)
            if problem:
                return problem
        return None

    return check


def wrote_nothing(outcome: Outcome) -> str | None:
    """Nothing but the case's own files and specc's hidden temporaries were left."""
    extra = sorted(
        p.name
        for p in outcome.folder.iterdir()
        if p.name.endswith(("-web", "-mobile")) or p.name == "out"
    )
    return f"wrote {extra}" if extra else None


def not_in_output(*texts: str) -> Check:
    """None of ``texts`` appears in the output."""

    def check(outcome: Outcome) -> str | None:
        found = [t for t in texts if t in outcome.output]
        return f"output holds {found}" if found else None

    return check


def text_is(path: str, expected: str) -> Check:
    """The file at ``path`` (in the case's folder) holds exactly ``expected``."""

    def check(outcome: Outcome) -> str | None:
        target = outcome.folder / path
        try:
            found = target.read_text(encoding="utf-8")
        except OSError as exc:
            return f"cannot read {path}: {exc}"
        return None if found == expected else f"{path} was changed"

    return check
