"""What SimpleRNN, LSTM and GRU share: Keras's RNN arguments, shapes, dropout masks, unrolling.

Each layer maps (batch, timesteps, features) to its last output (batch, units), or with
``return_sequences`` to every output (batch, timesteps, units), followed with
``return_state`` by its final states (Keras's order: h, then c for LSTM). ``go_backwards``
reads the sequence from its end and returns the outputs in that processing order, as
Keras 3 does. The weights keep Keras's names and layouts (kernel [features, k*units],
recurrent_kernel [units, k*units], bias); any reordering for ONNX happens in the graph,
so the weights file and training see the Keras tensors.

Two lowerings, chosen per config and input length:

- unrolled (``recurrent_unrolled``): plain MatMul/Split/activation ops per time step,
  in the training graph (``LowerContext.for_training``) whenever the number of timesteps
  is known and at most ``max_unrolled_steps``, and at any known length, in every graph,
  for configs no ONNX op computes (``unrolled_because``: other activations, recurrent
  dropout). It trains ~3x faster than the fused ops' gradients, but runs slower at
  inference, so inference models (``specc build``/``export``, the trained model.onnx)
  keep the fused op. SimpleRNN (``unrolls_for_inference``) unrolls known lengths in
  both, its fused form being a GRU doing three times its work.
- fused: ONNX's LSTM or GRU op (SimpleRNN: a GRU with pinned gates), forward only, with
  explicit zero initial states, the only recurrent ops onnxruntime-training can
  differentiate (``docs/engine-notes.md#fused-recurrent``). They compute sigmoid gates and
  tanh candidates only, and cannot mask the state inside the recurrence, but they take any
  sequence length: variable (null) lengths and very long ones.

Dropout masks are drawn once per call and shared by all time steps, as Keras's
``DropoutRNNCell`` caches them; like ``core.Dropout`` they come from ONNX Dropout applied
to ones and read the training flag, so at inference they are exactly ones.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, field_validator

from specc.activations import Activation, Tanh
from specc.fields import (
    ActivationField,
    ConstraintField,
    InitializerField,
    RegularizerField,
    initializer,
)
from specc.graph import GraphBuilder, Value
from specc.layers.base import (
    Layer,
    LowerContext,
    Seed,
    ShapeError,
    WeightSpec,
    configured_weight,
    expect_float,
    float_input,
)
from specc.layers.masks import DROP, MaskRule
from specc.layers.recurrent_masked import lower_compacted
from specc.layers.recurrent_ops import (
    dropout_masks,
    ints,
    reverse_time,
    unsqueeze,
    zero_state,
)
from specc.layers.recurrent_unrolled import MAX_UNROLLED_STEPS, Recurrence, lower_unrolled
from specc.lazy_numpy import np
from specc.types import TensorType

Rate = Field(0.0, ge=0, le=1, allow_inf_nan=False)


class Recurrent(Layer):
    """Base of SimpleRNN, LSTM and GRU: Keras's RNN-layer arguments and the two lowerings."""

    units: int = Field(gt=0)
    activation: ActivationField | None = Field("tanh", validate_default=True)
    use_bias: bool = True
    kernel_initializer: InitializerField = initializer("glorot_uniform")
    recurrent_initializer: InitializerField = initializer("orthogonal")
    bias_initializer: InitializerField = initializer("zeros")
    kernel_regularizer: RegularizerField | None = None
    recurrent_regularizer: RegularizerField | None = None
    bias_regularizer: RegularizerField | None = None
    kernel_constraint: ConstraintField | None = None
    recurrent_constraint: ConstraintField | None = None
    bias_constraint: ConstraintField | None = None
    dropout: float = Rate
    recurrent_dropout: float = Rate
    seed: Seed | None = None
    return_sequences: bool = False
    return_state: bool = False
    go_backwards: bool = False
    stateful: bool = False
    # Accepted as Keras serializes it; no effect here (ONNX ops run the same either way).
    unroll: bool = False
    zero_output_for_mask: bool = False
    supports_masking = True  # reads the mask; passes it on with return_sequences

    # Gate blocks in the kernels (k above) and state tensors (h, and c for LSTM).
    gates: ClassVar[int] = 1
    # Known lengths up to this unroll; longer ones keep the fused form (graph size).
    max_unrolled_steps: ClassVar[int] = MAX_UNROLLED_STEPS
    state_count: ClassVar[int] = 1
    # Whether inference models unroll known lengths too (only training graphs otherwise).
    unrolls_for_inference: ClassVar[bool] = False

    @field_validator("stateful")
    @classmethod
    def _reject_stateful(cls, value: bool) -> bool:
        if value:
            raise ValueError(
                "stateful=true is not supported: an ONNX model keeps no state between "
                "calls, so every batch starts from zero states; got stateful=true"
            )
        return value

    # -- configuration -----------------------------------------------------------------

    def drops(self, rate: float) -> bool:
        """Whether Keras applies dropout at ``rate``: LSTM and GRU only for 0 < rate < 1."""
        return 0 < rate < 1

    def activations(self) -> list[tuple[str, Activation | None, type[Activation]]]:
        """(field, activation, what the fused op computes there) for each activation."""
        return [("activation", self.activation, Tanh)]

    def unrolled_because(self) -> tuple[str, str] | None:
        """(field, reason) when no ONNX op computes this config, else None."""
        if self.drops(self.recurrent_dropout):
            why = "ONNX's recurrent ops cannot mask the state inside the recurrence"
            return "recurrent_dropout", f"recurrent_dropout={self.recurrent_dropout} ({why})"
        for field, activation, fused in self.activations():
            if not isinstance(activation, fused):
                name = "null" if activation is None else activation.type
                why = f"ONNX's trainable recurrent ops compute only {fused.__name__.lower()} there"
                return field, f"{field}={name} ({why})"
        return None

    def sequence(self, x: TensorType) -> tuple[int | None, int]:
        """(timesteps, features) of the input, or ShapeError."""
        name = self.type_name()
        expect_float(name, x)
        if len(x.shape) != 2 or x.shape[1] is None:
            raise ShapeError(
                f"{name} needs a 3D input (batch, timesteps, features) with a known "
                f"feature size; got {x}"
            )
        return x.shape[0], x.shape[1]

    def output_types(self, inputs: list[TensorType]) -> list[TensorType]:
        (x,) = inputs
        steps, _ = self.sequence(x)
        reason = self.unrolled_because()
        if reason is not None and steps is None:
            field, why = reason
            raise ShapeError(
                f"{self.type_name()} with {why} is unrolled over its time steps, so it needs "
                f"a fixed number of timesteps; got input {x}",
                field=field,
            )
        out = (steps, self.units) if self.return_sequences else (self.units,)
        state = TensorType("float32", (self.units,))
        return [TensorType("float32", out)] + ([state] * self.state_count * self.return_state)

    def bias_shape(self) -> tuple[int, ...]:
        """The shape of ``bias`` (GRU with reset_after has two rows)."""
        return (self.gates * self.units,)

    def bias_initializer_for(self) -> object:
        """What draws ``bias`` (LSTM's unit_forget_bias wraps the initializer)."""
        return self.bias_initializer

    def weights(self, inputs: list[TensorType]) -> list[WeightSpec]:
        _, features = self.sequence(inputs[0])
        width = self.gates * self.units
        specs = [
            configured_weight(self, "kernel", (features, width)),
            configured_weight(self, "recurrent_kernel", (self.units, width), "recurrent"),
        ]
        if self.use_bias:
            specs.append(
                WeightSpec(
                    "bias",
                    self.bias_shape(),
                    self.bias_initializer_for(),
                    self.bias_regularizer,
                    self.bias_constraint,
                )
            )
        return specs

    def mask_rule(self) -> MaskRule:
        # Keras's RNN.compute_mask: the sequence output keeps the mask, the states get none.
        return MaskRule("propagate", outputs=(0,)) if self.return_sequences else DROP

    # -- lowering ----------------------------------------------------------------------

    def lower(
        self,
        ctx: LowerContext,
        inputs: list[Value],
        input_types: list[TensorType],
        weights: dict[str, Value],
    ) -> list[Value]:
        t = input_types[0]
        x = float_input(ctx, inputs[0], t)
        steps, features = self.sequence(t)
        # Unrolled ops train several times faster than the engine's LSTMGrad/GRUGrad
        # kernels, but need the length, and a long one makes a huge graph. At inference
        # the fused ops run faster, so inference models keep them (SimpleRNN excepted).
        long = steps is None or steps > self.max_unrolled_steps
        for_engine = ctx.for_training and not ctx.fused_recurrence
        unroll = not long and (for_engine or self.unrolls_for_inference)
        # A Keras mask may mark any step (not only a right-padded tail, the fused ops'
        # sequence_lens): a masked fused recurrence runs over the kept steps moved to the
        # front (recurrent_masked).
        mask = ctx.input_masks[0] if ctx.input_masks else None
        fused = self.unrolled_because() is None and not unroll
        if fused:
            if self.drops(self.dropout):
                # Keras's "implementation 2": one input mask for every gate and time step.
                b = ctx.builder
                (dropped,) = dropout_masks(ctx, x, features, self.dropout, 1, self.seed)
                x = b.op("Mul", x, unsqueeze(b, dropped, 1))
            if mask is None:
                sequence, states = self.lower_fused(ctx, x, t, weights)
                last = states[0]
            else:
                sequence, states, last = lower_compacted(self, ctx, x, t, weights, mask)
        else:
            sequence, states, last = lower_unrolled(self, ctx, x, t, weights, mask)
        output = sequence if self.return_sequences else last
        return [output, *states] if self.return_state else [output]

    def lower_fused(
        self,
        ctx: LowerContext,
        x: Value,
        t: TensorType,
        weights: dict[str, Value],
        lengths: Value | None = None,
    ) -> tuple[Value | None, list[Value]]:
        """(outputs (batch, timesteps, units) in processing order when return_sequences,
        final states) through an ONNX recurrent op; ``lengths`` (batch,) int32 is its
        ``sequence_lens``: each row runs that many steps, its final states are those after
        them and its outputs past them are zeros (all steps without it)."""
        raise NotImplementedError

    def time_major(self, b: GraphBuilder, x: Value, t: TensorType) -> Value:
        """The (timesteps, batch, features) input the ONNX ops read, reversed if backwards."""
        x = b.op("Transpose", x, perm=[1, 0, 2])
        return reverse_time(b, x, t.shape[0], axis=0) if self.go_backwards else x

    def fused_outputs(
        self, b: GraphBuilder, y: Value, finals: list[Value]
    ) -> tuple[Value | None, list[Value]]:
        """The ONNX op's Y [T, 1, B, H] and final states [1, B, H] in Keras's shapes."""
        axis0 = b.constant(ints([0]), np.int64, hint="axes")
        states = [b.op("Squeeze", s, axis0) for s in finals]
        if not self.return_sequences:
            return None, states
        y = b.op("Squeeze", y, b.constant(ints([1]), np.int64, hint="axes"))
        return b.op("Transpose", y, perm=[1, 0, 2]), states

    def fused_zero_state(self, b: GraphBuilder, x: Value, axis0: Value) -> Value:
        """The explicit [1, batch, units] zero initial state the ONNX ops are given."""
        return b.op("Unsqueeze", zero_state(b, x, self.units), axis0)

    def unrolled_biases(
        self, b: GraphBuilder, weights: dict[str, Value]
    ) -> tuple[Value | None, Value | None]:
        """(bias added to x K, bias added to h R) of the unrolled form; Keras has one."""
        return (weights["bias"] if self.use_bias else None), None

    def recurrent_groups(self) -> list[tuple[int, int]]:
        """The gate ranges whose h R the unrolled step computes apart (one MatMul each)."""
        return [(0, self.gates)]

    def step(
        self, b: GraphBuilder, x: Value, states: list[Value], rec: Recurrence
    ) -> tuple[Value, list[Value]]:
        """One unrolled time step: ``x`` is this step's x K + b (batch, k*units), ``rec``
        projects the previous h; returns the output and the new states."""
        raise NotImplementedError

    # -- reference ---------------------------------------------------------------------

    def reference(
        self,
        inputs: list[np.ndarray],
        weights: dict[str, np.ndarray],
        mask: np.ndarray | None = None,
    ) -> list[np.ndarray]:
        """Keras's RNN in float64; ``mask`` (batch, steps) of 0/1 as its backend's rnn
        reads one (see ``recurrent_unrolled.lower_unrolled``)."""
        x = np.asarray(inputs[0], np.float64)
        w = {k: np.asarray(v, np.float64) for k, v in weights.items()}
        batch, steps = x.shape[:2]
        states = [np.zeros((batch, self.units))] * self.state_count
        outputs = []
        for step in range(steps - 1, -1, -1) if self.go_backwards else range(steps):
            out, new_states = self.reference_step(x[:, step], states, w)
            if mask is None:
                states = new_states
            else:
                keep = np.asarray(mask[:, step : step + 1], bool)
                states = [np.where(keep, n, s) for n, s in zip(new_states, states, strict=True)]
                out = np.where(keep, out, 0.0) if self.zero_output_for_mask else states[0]
            outputs.append(out)
        output = np.stack(outputs, axis=1) if self.return_sequences else outputs[-1]
        return [output, *states] if self.return_state else [output]

    def reference_projection(
        self, x: np.ndarray, h: np.ndarray, w: dict[str, np.ndarray]
    ) -> np.ndarray:
        """x K + h R (+ bias): every gate's pre-activation at once, in float64."""
        z = x @ w["kernel"] + h @ w["recurrent_kernel"]
        return z + w["bias"] if self.use_bias else z

    def reference_step(
        self, x: np.ndarray, states: list[np.ndarray], w: dict[str, np.ndarray]
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Keras's cell ``call`` in float64 (inference: no dropout)."""
        raise NotImplementedError
