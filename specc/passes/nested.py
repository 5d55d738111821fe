"""Sub-models (the spec's ``models``) inlined into the graph that applies them.

A ``{name: enc_a, model: encoder, inputs: [a]}`` entry becomes the sub-model's layer nodes,
renamed ``enc_a/<layer>`` and owning their weights as ``encoder/<layer>``: every use of one
sub-model reads the same weights (``encoder/dense/kernel``), so training sums a shared
weight's gradient over the uses, as Keras does for a model called twice. Each use is then
typed by shape inference on its own inputs, so a sub-model with variable dimensions may be
applied to inputs of different shapes. References to the use (``enc_a``, ``enc_a[1]``) are
aliases of the sub-model's outputs inside it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from specc.diagnostics import DiagnosticSink, SpecError, SpecPath, did_you_mean
from specc.passes.resolve import ANY_INPUT, LayerNode, Ref, ResolvedGraph
from specc.spec.model import InlineModel, ModelSpec, ModelUse, SubModel
from specc.types import TensorType

# Layer nodes all sub-model uses may make together (the loader's limit on a spec's layers).
MAX_INLINED = 1_000_000
UNKNOWN_MODEL = "SPC230-unknown-model"
MODEL_CYCLE = "SPC231-model-cycle"
USE_INPUT = "SPC310-model-input"


@dataclass(frozen=True)
class InlinedUse:
    """One application of a sub-model: its inputs and outputs, as references to the
    values of the flattened graph, and the input types the sub-model declares."""

    name: str
    model: str
    path: SpecPath
    inputs: list[Ref]
    declared: list[TensorType]
    outputs: list[Ref]
    # What a summary calls it: the sub-model's name, or a nested model's Keras class.
    kind: str


@dataclass
class PendingUse:
    """A ``model`` entry met while resolving a graph, inlined once every entry is known."""

    name: str
    entry: ModelUse
    index: int
    inputs: list[Ref]
    explicit_inputs: bool

    @property
    def path(self) -> SpecPath:
        return ("layers", self.index)


# ``resolve_references``, given to the sub-models (it imports this module, not the reverse).
Resolver = Callable[[ModelSpec | SubModel, "Nesting"], ResolvedGraph]


@dataclass
class Nesting:
    """The sub-models of a spec and those being resolved (to find a model that uses
    itself); each sub-model is resolved once, and its problems reported once."""

    models: dict[str, SubModel]
    resolve: Resolver
    stack: list[str] = field(default_factory=list)
    done: dict[str, ResolvedGraph | None] = field(default_factory=dict)
    # Where each model is written, relative to the graph that holds it: ``models.<name>``
    # for those of ``models``, the entry (``layers[2]``) for a nested model.
    places: dict[str, SpecPath] = field(default_factory=dict)
    # The nested models, by name, to tell a second one of a name from the same one met
    # again (a sub-model is resolved once however often it is applied).
    inline: dict[str, InlineModel] = field(default_factory=dict)

    def place(self, model: str) -> SpecPath:
        """Where model ``model`` is written (see ``places``)."""
        return self.places.get(model, ("models", model))

    def add_inline(
        self, name: str, entry: InlineModel, path: SpecPath, sink: DiagnosticSink
    ) -> ModelUse:
        """A nested model, as a sub-model of its own name applied once where it stands."""
        if name in self.models and self.inline.get(name) is not entry:
            sink.error(
                "SPC203-duplicate-name",
                f"nested model '{name}' has the name of another model; its weights would "
                f"be keyed like that model's ({name}/...)",
                (*path, "name"),
            )
        else:
            self.models[name], self.inline[name], self.places[name] = (
                entry.as_sub_model(),
                entry,
                path,
            )
        return ModelUse.model_construct(name=name, model=name, inputs=entry.inputs)

    def resolved(self, name: str, sink: DiagnosticSink) -> ResolvedGraph | None:
        """Sub-model ``name`` resolved (None when it has errors, reported to ``sink``)."""
        if name not in self.done:
            self.stack.append(name)
            try:
                self.done[name] = self.resolve(self.models[name], self)
            except SpecError as error:
                self.done[name] = None
                place = self.place(name)
                sink.extend(
                    dataclasses.replace(d, path=_placed(place, d.path)) for d in error.diagnostics
                )
            finally:
                self.stack.pop()
        return self.done[name]

    def check_unused(self, sink: DiagnosticSink) -> None:
        """Resolve the sub-models of ``models`` no entry applies, so that their problems
        are reported. (A nested model is resolved where it stands, with its place there.)"""
        for name in [name for name in self.models if name not in self.inline]:
            self.resolved(name, sink)


def check_inlined_size(spec: ModelSpec, sink: DiagnosticSink) -> None:
    """Refuse a spec whose sub-model uses would make more than ``MAX_INLINED`` layers (a
    model applying another twice, thirty levels deep, makes a billion), before any is made."""
    models = spec.models or {}
    sizes: dict[str, int] = {}

    def size(entries: list[Any], path: tuple[str, ...]) -> int:
        total = 0
        for entry in entries:
            if isinstance(entry, InlineModel):
                total += size(entry.layers, path)
            elif not isinstance(entry, ModelUse):
                total += 1
            elif entry.model in models and entry.model not in path:  # else reported later
                if entry.model not in sizes:
                    inner = (*path, entry.model)
                    sizes[entry.model] = size(models[entry.model].layers, inner)
                total += sizes[entry.model]
            if total > MAX_INLINED:
                return total
        return total

    if size(spec.layers, ()) > MAX_INLINED:
        sink.error(
            "SPC110-limit",
            f"applying the sub-models makes more than {MAX_INLINED:,} layers",
            ("layers",),
        )
        raise SpecError(sink.diagnostics)


def _placed(place: SpecPath, path: SpecPath) -> SpecPath:
    """A path inside a model at its path in the graph holding the model; a path into the
    spec's ``models`` is one from the spec's root already."""
    return path if path[:1] == ("models",) else (*place, *path)


def inline_uses(
    pending: list[PendingUse],
    nodes: dict[str, LayerNode],
    known: set[str],
    nesting: Nesting,
    sink: DiagnosticSink,
) -> tuple[dict[str, list[Ref]], list[InlinedUse]]:
    """Add each use's layer nodes to ``nodes``; return the uses' outputs by use name (as
    references into the flattened graph) and the uses. Node inputs naming a use are
    rewritten to the value it stands for."""
    aliases: dict[str, list[Ref]] = {}
    uses: list[InlinedUse] = []
    for use in pending:
        sub = _sub_model(use, known, nesting, sink)
        if sub is None:
            continue
        if len(use.inputs) != len(sub.inputs):
            sink.error(
                "SPC208-input-count",
                f"model '{use.entry.model}' applied as '{use.name}' takes "
                f"{len(sub.inputs)} input(s); got {len(use.inputs)}",
                (*use.path, "inputs") if use.explicit_inputs else use.path,
            )
            continue
        outer = dict(zip(sub.inputs, use.inputs, strict=True))
        place = nesting.place(use.entry.model)

        def renamed(ref: Ref, use: PendingUse = use, outer: dict[str, Ref] = outer) -> Ref:
            return (
                outer[ref.name] if ref.name in outer else Ref(f"{use.name}/{ref.name}", ref.index)
            )

        for node in sub.nodes:
            inner = node.use is not None  # from a deeper sub-model: owned as its weights
            nodes[f"{use.name}/{node.name}"] = dataclasses.replace(
                node,
                name=f"{use.name}/{node.name}",
                inputs=[renamed(ref) for ref in node.inputs],
                owner=node.owner if inner else f"{use.entry.model}/{node.owner}",
                # The graph's order puts a use's layers together, where the use stands.
                entry=use.index,
                use=use.name,
                at=_placed(place, node.path),
            )
        aliases[use.name] = [renamed(ref) for ref in sub.outputs]
        declared = list(sub.inputs.values())
        for inner_use in sub.uses:
            uses.append(
                dataclasses.replace(
                    inner_use,
                    name=f"{use.name}/{inner_use.name}",
                    path=_placed(place, inner_use.path),
                    inputs=[renamed(r) for r in inner_use.inputs],
                    outputs=[renamed(r) for r in inner_use.outputs],
                )
            )
        model = use.entry.model
        kind = nesting.inline[model].type if model in nesting.inline else model
        outputs = aliases[use.name]
        uses.append(InlinedUse(use.name, model, use.path, use.inputs, declared, outputs, kind))
    _follow_aliases(nodes, aliases, uses, sink)
    return aliases, uses


def _sub_model(
    use: PendingUse, known: set[str], nesting: Nesting, sink: DiagnosticSink
) -> ResolvedGraph | None:
    """The resolved sub-model ``use`` applies, or None after reporting why not."""
    for k, ref in enumerate(use.inputs):
        if ref.name not in known:
            at = (*use.path, "inputs", k) if isinstance(use.entry.inputs, list) else use.path
            if use.explicit_inputs and not isinstance(use.entry.inputs, list):
                at = (*use.path, "inputs")
            sink.error(
                "SPC201-unknown-reference",
                f"'{use.name}' takes input '{ref}', which is not defined"
                + did_you_mean(ref.name, sorted(known)),
                at,
            )
            return None
    model = use.entry.model
    if model not in nesting.models:
        sink.error(
            UNKNOWN_MODEL,
            f"'{use.name}' applies model '{model}', which is not in 'models'"
            + did_you_mean(model, sorted(nesting.models)),
            (*use.path, "model"),
        )
        return None
    if model in nesting.stack:
        loop = [*nesting.stack[nesting.stack.index(model) :], model]
        sink.error(
            MODEL_CYCLE,
            "a model cannot use itself: " + " -> ".join(loop),
            (*use.path, "model"),
        )
        return None
    return nesting.resolved(model, sink)


def _follow_aliases(
    nodes: dict[str, LayerNode],
    aliases: dict[str, list[Ref]],
    uses: list[InlinedUse],
    sink: DiagnosticSink,
) -> None:
    """Point every reference to a use at the value it stands for: a node inside the use,
    or (for an output that is the sub-model's input) what the use was given."""

    def follow(ref: Ref, where: Callable[[], SpecPath]) -> Ref | None:
        for _ in range(len(aliases) + 1):  # a chain visits each use at most once
            if ref.name not in aliases:
                return ref
            outputs = aliases[ref.name]
            if ref.index >= len(outputs):
                sink.error(
                    "SPC302-no-such-output",
                    f"'{ref.name}' has {len(outputs)} output(s); '{ref}' does not exist",
                    where(),
                )
                return None
            ref = outputs[ref.index]
        return None

    for name, refs in aliases.items():
        aliases[name] = [r for r in (follow(ref, lambda: ()) for ref in refs) if r is not None]
    for node in nodes.values():
        followed = [follow(ref, lambda node=node: node.inputs_path) for ref in node.inputs]
        node.inputs = [r for r in followed if r is not None]
    for k, use in enumerate(uses):
        inputs = [follow(ref, lambda use=use: use.path) for ref in use.inputs]
        uses[k] = dataclasses.replace(use, inputs=[r for r in inputs if r is not None])


def check_use_types(
    uses: list[InlinedUse], types: dict[str, list[TensorType]], sink: DiagnosticSink
) -> None:
    """Each use's inputs against the input shapes its sub-model declares (a null dimension
    takes any size), and the use's outputs made known under its name."""
    for use in uses:
        for k, (ref, declared) in enumerate(zip(use.inputs, use.declared, strict=True)):
            if ref.name not in types or declared is ANY_INPUT:
                continue
            given = types[ref.name][ref.index]
            if not _fits(given, declared):
                sink.error(
                    USE_INPUT,
                    f"model '{use.model}' applied as '{use.name}': input {k} is {given}, "
                    f"but the model declares {declared}",
                    (*use.path, "inputs"),
                )
        if all(ref.name in types for ref in use.outputs):
            types[use.name] = [types[ref.name][ref.index] for ref in use.outputs]


def _fits(given: TensorType, declared: TensorType) -> bool:
    if given.dtype != declared.dtype or len(given.shape) != len(declared.shape):
        return False
    return all(d is None or g == d for g, d in zip(given.shape, declared.shape, strict=True))


@dataclass(frozen=True)
class TopEntry:
    """A layer of the spec's own ``layers``, or a sub-model use shown as one (as Keras's
    summary and plot show a nested model): its name, its kind (the layer type, or the
    sub-model's name), its inputs as the spec names them, and the weight owners it holds."""

    name: str
    kind: str
    layer: object | None  # the layer, for a layer entry
    inputs: list[Ref]
    owners: list[str]


def top_entries(graph: ResolvedGraph) -> list[TopEntry]:
    """The spec's entries in an order where each comes after its inputs."""
    uses = {use.name: use for use in graph.uses if use.name in graph.aliases}
    # A value computed inside a use is shown as the use's output, as the spec names it.
    shown = {ref: Ref(use.name, k) for use in uses.values() for k, ref in enumerate(use.outputs)}
    owners: dict[str, list[str]] = {}
    for node in graph.nodes:
        held = owners.setdefault(node.use or node.name, [])
        if node.owner not in held:
            held.append(node.owner)
    entries: list[TopEntry] = []
    for node in graph.nodes:
        name = node.use or node.name
        if name not in owners:
            continue
        use = uses.get(name) if node.use is not None else None
        inputs = use.inputs if use is not None else node.inputs
        kind = use.kind if use is not None else node.layer.type_name()
        layer = None if use is not None else node.layer
        refs = [shown.get(ref, ref) for ref in inputs]
        entries.append(TopEntry(name, kind, layer, refs, owners.pop(name)))
    return _after_inputs(entries) if uses else entries


def _after_inputs(entries: list[TopEntry]) -> list[TopEntry]:
    """``entries`` reordered so that each follows the entries it reads (a use's inputs
    may come after its first layer), keeping their order otherwise."""
    by_name = {entry.name: entry for entry in entries}
    placed: set[str] = set()
    order: list[TopEntry] = []
    for root in entries:
        # A use fed by its own output through other layers is a loop once collapsed
        # (the flattened graph has none): an entry on the path is not entered again.
        on_path = {root.name}
        stack = [(root, iter(root.inputs))]
        while stack:
            entry, pending = stack[-1]
            ref = next(pending, None)
            if ref is None:
                stack.pop()
                on_path.discard(entry.name)
                if entry.name not in placed:
                    placed.add(entry.name)
                    order.append(entry)
            elif ref.name in by_name and ref.name not in placed | on_path:
                source = by_name[ref.name]
                on_path.add(source.name)
                stack.append((source, iter(source.inputs)))
    return order
