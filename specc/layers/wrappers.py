"""Wrappers: Bidirectional and TimeDistributed, each around a nested layer mapping.

The nested ``layer`` is validated as a layer entry of its own (``AnyLayer``, bound by
``specc.layers`` once every layer type is registered), so an unknown key inside it is
reported at that key. Its weights live under Keras's sub-layer path: ``forward_lstm/kernel``
and ``backward_lstm/kernel`` inside a Bidirectional, ``dense/kernel`` inside a
TimeDistributed (the inner layer's ``name``, default its snake_case type), so weights-file
keys read ``bilstm/forward_lstm/kernel`` and ONNX parameters ``bilstm.forward_lstm.kernel``.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TypeVar

from pydantic import field_validator, model_validator

from specc.graph import Value
from specc.layers.base import LAYERS, Layer, LowerContext, ShapeError, WeightSpec
from specc.layers.layout import Placed, convert, lower_layer
from specc.layers.masks import DROP, MaskRule
from specc.layers.recurrent import Recurrent
from specc.layers.recurrent_ops import ints, reverse_time
from specc.lazy_numpy import np
from specc.types import TensorType, known_size

W = TypeVar("W")

if TYPE_CHECKING:
    # The union of every registered layer; bound at run time by specc.layers.
    AnyLayer = Layer


def sublayer_name(layer: Layer) -> str:
    """A nested layer's name: its ``name``, else its snake_case type (``lstm``)."""
    return layer.name or layer.default_name()


def sub_weights(weights: dict[str, W], prefix: str) -> dict[str, W]:
    """The weights under ``prefix/``, keyed by the inner layer's own weight names."""
    start = f"{prefix}/"
    return {k[len(start) :]: v for k, v in weights.items() if k.startswith(start)}


def prefixed(specs: list[WeightSpec], prefix: str, trainable: bool) -> list[WeightSpec]:
    """An inner layer's weights named ``prefix/<weight>``; frozen if the inner layer is."""
    return [
        dataclasses.replace(w, name=f"{prefix}/{w.name}", trainable=w.trainable and trainable)
        for w in specs
    ]


def _removeprefix(text: str, prefix: str) -> str:
    return text[len(prefix) :] if text.startswith(prefix) else text


class Wrapper(Layer):
    """Base of layers that wrap a nested layer config under ``layer``."""

    # specc.layers rebuilds every model with this marker once AnyLayer can be made.
    wraps_layer: ClassVar[bool] = True

    layer: AnyLayer

    @field_validator("layer", "backward_layer", check_fields=False)
    @classmethod
    def _plain_entry(cls, value: Layer | None) -> Layer | None:
        # The wrapper's entry says where the input comes from; the nested one cannot.
        if value is not None:
            for key in ("inputs", "input_shape", "input_dtype"):
                if getattr(value, key) is not None:
                    raise ValueError(
                        f"a wrapped layer takes no '{key}': give it to the "
                        f"{cls.type_name()} entry; got {key}={getattr(value, key)!r}"
                    )
        return value

    def inner_error(self, layer: Layer, error: ShapeError) -> ShapeError:
        """An inner layer's ShapeError, naming it, pointed at its field in ``layer`` (or at
        ``layer`` itself)."""
        field = f"layer.{error.field}" if error.field else "layer"
        return ShapeError(
            f"wrapped {layer.type_name()} layer '{sublayer_name(layer)}': {error}", field=field
        )


