"""The compiler's list of passes, its runner (diagnostics, times, stage dumps), and its entries:
those for a spec held in memory run the same passes as the file entries."""

from __future__ import annotations

import gc
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from specc.diagnostics import SpecError
from specc.passes.lower import expected_weight_shapes
from specc.passes.shapes import TypedGraph
from specc.pipeline import (
    CHECK_PASSES,
    PASS_NAMES,
    PASSES,
    PROBLEMS,
    STAGE_FILES,
    Pass,
    Pinning,
    check_spec,
    check_text,
    compile_data,
    compile_spec,
    compile_text,
    run_passes,
)
from specc.trace import Trace, tracing

MODEL = Path(__file__).parent.parent / "models" / "dense_stack.yaml"

SPEC = {
    "specc": 1,
    "name": "tiny",
    "inputs": {"x": {"shape": [3], "dtype": "float32"}},
    "layers": [{"name": "dense", "type": "Dense", "inputs": ["x"], "units": 2}],
}


def test_text_compiles_as_the_file_does() -> None:
    """The same graph and the same drawn weights from the text as from the file."""
    from_file = compile_spec(MODEL, seed=1)
    from_text = compile_text(MODEL.read_text(), str(MODEL), seed=1)
    assert [n.op_type for n in from_text.graph.nodes] == [n.op_type for n in from_file.graph.nodes]
    assert from_text.weights.keys() == from_file.weights.keys()
    for key, array in from_file.weights.items():
        np.testing.assert_array_equal(from_text.weights[key], array)
    assert from_text.metadata == from_file.metadata
    assert check_text(MODEL.read_text()).outputs == check_spec(MODEL).outputs


def test_data_compiles_with_given_weights() -> None:
    """Weights given by key, or by a function of the checked graph, are the ones used."""
    kernel = np.arange(6, dtype=np.float32).reshape(3, 2)
    given = {"dense/kernel": kernel, "dense/bias": np.ones(2, np.float32)}
    compiled = compile_data(SPEC, weights=given)
    np.testing.assert_array_equal(compiled.weights["dense/kernel"], kernel)

    def zeros(typed: TypedGraph) -> dict[str, np.ndarray]:
        return {k: np.zeros(s, np.float32) for k, s in expected_weight_shapes(typed).items()}

    compiled = compile_data(SPEC, weights=zeros)
    assert all(not array.any() for array in compiled.weights.values())


def test_diagnostics_point_into_the_text() -> None:
    """An error in a spec mapping is located at its line in the JSON text compiled."""
    bad = json.loads(json.dumps(SPEC))
    bad["layers"][0]["units"] = 0
    with pytest.raises(SpecError) as error:
        compile_data(bad)
    (diagnostic,) = error.value.diagnostics
    assert diagnostic.file == "<spec>"
    assert diagnostic.position is not None and diagnostic.position.line > 1
    with pytest.raises(SpecError):
        compile_data(SPEC, weights={"dense/kernel": np.zeros((2, 2), np.float32)})


# ------------------------------------------------------------------- the list of passes

ENTRY_INPUTS = {
    "source",
    "limits",
    "weights_path",
    "given_weights",
    "seed",
    "for_training",
    "fused_recurrence",
}


def test_passes_in_order() -> None:
    assert PASS_NAMES == (
        "load_spec",
        "validate_spec",
        "resolve_references",
        "check_compile",
        "infer_shapes",
        "check_compile_types",
        "check_labels",
        "read_weights",
        "materialize_weights",
        "lower_to_onnx",
        "describe_model",
    )
    checks = PASS_NAMES[: PASS_NAMES.index("check_labels") + 1]
    assert tuple(p.name for p in CHECK_PASSES) == checks


def test_each_pass_takes_what_an_earlier_one_made() -> None:
    """The list is a data flow: every product a pass takes is an entry's input or made
    before it, and no product is made twice."""
    available = set(ENTRY_INPUTS)
    for step in PASSES:
        assert set(step.takes) <= available, step.name
        if step.makes != PROBLEMS:
            assert step.makes not in available, step.name
            available.add(step.makes)
    # What the checks need never comes from weights or lowering.
    made_by_checks = {p.makes for p in CHECK_PASSES}
    assert {t for p in CHECK_PASSES for t in p.takes} <= made_by_checks | ENTRY_INPUTS


