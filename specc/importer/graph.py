"""A Keras model config (Sequential or Functional, nested ones included) as a spec's
``inputs``, ``layers``, ``outputs`` and ``models``.

Each layer call (a Keras "inbound node") becomes one spec entry: a layer's first call
under the layer's name, later calls ``<name>_call_<k>`` sharing its weights, and a nested
model's calls entries that apply it (``{model: encoder}``). The ``NotEqual`` op layer Keras
adds for an ``Embedding`` with ``mask_zero`` (its mask, passed as ``mask=`` to the next
layer) is dropped: the spec's ``mask_zero: true`` on the Embedding stands for it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from specc.diagnostics import SpecPath
from specc.importer.calls import CallResolver, history_list, tensor_history
from specc.importer.h5_paths import H5Names, WeightSource
from specc.importer.layer_config import check_dtype, known_layer, layer_arguments
from specc.importer.problems import SCHEMA, UNKNOWN_KEY, ConfigProblems

MODEL_CLASSES = ("Sequential", "Functional", "Model")


@dataclass
class ModelBody:
    """One model's part of a spec, with where each entry came from in the config."""

    inputs: dict[str, Any] = field(default_factory=dict)
    layers: list[dict[str, Any]] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    # Spec path of an entry (relative to this model) -> the config path it came from.
    origins: dict[SpecPath, SpecPath] = field(default_factory=dict)
    weights: list[WeightSource] = field(default_factory=list)

    def as_spec(self) -> dict[str, Any]:
        """The ``inputs``/``layers``/``outputs`` mapping of this model."""
        return {"inputs": self.inputs, "layers": self.layers, "outputs": self.outputs}


@dataclass
class ModelReader:
    """Reads a model config and the models nested in it."""

    problems: ConfigProblems
    models: dict[str, ModelBody] = field(default_factory=dict)

    def read(self, entry: dict[str, Any], path: SpecPath, h5_group: str = "") -> ModelBody:
        """The spec body of the model serialized as ``entry`` (at ``path``)."""
        config = entry.get("config")
        if not isinstance(config, dict) or not isinstance(config.get("layers"), list):
            self.problems.error(SCHEMA, "a model's config must hold a 'layers' list", path)
            return ModelBody()
        if "dtype" in config:
            check_dtype(config["dtype"], (*path, "config", "dtype"), self.problems)
        if entry.get("class_name") == "Sequential":
            return self._sequential(config, (*path, "config"), h5_group)
        return self._functional(config, (*path, "config"), h5_group)

    # ------------------------------------------------------------------ Sequential

    def _sequential(self, config: dict[str, Any], path: SpecPath, h5_group: str) -> ModelBody:
        body = ModelBody()
        layers = config["layers"]
        names = H5Names(h5_group)
        previous: str | None = None
        for index, entry in enumerate(layers):
            where = (*path, "layers", index)
            if isinstance(entry, dict) and entry.get("class_name") == "InputLayer":
                if index == 0:
                    previous = self._input(entry, where, body)
                continue
            if previous is None:
                previous = self._built_input(config, path, body)
            name = self._entry(entry, where, body, names, [previous], {})
            previous = name or previous
        if previous is not None and body.layers:
            body.outputs = [previous]
        return body

    def _built_input(self, config: dict[str, Any], path: SpecPath, body: ModelBody) -> str:
        shape = config.get("build_input_shape")
        if not isinstance(shape, list) or not shape:
            self.problems.error(
                SCHEMA,
                "a Sequential model without an input shape (never built) cannot be imported",
                path,
            )
            shape = [None]
        body.inputs["input_layer"] = {"shape": shape[1:]}
        body.origins[("inputs", "input_layer")] = (*path, "build_input_shape")
        return "input_layer"

    def _input(self, entry: dict[str, Any], path: SpecPath, body: ModelBody) -> str:
        config = entry.get("config") if isinstance(entry.get("config"), dict) else {}
        name = str(config.get("name") or entry.get("name") or "input_layer")
        shape = config.get("batch_shape") or config.get("batch_input_shape")
        if not isinstance(shape, list) or not shape:
            self.problems.error(SCHEMA, "an InputLayer needs its batch_shape", (*path, "config"))
            shape = [None]
        for flag in ("sparse", "ragged", "optional"):
            if config.get(flag):
                self.problems.error(
                    UNKNOWN_KEY, f"{flag} inputs are not supported", (*path, "config", flag)
                )
        spec: dict[str, Any] = {"shape": shape[1:]}
        dtype = config.get("dtype")
        if isinstance(dtype, dict):  # a policy: its name is the dtype
            dtype = (dtype.get("config") or {}).get("name")
        if dtype and dtype != "float32":
            spec["dtype"] = dtype
        body.inputs[name] = spec
        body.origins[("inputs", name)] = (*path, "config")
        return name

    # ------------------------------------------------------------------ Functional

    def _functional(self, config: dict[str, Any], path: SpecPath, h5_group: str) -> ModelBody:
        body = ModelBody()
        layers = config["layers"]
        names = H5Names(h5_group)
        resolver = CallResolver(self.problems)
        for index, entry in enumerate(layers):
            if not isinstance(entry, dict):
                continue
            where = (*path, "layers", index)
            name = _layer_name(entry)
            if entry.get("class_name") == "InputLayer":
                resolver.inputs.add(self._input(entry, where, body))
                names.take("InputLayer")
            elif entry.get("class_name") == "NotEqual" and _is_op(entry):
                resolver.masks[name] = where
            else:
                resolver.layers[name] = len(_nodes(entry))
        for index, entry in enumerate(layers):
            where = (*path, "layers", index)
            if not isinstance(entry, dict) or entry.get("class_name") in ("InputLayer",):
                continue
            if entry.get("class_name") == "NotEqual" and _is_op(entry):
                resolver.check_mask(entry, where, _mask_zero_ids(layers))
                continue
            nodes = _nodes(entry)
            if not nodes:
                self.problems.error(SCHEMA, "a layer of a functional model is never called", where)
                continue
            names_of_calls = resolver.call_names(_layer_name(entry))
            first = None
            for k, node in enumerate(nodes):
                refs, flags = resolver.call(node, (*where, "inbound_nodes", k))
                if k == 0:
                    first = self._entry(entry, where, body, names, refs, flags)
                elif first is not None:
                    self._later_call(entry, first, names_of_calls[k], refs, where, body)
        body.inputs = _ordered_inputs(body.inputs, config.get("input_layers"))
        body.outputs = resolver.outputs(config.get("output_layers"), (*path, "output_layers"))
        return body

    def _later_call(
        self,
        entry: dict[str, Any],
        first: str,
        name: str,
        refs: list[str],
        where: SpecPath,
        body: ModelBody,
    ) -> None:
        call: dict[str, Any] = {"name": name}
        if entry.get("class_name") in MODEL_CLASSES:
            call["model"] = first
        else:
            call["shares"] = first
        call["inputs"] = refs[0] if len(refs) == 1 else refs
        body.origins[("layers", len(body.layers))] = where
        body.layers.append(call)

    # ------------------------------------------------------------------ entries

    def _entry(
        self,
        entry: Any,
        where: SpecPath,
        body: ModelBody,
        names: H5Names,
        refs: list[str],
        flags: dict[str, Any],
    ) -> str | None:
        """Add the spec entry of one layer's first call; its name, or None if refused."""
        if isinstance(entry, dict) and entry.get("class_name") in MODEL_CLASSES:
            return self._nested(entry, where, body, names, refs)
        class_name = known_layer(entry, where, self.problems)
        if class_name is None:
            return None
        config = entry["config"]
        name = _layer_name(entry)
        spec: dict[str, Any] = {"name": name, "type": class_name}
        spec.update(layer_arguments(class_name, config, (*where, "config"), self.problems))
        spec.update(flags)
        spec["inputs"] = refs[0] if len(refs) == 1 else refs
        body.origins[("layers", len(body.layers))] = (*where, "config")
        body.layers.append(spec)
        inner = config.get("layer") if isinstance(config.get("layer"), dict) else {}
        body.weights.append(
            WeightSource(names.take(class_name), class_name, name, where, inner.get("class_name"))
        )
        return name

    def _nested(
        self,
        entry: dict[str, Any],
        where: SpecPath,
        body: ModelBody,
        names: H5Names,
        refs: list[str],
    ) -> str:
        name = _layer_name(entry)
        if name in self.models:
            self.problems.error(SCHEMA, f"two nested models are named '{name}'", where)
        group = names.take(str(entry.get("class_name")))
        self.models[name] = self.read(entry, where, f"{group}/")
        body.origins[("layers", len(body.layers))] = where
        body.layers.append(
            {"name": name, "model": name, "inputs": refs[0] if len(refs) == 1 else refs}
        )
        return name


