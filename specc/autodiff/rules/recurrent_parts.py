"""The fused recurrent ops' attributes, read and checked once (``Fused``), and each gate
activation they may use with its slope (``activate``), as their gradient rules need them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from specc.autodiff.core import Backward
from specc.autodiff.rules.activations import sigmoid_slope, tanh_slope
from specc.graph import Value

# (alpha count, beta count, default alpha, default beta) of the activations that take
# parameters; the others take none. LSTM and GRU consume ``activation_alpha`` and
# ``activation_beta`` in the order of the activation list, across directions, as the
# ONNX spec and onnxruntime read them (RNN: see ``Fused.read``). The defaults are
# onnxruntime's: 0 where the spec names none (Affine, ScaledTanh) and for ThresholdedRelu.
PARAMETERS = {
    "affine": (1, 1, 0.0, 0.0),
    "leakyrelu": (1, 0, 0.01, 0.0),
    "thresholdedrelu": (1, 0, 0.0, 0.0),
    "scaledtanh": (1, 1, 0.0, 0.0),
    "hardsigmoid": (1, 1, 0.2, 0.5),
    "elu": (1, 0, 1.0, 0.0),
}
# Per op: its gate count, its activations per direction and their defaults.
DEFAULTS = {
    "RNN": (1, ["tanh"]),
    "GRU": (3, ["sigmoid", "tanh"]),
    "LSTM": (4, ["sigmoid", "tanh", "tanh"]),
}


@dataclass(frozen=True)
class Activation:
    """One activation function of a recurrent op, with its alpha and beta."""

    name: str  # lower case, as onnxruntime matches it
    alpha: float
    beta: float


@dataclass(frozen=True)
class Fused:
    """The attributes of one LSTM, GRU or RNN node, checked."""

    op: str
    hidden: int
    gates: int
    # Per direction: whether it runs from the last step to the first.
    reverse: tuple[bool, ...]
    # Per direction: its activations (RNN f; GRU f, g; LSTM f, g, h).
    activations: tuple[tuple[Activation, ...], ...]
    clip: float | None
    linear_before_reset: bool

    @classmethod
    def read(cls, d: Backward) -> Fused:
        """The node's attributes, or a ValueError naming what cannot be differentiated."""
        op, name = d.node.op_type, d.node.name

        def refuse(what: str) -> ValueError:
            return ValueError(f"cannot differentiate {op} '{name}': {what} is not supported")

        direction = _text(d.attr("direction", "forward"))
        reverse = {"forward": (False,), "reverse": (True,), "bidirectional": (False, True)}.get(
            direction
        )
        if reverse is None:
            raise refuse(f"direction={direction}")
        if d.has_input(4) and (op != "LSTM" or reverse != (False,)):
            # specc gives it only to a forward LSTM (recurrent_masked, for the cell state).
            raise refuse("the sequence_lens input (only LSTM's, in the forward direction)")
        if op == "LSTM" and d.has_input(7):
            raise refuse("the peephole input P")
        if d.attr("input_forget", 0):
            raise refuse("input_forget=1")
        if d.attr("layout", 0):
            raise refuse("layout=1 (batch-major)")
        dtype = d.types.get(d.node.inputs[0])
        if dtype is None or dtype.dtype != "float32":
            raise refuse(f"X of type {dtype.dtype if dtype else 'unknown'} (float32 only)")
        if not d.node.outputs or d.node.outputs[0] == "":
            raise refuse("an omitted output Y (its gradient reads every hidden state)")
        gates, defaults = DEFAULTS[op]
        names = [_text(a).lower() for a in d.attr("activations", [])] or defaults * len(reverse)
        if len(names) == len(defaults) and len(reverse) == 2:
            names = names * 2  # one list given for both directions
        if len(names) != len(defaults) * len(reverse):
            raise refuse(f"activations={names} (expected {len(defaults) * len(reverse)})")
        unknown = sorted(set(names) - set(SLOPES))
        if unknown:
            raise refuse(f"activation {unknown[0]} (known: {', '.join(sorted(SLOPES))})")
        alphas = [float(a) for a in d.attr("activation_alpha", [])]
        betas = [float(b) for b in d.attr("activation_beta", [])]
        acts = []
        for k, act in enumerate(names):
            n_alpha, n_beta, alpha, beta = PARAMETERS.get(act, (0, 0, 0.0, 0.0))
            if op == "RNN":
                # onnxruntime's RNN reads alpha and beta per direction. Left out, they
                # were 0 in onnxruntime 1.19 and are the spec's defaults in later
                # releases: refused then, so no gradient is right on one release only
                # (specc lowers SimpleRNN as a GRU and emits no RNN op).
                needed = (n_alpha and k >= len(alphas)) or (n_beta and k >= len(betas))
                if needed:
                    raise refuse(
                        f"activation {act} without its activation_alpha/activation_beta "
                        "(their defaults differ across onnxruntime releases)"
                    )
                alpha = alphas[k] if k < len(alphas) else 0.0
                beta = betas[k] if k < len(betas) else 0.0
            else:
                alpha = alphas.pop(0) if n_alpha and alphas else alpha
                beta = betas.pop(0) if n_beta and betas else beta
            acts.append(Activation(act, alpha, beta))
        per = len(defaults)
        clip = d.attr("clip")
        return cls(
            op,
            int(d.attr("hidden_size", d.shape(d.x(2))[-1])),
            gates,
            reverse,
            tuple(tuple(acts[k * per : (k + 1) * per]) for k in range(len(reverse))),
            None if clip is None else float(clip),
            bool(d.attr("linear_before_reset", 0)),
        )


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


