"""Gradients of Conv and ConvTranspose, each the other's transpose.

Conv's input gradient is a ConvTranspose of the output gradient with the same weight; its
weight gradient (``conv_weight``) the window contents times the output gradient, summed
over the batch. ConvTranspose's gradients are the same pair the other way round.
"""

from __future__ import annotations

from dataclasses import dataclass

from specc.autodiff.core import Backward, vjp
from specc.autodiff.rules.conv_weight import weight_gradient
from specc.graph import Value

Grads = list[Value | None]


@dataclass(frozen=True)
class Windows:
    """A Conv's or pool's sliding windows along each spatial axis, pads made explicit."""

    kernel: list[int]
    strides: list[int]
    dilations: list[int]
    begin: list[int]
    end: list[int]

    @property
    def reach(self) -> list[int]:
        """How many input entries one window spans: (k - 1) * dilation + 1."""
        return [(k - 1) * dl + 1 for k, dl in zip(self.kernel, self.dilations, strict=True)]

    @property
    def pads(self) -> list[int]:
        return [*self.begin, *self.end]


def windows(d: Backward, x: Value, kernel: list[int]) -> Windows:
    """The windows of ``d``'s node over input ``x`` (N, C, *spatial).

    ``auto_pad`` SAME_* is turned into explicit pads from the static input sizes, as the
    ONNX spec computes them (the extra entry at the end for SAME_UPPER, the start for
    SAME_LOWER); an input size known only at run time makes it an error.
    """
    m = len(kernel)
    strides = list(d.attr("strides", [1] * m))
    dilations = list(d.attr("dilations", [1] * m))
    auto_pad = d.attr("auto_pad", "NOTSET")
    auto_pad = auto_pad.decode() if isinstance(auto_pad, bytes) else auto_pad
    if auto_pad == "VALID":
        pads = [0] * (2 * m)
    elif auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        sizes = d.shape(x)[2:]
        if any(n is None for n in sizes):
            raise NotImplementedError(
                f"{d.node.op_type} '{d.node.name}': auto_pad={auto_pad} needs static spatial "
                f"sizes for its gradient; got input shape {d.shape(x)}"
            )
        begin, end = [], []
        for n, k, s, dl in zip(sizes, kernel, strides, dilations, strict=True):
            assert n is not None
            total = max((-(-n // s) - 1) * s + (k - 1) * dl + 1 - n, 0)
            small = total // 2
            begin.append(small if auto_pad == "SAME_UPPER" else total - small)
            end.append(total - begin[-1])
        pads = [*begin, *end]
    else:
        pads = list(d.attr("pads", [0] * (2 * m)))
    return Windows(list(kernel), strides, dilations, pads[:m], pads[m:])


def spatial_kernel(d: Backward, weight: Value) -> list[int]:
    """``kernel_shape``, or the weight's spatial sizes where the attribute is left out."""
    given = d.attr("kernel_shape")
    if given is not None:
        return list(given)
    sizes = d.shape(weight)[2:]
    if any(k is None for k in sizes):
        raise ValueError(f"{d.node.op_type} '{d.node.name}': the kernel size is unknown")
    return [int(k) for k in sizes if k is not None]


def transpose_to_input(
    d: Backward, gy: Value, weight: Value, w: Windows, group: int, x: Value
) -> Value:
    """The ConvTranspose of ``gy`` by ``weight`` over ``w``, sized exactly like ``x``.

    A ConvTranspose covers (out - 1) * stride + reach entries of the padded input; the
    r = (n + pads - reach) % stride entries past the last window read nothing, so they get
    zeros: as output_padding where the sizes are static, else padded at run time.

    (A Conv of the padded gradient by the flipped kernel computes the same, in twice the
    time on onnxruntime 1.32: 24.3 against 12.7 ms for a 3x3 Conv2D 32 -> 64 over 26x26,
    batch 64, one thread; on two threads 47.8 against 37.3 CPU ms. So did one
    ConvTranspose of the whole batch stacked along the height, two zero rows between
    samples, so that their windows never meet: 27.7 against 13.3 CPU ms, one thread.)
    """
    sizes, outs = d.shape(x)[2:], d.shape(d.y(0))[2:]
    attrs = {"strides": w.strides, "dilations": w.dilations, "group": group}
    if all(n is not None for n in (*sizes, *outs)):
        extra = [
            n + lo + hi - ((o - 1) * s + r)  # type: ignore[operator]
            for n, o, s, r, lo, hi in zip(
                sizes, outs, w.strides, w.reach, w.begin, w.end, strict=True
            )
        ]
        # A negative remainder (a pool's ceil_mode window past the end) is cropped instead.
        end = [hi - min(e, 0) for hi, e in zip(w.end, extra, strict=True)]
        padding = [max(e, 0) for e in extra]
        return d.op(
            "ConvTranspose", gy, weight, pads=[*w.begin, *end], output_padding=padding, **attrs
        )
    back = d.op("ConvTranspose", gy, weight, pads=w.pads, **attrs)
    short = d.op("Sub", d.op("Shape", x, start=2), d.op("Shape", back, start=2))
    pads = d.op("Concat", d.ints([0] * (len(sizes) + 4), "pads"), short, axis=0)
    return d.op("Pad", back, pads)


def _bias_gradient(d: Backward, gy: Value) -> Value:
    return d.sum_axes(gy, [0, *range(2, d.rank(d.y(0)))], keepdims=False)


def _geometry(d: Backward) -> tuple[Value, Value, int, Windows]:
    """(x, weight, group, windows) of a Conv or ConvTranspose node."""
    x, weight = d.x(0), d.x(1)
    return x, weight, int(d.attr("group", 1)), windows(d, x, spatial_kernel(d, weight))


@vjp("Conv")
def _conv(d: Backward, g: Grads) -> Grads:
    """y = Conv(x, w, b): y[n, f, o] = b[f] + sum_{c, k} x_pad[n, c, o * s + k * dl] w[f, c, k]
    (c over f's group)."""
    (gy,) = g
    assert gy is not None
    x, weight, group, w = _geometry(d)
    return [
        transpose_to_input(d, gy, weight, w, group, x) if d.wants(0) else None,
        weight_gradient(d, x, gy, w, group) if d.wants(1) else None,
        _bias_gradient(d, gy) if d.wants(2) else None,
    ]


def _conv_to_input(d: Backward, gy: Value, weight: Value, w: Windows, group: int) -> Value:
    """ConvTranspose's input gradient: the Conv of ``gy`` it transposes. That Conv covers
    n + output_padding // stride windows; the rest is cut."""
    x = d.x(0)
    gx = d.op(
        "Conv", gy, weight, pads=w.pads, strides=w.strides, dilations=w.dilations, group=group
    )
    padding = list(d.attr("output_padding", [0] * len(w.kernel)))
    if any(p >= s for p, s in zip(padding, w.strides, strict=True)):
        spatial = list(range(2, d.rank(x)))
        starts = d.ints([0] * len(spatial), "starts")
        gx = d.op("Slice", gx, starts, d.op("Shape", x, start=2), d.ints(spatial, "axes"))
    return gx


@vjp("ConvTranspose")
def _conv_transpose(d: Backward, g: Grads) -> Grads:
    """y = ConvTranspose(x, w, b): y_full[n, f, i * s + k * dl] += x[n, c, i] w[c, f, k],
    cropped by pads, plus b[f]."""
    (gy,) = g
    assert gy is not None
    auto_pad = str(d.attr("auto_pad", "NOTSET"))
    if d.attr("output_shape") is not None or auto_pad.startswith("SAME"):
        raise NotImplementedError(
            f"ConvTranspose '{d.node.name}': no gradient with output_shape or auto_pad "
            f"SAME_*; give explicit pads and output_padding; got auto_pad={auto_pad}, "
            f"output_shape={d.attr('output_shape')}"
        )
    x, weight, group, w = _geometry(d)
    # The weight gradient is that of the Conv reading gy which this ConvTranspose
    # transposes: (C, M / group, *k), already ConvTranspose's layout.
    return [
        _conv_to_input(d, gy, weight, w, group) if d.wants(0) else None,
        weight_gradient(d, gy, x, w, group) if d.wants(1) else None,
        _bias_gradient(d, gy) if d.wants(2) else None,
    ]
