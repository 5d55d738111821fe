"""The calls in a Keras functional config: tensor references (``keras_history``) turned
into the spec's references, and the call arguments a spec entry keeps."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from specc.diagnostics import SpecPath
from specc.importer.objects import is_neutral
from specc.importer.problems import REFERENCE, SCHEMA, UNKNOWN_KEY, UNKNOWN_NAME, ConfigProblems

_TENSOR = "__keras_tensor__"
# Call arguments that become layer keys (attention layers).
_CALL_FLAGS = ("use_causal_mask", "return_attention_scores")
# Call arguments that carry more input tensors, in the spec's input order after the first.
_CALL_TENSORS = ("query", "value", "key")


def history_list(value: Any) -> list[list[Any]]:
    """``input_layers``/``output_layers``: one ``[name, node, index]`` (a single-tensor
    model) or a list of them."""
    if isinstance(value, list) and len(value) == 3 and isinstance(value[0], str):
        return [value]
    if isinstance(value, list):
        return [
            item
            for item in value
            if isinstance(item, list) and len(item) == 3 and isinstance(item[0], str)
        ]
    return []


@dataclass
class CallResolver:
    """Turns Keras's tensor references (``keras_history``) into spec references."""

    problems: ConfigProblems
    inputs: set[str] = field(default_factory=set)
    layers: dict[str, int] = field(default_factory=dict)  # name -> number of calls
    masks: dict[str, SpecPath] = field(default_factory=dict)

    def call_names(self, name: str) -> list[str]:
        """The spec name of each call of layer ``name``."""
        count = self.layers.get(name, 1)
        taken = self.inputs | set(self.layers)
        result = [name]
        for k in range(1, count):
            candidate = f"{name}_call_{k}"
            while candidate in taken:
                candidate += "_"
            result.append(candidate)
        return result

    def ref(self, history: Any, path: SpecPath) -> str | None:
        """The spec reference of ``[layer, node, tensor]``."""
        if not (isinstance(history, list) and len(history) == 3 and isinstance(history[0], str)):
            self.problems.error(SCHEMA, "a tensor reference must be [layer, node, index]", path)
            return None
        name, node, index = history
        if name in self.inputs:
            return str(name)
        if name not in self.layers or not _count(node) or not _count(index):
            self.problems.error(REFERENCE, f"no layer call {history!r} in the model", path)
            return None
        calls = self.call_names(str(name))
        if not 0 <= node < len(calls):
            self.problems.error(REFERENCE, f"layer '{name}' has no call {node}", path)
            return None
        return calls[node] + (f"[{index}]" if index else "")

    def tensor(self, value: Any, path: SpecPath) -> str | None:
        config = value.get("config") if isinstance(value, dict) else None
        history = config.get("keras_history") if isinstance(config, dict) else None
        return self.ref(history, (*path, "config", "keras_history"))

    def call(self, node: Any, path: SpecPath) -> tuple[list[str], dict[str, Any]]:
        """The input references of one call, and the call arguments that are layer keys."""
        if not isinstance(node, dict):
            self.problems.error(SCHEMA, "an inbound node must hold 'args' and 'kwargs'", path)
            return [], {}
        refs: list[str] = []
        args = node.get("args") if isinstance(node.get("args"), list) else []
        for i, arg in enumerate(args):
            items = arg if isinstance(arg, list) else [arg]
            for j, item in enumerate(items):
                where = (*path, "args", i, j) if isinstance(arg, list) else (*path, "args", i)
                if _is_tensor(item):
                    refs.extend(r for r in [self.tensor(item, where)] if r)
                else:
                    self.problems.error(
                        SCHEMA,
                        f"call argument {item!r} is not a tensor; "
                        "specc takes layer calls on tensors only",
                        where,
                    )
        flags: dict[str, Any] = {}
        kwargs = node.get("kwargs") if isinstance(node.get("kwargs"), dict) else {}
        for key, value in kwargs.items():
            where = (*path, "kwargs", key)
            if key in _CALL_TENSORS and _is_tensor(value):
                refs.extend(r for r in [self.tensor(value, where)] if r)
            elif key in _CALL_FLAGS:
                if value:
                    flags[key] = value
            elif key == "mask" and _is_tensor(value) and self._is_mask(value):
                continue  # the Embedding's mask_zero stands for it
            elif key != "training" and not is_neutral(value):
                self.problems.error(UNKNOWN_KEY, f"call argument '{key}' is not supported", where)
        return refs, flags

    def _is_mask(self, value: dict[str, Any]) -> bool:
        config = value.get("config")
        history = config.get("keras_history") if isinstance(config, dict) else None
        return bool(history_list(history)) and history[0] in self.masks

    def check_mask(self, entry: dict[str, Any], path: SpecPath, masked: list[Any]) -> None:
        """Accept a ``NotEqual`` op only as an Embedding's mask: ``ids != 0`` on the very
        ids an Embedding with ``mask_zero`` reads (``masked``: their tensor references)."""
        nodes = entry.get("inbound_nodes")
        nodes = nodes if isinstance(nodes, list) else []
        args = nodes[0].get("args") if len(nodes) == 1 and isinstance(nodes[0], dict) else None
        if not (isinstance(args, list) and len(args) == 2 and args[1] == 0):
            args = None
        if args is None or tensor_history(args[0]) not in masked:
            self.problems.error(
                UNKNOWN_NAME,
                "a NotEqual op is imported only as the mask of "
                "an Embedding with mask_zero (ids != 0)",
                path,
            )

    def outputs(self, output_layers: Any, path: SpecPath) -> list[str]:
        """The model's outputs as spec references."""
        items = history_list(output_layers)
        if not items:
            self.problems.error(SCHEMA, "a functional model needs its output_layers", path)
        refs = [self.ref(item, path) for item in items]
        return [r for r in refs if r]


def tensor_history(value: Any) -> Any:
    """The ``keras_history`` of a tensor argument, or None."""
    config = value.get("config") if _is_tensor(value) else None
    return config.get("keras_history") if isinstance(config, dict) else None


def _count(value: Any) -> bool:
    """Whether a node or tensor index is a plain non-negative integer."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_tensor(value: Any) -> bool:
    return isinstance(value, dict) and value.get("class_name") == _TENSOR