def test_trace_times_every_pass_that_ran() -> None:
    with tracing(Trace()) as trace:
        compile_spec(MODEL, seed=0)
    assert [name for name, _ in trace.times] == list(PASS_NAMES)
    assert all(seconds >= 0 for _, seconds in trace.times)
    assert trace.stages == {}  # nothing rendered unless asked

    with tracing(Trace()) as trace:
        check_text(MODEL.read_text())
    assert [name for name, _ in trace.times] == [p.name for p in CHECK_PASSES]


def test_trace_stops_at_the_failing_pass() -> None:
    bad = json.loads(json.dumps(SPEC))
    bad["layers"][0]["inputs"] = ["nowhere"]
    with tracing(Trace(dump=True)) as trace, pytest.raises(SpecError):
        compile_data(bad)
    assert [name for name, _ in trace.times] == [
        "load_spec",
        "validate_spec",
        "resolve_references",
    ]
    assert sorted(trace.stages) == [STAGE_FILES["load_spec"], STAGE_FILES["validate_spec"]]


def test_no_trace_outside_the_block() -> None:
    trace = Trace()
    with tracing(trace):
        pass
    compile_data(SPEC)
    assert trace.times == []


def test_stage_dumps_hold_each_product() -> None:
    with tracing(Trace(dump=True)) as trace:
        compiled = compile_spec(MODEL, seed=0)
    stages = trace.stages
    assert list(stages) == list(STAGE_FILES.values())
    loaded = json.loads(stages[STAGE_FILES["load_spec"]])
    assert loaded == {"file": str(MODEL), "data": compiled.loaded.data}
    spec = json.loads(stages[STAGE_FILES["validate_spec"]])
    assert spec == compiled.typed.resolved.spec.model_dump(mode="json")
    resolved = json.loads(stages[STAGE_FILES["resolve_references"]])
    assert [n["name"] for n in resolved["nodes"]] == ["dense", "dense_1", "dense_2"]
    assert resolved["nodes"][1]["inputs"] == ["dense"]
    assert resolved["outputs"] == ["dense_2"]
    typed = json.loads(stages[STAGE_FILES["infer_shapes"]])
    assert typed["layers"][0]["outputs"] == [{"dtype": "float32", "shape": [None, 64]}]
    shapes = {
        f"{layer['name']}/{w['name']}": tuple(w["shape"])
        for layer in typed["layers"]
        for w in layer["weights"]
    }
    assert shapes == expected_weight_shapes(compiled.typed)
    weights = json.loads(stages[STAGE_FILES["materialize_weights"]])
    assert list(weights) == list(compiled.weights)
    kernel = compiled.weights["dense/kernel"]
    assert weights["dense/kernel"] == {
        "shape": [16, 64],
        "dtype": "float32",
        "sha256": hashlib.sha256(kernel.tobytes()).hexdigest(),
    }
    listing = stages[STAGE_FILES["lower_to_onnx"]].splitlines()
    assert listing[0] == 'graph "dense_stack"'
    assert "  dense/MatMul: MatMul(input_layer, dense.kernel) -> dense/MatMul:0" in listing
    assert f"nodes ({len(compiled.graph.nodes)}):" in listing
    assert "  dense.kernel: float32[16, 64] weight" in listing
    metadata = json.loads(stages[STAGE_FILES["describe_model"]])
    assert metadata == {k: json.loads(v) for k, v in compiled.metadata.items()}


def test_listing_shows_attributes() -> None:
    spec = json.loads(json.dumps(SPEC))
    spec["layers"][0]["activation"] = "softmax"
    with tracing(Trace(dump=True)) as trace:
        compile_data(spec)
    listing = trace.stages[STAGE_FILES["lower_to_onnx"]]
    assert "dense/Softmax: Softmax(dense/Add:0) -> " in listing
    assert "{axis=-1}" in listing


def test_runner_holds_the_collector_off_only_where_a_pass_asks() -> None:
    seen: list[tuple[str, bool]] = []

    def probe(name: str) -> Pass:
        def run(source: str) -> str:
            seen.append((name, gc.isenabled()))
            return source

        return Pass(name, run, ("source",), name, Pinning.RAISED, name.startswith("paused"))

    was_enabled = gc.isenabled()
    gc.enable()
    try:
        steps = [probe("paused_a"), probe("paused_b"), probe("free"), probe("paused_c")]
        products = run_passes(steps, {"source": "s"})
        assert gc.isenabled()
    finally:
        if not was_enabled:
            gc.disable()
    assert seen == [("paused_a", False), ("paused_b", False), ("free", True), ("paused_c", False)]
    assert products["free"] == "s"