@LAYERS.register
class Bidirectional(Wrapper):
    """Bidirectional: y = merge(forward(x), backward(x) put back in time order), then states.

    The backward layer reads the sequence from its end; with return_sequences its outputs
    are reversed back before merging. Shapes: (batch, timesteps, features) -> the inner
    layer's output, its last axis doubled by concat (merge_mode null: both outputs),
    then the forward and the backward layer's states (return_state).
    """

    type: Literal["Bidirectional"]
    supports_masking = True  # both layers read the mask (see mask_rule)
    merge_mode: Literal["concat", "sum", "mul", "ave"] | None = "concat"
    backward_layer: AnyLayer | None = None

    @field_validator("layer", "backward_layer")
    @classmethod
    def _recurrent(cls, value: Layer | None) -> Layer | None:
        if value is not None and not isinstance(value, Recurrent):
            raise ValueError(
                "Bidirectional wraps a recurrent layer (SimpleRNN, LSTM or GRU); "
                f"got {value.type_name()}"
            )
        if isinstance(value, Recurrent) and value.activity_regularizer is not None:
            raise ValueError(
                "activity_regularizer on a layer inside Bidirectional is not supported: "
                "give it to the Bidirectional entry instead"
            )
        return value

    @model_validator(mode="after")
    def _pair(self) -> Bidirectional:
        (f_name, forward), (b_name, backward) = self.sublayers()
        if self.backward_layer is None and forward.go_backwards:
            raise ValueError(
                "Bidirectional makes its backward layer from layer with go_backwards=true, "
                "so layer needs go_backwards=false (or give a backward_layer); got true"
            )
        checks = [("go_backwards", False), ("return_sequences", True), ("return_state", True)]
        for key, same in checks:
            f, b = getattr(forward, key), getattr(backward, key)
            if (f == b) != same:
                need = "the same" if same else "different"
                raise ValueError(
                    f"layer and backward_layer need {need} {key}; "
                    f"got {str(f).lower()} and {str(b).lower()}"
                )
        if f_name == b_name:
            raise ValueError(f"layer and backward_layer need different names; got '{f_name}'")
        return self

    def sublayers(self) -> list[tuple[str, Recurrent]]:
        """(name, layer) of the forward and the backward layer, as Keras makes them."""
        assert isinstance(self.layer, Recurrent)
        # Keras's Bidirectional sets both layers' zero_output_for_mask to return_sequences.
        zeros = {"zero_output_for_mask": self.layer.return_sequences}
        layer = self.layer.model_copy(update=zeros)
        name = sublayer_name(layer)
        forward = ("forward_" + _removeprefix(name, "forward_"), layer)
        if self.backward_layer is None:
            copy = layer.model_copy(update={"go_backwards": True})
            return [forward, ("backward_" + _removeprefix(name, "backward_"), copy)]
        assert isinstance(self.backward_layer, Recurrent)
        backward = self.backward_layer.model_copy(update=zeros)
        # Keras keeps a given backward layer's own name; unnamed, it gets the prefix.
        return [forward, (backward.name or "backward_" + backward.default_name(), backward)]

    def mask_rule(self) -> MaskRule:
        # Keras's Bidirectional.compute_mask: the mask on the sequence output(s) only.
        if not self.layer.return_sequences:  # type: ignore[attr-defined]
            return DROP
        return MaskRule("propagate", outputs=(0,) if self.merge_mode else (0, 1))

    def check_masks(self, inputs: list[TensorType], masked: list[bool]) -> None:
        for _, layer in self.sublayers():
            try:
                layer.check_masks(inputs, masked)
            except ShapeError as error:
                raise self.inner_error(layer, error) from None

    def _merged(self, f: TensorType, b: TensorType) -> list[TensorType]:
        if self.merge_mode is None:
            return [f, b]
        if self.merge_mode == "concat":
            return [TensorType("float32", (*f.shape[:-1], (f.shape[-1] or 0) + (b.shape[-1] or 0)))]
        if f.shape != b.shape:
            raise ShapeError(
                f"Bidirectional merge_mode={self.merge_mode} needs forward and backward "
                f"outputs of one shape; got {f} and {b}",
                field="merge_mode",
            )
        return [f]

    def output_types(self, inputs: list[TensorType]) -> list[TensorType]:
        types = []
        for _, layer in self.sublayers():
            try:
                types.append(layer.output_types(inputs))
            except ShapeError as error:
                raise self.inner_error(layer, error) from None
        (f, *f_states), (b, *b_states) = types
        return [*self._merged(f, b), *f_states, *b_states]

    def weights(self, inputs: list[TensorType]) -> list[WeightSpec]:
        return [
            w
            for name, layer in self.sublayers()
            for w in prefixed(layer.weights(inputs), name, layer.trainable)
        ]

    def lower(
        self,
        ctx: LowerContext,
        inputs: list[Value],
        input_types: list[TensorType],
        weights: dict[str, Value],
    ) -> list[Value]:
        b = ctx.builder
        lowered = []
        for name, layer in self.sublayers():
            try:
                lowered.append(layer.lower(ctx, inputs, input_types, sub_weights(weights, name)))
            except ShapeError as error:  # a lowering's refusal (a masked LSTM's states)
                raise self.inner_error(layer, error) from None
        (f, *f_states), (y, *b_states) = lowered
        if self.layer.return_sequences:  # type: ignore[attr-defined]
            y = reverse_time(b, y, input_types[0].shape[0], axis=1)
        if self.merge_mode is None:
            merged = [f, y]
        elif self.merge_mode == "concat":
            merged = [b.op("Concat", f, y, axis=-1)]
        elif self.merge_mode == "sum":
            merged = [b.op("Add", f, y)]
        elif self.merge_mode == "mul":
            merged = [b.op("Mul", f, y)]
        else:
            half = b.constant(0.5, np.float32, hint="half")
            merged = [b.op("Mul", b.op("Add", f, y), half)]
        return [*merged, *f_states, *b_states]

    def reference(
        self,
        inputs: list[np.ndarray],
        weights: dict[str, np.ndarray],
        mask: np.ndarray | None = None,
    ) -> list[np.ndarray]:
        """Both layers' references, merged; ``mask`` as ``Recurrent.reference`` reads it."""
        (f, *f_states), (y, *b_states) = [
            layer.reference(inputs, sub_weights(weights, name), mask)
            for name, layer in self.sublayers()
        ]
        if self.layer.return_sequences:  # type: ignore[attr-defined]
            y = y[:, ::-1]
        merge = {
            "concat": lambda: [np.concatenate([f, y], axis=-1)],
            "sum": lambda: [f + y],
            "mul": lambda: [f * y],
            "ave": lambda: [(f + y) / 2],
            None: lambda: [f, y],
        }
        return [*merge[self.merge_mode](), *f_states, *b_states]

    @classmethod
    def examples(cls) -> list[tuple[dict[str, Any], list[TensorType]]]:
        seq, var = TensorType("float32", (4, 3)), TensorType("float32", (None, 3))
        lstm = {"type": "LSTM", "units": 2}
        gru = {"type": "GRU", "units": 2, "return_sequences": True}
        rnn = {"type": "SimpleRNN", "units": 3, "return_sequences": True}
        backward = {**gru, "units": 3, "go_backwards": True}
        return [
            ({"layer": {**lstm, "units": 3}}, [seq]),
            ({"merge_mode": "sum", "layer": gru}, [var]),
            ({"merge_mode": "mul", "layer": rnn}, [seq]),
            ({"merge_mode": "ave", "layer": {**lstm, "return_state": True, "name": "enc"}}, [var]),
            ({"layer": {**lstm, "return_sequences": True}, "backward_layer": backward}, [seq]),
            # merge_mode null is tested in tests/test_layers_wrappers.py: the generic
            # gradient check differentiates output 0 only, which no backward weight reaches.
        ]


