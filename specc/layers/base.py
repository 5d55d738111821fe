"""The contract every layer module fulfils: config, shape inference, lowering, reference.

A layer is a Pydantic model registered in ``LAYERS`` under its Keras class name. Besides
its Keras constructor arguments it carries the spec-level keys every entry may have
(``name``, ``inputs``, ``input_shape``, ...). The compiler asks it for its output types,
its weights, and its ONNX lowering; tests ask it for a NumPy reference of the same maths.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, Protocol

from pydantic import Field

from specc.fields import RegularizerField
from specc.graph import GraphBuilder, Value
from specc.layers.masks import DROP, PROPAGATE, MaskRule
from specc.lazy_numpy import np
from specc.random_ops import RANDOM_STEP, uniform
from specc.registry import Registry, SpecModel, to_snake_case, type_names
from specc.types import FLOAT, TensorType, scalar

if TYPE_CHECKING:
    from specc.activations import Activation

Layout = Literal["native", "channels_first", "elementwise"]
# Keras's data_format argument, the same for every layer that takes one.
DataFormat = Literal["channels_last", "channels_first"]
InputDtype = Literal["float32", "float16", "int32", "int64", "bool"]
# A layer or input name. It becomes part of ONNX names (``dense.kernel``, ``dense/MatMul``)
# and weights-file keys (``dense/kernel``, ``bidirectional/forward_lstm/kernel``), hence no
# ``/`` (Keras refuses it too), and short enough to stay a valid file name with a suffix.
NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_.\-]*$"
NAME_MAX_LENGTH = 128
Name = Annotated[str, Field(min_length=1, max_length=NAME_MAX_LENGTH, pattern=NAME_PATTERN)]
# A layer or input name, optionally with the index of one of its outputs: ``lstm[2]``.
REFERENCE_PATTERN = r"^[A-Za-z_][A-Za-z0-9_.\-]*(\[[0-9]+\])?$"
Reference = Annotated[str, Field(max_length=NAME_MAX_LENGTH + 11, pattern=REFERENCE_PATTERN)]
# A seed: Keras keeps one in a uint32 (its SeedGenerator state), and set_random_seed refuses
# any other ("Seed must be between 0 and 2**32 - 1"); so does NumPy's legacy seeding.
Seed = Annotated[int, Field(ge=0, lt=2**32)]
# Keras lets a layer name any of these; variable dims are null.
ShapeList = list[Annotated[int, Field(gt=0)] | None]


class ShapeError(ValueError):
    """A layer cannot accept the types it is given; the message says what and why.

    ``field`` names the entry key the error is about (default: the layer's ``inputs``);
    a wrapper's inner layer's key is ``layer.<key>``.
    """

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class WeightSpec:
    """One weight of a layer: its Keras name, shape, how it is drawn and trained."""

    name: str
    shape: tuple[int, ...]
    initializer: Any
    regularizer: Any = None
    constraint: Any = None
    trainable: bool = True


TRAINING_FLAG = "specc.training"


@dataclass(frozen=True)
class MovingUpdate:
    """One moving statistic a training step updates after it runs, as Keras's
    BatchNormalization assigns it: ``parameter = parameter * momentum + batch_statistic *
    (1 - momentum)``."""

    layer: str  # the layer holding the statistic (a shared layer's owner)
    parameter: str  # the ONNX initializer, e.g. ``bn.moving_mean``
    batch_statistic: str  # the graph value holding this batch's statistic, same shape
    momentum: float


@dataclass
class LowerContext:
    """What a layer's lowering needs besides its inputs and weights, and what it declares
    for later stages (the moving-statistic updates it owes a training step)."""

    builder: GraphBuilder
    _training: Value | None = None
    # Whether this graph is the one training runs (specc train, mobile training
    # artifacts) rather than an inference model: layers may lower differently for
    # speed (recurrent layers unroll for training, keep ONNX's fused ops otherwise), and
    # the training flag is a graph input instead of a constant False.
    for_training: bool = False
    # In a training graph, keep ONNX's fused LSTM/GRU ops rather than unrolling them: the
    # step graph's own gradients differentiate them (a reverse Scan) faster than the
    # unrolled ops, which exist for onnxruntime-training's slow LSTMGrad/GRUGrad kernels.
    fused_recurrence: bool = False
    moving_updates: list[MovingUpdate] = field(default_factory=list)
    # The layer being lowered (the owner of its weights), set by ``lower_to_onnx``.
    layer: str = ""
    # What the layer being lowered penalises with its activity_regularizer when that is
    # not its outputs (see ``penalize_activity``); None: its outputs. Reset per layer.
    activity: list[tuple[Value, TensorType]] | None = None
    # The seed unseeded random ops draw their streams from (``op_stream``); None: one
    # drawn at random for this lowering, on first use.
    random_seed: int | None = None
    # The masks of the inputs of the layer being lowered (float32 (batch, steps) 0/1, or
    # None per input; see specc.layers.masks), set by ``lower_to_onnx``: the layers that
    # read Keras's ``mask`` argument read it here.
    input_masks: list[Value | None] = field(default_factory=list)
    _draws: int = 0
    _random_step: Value | None = None

    @property
    def training(self) -> Value:
        """Boolean scalar telling Dropout-like ops whether they run in training mode,
        named ``specc.training``: a constant False in an inference model, a graph input in
        a training graph (True to train, False to evaluate). Made on first use, so models
        without such ops carry none.
        """
        if self._training is None:
            if self.for_training:
                self._training = self.builder.input(TRAINING_FLAG, scalar("bool"))
            else:
                self._training = self.builder.constant(False, dtype=np.bool_, name=TRAINING_FLAG)
        return self._training

    @property
    def training_flag(self) -> Value | None:
        """The training flag, if any layer read it."""
        return self._training

    @property
    def random_step(self) -> Value:
        """The step counter the random ops draw from (``specc.random_ops``), an int64
        scalar named ``specc.random_step``: a graph input of a training lowering (the step
        graph feeds ``optimizer.iterations`` to it, the other backend its own count), a
        constant 0 elsewhere. Made on first use, so models without random ops carry none.
        """
        if self._random_step is None:
            if self.for_training:
                self._random_step = self.builder.input(RANDOM_STEP, scalar("int64"))
            else:
                self._random_step = self.builder.constant(0, np.int64, name=RANDOM_STEP)
        return self._random_step

    @property
    def random_step_input(self) -> Value | None:
        """The step counter, if any layer drew random numbers."""
        return self._random_step

    def op_stream(self, seed: int | None) -> int:
        """The stream a random op draws from: the layer's own seed; else one drawn from
        the run's seed (``specc train``'s ``--seed`` or ``train.seed``) for each op in turn,
        as Keras's global seed gives every unseeded layer one. An unseeded run draws its
        seed at random once, so its ops still draw distinct streams.
        """
        if seed is not None:
            return seed
        if self.random_seed is None:
            self.random_seed = int(np.random.SeedSequence().entropy % 2**32)  # type: ignore[operator]
        self._draws += 1
        return int(np.random.default_rng([self.random_seed, self._draws]).integers(0, 2**31))

    def penalize_activity(self, value: Value, tensor: TensorType) -> None:
        """Declare a value the layer's activity_regularizer penalises, in place of its
        outputs: Keras's MultiHeadAttention hands its regularizer to its projection
        sub-layers, so their outputs are what it penalises."""
        if self.activity is None:
            self.activity = []
        self.activity.append((value, tensor))

    def update_moving(self, parameter: Value, batch_statistic: Value, momentum: float) -> None:
        """Declare that a training step moves ``parameter`` towards ``batch_statistic``
        (see ``MovingUpdate``); a shared layer declares it once per call, as Keras updates."""
        update = MovingUpdate(self.layer, parameter.name, batch_statistic.name, momentum)
        self.moving_updates.append(update)


class Layer(SpecModel):
    """Base of every layer config. Subclasses add ``type: Literal[...]`` and their arguments."""

    name: Name | None = None
    inputs: Reference | list[Reference] | None = None
    input_shape: ShapeList | None = None
    input_dtype: InputDtype | None = None
    trainable: bool = True
    # Every Keras layer takes one (``Layer.__init__``); its penalty on each output is part
    # of the training loss (see ``specc.passes.lower.ActivityPenalty``).
    activity_regularizer: RegularizerField | None = None

    # How many inputs the layer takes; merge layers take several.
    min_inputs: ClassVar[int] = 1
    max_inputs: ClassVar[int | None] = 1
    # Keras's ``supports_masking``: the layer passes its first input's mask on to its
    # outputs (and may read it); otherwise the mask stops here (see ``mask_rule``).
    supports_masking: ClassVar[bool] = False

    @classmethod
    def type_name(cls) -> str:
        """The Keras class name this config stands for."""
        return type_names(cls)[0]

    @classmethod
    def default_name(cls) -> str:
        """The stem of Keras's default name for layers of this type."""
        return to_snake_case(cls.type_name())

    def output_types(self, inputs: list[TensorType]) -> list[TensorType]:
        """Infer the output types from the input types; raise ``ShapeError`` on mismatch."""
        raise NotImplementedError

    def weights(self, inputs: list[TensorType]) -> list[WeightSpec]:
        """The layer's weights for these input types, in Keras's order."""
        return []

    def mask_rule(self) -> MaskRule:
        """What the layer does with its inputs' masks (``specc.layers.masks``): Keras's
        default ``compute_mask`` passes the first input's mask on when the layer supports
        masking; a layer that does not drops it."""
        return PROPAGATE if self.supports_masking else DROP

    def make_mask(
        self, ctx: LowerContext, inputs: list[Value], input_types: list[TensorType]
    ) -> Value:
        """The float32 0/1 mask a ``compute`` mask rule makes from the inputs."""
        raise NotImplementedError

    def check_masks(self, inputs: list[TensorType], masked: list[bool]) -> None:
        """Raise ``ShapeError`` when the layer cannot read the masks its inputs carry
        (``masked``: whether each input carries one)."""

    def weights_from_data(self) -> str | None:
        """Why weights drawn from the initializers would leave this layer unusable (a
        Normalization given no statistics, which Keras's ``adapt`` computes from data), or
        None. An inference build refuses such a layer unless a weights file supplies them;
        ``specc train`` computes them (``specc.train.adapt``)."""
        return None

    def work_values(self, inputs: list[TensorType]) -> list[tuple[str, TensorType]]:
        """Values the lowering builds besides the outputs and weights whose size the
        arguments set (a pooling window, a Lambda's intermediate tensors), as (what, type);
        shape inference holds them to the activation limit, as it does outputs."""
        return []

    def layout(self, inputs: list[TensorType]) -> Layout:
        """How ``lower`` wants its inputs laid out in the graph (see specc.layers.layout):
        ``native`` (as the spec's shapes say), ``channels_first`` (rank >= 3 inputs and
        outputs as (batch, channels, *spatial), ONNX's convolution layout) or
        ``elementwise`` (any layout shared by all inputs; outputs keep it)."""
        return "native"

    def lower(
        self,
        ctx: LowerContext,
        inputs: list[Value],
        input_types: list[TensorType],
        weights: dict[str, Value],
    ) -> list[Value]:
        """Emit the layer's ONNX ops; return one value per output."""
        raise NotImplementedError

    def reference(
        self, inputs: list[np.ndarray], weights: dict[str, np.ndarray]
    ) -> list[np.ndarray]:
        """Keras's formula for the layer in NumPy (inference mode)."""
        raise NotImplementedError

    @classmethod
    def examples(cls) -> list[tuple[dict[str, Any], list[TensorType]]]:
        """Configs (spec mappings without ``type``) and input types for the test matrix."""
        return []