# -- activations ----------------------------------------------------------------------

Slope = Callable[[Backward, Value, Activation], tuple[Value, Value]]


def _greater(d: Backward, a: Value, bound: float) -> Value:
    return d.cast_float(d.op("Greater", a, d.const(bound)))


def _sigmoid(d: Backward, a: Value, f: Activation) -> tuple[Value, Value]:
    y = d.op("Sigmoid", a)
    return y, sigmoid_slope(d, y)


def _tanh(d: Backward, a: Value, f: Activation) -> tuple[Value, Value]:
    y = d.op("Tanh", a)
    return y, tanh_slope(d, y)


def _relu(d: Backward, a: Value, f: Activation) -> tuple[Value, Value]:
    # Slope 0 at 0, as Keras's backends and onnxruntime-training's ReluGrad take it.
    return d.op("Relu", a), _greater(d, a, 0.0)


def _affine(d: Backward, a: Value, f: Activation) -> tuple[Value, Value]:
    y = d.op("Add", d.op("Mul", a, d.const(f.alpha)), d.const(f.beta))
    return y, d.op("Expand", d.const(f.alpha), d.shape_of(a))


def _leaky_relu(d: Backward, a: Value, f: Activation) -> tuple[Value, Value]:
    below = d.op("Less", a, d.const(0.0))
    return d.op("LeakyRelu", a, alpha=f.alpha), d.op("Where", below, d.const(f.alpha), d.const(1.0))


def _thresholded_relu(d: Backward, a: Value, f: Activation) -> tuple[Value, Value]:
    return d.op("ThresholdedRelu", a, alpha=f.alpha), _greater(d, a, f.alpha)


def _scaled_tanh(d: Backward, a: Value, f: Activation) -> tuple[Value, Value]:
    t = d.op("Tanh", d.op("Mul", a, d.const(f.beta)))
    slope = d.op("Sub", d.const(1.0), d.op("Mul", t, t))
    return d.op("Mul", t, d.const(f.alpha)), d.op("Mul", slope, d.const(f.alpha * f.beta))


def _hard_sigmoid(d: Backward, a: Value, f: Activation) -> tuple[Value, Value]:
    z = d.op("Add", d.op("Mul", a, d.const(f.alpha)), d.const(f.beta))
    inside = d.op("And", d.op("Greater", z, d.const(0.0)), d.op("Less", z, d.const(1.0)))
    y = d.op("HardSigmoid", a, alpha=f.alpha, beta=f.beta)
    return y, d.op("Mul", d.cast_float(inside), d.const(f.alpha))


def _elu(d: Backward, a: Value, f: Activation) -> tuple[Value, Value]:
    y = d.op("Elu", a, alpha=f.alpha)
    below = d.op("Less", a, d.const(0.0))
    return y, d.op("Where", below, d.op("Add", y, d.const(f.alpha)), d.const(1.0))


def _softsign(d: Backward, a: Value, f: Activation) -> tuple[Value, Value]:
    root = d.op("Add", d.const(1.0), d.op("Abs", a))
    return d.op("Softsign", a), d.op("Reciprocal", d.op("Mul", root, root))


def _softplus(d: Backward, a: Value, f: Activation) -> tuple[Value, Value]:
    return d.op("Softplus", a), d.op("Sigmoid", a)


SLOPES: dict[str, Slope] = {
    "sigmoid": _sigmoid,
    "tanh": _tanh,
    "relu": _relu,
    "affine": _affine,
    "leakyrelu": _leaky_relu,
    "thresholdedrelu": _thresholded_relu,
    "scaledtanh": _scaled_tanh,
    "hardsigmoid": _hard_sigmoid,
    "elu": _elu,
    "softsign": _softsign,
    "softplus": _softplus,
}


def activate(
    d: Backward, cell: Fused, f: Activation, a: Value, clipped: bool = True
) -> tuple[Value, Value]:
    """(f(a), f'(a)) for a pre-activation ``a``, through the op's ``clip`` if it has one
    and ``clipped`` (onnxruntime clips every gate's pre-activation, not LSTM's cell state
    before h): the clip's own slope is 1 inside [-clip, clip] (bounds included), else 0."""
    if cell.clip is None or not clipped:
        return SLOPES[f.name](d, a, f)
    bound = d.const(cell.clip)
    y, slope = SLOPES[f.name](d, d.op("Clip", a, d.op("Neg", bound), bound), f)
    inside = d.op("LessOrEqual", d.op("Abs", a), bound)
    return y, d.op("Mul", slope, d.cast_float(inside))
