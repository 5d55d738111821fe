"""LSTM: Keras 3's long short-term memory layer, gate order i, f, c, o.

Unrolled lowering (``recurrent_unrolled``): per step one h R MatMul for all four gates,
cut apart by Split. Fused lowering: ONNX LSTM, whose gate order is i, o, f, c and whose weights are
W [1, 4H, in], R [1, 4H, H], B [1, 8H]; the graph builds them from Keras's kernel
[in, 4H], recurrent_kernel [H, 4H] and bias [4H] with Transpose, Gather (the gate
permutation), Concat and Unsqueeze, all of which have gradients.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field

from specc.activations import Activation, Sigmoid, Tanh
from specc.fields import ActivationField
from specc.graph import GraphBuilder, Value
from specc.initializers import Initializer
from specc.layers.base import LAYERS, LowerContext, activate, activate_np
from specc.layers.recurrent import Recurrent
from specc.layers.recurrent_ops import ints, pad
from specc.layers.recurrent_unrolled import Recurrence, split
from specc.lazy_numpy import np
from specc.types import TensorType

# Keras's i, f, c, o blocks in ONNX's i, o, f, c order.
ONNX_GATES = (0, 3, 1, 2)


@dataclass(frozen=True)
class UnitForgetBias:
    """Keras's LSTM bias initializer with unit_forget_bias: [init(H), ones(H), init(2H)]."""

    base: Initializer
    units: int

    def check_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        """The pieces must fit the base initializer; the whole is (4H,)."""
        self.base.check_shape((self.units,))
        self.base.check_shape((2 * self.units,))
        return tuple(shape)

    def sample(self, shape: tuple[int, ...], rng: np.random.Generator | None = None) -> np.ndarray:
        """A (4H,) float32 bias whose forget-gate block is ones."""
        h = self.units
        ones = np.ones(h, np.float32)
        parts = [self.base.sample((h,), rng), ones, self.base.sample((2 * h,), rng)]
        return np.concatenate(parts).astype(np.float32)

    def config(self) -> dict[str, Any]:
        """The base initializer's config (Keras serializes the flag separately)."""
        return self.base.config()


@LAYERS.register
class LSTM(Recurrent):
    """LSTM: [i,f,o] = sigma(x K + h R + b), c = f*c + i*act(x K_c + h R_c + b_c), h = o*act(c).

    sigma is recurrent_activation, act is activation. Shapes: (batch, timesteps,
    features) -> (batch, [timesteps,] units), then h and c with return_state.

    Weights: kernel [features, 4*units], recurrent_kernel [units, 4*units], bias
    [4*units], gate order i, f, c, o.
    """

    type: Literal["LSTM"]
    recurrent_activation: ActivationField | None = Field("sigmoid", validate_default=True)
    unit_forget_bias: bool = True
    use_cudnn: Literal["auto"] | bool = "auto"

    gates = 4
    state_count = 2

    def activations(self) -> list[tuple[str, Activation | None, type[Activation]]]:
        return [
            ("activation", self.activation, Tanh),
            ("recurrent_activation", self.recurrent_activation, Sigmoid),
        ]

    def bias_initializer_for(self) -> object:
        if self.unit_forget_bias:
            return UnitForgetBias(self.bias_initializer, self.units)
        return self.bias_initializer

    def lower_fused(
        self,
        ctx: LowerContext,
        x: Value,
        t: TensorType,
        weights: dict[str, Value],
        lengths: Value | None = None,
    ) -> tuple[Value | None, list[Value]]:
        b, units = ctx.builder, self.units
        order = np.concatenate([np.arange(g * units, (g + 1) * units) for g in ONNX_GATES])
        perm = b.constant(order, np.int64, hint="gate_order")
        axis0 = b.constant(ints([0]), np.int64, hint="axes")

        def onnx_weight(kernel: Value) -> Value:
            rows = b.op("Gather", b.op("Transpose", kernel, perm=[1, 0]), perm, axis=0)
            return b.op("Unsqueeze", rows, axis0)

        bias = None
        if self.use_bias:
            # ONNX adds separate input and recurrent biases; Keras has one, so the
            # recurrent half is zero padding.
            both = pad(b, b.op("Gather", weights["bias"], perm, axis=0), [0, 4 * units])
            bias = b.op("Unsqueeze", both, axis0)
        h0 = self.fused_zero_state(b, x, axis0)
        y, h, c = b.op(
            "LSTM",
            self.time_major(b, x, t),
            onnx_weight(weights["kernel"]),
            onnx_weight(weights["recurrent_kernel"]),
            bias,
            lengths,
            h0,
            h0,
            outputs=3,
            hidden_size=units,
        )
        return self.fused_outputs(b, y, [h, c])

    def step(
        self, b: GraphBuilder, x: Value, states: list[Value], rec: Recurrence
    ) -> tuple[Value, list[Value]]:
        h, c = states
        # Keras's order i, f, c, o; every piece is used (Split's gradient needs that).
        z_i, z_f, z_c, z_o = split(b, b.op("Add", x, rec.project(h, 0, 4)), [self.units] * 4, -1)
        i = activate(b, self.recurrent_activation, z_i)
        f = activate(b, self.recurrent_activation, z_f)
        candidate = activate(b, self.activation, z_c)
        o = activate(b, self.recurrent_activation, z_o)
        c = b.op("Add", b.op("Mul", f, c), b.op("Mul", i, candidate))
        h = b.op("Mul", o, activate(b, self.activation, c))
        return h, [h, c]

    def reference_step(
        self, x: np.ndarray, states: list[np.ndarray], w: dict[str, np.ndarray]
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        h, c = states
        z = self.reference_projection(x, h, w)
        z_i, z_f, z_c, z_o = np.split(z, 4, axis=-1)
        i = activate_np(self.recurrent_activation, z_i)
        f = activate_np(self.recurrent_activation, z_f)
        c = f * c + i * activate_np(self.activation, z_c)
        o = activate_np(self.recurrent_activation, z_o)
        h = o * activate_np(self.activation, c)
        return h, [h, c]

    @classmethod
    def examples(cls) -> list[tuple[dict[str, Any], list[TensorType]]]:
        seq = TensorType("float32", (4, 3))
        return [
            ({"units": 5}, [seq]),
            ({"units": 3, "return_sequences": True}, [TensorType("float32", (None, 2))]),
            ({"units": 2, "return_state": True, "go_backwards": True}, [seq]),
            (
                {"units": 3, "return_sequences": True, "go_backwards": True, "use_bias": False},
                [TensorType("float16", (None, 3))],
            ),
            (
                {"units": 3, "activation": "relu", "recurrent_activation": "hard_sigmoid"},
                [TensorType("float32", (3, 2))],
            ),
            (
                {
                    "units": 2,
                    "return_sequences": True,
                    "go_backwards": True,
                    "dropout": 0.3,
                    "recurrent_dropout": 0.4,
                    "unit_forget_bias": False,
                },
                [seq],
            ),
            ({"units": 4, "dropout": 0.5, "seed": 3}, [TensorType("float32", (None, 3))]),
        ]
