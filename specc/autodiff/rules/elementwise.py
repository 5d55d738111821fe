"""Gradients of the elementwise arithmetic ops (broadcasting undone by reduction).

Each rule reuses the forward node's own inputs and outputs (``Exp``'s gradient multiplies
by its output, ``Div``'s divisor gradient by the quotient), and where an op is not
differentiable at a point the subgradient is the one onnxruntime-training and Keras's
backends pick, noted beside the rule.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from specc.autodiff.core import Backward, vjp
from specc.graph import Value

Grads = list[Value | None]
# ONNX element types of the float dtypes a gradient can have (TensorProto's numbering).
ONNX_FLOATS = {"float32": 1, "float16": 10, "float64": 11}


def dtype(d: Backward, value: Value) -> str | None:
    """The dtype name of a forward value (known for every value a gradient reaches, even
    where its shape is not), None if shape inference gave it none."""
    found = d.types.get(value.name)
    return None if found is None else found.dtype


def scalar(d: Backward, value: float, like: Value) -> Value:
    """A constant scalar of the float dtype of forward value ``like``."""
    return d.b.constant(value, dtype(d, like) or "float32", hint="scalar")


def greater_than(d: Backward, value: Value, threshold: float = 0.0) -> Value:
    """``value > threshold``, the threshold a scalar of ``value``'s dtype."""
    return d.op("Greater", value, scalar(d, threshold, value))


def masked(d: Backward, condition: Value, g: Value) -> Value:
    """``g`` (of the forward output's dtype) where ``condition`` holds, zero elsewhere:
    ``g`` times the condition as 0/1 (TensorFlow's ReluGrad form). onnxruntime's CPU Where
    is about ten times slower than this Cast and Mul, and gradients run it on whole
    activations every step. ``g`` must be finite where it is masked out (0 * inf is NaN)."""
    return d.op("Mul", g, as_float(d, condition, d.y()))


def select(d: Backward, condition: Value, a: Value, b: Value) -> Value:
    """``a`` where ``condition`` holds, ``b`` elsewhere, for finite ``a`` and ``b``: each
    times its 0/1 mask, summed (exact, as one term is an exact zero), instead of the slow
    Where (see ``masked``)."""
    chosen = masked(d, condition, a)
    return d.op("Add", chosen, masked(d, d.op("Not", condition), b))


def as_float(d: Backward, value: Value, like: Value) -> Value:
    """``value`` cast to the float dtype of ``like`` when it has another dtype."""
    target = dtype(d, like) or "float32"
    if dtype(d, value) == target:
        return value
    return d.op("Cast", value, to=ONNX_FLOATS[target])


def pointwise(*op_types: str) -> Callable[[Callable[[Backward, Value], Value]], None]:
    """Register the rule of a one-input, one-output op as ``rule(backward, gy) -> gx``
    (the engine only calls a rule when its input needs a gradient)."""

    def register(rule: Callable[[Backward, Value], Value]) -> None:
        @vjp(*op_types)
        def _rule(d: Backward, g: Grads) -> Grads:
            (gy,) = g
            assert gy is not None
            return [rule(d, gy)]

    return register


@vjp("Identity")
def _identity(d: Backward, g: Grads) -> Grads:
    return [g[0]]


@vjp("Add")
def _add(d: Backward, g: Grads) -> Grads:
    (gy,) = g
    assert gy is not None
    return [
        d.unbroadcast(gy, d.x(0)) if d.wants(0) else None,
        d.unbroadcast(gy, d.x(1)) if d.wants(1) else None,
    ]


@vjp("Sub")
def _sub(d: Backward, g: Grads) -> Grads:
    (gy,) = g
    assert gy is not None
    return [
        d.unbroadcast(gy, d.x(0)) if d.wants(0) else None,
        d.unbroadcast(d.op("Neg", gy), d.x(1)) if d.wants(1) else None,
    ]