LAYERS: Registry[Layer] = Registry("layer type", package="specc.layers")


def expect_float(layer: str, tensor: TensorType) -> None:
    """Reject integer and boolean inputs where Keras computes in floating point."""
    if tensor.dtype not in ("float32", "float16"):
        raise ShapeError(f"{layer} needs a floating-point input; got dtype {tensor.dtype}")


def float_input(ctx: LowerContext, value: Value, tensor: TensorType) -> Value:
    """Cast a float16 input up to float32, the compute dtype of every layer (as in Keras)."""
    if tensor.dtype == "float32":
        return value
    return ctx.builder.op("Cast", value, to=FLOAT)


def fmt_shape(shape: tuple[int | None, ...]) -> str:
    """Render a shape with its batch axis, as Keras prints it."""
    return str(TensorType("float32", shape))


# -- weights ---------------------------------------------------------------------------


def configured_weight(
    layer: object, name: str, shape: tuple[int, ...], arguments: str | None = None
) -> WeightSpec:
    """A trainable weight drawn, penalised and constrained as the layer's Keras arguments
    ``<arguments>_initializer``, ``<arguments>_regularizer`` and ``<arguments>_constraint``
    say.

    ``arguments`` defaults to ``name``; Keras names them after the weight's role where the
    two differ (``recurrent_initializer`` for ``recurrent_kernel``).
    """
    stem = name if arguments is None else arguments
    return WeightSpec(
        name,
        shape,
        getattr(layer, f"{stem}_initializer"),
        getattr(layer, f"{stem}_regularizer"),
        getattr(layer, f"{stem}_constraint"),
    )


