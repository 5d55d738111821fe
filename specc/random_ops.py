"""A counter-based random generator built from standard ONNX ops, and its NumPy twin.

The random numbers of a training step are a pure function of (stream, step, element
index): nothing is kept between runs, so two sessions (the step and evaluation graphs, the
two training backends, a run resumed from saved state) draw the same numbers for the same
step. onnxruntime's own random ops cannot: each keeps a hidden generator per session.

The generator is Widynski's "Squares" (arXiv:2004.06278): four rounds of squaring a 64-bit
counter-times-key, each followed by swapping the halves; 32 random bits per counter value.
It needs 64-bit multiply, add and shifts, and nothing else, which is what onnxruntime's CPU
provider offers at opset 17: Mul and Add on int64 only in 1.19 (its unsigned kernels came
later; two's complement wraps to the same bits), BitShift on unsigned types only. A Cast
between int64 and uint64 keeps the bits. Bitwise And/Xor would need opset 18, whose
reductions take their axes differently. The counter of element ``i`` at step ``s`` is
``s * 2**32 + i``, so a draw of up to 2**32 elements never meets another step's.

A stream (a layer's seed, or one drawn from the run's seed) becomes its keys through
NumPy's SeedSequence, odd as the generator wants them. Uniforms take the top 24 bits
(exact in float32, in [0, 1)); normals come from two uniforms of two keys by Box-Muller.
"""

from __future__ import annotations

from specc.graph import GraphBuilder, Value
from specc.lazy_numpy import np
from specc.types import FLOAT, INT64

# The graph input holding the step counter in a training graph (int64 scalar).
RANDOM_STEP = "specc.random_step"
# The row of the global batch where a training graph's batch starts (int64 scalar): a
# constant 0 in one process; a data-parallel worker's gradient graph takes it as an input,
# so that its shard draws what the same rows draw in one process on the whole batch.
RANDOM_ROW = "specc.random_row"

_UINT64 = 13  # onnx.TensorProto.UINT64
_HALF = 32  # bits in half a lane
_TOP = 40  # a 64-bit lane shifted right by this keeps its top 24 bits
_UNIT = 2.0**-24


def stream_key(stream: int, lane: int = 0) -> int:
    """The generator's key for ``stream`` (lane k for a draw that needs several), as the
    int64 with the key's bits; odd, as Squares requires."""
    state = np.random.SeedSequence([stream % 2**64, lane]).generate_state(1, np.uint64)[0]
    return int(np.array(state | np.uint64(1), np.uint64).view(np.int64))


def element_index(b: GraphBuilder, shape: Value) -> Value:
    """0, 1, 2, ... in ``shape`` (row-major), int64: the index each element draws at."""
    size = b.op("ReduceProd", shape, keepdims=0)
    zero, one = (b.constant(v, np.int64, hint=h) for v, h in ((0, "zero"), (1, "one")))
    return b.op("Reshape", b.op("Range", zero, size, one), shape)


def _global_index(b: GraphBuilder, index: Value) -> Value:
    """``index`` (batch axis first) moved by ``RANDOM_ROW`` rows, in a training graph; an
    inference graph draws nothing and keeps it."""
    if RANDOM_STEP not in dict(b.graph.inputs):
        return index
    if RANDOM_ROW not in b.graph.initializers:
        b.constant(0, np.int64, name=RANDOM_ROW)
    rows = b.op("Gather", b.op("Shape", index), b.constant(0, np.int64, hint="zero"), axis=0)
    per_row = b.op("Div", b.op("Size", index), rows)
    return b.op("Add", index, b.op("Mul", Value(RANDOM_ROW), per_row))


def _high_bits(b: GraphBuilder, x: Value, shift: int) -> Value:
    """``x`` (int64) read as unsigned and shifted right by ``shift``, as int64."""
    unsigned = b.op("Cast", x, to=_UINT64)
    bits = b.constant(shift, np.uint64, hint="shift")
    return b.op("Cast", b.op("BitShift", unsigned, bits, direction="RIGHT"), to=INT64)


def _round(b: GraphBuilder, x: Value, add: Value) -> Value:
    """x * x + add, halves swapped (the low half moves up by a multiply: it wraps)."""
    x = b.op("Add", b.op("Mul", x, x), add)
    low_up = b.op("Mul", x, b.constant(2**_HALF, np.int64, hint="half"))
    return b.op("Add", _high_bits(b, x, _HALF), low_up)