@LAYERS.register
class TimeDistributed(Wrapper):
    """TimeDistributed: y[:, t] = layer(x[:, t]) for every time step t, with one set of weights.

    Shapes: (batch, timesteps, *rest) -> (batch, timesteps, *the layer's output shape).
    """

    type: Literal["TimeDistributed"]
    supports_masking = True  # the (batch, timesteps) mask passes on

    def _child(self, x: TensorType) -> TensorType:
        if len(x.shape) < 2:
            raise ShapeError(
                f"TimeDistributed needs an input of rank >= 3 (batch, timesteps, ...); got {x}"
            )
        return x.with_shape(x.shape[1:])

    def output_types(self, inputs: list[TensorType]) -> list[TensorType]:
        (x,) = inputs
        try:
            outputs = self.layer.output_types([self._child(x)])
        except ShapeError as error:
            raise self.inner_error(self.layer, error) from None
        if len(outputs) != 1:
            raise ShapeError(
                f"TimeDistributed needs a layer with one output; its {self.layer.type_name()} "
                f"has {len(outputs)} (e.g. return_state)",
                field="layer",
            )
        (y,) = outputs
        return [y.with_shape((x.shape[0], *y.shape))]

    def weights(self, inputs: list[TensorType]) -> list[WeightSpec]:
        specs = self.layer.weights([self._child(inputs[0])])
        return prefixed(specs, sublayer_name(self.layer), self.layer.trainable)

    def work_values(self, inputs: list[TensorType]) -> list[tuple[str, TensorType]]:
        # The layer runs on every time step at once: its values gain the time axis.
        (x,) = inputs
        inner = self.layer.work_values([self._child(x)])
        return [(w, v.with_shape((x.shape[0], *v.shape)) if v.batched else v) for w, v in inner]

    def lower(
        self,
        ctx: LowerContext,
        inputs: list[Value],
        input_types: list[TensorType],
        weights: dict[str, Value],
    ) -> list[Value]:
        b, x, t = ctx.builder, inputs[0], input_types[0]
        child = self._child(t)
        # Batch and time merge into one axis; the rest of the shape stays.
        if known_size(child.shape) is not None:
            merged = b.constant(ints([-1, *child.shape]), np.int64, hint="shape")
        else:
            rest = b.op("Shape", x, start=2)
            merged = b.op("Concat", b.constant(ints([-1]), np.int64, hint="dims"), rest, axis=0)
        flat = b.op("Reshape", x, merged)
        sub = sub_weights(weights, sublayer_name(self.layer))
        # The (batch, timesteps) mask does not fit the inner layer's (batch * timesteps,
        # ...) input (Keras hands it one (batch,) column per step, which the layers that
        # read masks cannot take either): the inner layer sees none.
        masks, ctx.input_masks = ctx.input_masks, []
        (placed,) = lower_layer(ctx, self.layer, [Placed(flat)], [child], sub)
        ctx.input_masks = masks
        y = convert(b, placed, None)
        (y_type,) = self.layer.output_types([child])
        batch_time = b.op("Shape", x, start=0, end=2)
        if known_size(y_type.shape) is not None:
            tail = b.constant(ints(list(y_type.shape)), np.int64, hint="dims")
        else:
            tail = b.op("Shape", y, start=1)
        return [b.op("Reshape", y, b.op("Concat", batch_time, tail, axis=0))]

    def reference(
        self, inputs: list[np.ndarray], weights: dict[str, np.ndarray]
    ) -> list[np.ndarray]:
        x = inputs[0]
        flat = x.reshape(x.shape[0] * x.shape[1], *x.shape[2:])
        (y,) = self.layer.reference([flat], sub_weights(weights, sublayer_name(self.layer)))
        y = np.asarray(y)
        return [y.reshape(x.shape[0], x.shape[1], *y.shape[1:])]

    @classmethod
    def examples(cls) -> list[tuple[dict[str, Any], list[TensorType]]]:
        return [
            ({"layer": {"type": "Dense", "units": 3}}, [TensorType("float32", (4, 5))]),
            (
                {"layer": {"type": "Dense", "units": 2, "activation": "tanh", "name": "proj"}},
                [TensorType("float32", (None, 2, 3))],
            ),
            (
                {"layer": {"type": "LSTM", "units": 2}},
                [TensorType("float32", (3, None, 2))],
            ),
        ]