@vjp("Mul")
def _mul(d: Backward, g: Grads) -> Grads:
    (gy,) = g
    assert gy is not None
    a, b = d.x(0), d.x(1)
    return [
        d.unbroadcast(d.op("Mul", gy, b), a) if d.wants(0) else None,
        d.unbroadcast(d.op("Mul", gy, a), b) if d.wants(1) else None,
    ]


@vjp("Div")
def _div(d: Backward, g: Grads) -> Grads:
    """y = a / b: da = gy / b, db = -gy * a / b^2 = -(gy / b) * y."""
    (gy,) = g
    assert gy is not None
    a, b = d.x(0), d.x(1)
    over_b = d.op("Div", gy, b)
    return [
        d.unbroadcast(over_b, a) if d.wants(0) else None,
        d.unbroadcast(d.op("Neg", d.op("Mul", over_b, d.y())), b) if d.wants(1) else None,
    ]


@vjp("Mod")
def _mod(d: Backward, g: Grads) -> Grads:
    """Float Mod is fmod: y = a - b * trunc(a / b), so da = gy and db = -gy * (a - y) / b.

    (Integer Mod never carries a gradient: its inputs are not float.)
    """
    (gy,) = g
    assert gy is not None
    a, b = d.x(0), d.x(1)
    quotient = d.op("Div", d.op("Sub", a, d.y()), b)  # trunc(a / b), exactly
    return [
        d.unbroadcast(gy, a) if d.wants(0) else None,
        d.unbroadcast(d.op("Neg", d.op("Mul", gy, quotient)), b) if d.wants(1) else None,
    ]


@vjp("Pow")
def _pow(d: Backward, g: Grads) -> Grads:
    """y = a^b: da = gy * b * a^(b - 1); db = gy * y * log(a) where a > 0, else 0.

    An integer exponent takes no gradient. For a <= 0, log(a) is undefined; there y is
    real only for whole exponents, along which a small change of b is no power at all, so
    the exponent gets 0 there (TensorFlow's choice) rather than NaN.
    """
    (gy,) = g
    assert gy is not None
    a, b = d.x(0), d.x(1)
    ga = gb = None
    if d.wants(0):
        exponent = as_float(d, b, a)
        lowered = d.op("Pow", a, d.op("Sub", exponent, scalar(d, 1.0, a)))
        ga = d.unbroadcast(d.op("Mul", gy, d.op("Mul", exponent, lowered)), a)
    if d.wants(1):
        positive = d.op("Greater", a, scalar(d, 0.0, a))
        # Where, not ``masked``: log(a) is NaN or -inf where it is masked out.
        log_a = d.op("Where", positive, d.op("Log", a), scalar(d, 0.0, a))
        gb = d.unbroadcast(d.op("Mul", gy, d.op("Mul", d.y(), log_a)), b)
    return [ga, gb]


@pointwise("Neg")
def _neg(d: Backward, gy: Value) -> Value:
    return d.op("Neg", gy)


@pointwise("Abs")
def _abs(d: Backward, gy: Value) -> Value:
    # sign(x): 0 at x = 0, as TensorFlow's and onnxruntime-training's Abs gradients.
    return d.op("Mul", gy, d.op("Sign", d.x(0)))


@pointwise("Exp")
def _exp(d: Backward, gy: Value) -> Value:
    return d.op("Mul", gy, d.y())


@pointwise("Log")
def _log(d: Backward, gy: Value) -> Value:
    return d.op("Div", gy, d.x(0))


@pointwise("Sqrt")
def _sqrt(d: Backward, gy: Value) -> Value:
    """d sqrt(x) = 0.5 / sqrt(x), from the output."""
    return d.op("Div", d.op("Mul", gy, scalar(d, 0.5, d.x(0))), d.y())


@pointwise("Reciprocal")
def _reciprocal(d: Backward, gy: Value) -> Value:
    """d (1 / x) = -1 / x^2 = -y^2."""
    y = d.y()
    return d.op("Neg", d.op("Mul", gy, d.op("Mul", y, y)))


@pointwise("Sin")
def _sin(d: Backward, gy: Value) -> Value:
    return d.op("Mul", gy, d.op("Cos", d.x(0)))


