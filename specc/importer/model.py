"""``import_model``: a Keras 3 model file to a spec mapping and weights by spec key."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from specc.diagnostics import Diagnostic, SpecError, SpecPath
from specc.importer.archive import CONFIG, is_archive, read_archive
from specc.importer.compile_config import compile_section
from specc.importer.graph import MODEL_CLASSES, ModelBody, ModelReader
from specc.importer.h5_paths import WeightSource
from specc.importer.h5_weights import Expected, read_h5_weights
from specc.importer.objects import custom_message, is_custom
from specc.importer.problems import SCHEMA, UNKNOWN_NAME, ConfigProblems, file_error
from specc.limits import DEFAULT_LIMITS, Limits
from specc.passes.shapes import TypedGraph
from specc.pipeline import check_text
from specc.spec.json_reader import read_json
from specc.spec.loader import read_spec_text
from specc.spec.source import PositionMap


@dataclass
class ImportedModel:
    """A model read from a Keras file: the spec (plain data) and its weights by key."""

    spec: dict[str, Any]
    weights: dict[str, np.ndarray]


def import_model(
    path: str | Path, weights_path: str | Path | None = None, limits: Limits = DEFAULT_LIMITS
) -> ImportedModel:
    """Read a ``.keras`` file, or a ``model.to_json()`` file with its ``.weights.h5``;
    ``SpecError`` with every problem, each located in the config."""
    path = Path(path)
    weights: bytes | str | None
    if _is_zip(path):
        archive = read_archive(path, limits)
        text, file, weights = archive.config, f"{path}/{CONFIG}", archive.weights
        weights_file = f"{path}/model.weights.h5"
    else:
        text, file = read_spec_text(path, limits), str(path)
        weights = str(weights_path) if weights_path is not None else None
        weights_file = str(weights_path)
    positions = PositionMap()
    document = read_json(text, file, positions)
    problems = ConfigProblems(file, positions)
    spec, reader, top = _spec_of(document, problems)
    problems.check()
    typed = _checked(spec, reader, top, problems, limits)
    if weights is None:
        raise file_error(
            file,
            "no weights: a .keras file without model.weights.h5, or a "
            "JSON config given without --weights",
        )

    def expected(source: WeightSource) -> Expected:
        graph = typed.get(source.config_path[:-2])
        if graph is None:
            return []
        model = _model_prefix(source, top, reader)
        return [(f"{model}{p.key}", p.shape) for p in graph.parameters_of(source.owner)]

    sources = _all_sources(top, reader)
    arrays = read_h5_weights(weights, weights_file, sources, expected, limits)
    return ImportedModel(spec, arrays)


def config_to_spec(document: Any, file: str) -> dict[str, Any]:
    """The spec mapping of a parsed model config (nothing checked beyond the mapping);
    ``SpecError`` with every problem found on the way."""
    problems = ConfigProblems(file)
    spec, _, _ = _spec_of(document, problems)
    problems.check()
    return spec


def _is_zip(path: Path) -> bool:
    try:
        return is_archive(path)
    except OSError as exc:
        raise file_error(str(path), f"cannot read {path}: {exc.strerror or exc}") from None


def _spec_of(
    document: Any, problems: ConfigProblems
) -> tuple[dict[str, Any], ModelReader, ModelBody]:
    """The spec mapping of a model config document."""
    reader = ModelReader(problems)
    if not isinstance(document, dict) or document.get("class_name") not in MODEL_CLASSES:
        if isinstance(document, dict) and is_custom(document):
            problems.error(UNKNOWN_NAME, custom_message(document, "model"), ("class_name",))
        else:
            found = document.get("class_name") if isinstance(document, dict) else document
            problems.error(
                SCHEMA,
                "not a Keras model config: expected a Sequential or "
                f"Functional model; got {str(found)[:80]!r}",
                (),
            )
        return {}, reader, ModelBody()
    top = reader.read(document, ())
    config = document.get("config") if isinstance(document.get("config"), dict) else {}
    spec: dict[str, Any] = {"specc": 1, "name": str(config.get("name") or "model")}
    spec.update(top.as_spec())
    if reader.models:
        spec["models"] = {name: body.as_spec() for name, body in reader.models.items()}
    compile_ = compile_section(document.get("compile_config"), ("compile_config",), problems)
    if compile_:
        spec["compile"] = compile_
    return spec, reader, top


def _model_prefix(source: WeightSource, top: ModelBody, reader: ModelReader) -> str:
    for name, body in reader.models.items():
        if source in body.weights:
            return f"{name}/"
    return ""


def _all_sources(top: ModelBody, reader: ModelReader) -> list[WeightSource]:
    return [*top.weights, *(s for body in reader.models.values() for s in body.weights)]


def _checked(
    spec: dict[str, Any],
    reader: ModelReader,
    top: ModelBody,
    problems: ConfigProblems,
    limits: Limits,
) -> dict[SpecPath, TypedGraph]:
    """Each model's checked graph, by the config path of its layers' list: the whole spec
    first (so a problem anywhere is found), then each nested model alone, for its
    weights. A problem the spec's checks find is reported where its value came from."""
    graphs: dict[SpecPath, TypedGraph] = {}
    try:
        graphs[_layers_path(top)] = check_text(json.dumps(spec), "<import>", True, limits)
        for name, body in reader.models.items():
            alone = {"specc": 1, "name": name, **body.as_spec()}
            graphs[_layers_path(body)] = check_text(json.dumps(alone), "<import>", True, limits)
    except SpecError as error:
        for diagnostic in error.diagnostics:
            where = _origin(diagnostic, top, reader)
            problems.error(diagnostic.code, diagnostic.message, where)
        problems.check()
    return graphs


def _layers_path(body: ModelBody) -> SpecPath:
    """The config path holding a model's layers (``config`` of the model entry)."""
    for origin in body.origins.values():
        index = _find(origin, "layers")
        if index is not None:
            return origin[:index]
    return ("config",)


def _find(path: SpecPath, key: str) -> int | None:
    for i in range(len(path) - 1, -1, -1):
        if path[i] == key:
            return i
    return None


def _origin(diagnostic: Diagnostic, top: ModelBody, reader: ModelReader) -> SpecPath:
    """The config path a spec diagnostic's value came from (the nearest mapped part)."""
    path = diagnostic.path
    body = top
    if len(path) >= 2 and path[0] == "models" and path[1] in reader.models:
        body, path = reader.models[str(path[1])], path[2:]
    for end in range(len(path), 0, -1):
        origin = body.origins.get(path[:end])
        if origin is not None:
            return (*origin, *path[end : end + 1])
    return ("compile_config",) if path[:1] == ("compile",) else ()
