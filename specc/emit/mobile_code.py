"""Pieces of the mobile bundle README's code sketches and tables, shared by its sections.

Names from the spec reach the sketches only as identifiers made of letters and digits
(``code_name``), as escaped string literals, or as escaped Markdown.
"""

from __future__ import annotations

import re
from typing import Any

from specc.escape import markdown_code, markdown_text

_KOTLIN_BUFFERS = {"float32": "FloatBuffer", "int32": "IntBuffer", "int64": "LongBuffer"}
_SWIFT_TYPES = {"float32": ".float", "int32": ".int32", "int64": ".int64"}


def _shape(tensor: dict[str, Any]) -> str:
    dims = [
        str(d) if d is not None else ("batch" if k == 0 else f"len{k}")
        for k, d in enumerate(tensor["shape"])
    ]
    return "[" + ", ".join(dims) + "]"


def tensor_table(tensors: list[dict[str, Any]], roles: bool = False) -> str:
    """A Markdown table of tensors (name, dtype, shape, and their roles if asked)."""
    header = "| # | name | dtype | shape |" + (" role |" if roles else "")
    rule = "| ---: | --- | --- | --- |" + (" --- |" if roles else "")
    rows = [
        f"| {k} | {cell_code(t['name'])} | {t['dtype']} | {_shape(t)} |"
        + (f" {markdown_text(t['role'])} |" if roles else "")
        for k, t in enumerate(tensors)
    ]
    return "\n".join([header, rule, *rows])


def cell_code(text: str) -> str:
    """``text`` as a code span that is safe in a Markdown table cell."""
    # A code span in a table cell: GFM splits cells at '|' even inside code spans.
    return markdown_code(str(text)).replace("|", "\\|")


def code_name(name: str) -> str:
    """A Kotlin and Swift identifier made from a tensor's name (camelCase, letters and
    digits only), for the sketches' variables."""
    words = [w for w in re.split(r"[^0-9A-Za-z]+", name) if w]
    text = words[0] + "".join(w[:1].upper() + w[1:] for w in words[1:]) if words else "value"
    return text if not text[0].isdigit() else f"v{text}"


def kotlin_tensors(inputs: list[dict[str, Any]]) -> str:
    """Kotlin lines creating an ``OnnxTensor`` per input from a buffer of its values."""
    lines = []
    for t in inputs:
        buffer = _KOTLIN_BUFFERS.get(t["dtype"], "/* see OnnxTensor.createTensor */ Buffer")
        dims = ", ".join(
            "batch" if k == 0 else (f"{d}L" if d else "length") for k, d in enumerate(t["shape"])
        )
        lines.append(
            f"val {code_name(t['name'])} = OnnxTensor.createTensor(env, "
            f"{buffer}.wrap({code_name(t['name'])}Values), longArrayOf({dims}))"
        )
    return "\n".join(lines)


def swift_tensors(inputs: list[dict[str, Any]]) -> str:
    """Swift lines creating an ``ORTValue`` per input from its bytes."""
    lines = []
    for t in inputs:
        kind = _SWIFT_TYPES.get(t["dtype"], "/* ORTTensorElementDataType */")
        dims = ", ".join(
            "batch" if k == 0 else (str(d) if d else "length") for k, d in enumerate(t["shape"])
        )
        lines.append(
            f"let {code_name(t['name'])} = try ORTValue(tensorData: {code_name(t['name'])}Data, "
            f"elementType: {kind}, shape: [{dims}])"
        )
    return "\n".join(lines)