@pointwise("Cos")
def _cos(d: Backward, gy: Value) -> Value:
    return d.op("Neg", d.op("Mul", gy, d.op("Sin", d.x(0))))


@pointwise("Erf")
def _erf(d: Backward, gy: Value) -> Value:
    """d erf(x) = 2 / sqrt(pi) * exp(-x^2)."""
    x = d.x(0)
    bell = d.op("Exp", d.op("Neg", d.op("Mul", x, x)))
    return d.op("Mul", gy, d.op("Mul", bell, scalar(d, 2.0 / math.sqrt(math.pi), x)))


@vjp("Cast")
def _cast(d: Backward, g: Grads) -> Grads:
    """The gradient cast back to the input's float type (an integer input takes none)."""
    (gy,) = g
    source = dtype(d, d.x(0))
    if gy is None or source not in ONNX_FLOATS:
        return [None]
    return [d.op("Cast", gy, to=ONNX_FLOATS[source])]


@vjp("Where")
def _where(d: Backward, g: Grads) -> Grads:
    """Each branch gets the gradient where it was chosen; the condition takes none."""
    (gy,) = g
    assert gy is not None
    condition = d.x(0)
    return [
        None,
        d.unbroadcast(masked(d, condition, gy), d.x(1)) if d.wants(1) else None,
        d.unbroadcast(masked(d, d.op("Not", condition), gy), d.x(2)) if d.wants(2) else None,
    ]


@vjp("Sum", "Mean")
def _sum(d: Backward, g: Grads) -> Grads:
    """n-ary Sum: every input gets the output gradient; Mean: a 1/n share of it."""
    (gy,) = g
    assert gy is not None
    count = len(d.node.inputs)
    if d.node.op_type == "Mean" and count > 1:
        gy = d.op("Mul", gy, scalar(d, 1.0 / count, d.y()))
    return [d.unbroadcast(gy, x) if d.wants(i) else None for i, x in enumerate(d.inputs)]


@vjp("Max", "Min")
def _extremum(d: Backward, g: Grads) -> Grads:
    """n-ary Max/Min (broadcasting): the gradient goes to the input(s) equal to the result.

    Ties share it equally, as onnxruntime-training's Min/Max gradient does (and JAX's
    maximum), so the sum over the tied inputs is the result's gradient.
    """
    (gy,) = g
    assert gy is not None
    inputs = d.inputs
    if len(inputs) == 1:
        return [gy]
    y = d.y()
    to = ONNX_FLOATS[dtype(d, y) or "float32"]
    hits = [d.op("Cast", d.op("Equal", x, y), to=to) for x in inputs]
    count = hits[0]
    for hit in hits[1:]:
        count = d.op("Add", count, hit)
    share = d.op("Div", gy, count)
    return [
        d.unbroadcast(d.op("Mul", share, hit), x) if d.wants(i) else None
        for i, (x, hit) in enumerate(zip(inputs, hits, strict=True))
    ]


@vjp("Clip")
def _clip(d: Backward, g: Grads) -> Grads:
    """y = min(max(x, low), high), the bounds optional inputs.

    x gets the gradient strictly inside (low, high): none at and beyond a bound, as Keras's
    relu6 and hard_sigmoid (onnxruntime-training passes it at the bounds too). A bound that
    needs one gets the gradient where x reached it (x <= low, x >= high), assuming
    low <= high.
    """
    (gy,) = g
    assert gy is not None
    x = d.x(0)
    inside: Value | None = None
    found: Grads = [None, None, None]
    for index, test, clipped_test in ((1, "Greater", "LessOrEqual"), (2, "Less", "GreaterOrEqual")):
        if not d.has_input(index):
            continue
        bound = d.x(index)
        within = d.op(test, x, bound)
        inside = within if inside is None else d.op("And", inside, within)
        if d.wants(index):
            found[index] = d.unbroadcast(masked(d, d.op(clipped_test, x, bound), gy), bound)
    if d.wants(0):
        found[0] = gy if inside is None else masked(d, inside, gy)
    return found
