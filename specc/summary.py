"""A Keras-style model summary: layer (type), output shape, parameter count, connections."""

from __future__ import annotations

import math

from specc.escape import terminal_text
from specc.passes.shapes import TypedGraph

_HEADERS = ("Layer (type)", "Output Shape", "Param #", "Connected to")


def readable_size(num_bytes: float) -> str:
    """Bytes as Keras prints them in a summary: ``4.82 KB``."""
    for unit in ("B", "KB", "MB", "GB"):
        if num_bytes < 1024 or unit == "GB":
            return f"{num_bytes:.2f} {unit}"
        num_bytes /= 1024
    raise AssertionError("unreachable")


def parameter_counts(typed: TypedGraph) -> tuple[int, int]:
    """(trainable, non-trainable) parameter counts; shared weights counted once."""
    trainable = frozen = 0
    for parameter in typed.parameters:
        count = math.prod(parameter.shape)
        if parameter.trainable:
            trainable += count
        else:
            frozen += count
    return trainable, frozen


def render_summary(typed: TypedGraph) -> str:
    """The summary table, as text."""
    resolved = typed.resolved
    rows: list[tuple[str, str, str, str]] = []
    for name, tensor in resolved.inputs.items():
        rows.append((f"{terminal_text(name)} (InputLayer)", str(tensor), "0", "-"))
    counted: set[str] = set()
    for node in resolved.nodes:
        if node.name not in typed.output_types:
            continue
        shapes = typed.output_types[node.name]
        params = 0
        if node.owner not in counted:
            counted.add(node.owner)
            params = sum(math.prod(p.shape) for p in typed.parameters_of(node.owner))
        connected = ", ".join(f"{terminal_text(ref.name)}[0][{ref.index}]" for ref in node.inputs)
        shape_text = str(shapes[0]) if len(shapes) == 1 else "[" + ", ".join(map(str, shapes)) + "]"
        rows.append(
            (
                f"{terminal_text(node.name)} ({node.layer.type_name()})",
                shape_text,
                f"{params:,}",
                connected,
            )
        )
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(_HEADERS)]

    def line(cells: tuple[str, ...]) -> str:
        return "  ".join(
            c.rjust(w) if i == 2 else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    rule = "=" * (sum(widths) + 2 * (len(widths) - 1))
    trainable, frozen = parameter_counts(typed)
    total = trainable + frozen
    out = [f'Model: "{terminal_text(resolved.model_name)}"', rule, line(_HEADERS), rule]
    out.extend(line(r) for r in rows)
    out.append(rule)
    out.append(f"Total params: {total:,} ({readable_size(total * 4)})")
    out.append(f"Trainable params: {trainable:,} ({readable_size(trainable * 4)})")
    out.append(f"Non-trainable params: {frozen:,} ({readable_size(frozen * 4)})")
    return "\n".join(out)
