"""GRU: Keras 3's gated recurrent unit, gate order z, r, h, both reset conventions.

Unrolled lowering (``recurrent_unrolled``): per step one h R MatMul for the three gates
(reset_after=false: one for z and r, one for r*h through R_h), cut apart by Split. Fused
lowering: ONNX GRU, whose gate order is Keras's and whose ``linear_before_reset=1``
is Keras's ``reset_after=True`` (the reset gate multiplies h R_h + b_rh). Its weights are
W [1, 3H, in], R [1, 3H, H] and B [1, 6H] = [input biases, recurrent biases]: the
transposed Keras kernels, and Keras's bias [2, 3H] flattened (reset_after=True) or
[3H] followed by zeros (reset_after=False, one bias as in Keras).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from specc.activations import Activation, Sigmoid, Tanh
from specc.fields import ActivationField
from specc.graph import GraphBuilder, Value
from specc.layers.base import LAYERS, LowerContext, activate, activate_np
from specc.layers.recurrent import Recurrent
from specc.layers.recurrent_ops import ints, pad
from specc.layers.recurrent_unrolled import Recurrence, split
from specc.lazy_numpy import np
from specc.types import TensorType


@LAYERS.register
class GRU(Recurrent):
    """GRU: [z,r] = sigma(x K + h R + b), h = z*h + (1-z)*act(x K_h + r*(h R_h + b_rh) + b_h).

    That is reset_after=true; with false the candidate is act(x K_h + (r*h) R_h + b_h).
    Shapes: (batch, timesteps, features) -> (batch, [timesteps,] units), then h with
    return_state.

    Weights: kernel [features, 3*units], recurrent_kernel [units, 3*units], bias
    [2, 3*units] with reset_after (input and recurrent biases) else [3*units].
    """

    type: Literal["GRU"]
    recurrent_activation: ActivationField | None = Field("sigmoid", validate_default=True)
    reset_after: bool = True
    use_cudnn: Literal["auto"] | bool = "auto"

    gates = 3

    def activations(self) -> list[tuple[str, Activation | None, type[Activation]]]:
        return [
            ("activation", self.activation, Tanh),
            ("recurrent_activation", self.recurrent_activation, Sigmoid),
        ]

    def bias_shape(self) -> tuple[int, ...]:
        return (2, 3 * self.units) if self.reset_after else (3 * self.units,)

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

        def onnx_weight(kernel: Value) -> Value:
            return b.op("Unsqueeze", b.op("Transpose", kernel, perm=[1, 0]), axis0)

        bias = None
        if self.use_bias and self.reset_after:
            bias = b.op("Reshape", weights["bias"], b.constant(ints([1, 6 * units]), np.int64))
        elif self.use_bias:
            # One Keras bias: ONNX's recurrent biases are zero padding.
            bias = b.op("Unsqueeze", pad(b, weights["bias"], [0, 3 * units]), axis0)
        h0 = self.fused_zero_state(b, x, axis0)
        y, h = b.op(
            "GRU",
            self.time_major(b, x, t),
            onnx_weight(weights["kernel"]),
            onnx_weight(weights["recurrent_kernel"]),
            bias,
            lengths,
            h0,
            outputs=2,
            hidden_size=units,
            linear_before_reset=int(self.reset_after),
        )
        return self.fused_outputs(b, y, [h])

    def unrolled_biases(
        self, b: GraphBuilder, weights: dict[str, Value]
    ) -> tuple[Value | None, Value | None]:
        if not (self.use_bias and self.reset_after):
            return super().unrolled_biases(b, weights)
        # Rows [input; recurrent], both used: the input row on x K, the other on h R.
        rows = split(b, weights["bias"], [1, 1], axis=0)
        return rows[0], rows[1]

    def recurrent_groups(self) -> list[tuple[int, int]]:
        # reset_after=false multiplies r into h before R_h: that block is projected apart.
        return [(0, 3)] if self.reset_after else [(0, 2), (2, 3)]

    def step(
        self, b: GraphBuilder, x: Value, states: list[Value], rec: Recurrence
    ) -> tuple[Value, list[Value]]:
        (h,) = states
        u = self.units
        # Keras's order z, r, h. Every Split piece is used (its gradient needs that).
        x_z, x_r, x_h = split(b, x, [u, u, u], -1)
        if self.reset_after:
            inner = rec.project(h, 0, 3)
            if rec.bias is not None:
                inner = b.op("Add", inner, rec.bias)
            h_z, h_r, h_h = split(b, inner, [u, u, u], -1)
        else:
            h_z, h_r = split(b, rec.project(h, 0, 2), [u, u], -1)
        z = activate(b, self.recurrent_activation, b.op("Add", x_z, h_z))
        r = activate(b, self.recurrent_activation, b.op("Add", x_r, h_r))
        # reset_after: r scales h R_h + b_rh; else r scales h before R_h.
        rec_h = b.op("Mul", r, h_h) if self.reset_after else rec.project(b.op("Mul", r, h), 2, 3)
        candidate = activate(b, self.activation, b.op("Add", x_h, rec_h))
        # h = z*h + (1-z)*hh, written as hh + z*(h - hh).
        h = b.op("Add", candidate, b.op("Mul", z, b.op("Sub", h, candidate)))
        return h, [h]

    def reference_step(
        self, x: np.ndarray, states: list[np.ndarray], w: dict[str, np.ndarray]
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        (h,) = states
        u = self.units
        bias = w.get("bias")
        if bias is None:
            b_in, b_rec = np.zeros(3 * u), np.zeros(3 * u)
        elif self.reset_after:
            b_in, b_rec = bias[0], bias[1]
        else:
            b_in, b_rec = bias, np.zeros(3 * u)
        x_z, x_r, x_h = np.split(x @ w["kernel"] + b_in, 3, axis=-1)
        r_kernel = w["recurrent_kernel"]
        # Keras's fused "implementation 2": h projected once for z and r (and h~).
        inner = h @ r_kernel + b_rec if self.reset_after else h @ r_kernel[:, : 2 * u]
        z = activate_np(self.recurrent_activation, x_z + inner[:, :u])
        r = activate_np(self.recurrent_activation, x_r + inner[:, u : 2 * u])
        # reset_after: r scales h R_h + b_rh; else r scales h before R_h.
        rec_h = r * inner[:, 2 * u :] if self.reset_after else (r * h) @ r_kernel[:, 2 * u :]
        hh = activate_np(self.activation, x_h + rec_h)
        h = z * h + (1 - z) * hh
        return h, [h]

    @classmethod
    def examples(cls) -> list[tuple[dict[str, Any], list[TensorType]]]:
        return [
            ({"units": 5}, [TensorType("float32", (4, 3))]),
            (
                {"units": 3, "reset_after": False, "return_sequences": True},
                [TensorType("float32", (None, 2))],
            ),
            (
                {"units": 2, "return_state": True, "go_backwards": True, "use_bias": False},
                [TensorType("float32", (3, 3))],
            ),
            (
                {"units": 3, "reset_after": False, "go_backwards": True, "return_state": True},
                [TensorType("float16", (None, 2))],
            ),
            (
                {"units": 3, "activation": "softsign", "recurrent_activation": "hard_sigmoid"},
                [TensorType("float32", (3, 2))],
            ),
            (
                {
                    "units": 2,
                    "reset_after": False,
                    "return_sequences": True,
                    "dropout": 0.2,
                    "recurrent_dropout": 0.5,
                    "seed": 1,
                },
                [TensorType("float32", (3, 4))],
            ),
            (
                {"units": 3, "return_sequences": True, "go_backwards": True, "dropout": 0.4},
                [TensorType("float32", (None, 3))],
            ),
        ]
