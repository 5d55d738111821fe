"""Whether an ONNX model uses only what a runtime of a given opset and IR version runs.

specc writes standard ONNX ops only; a model from a trained folder may hold anything, and
onnxruntime fails on an unknown op or domain only when it loads the model, with engine
text. Both targets check first and say what is wrong.
"""

from __future__ import annotations

import onnx

from specc.escape import terminal_text

# Op types listed by name in a message; past this, a count.
_SHOWN = 10


def standard_problems(model: onnx.ModelProto, max_opset: int, max_ir: int, where: str) -> list[str]:
    """What in ``model`` a runtime of standard ONNX up to ``max_opset`` and IR ``max_ir``
    cannot run (empty when fine); ``where`` names the runtime in the messages."""
    problems: list[str] = []
    if model.ir_version > max_ir:
        problems.append(f"IR version must be at most {max_ir}; got {model.ir_version}")
    opsets = {entry.domain or "ai.onnx": entry.version for entry in model.opset_import}
    for domain, opset in sorted(opsets.items()):
        if domain != "ai.onnx":
            problems.append(
                f"only the standard ONNX domain runs {where}; got domain {terminal_text(domain)!r}"
            )
        elif opset > max_opset:
            problems.append(f"opset must be at most {max_opset}; got {opset}")
    opset = opsets.get("ai.onnx", 0)
    unknown = sorted(
        {
            terminal_text(node.op_type)
            for node in model.graph.node
            if node.domain not in ("", "ai.onnx") or not _is_standard(node.op_type, opset)
        }
    )
    if unknown:
        shown = ", ".join(unknown[:_SHOWN])
        if len(unknown) > _SHOWN:
            shown += f" and {len(unknown) - _SHOWN} more"
        problems.append(f"ops that are not standard ONNX at opset {opset}: {shown}")
    return problems


def _is_standard(op_type: str, opset: int) -> bool:
    try:
        onnx.defs.get_schema(op_type, opset, "")
    except onnx.defs.SchemaError:
        return False
    return True