class _UsesBias(Protocol):
    use_bias: bool


def optional_bias(layer: _UsesBias, shape: tuple[int, ...]) -> list[WeightSpec]:
    """``[bias]`` as the layer's bias_* arguments say when ``use_bias``, else ``[]``."""
    return [configured_weight(layer, "bias", shape)] if layer.use_bias else []


# -- lowering helpers ------------------------------------------------------------------


def activate(b: GraphBuilder, activation: Activation | None, x: Value) -> Value:
    """``activation`` applied to ``x``; Keras's ``activations.get(None)`` is linear."""
    return x if activation is None else activation.lower(b, x)


def activate_np(activation: Activation | None, x: np.ndarray) -> np.ndarray:
    """NumPy twin of ``activate``."""
    return x if activation is None else activation.reference(x)


def training_scalar(ctx: LowerContext, in_training: float, otherwise: float) -> Value:
    """A float32 scalar: ``in_training`` when the training flag is set, else ``otherwise``.
    Random layers fold the flag into such scalars, not into Where over whole tensors."""
    b = ctx.builder
    values = (b.constant(v, np.float32, hint="when") for v in (in_training, otherwise))
    return b.op("Where", ctx.training, *values)


def draw_shape(ctx: LowerContext, shape: Value, rank: int) -> Value:
    """Where(training, shape, ones): the full shape in training, one element otherwise
    (the evaluation graph), so a draw there costs next to nothing."""
    b = ctx.builder
    ones = b.constant(np.ones(rank), np.int64, hint="ones_shape")
    return b.op("Where", ctx.training, shape, ones)


