"""What the compiler emits trains correctly in onnxruntime-training 1.19.2.

For every layer example in the registry and every activation, the model as lowered for
training (``for_training``: recurrent layers unroll known lengths) goes through
``generate_artifacts``; one forward and backward pass of the training ``Module``
gives the gradients, and each parameter's directional derivative is checked against
central finite differences of the same loss, computed by running that same model in a
plain ``InferenceSession``. The loss is linear in the outputs, sum_k sum(y_k * r_k) with
fixed random probes r_k, so its gradient is exactly the outputs' vector-Jacobian product.

Layers without weights get a Dense in front of each floating-point input, so that a weight
flows through them. Examples whose inputs are all integers lie on no path from a weight
and are left out (there is nothing to train through them).

Dropout is checked both ways. As built, the constant ``specc.training`` flag is False, and
the finite-difference check above demands the identity's gradient. Turned into a graph
input and fed True, the outputs and gradients must be those of a fresh random mask on each
step, scaled by 1/(1-rate); the eval model, fed False, must be the identity.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from specc.activations import ACTIVATIONS
from specc.layers import LAYERS
from specc.layers.base import TRAINING_FLAG
from specc.onnx_model import to_model_proto
from specc.pipeline import CompiledModel
from specc.random_ops import RANDOM_STEP
from specc.types import TensorType
from tests.layer_harness import make_layer
from tests.ort_training import HAVE_ORT_TRAINING
from tests.spec_helpers import compile_with_random_weights, quiet_session, random_inputs

# Every test here runs onnxruntime-training; the helpers without it are shared with the
# tests of specc's own gradients (tests/test_autodiff_matrix.py), which run everywhere.
pytestmark = pytest.mark.ort_training

FLOATS = ("float32", "float16")
BATCH = 3
# Central differences on float32 outputs: the step must dwarf float32 rounding of the loss
# (relative 6e-8) yet stay small enough that no kink of Relu, Clip or Max is crossed.
EPS = 1e-3
RTOL = 1e-2


if HAVE_ORT_TRAINING:  # else every test here is skipped (pytestmark)
    from specc.train.engine import CheckpointState, Module, artifacts, onnxblock, quiet_stderr

    class LinearProbeLoss(onnxblock.Block):
        """loss = sum_k ReduceSum(output_k * probe_k), each probe a new input shaped like its
        output.

        The block receives every graph output of the model (docs/engine-notes.md#loss-inputs).
        """

        def build(self, *outputs: str) -> str:
            total = None
            for k, output in enumerate(outputs):
                probe = onnxblock.blocks.InputLike(output)(f"probe.{k}")
                term = onnxblock.blocks.ReduceSum(keepdims=False)(
                    onnxblock.blocks.Mul()(output, probe)
                )
                total = term if total is None else onnxblock.blocks.Add()(total, term)
            assert total is not None, "the model has no outputs"
            return total


@dataclass(frozen=True)
class Case:
    """A spec whose last layer is the one under test, and its graph input types."""

    spec: dict[str, Any]
    inputs: list[TensorType]
    # Exclusive bound for index inputs (Embedding's input_dim), integer or float.
    index_high: int | None = None


def _spec(
    inputs: list[TensorType], layers: list[dict[str, Any]], outputs: int = 1
) -> dict[str, Any]:
    # Every output of the layer under test is a model output, so every weight reaches the
    # loss (Bidirectional with merge_mode null has its backward half only in output 1).
    return {
        "specc": 1,
        "name": "trainable",
        "inputs": {
            f"x{i}": {"shape": list(t.shape), "dtype": t.dtype} for i, t in enumerate(inputs)
        },
        "layers": layers,
        "outputs": ["layer", *(f"layer[{i}]" for i in range(1, outputs))],
    }


def _layer_case(type_name: str, config: dict[str, Any], types: list[TensorType]) -> Case | None:
    """The example as it stands if it has weights; else behind a Dense per float input."""
    layer = make_layer(type_name, **config)
    high = getattr(layer, "input_dim", None)
    outputs = len(layer.output_types(types))
    if layer.weights(types):
        names = [f"x{i}" for i in range(len(types))]
        return Case(
            _spec(
                types, [{"name": "layer", "type": type_name, "inputs": names, **config}], outputs
            ),
            types,
            high,
        )
    if not any(t.dtype in FLOATS for t in types):
        return None
    graph_inputs, pre_layers, names = [], [], []
    for i, t in enumerate(types):
        if t.dtype not in FLOATS:
            graph_inputs.append(t)
            names.append(f"x{i}")
            continue
        if not t.shape:
            # Dense needs a last axis: (1,) -> Dense(1) -> Reshape to the scalar (batch,).
            graph_inputs.append(TensorType(t.dtype, (1,)))
            pre_layers.append({"name": f"pre{i}", "type": "Dense", "units": 1, "inputs": [f"x{i}"]})
            pre_layers.append(
                {
                    "name": f"pre{i}_scalar",
                    "type": "Reshape",
                    "target_shape": [],
                    "inputs": [f"pre{i}"],
                }
            )
            names.append(f"pre{i}_scalar")
            continue
        # Dense needs a known last axis; 4 stands in for a variable one.
        shape = (*t.shape[:-1], 4 if t.shape[-1] is None else t.shape[-1])
        graph_inputs.append(TensorType(t.dtype, shape))
        pre_layers.append(
            {"name": f"pre{i}", "type": "Dense", "units": shape[-1], "inputs": [f"x{i}"]}
        )
        names.append(f"pre{i}")
    layers = [*pre_layers, {"name": "layer", "type": type_name, "inputs": names, **config}]
    return Case(_spec(graph_inputs, layers, outputs), graph_inputs, high)


def _layer_cases() -> list[Any]:
    cases = []
    for model in LAYERS:
        for k, (config, types) in enumerate(model.examples()):
            case = _layer_case(model.type_name(), config, types)
            if case is None:
                continue
            case_id = f"{model.type_name()}-{k}"
            cases.append(pytest.param(case, id=case_id))
    return cases


def _activation_values() -> list[Any]:
    """Every registered activation by name, plus the configurations that lower differently."""
    values: list[Any] = [ACTIVATIONS.canonical_name(model) for model in ACTIVATIONS]
    values += [
        {"type": "relu", "negative_slope": 0.1},
        {"type": "relu", "max_value": 0.5},
        {"type": "relu", "threshold": 0.2},
        {"type": "relu", "negative_slope": 0.1, "max_value": 1.5, "threshold": 0.2},
        {"type": "leaky_relu", "negative_slope": 0.01},
        {"type": "elu", "alpha": 0.5},
        {"type": "gelu", "approximate": True},
        {"type": "softmax", "axis": 1},
        {"type": "log_softmax", "axis": 1},
    ]
    return values


def _activation_case(activation: Any) -> Case:
    axis = activation.get("axis") if isinstance(activation, dict) else None
    # Softmax over axis 1 needs a rank-3 output (batch, 2, 5).
    types = [TensorType("float32", (2, 3) if axis == 1 else (3,))]
    layer = {
        "name": "layer",
        "type": "Dense",
        "units": 5,
        "activation": activation,
        "inputs": ["x0"],
    }
    return Case(_spec(types, [layer]), types)


def _activation_id(value: Any) -> str:
    if isinstance(value, str):
        return value
    arguments = ",".join(f"{k}={v}" for k, v in value.items() if k != "type")
    return f"{value['type']}({arguments})"


def _inputs(case: Case, batch: int, seed: int) -> list[np.ndarray]:
    arrays = random_inputs(case.inputs, batch, seed, high=case.index_high or 10)
    if case.index_high is not None:
        # Float ids (Embedding casts them) must also index inside the vocabulary.
        rng = np.random.default_rng(seed + 1)
        arrays = [
            rng.integers(0, case.index_high, size=a.shape).astype(a.dtype)
            if a.dtype.kind == "f"
            else a
            for a in arrays
        ]
    return arrays


def _fresh_parameters(compiled: CompiledModel, seed: int) -> dict[str, np.ndarray]:
    """New values for every parameter, so the test also proves they reach the Module."""
    rng = np.random.default_rng(seed)
    graph = compiled.graph
    return {
        name: rng.normal(scale=0.5, size=graph.initializers[name].shape).astype(np.float32)
        for name in graph.parameters
    }


def _with_parameters_as_inputs(model: onnx.ModelProto, names: list[str]) -> onnx.ModelProto:
    """A copy whose parameters can be fed (an initializer also listed as input is a default)."""
    model = copy.deepcopy(model)
    arrays = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    for name in names:
        model.graph.input.append(
            helper.make_tensor_value_info(name, TensorProto.FLOAT, arrays[name].shape)
        )
    return model


class InferenceLoss:
    """The linear probe loss, evaluated in float64 from a plain InferenceSession's outputs."""

    def __init__(
        self, model: onnx.ModelProto, parameters: list[str], inputs: dict[str, np.ndarray]
    ):
        fed = _with_parameters_as_inputs(model, parameters)
        self.session = quiet_session(fed)
        self.inputs = inputs
        self.probes: list[np.ndarray] = []

    def outputs(self, params: dict[str, np.ndarray]) -> list[np.ndarray]:
        return self.session.run(None, {**self.inputs, **params})

    def __call__(self, params: dict[str, np.ndarray]) -> float:
        outs = self.outputs(params)
        return float(
            sum(np.sum(o.astype(np.float64) * r) for o, r in zip(outs, self.probes, strict=True))
        )


def _training_module(
    model: onnx.ModelProto, parameters: list[str], directory: Path, **options: Any
) -> tuple[Module, CheckpointState]:
    """Training artifacts for the linear probe loss (no optimizer), loaded as a Module."""
    directory.mkdir()
    with quiet_stderr():
        artifacts.generate_artifacts(
            model,
            requires_grad=parameters,
            loss=LinearProbeLoss(),
            optimizer=None,
            artifact_directory=str(directory),
            **options,
        )
    state = CheckpointState.load_checkpoint(str(directory / "checkpoint"))
    module = Module(
        str(directory / "training_model.onnx"), state, str(directory / "eval_model.onnx")
    )
    return module, state


def _step(module: Module, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    """One forward and backward pass, with fresh gradients; the outputs as a list."""
    module.lazy_reset_grad()
    outputs = module(*[feeds[name] for name in module.input_names()])
    return [np.asarray(o) for o in (outputs if isinstance(outputs, tuple) else (outputs,))]


def _probe_scale(loss: InferenceLoss, params: dict[str, np.ndarray]) -> float:
    outputs = loss.outputs(params)
    return float(sum(np.sum(np.abs(o * r)) for o, r in zip(outputs, loss.probes, strict=True)))


def check_gradients(case: Case, tmp_path: Path) -> None:
    """One training step's gradients against central differences, parameter by parameter."""
    # The lowering training uses (recurrent layers unroll), whose gradients training takes.
    compiled, _ = compile_with_random_weights(case.spec, seed=1, for_training=True)
    model = to_model_proto(compiled.graph, 17, compiled.metadata)
    parameters = list(compiled.graph.parameters)
    assert parameters, "no trainable weight reaches the layer under test"
    params = _fresh_parameters(compiled, seed=2)
    fixed = (TRAINING_FLAG, RANDOM_STEP)
    names = [name for name, _ in compiled.graph.inputs if name not in fixed]
    inputs = dict(zip(names, _inputs(case, BATCH, seed=3), strict=True))
    if compiled.lowered.training_flag is not None:
        inputs[TRAINING_FLAG] = np.array(False)
    if compiled.lowered.random_step is not None:
        # In training: a step's masks and noise are fixed functions of the step counter,
        # so both sides compared see the same ones.
        inputs[TRAINING_FLAG], inputs[RANDOM_STEP] = np.array(True), np.array(3)
    loss = InferenceLoss(model, parameters, inputs)
    rng = np.random.default_rng(4)
    loss.probes = [rng.normal(size=o.shape) for o in loss.outputs(params)]

    module, state = _training_module(model, parameters, tmp_path / "artifacts")
    for name, value in params.items():
        state.parameters[name].data = value
    probes = {f"probe.{k}": r.astype(np.float32) for k, r in enumerate(loss.probes)}
    module.train()
    (trained_loss,) = _step(module, {**inputs, **probes})
    np.testing.assert_allclose(trained_loss, loss(params), rtol=1e-5, atol=1e-5)

    # Float32 rounding of the outputs bounds how well the loss difference is known.
    atol = 3e-7 * _probe_scale(loss, params)
    failures = []
    for name in parameters:
        grad = np.asarray(state.parameters[name].grad, np.float64)
        assert grad.shape == params[name].shape
        assert np.all(np.isfinite(grad)), f"{name}: non-finite gradient"
        direction = rng.normal(size=grad.shape)
        plus = {**params, name: (params[name] + EPS * direction).astype(np.float32)}
        minus = {**params, name: (params[name] - EPS * direction).astype(np.float32)}
        # Compare on the float32 step actually taken, not the intended one.
        step = (plus[name].astype(np.float64) - minus[name]) / 2
        predicted = float(np.sum(grad * step))
        measured = (loss(plus) - loss(minus)) / 2
        if abs(predicted - measured) > RTOL * abs(measured) + atol:
            failures.append(
                f"{name}: engine gradient . step = {predicted:.6g}, "
                f"finite differences {measured:.6g}"
            )
    assert not failures, "; ".join(failures)


@pytest.mark.parametrize("case", _layer_cases())
def test_layer_gradient_matches_finite_differences(tmp_path: Path, case: Case) -> None:
    check_gradients(case, tmp_path)


@pytest.mark.parametrize("activation", _activation_values(), ids=_activation_id)
def test_activation_gradient_matches_finite_differences(tmp_path: Path, activation: Any) -> None:
    check_gradients(_activation_case(activation), tmp_path)


def _dropout_examples() -> list[Any]:
    """Dropout examples that read the training flag (rate 0 lowers to nothing)."""
    return [
        pytest.param(config, types, id=f"Dropout-{k}")
        for k, (config, types) in enumerate(LAYERS.get("Dropout").examples())
        if config["rate"] > 0
    ]


@pytest.mark.parametrize(("config", "types"), _dropout_examples())
def test_dropout_trains_with_the_flag_as_an_input(
    tmp_path: Path, config: dict[str, Any], types: list[TensorType]
) -> None:
    """With ``specc.training`` fed True the mask is random and the gradient follows it."""
    case = _layer_case("Dropout", config, types)
    assert case is not None
    compiled, _ = compile_with_random_weights(case.spec, seed=1, for_training=True)
    model = to_model_proto(compiled.graph, 17, compiled.metadata)
    # A training lowering reads the flag from a graph input, never from a constant.
    assert compiled.lowered.training_flag is not None
    assert TRAINING_FLAG in [value.name for value in model.graph.input]
    assert TRAINING_FLAG not in [tensor.name for tensor in model.graph.initializer]
    parameters = list(compiled.graph.parameters)
    module, state = _training_module(
        model, parameters, tmp_path / "artifacts", additional_output_names=["layer"]
    )
    assert TRAINING_FLAG in module.input_names()
    params = _fresh_parameters(compiled, seed=2)
    for name, value in params.items():
        state.parameters[name].data = value

    # Enough samples that the dropped fraction is within 0.15 of the rate (6 sigma).
    (x,) = _inputs(case, batch=64, seed=3)
    kernel, bias = params["pre0.kernel"].astype(np.float64), params["pre0.bias"]
    h = x.astype(np.float64) @ kernel + bias
    probe = np.random.default_rng(4).normal(size=h.shape)
    feeds = {"x0": x, "probe.0": probe.astype(np.float32)}
    rate = config["rate"]

    def expect_gradients(scale: np.ndarray) -> None:
        upstream = (probe * scale).reshape(-1, h.shape[-1])
        want = {
            "pre0.kernel": x.reshape(-1, x.shape[-1]).astype(np.float64).T @ upstream,
            "pre0.bias": upstream.sum(axis=0),
        }
        for name, value in want.items():
            np.testing.assert_allclose(
                state.parameters[name].grad, value, rtol=1e-4, atol=1e-5, err_msg=name
            )

    module.train()
    masks = []
    step: dict[str, np.ndarray] = {}
    for k in range(2):
        step = {RANDOM_STEP: np.array(k)} if RANDOM_STEP in module.input_names() else {}
        loss, y = _step(module, {**feeds, **step, TRAINING_FLAG: np.array(True)})
        kept = y != 0
        scale = np.where(kept, 1 / (1 - rate), 0.0) if rate < 1 else np.zeros_like(h)
        np.testing.assert_allclose(y, h * scale, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(loss, np.sum(y * probe), rtol=1e-5, atol=1e-5)
        for axis, size in enumerate(config.get("noise_shape") or []):
            if size == 1:  # the mask is shared along this axis
                assert np.array_equal(
                    kept, np.take(kept, [0], axis=axis).repeat(y.shape[axis], axis)
                )
        if rate < 1:
            assert abs((1 - kept.mean()) - rate) < 0.15
        expect_gradients(scale)
        masks.append(kept)
    if rate < 1:
        assert not np.array_equal(masks[0], masks[1]), "the same mask on two steps"

    module.eval()
    evaluation = {**feeds, **step, TRAINING_FLAG: np.array(False)}
    (_, y) = module(*[evaluation[n] for n in module.input_names()])
    np.testing.assert_allclose(y, h, rtol=1e-5, atol=1e-5)
