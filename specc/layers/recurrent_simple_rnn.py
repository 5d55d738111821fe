"""SimpleRNN: Keras 3's fully-connected recurrent layer, h = act(x K + h R + b).

ONNX's RNN op has no gradient in onnxruntime-training, so a sequence of known length is
unrolled (``recurrent_unrolled``). A variable-length (or very long) one goes through ONNX
GRU with ``linear_before_reset=1``, zero weights in its update and reset gates, and
constant gate biases of -1e4 and +1e4: the update gate is sigmoid(-1e4) = 0 and the reset
gate sigmoid(1e4) = 1 (within float32 rounding; onnxruntime clamps the argument to +-18,
leaving 1.5e-8), so its output (1-z) tanh(x W_h + r (h R_h) + b_h) + z h is SimpleRNN's
tanh(x K + h R + b).
"""

from __future__ import annotations

from typing import Any, Literal

from specc.graph import GraphBuilder, Value
from specc.layers.base import LAYERS, LowerContext, activate, activate_np
from specc.layers.recurrent import Recurrent
from specc.layers.recurrent_ops import ints, pad
from specc.layers.recurrent_unrolled import MAX_UNROLLED_STEPS, Recurrence
from specc.lazy_numpy import np
from specc.types import TensorType

# Pins the GRU's gates: sigmoid(-GATE_PIN) = 0 (update), sigmoid(GATE_PIN) = 1 (reset).
GATE_PIN = 1e4


@LAYERS.register
class SimpleRNN(Recurrent):
    """SimpleRNN: h_t = act(x_t @ kernel + h_{t-1} @ recurrent_kernel + bias), h_0 = 0.

    Shapes: (batch, timesteps, features) -> (batch, [timesteps,] units), then h with
    return_state.

    Weights: kernel [features, units], recurrent_kernel [units, units], bias [units].
    """

    type: Literal["SimpleRNN"]

    # Its unrolled step is a quarter of an LSTM's nodes, and its fused form (a GRU) does
    # three times its work, so it unrolls four times as far.
    max_unrolled_steps = 4 * MAX_UNROLLED_STEPS
    # Known lengths unroll in inference models too, not only in training graphs.
    unrolls_for_inference = True

    def drops(self, rate: float) -> bool:
        # SimpleRNNCell draws a mask whenever the rate is positive (LSTM/GRU: below 1 too).
        return rate > 0

    def lower_fused(
        self,
        ctx: LowerContext,
        x: Value,
        t: TensorType,
        weights: dict[str, Value],
        lengths: Value | None = None,
    ) -> tuple[Value | None, list[Value]]:
        b, units = ctx.builder, self.units
        axis0 = b.constant(ints([0]), np.int64, hint="axes")

        def gru_weight(kernel: Value) -> Value:
            # The update and reset gates read nothing: zero rows before Keras's kernel.
            rows = pad(b, b.op("Transpose", kernel, perm=[1, 0]), [2 * units, 0, 0, 0])
            return b.op("Unsqueeze", rows, axis0)

        # Input biases [z, r, h] then recurrent biases [z, r, h]: only b_h is Keras's.
        gate_bias = np.zeros(6 * units)
        gate_bias[:units], gate_bias[units : 2 * units] = -GATE_PIN, GATE_PIN
        pins = b.constant(gate_bias, np.float32, hint="gate_bias")
        if self.use_bias:
            pins = b.op("Add", pad(b, weights["bias"], [2 * units, 3 * units]), pins)
        bias = b.op("Unsqueeze", pins, axis0)
        h0 = self.fused_zero_state(b, x, axis0)
        y, h = b.op(
            "GRU",
            self.time_major(b, x, t),
            gru_weight(weights["kernel"]),
            gru_weight(weights["recurrent_kernel"]),
            bias,
            lengths,
            h0,
            outputs=2,
            hidden_size=units,
            linear_before_reset=1,
        )
        return self.fused_outputs(b, y, [h])

    def step(
        self, b: GraphBuilder, x: Value, states: list[Value], rec: Recurrence
    ) -> tuple[Value, list[Value]]:
        h = activate(b, self.activation, b.op("Add", x, rec.project(states[0], 0, 1)))
        return h, [h]

    def reference_step(
        self, x: np.ndarray, states: list[np.ndarray], w: dict[str, np.ndarray]
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        h = activate_np(self.activation, self.reference_projection(x, states[0], w))
        return h, [h]

    @classmethod
    def examples(cls) -> list[tuple[dict[str, Any], list[TensorType]]]:
        return [
            ({"units": 5}, [TensorType("float32", (4, 3))]),
            ({"units": 3, "return_sequences": True}, [TensorType("float32", (None, 2))]),
            (
                {"units": 2, "return_state": True, "go_backwards": True, "use_bias": False},
                [TensorType("float32", (None, 3))],
            ),
            (
                {"units": 3, "activation": "relu", "return_sequences": True, "go_backwards": True},
                [TensorType("float16", (3, 2))],
            ),
            (
                {"units": 4, "activation": None, "dropout": 0.5, "recurrent_dropout": 0.3},
                [TensorType("float32", (3, 2))],
            ),
            ({"units": 2, "dropout": 0.25, "seed": 5}, [TensorType("float32", (None, 4))]),
        ]