def _top_bits(b: GraphBuilder, index: Value, step: Value, key: int) -> Value:
    """The top 24 of Squares' 32 random bits for each counter step * 2**32 + index,
    as float32 integers in [0, 2**24)."""
    k = b.constant(key, np.int64, hint="key")
    # ctr * key = index * key + (step * key) * 2**32: the step's part is a scalar.
    offset = b.op("Mul", b.op("Mul", step, k), b.constant(2**_HALF, np.int64, hint="half"))
    y = b.op("Add", b.op("Mul", index, k), offset)
    z = b.op("Add", y, k)
    x = _round(b, _round(b, _round(b, y, y), z), y)
    last = b.op("Add", b.op("Mul", x, x), z)
    return b.op("Cast", _high_bits(b, last, _TOP), to=FLOAT)


def uniform(b: GraphBuilder, shape: Value, step: Value, stream: int) -> Value:
    """float32 uniform in [0, 1) in ``shape`` (int64 vector), a function of (stream, step,
    element index) only; ``step`` an int64 scalar."""
    return uniform_at(b, element_index(b, shape), step, stream)


def uniform_at(b: GraphBuilder, index: Value, step: Value, stream: int) -> Value:
    """``uniform`` at the element indices ``index`` (int64, any shape): a caller that can
    build them in a shape onnxruntime infers (``element_index``'s Reshape to a computed
    shape it cannot follow) keeps every later shape known."""
    bits = _top_bits(b, _global_index(b, index), step, stream_key(stream))
    return b.op("Mul", bits, b.constant(_UNIT, np.float32, hint="unit"))


def normal(b: GraphBuilder, shape: Value, step: Value, stream: int) -> Value:
    """float32 standard normal in ``shape`` by Box-Muller: sqrt(-2 ln(1 - u1)) cos(2 pi u2)
    from two uniforms (1 - u1 is in (0, 1], so the log is finite)."""
    index = _global_index(b, element_index(b, shape))
    unit = b.constant(_UNIT, np.float32, hint="unit")
    u1, u2 = (
        b.op("Mul", _top_bits(b, index, step, stream_key(stream, lane)), unit) for lane in (0, 1)
    )
    one = b.constant(1.0, np.float32, hint="one")
    log = b.op("Log", b.op("Sub", one, u1))
    radius = b.op("Sqrt", b.op("Mul", log, b.constant(-2.0, np.float32, hint="minus_two")))
    angle = b.op("Mul", u2, b.constant(2 * np.pi, np.float32, hint="two_pi"))
    return b.op("Mul", radius, b.op("Cos", angle))


# -- NumPy twin (the tests' reference) ---------------------------------------------------


def _top_bits_np(count: int, step: int, key: int) -> np.ndarray:
    with np.errstate(over="ignore"):
        k = np.uint64(key % 2**64)
        ctr = np.uint64(step % 2**32) * np.uint64(2**_HALF) + np.arange(count, dtype=np.uint64)
        y = ctr * k
        z = y + k
        x = y
        for add in (y, z, y):
            x = x * x + add
            x = (x >> np.uint64(_HALF)) | (x << np.uint64(_HALF))
        return ((x * x + z) >> np.uint64(_TOP)).astype(np.float32)


def uniform_np(shape: tuple[int, ...], step: int, stream: int) -> np.ndarray:
    """What ``uniform`` computes, in NumPy."""
    count = int(np.prod(shape))
    bits = _top_bits_np(count, step, stream_key(stream))
    return (bits * np.float32(_UNIT)).reshape(shape)


def normal_np(shape: tuple[int, ...], step: int, stream: int) -> np.ndarray:
    """What ``normal`` computes, in NumPy (float32 throughout)."""
    count = int(np.prod(shape))
    u1, u2 = (_top_bits_np(count, step, stream_key(stream, k)) * np.float32(_UNIT) for k in (0, 1))
    radius = np.sqrt(np.log(np.float32(1) - u1) * np.float32(-2))
    return (radius * np.cos(u2 * np.float32(2 * np.pi))).reshape(shape)
