"""No graph the layer matrix trains holds an op the engine cannot differentiate correctly.

The models are those ``tests/test_trainable_lowering.py`` hands to ``generate_artifacts``:
every layer example (behind a Dense when it has no weights) and every activation, lowered
for training. Each is checked against ``specc.train.engine_facts`` statically, without the
engine, so the whole matrix takes seconds; the gradient tests then show the engine agrees
with finite differences on the same graphs.
"""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest
from onnx import TensorProto, helper

from specc.onnx_model import to_model_proto
from specc.pipeline import compile_spec
from specc.train.engine_facts import NO_GRADIENT, WRONG_GRADIENT, forbidden_nodes
from tests.spec_helpers import write_spec
from tests.test_trainable_lowering import (
    Case,
    _activation_case,
    _activation_values,
    _layer_cases,
)


def _cases() -> list[tuple[str, Case]]:
    cases = [(param.id, param.values[0]) for param in _layer_cases()]
    cases += [(f"activation-{v}", _activation_case(v)) for v in _activation_values()]
    return cases


def _training_model(directory: Path, case: Case) -> tuple[onnx.ModelProto, list[str]]:
    compiled = compile_spec(write_spec(directory, case.spec), seed=0, for_training=True)
    return to_model_proto(compiled.graph, 17, compiled.metadata), list(compiled.graph.parameters)


def test_no_training_graph_holds_a_forbidden_op(tmp_path: Path) -> None:
    failures = []
    for k, (case_id, case) in enumerate(_cases()):
        directory = tmp_path / str(k)
        directory.mkdir()
        model, parameters = _training_model(directory, case)
        failures += [f"{case_id}: {v}" for v in forbidden_nodes(model, parameters)]
    assert not failures, "\n".join(failures)


def test_every_fact_points_into_the_notes() -> None:
    notes = (Path(__file__).parents[1] / "docs" / "engine-notes.md").read_text()
    anchors = {f'<a id="{f.anchor}">' for f in [*NO_GRADIENT.values(), *WRONG_GRADIENT.values()]}
    assert not {a for a in anchors if a not in notes}


def _model(nodes: list[onnx.NodeProto], shape: list[int | str]) -> onnx.ModelProto:
    """y = nodes(x * w): w is the parameter, x has ``shape``."""
    graph = helper.make_graph(
        [helper.make_node("Mul", ["x", "w"], ["h"]), *nodes],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [helper.make_tensor("w", TensorProto.FLOAT, [], [1.0])],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


@pytest.mark.parametrize(
    ("nodes", "shape", "forbidden"),
    [
        ([helper.make_node("Elu", ["h"], ["y"])], [2, 3], True),
        ([helper.make_node("Relu", ["h"], ["y"])], [2, 3], False),
        # Sign of the input only: on no gradient path.
        (
            [helper.make_node("Sign", ["x"], ["s"]), helper.make_node("Add", ["h", "s"], ["y"])],
            [2, 3],
            False,
        ),
        ([helper.make_node("Split", ["h"], ["y", "unused"], axis=1)], [2, 4], True),
        ([helper.make_node("AveragePool", ["h"], ["y"], kernel_shape=[2])], ["batch", 1, 4], True),
        ([helper.make_node("AveragePool", ["h"], ["y"], kernel_shape=[2])], [2, 1, 4], False),
        ([helper.make_node("MaxPool", ["h"], ["y"], kernel_shape=[2])], ["batch", 1, 4], False),
        ([helper.make_node("MaxPool", ["h"], ["y"], kernel_shape=[2])], ["batch", 1, "n"], True),
        ([helper.make_node("Dropout", ["h"], ["y", "mask"])], [2, 3], True),
    ],
)
def test_conditions_are_read_from_the_graph(
    nodes: list[onnx.NodeProto], shape: list[int | str], forbidden: bool
) -> None:
    model = _model(nodes, shape)
    assert bool(forbidden_nodes(model, ["w"])) is forbidden