def inference_only(ctx: LowerContext) -> Value:
    """1.0 at inference, 0.0 in training: the mask of Dropout at rate 1; Keras then
    zeroes everything."""
    b = ctx.builder
    return b.op("Cast", b.op("Not", ctx.training), to=FLOAT)


def trivial_dropout(ctx: LowerContext, x: Value, rate: float) -> Value | None:
    """Dropout of ``x`` where it needs no mask: ``x`` itself at rate 0 and in an inference
    model (no random op computed), ``x`` times ``inference_only`` at rate 1 (as float32
    rounds it); None for any other rate."""
    if rate == 0 or not ctx.for_training:
        return x
    if np.float32(rate) == 1:
        return ctx.builder.op("Mul", x, inference_only(ctx))
    return None


def dropout_mask(
    ctx: LowerContext, shape: Value, rank: int, rate: float, seed: int | None
) -> Value:
    """Keras's dropout mask in ``shape`` (an int64 vector of length ``rank``): kept where a
    uniform draw is below 1 - rate, as its JAX backend's bernoulli keeps, then 1/(1 - rate)
    where kept and 0 elsewhere; exactly ones when the flag is False (an evaluation graph),
    drawn there in one element (``draw_shape``).

    The flag enters through two scalars, not a Where over the mask: the threshold (above
    every draw when not training) and the scale (1 then). The draw depends on ``x`` only
    through its shape, so no gradient flows into it: the training graph differentiates the
    caller's Mul by the mask alone.
    """
    b = ctx.builder
    u = uniform(b, draw_shape(ctx, shape, rank), ctx.random_step, ctx.op_stream(seed))
    return keep_mask(ctx, u, rate)


def keep_mask(ctx: LowerContext, u: Value, rate: float) -> Value:
    """``dropout_mask`` from its uniform draws ``u``."""
    b = ctx.builder
    keep = 1.0 - rate
    kept = b.op("Less", u, training_scalar(ctx, keep, 2.0))
    return b.op("Mul", b.op("Cast", kept, to=FLOAT), training_scalar(ctx, 1.0 / keep, 1.0))
