"""A Keras-style model summary: layer (type), output shape, parameter count, connections."""

from __future__ import annotations

import math

from specc.escape import terminal_text
from specc.passes.nested import top_entries
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


def _layer_rows(typed: TypedGraph) -> list[tuple[str, str, str, str]]:
    """A row per layer, and one per sub-model use (as Keras shows a nested model: one row
    with its parameter count); a shared weight is counted at its first row."""
    rows: list[tuple[str, str, str, str]] = []
    counted: set[str] = set()
    for entry in top_entries(typed.resolved):
        if entry.name not in typed.output_types:
            continue
        params = 0
        for owner in entry.owners:
            if owner not in counted:
                counted.add(owner)
                params += sum(math.prod(p.shape) for p in typed.parameters_of(owner))
        connected = ", ".join(f"{terminal_text(r.name)}[0][{r.index}]" for r in entry.inputs)
        shapes = typed.output_types[entry.name]
        shape_text = str(shapes[0]) if len(shapes) == 1 else "[" + ", ".join(map(str, shapes)) + "]"
        label = f"{terminal_text(entry.name)} ({terminal_text(entry.kind)})"
        rows.append((label, shape_text, f"{params:,}", connected))
    return rows


def render_summary(typed: TypedGraph) -> str:
    """The summary table, as text."""
    resolved = typed.resolved
    rows: list[tuple[str, str, str, str]] = []
    for name, tensor in resolved.inputs.items():
        rows.append((f"{terminal_text(name)} (InputLayer)", str(tensor), "0", "-"))
    rows.extend(_layer_rows(typed))
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