def _mask_zero_ids(layers: list[Any]) -> list[Any]:
    """The tensors that Embeddings with ``mask_zero`` read (their first call's ids)."""
    found = []
    for entry in layers:
        config = entry.get("config") if isinstance(entry, dict) else None
        if (
            entry_class(entry) == "Embedding"
            and isinstance(config, dict)
            and config.get("mask_zero")
        ):
            for node in _nodes(entry)[:1]:
                args = node.get("args") if isinstance(node, dict) else None
                if isinstance(args, list) and args:
                    found.append(tensor_history(args[0]))
    return found


def entry_class(entry: Any) -> Any:
    """The class name of a layer entry, or None."""
    return entry.get("class_name") if isinstance(entry, dict) else None


def _layer_name(entry: dict[str, Any]) -> str:
    """A functional layer entry's name (Keras writes it beside the config and in it)."""
    for holder in (entry, entry.get("config")):
        if isinstance(holder, dict) and isinstance(holder.get("name"), str):
            return holder["name"]
    return ""


def _nodes(entry: dict[str, Any]) -> list[Any]:
    """The calls of a functional layer entry."""
    nodes = entry.get("inbound_nodes")
    return nodes if isinstance(nodes, list) else []


def _is_op(entry: dict[str, Any]) -> bool:
    """Whether an entry is one of Keras's op layers (``keras.src.ops``), not a layer."""
    return str(entry.get("module", "")).startswith("keras.src.ops")


def _ordered_inputs(inputs: dict[str, Any], input_layers: Any) -> dict[str, Any]:
    """The inputs in the model's call order (``input_layers``), the graph's input order."""
    order = [item[0] for item in history_list(input_layers) if item and item[0] in inputs]
    return {name: inputs[name] for name in [*order, *(n for n in inputs if n not in order)]}
