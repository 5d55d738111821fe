"""resolve_references: from a validated spec to a graph of named layer applications.

Fills in Keras's default names and default inputs, expands the sequential shorthand, and
reports missing references, duplicate names, cycles, unused inputs and outputs that are
not layers, all at once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from specc.diagnostics import DiagnosticSink, SpecError, SpecPath, did_you_mean
from specc.layers.base import Layer
from specc.spec.model import InlineModel, ModelSpec, ModelUse, SharedLayer, SubModel
from specc.types import TensorType

if TYPE_CHECKING:
    from specc.passes.nested import InlinedUse, Nesting, PendingUse

SEQUENTIAL_INPUT = "input_layer"
# The input of a nested Sequential with no input_shape: it takes the type of what it is
# applied to, as Keras builds one on its first call.
ANY_INPUT = TensorType("any", ())


@dataclass(frozen=True)
class Ref:
    """A reference to output ``index`` of node or input ``name``."""

    name: str
    index: int = 0

    def __str__(self) -> str:
        return self.name if self.index == 0 else f"{self.name}[{self.index}]"


@dataclass
class LayerNode:
    """One application of a layer: its config, where its inputs come from, whose weights."""

    name: str
    layer: Layer
    inputs: list[Ref]
    entry: int  # index in the spec's ``layers`` list, for error paths
    owner: str  # the entry that owns the weights (itself unless it ``shares``)
    explicit_inputs: bool
    # The sub-model use this node was inlined for (see ``specc.passes.nested``), and its
    # entry's path inside ``models``.
    use: str | None = None
    at: SpecPath | None = None

    @property
    def path(self) -> SpecPath:
        """The spec path of this node's entry."""
        return self.at if self.at is not None else ("layers", self.entry)

    @property
    def inputs_path(self) -> SpecPath:
        """Where to point for a problem with this node's inputs."""
        return (*self.path, "inputs") if self.explicit_inputs else self.path


@dataclass
class ResolvedGraph:
    """Inputs, layer nodes in topological order, and outputs of a spec."""

    spec: ModelSpec | SubModel
    inputs: dict[str, TensorType]
    nodes: list[LayerNode]
    outputs: list[Ref]
    input_paths: dict[str, SpecPath] = field(default_factory=dict)
    # The sub-model uses inlined into ``nodes``, and what each use's name stands for.
    uses: list[InlinedUse] = field(default_factory=list)
    aliases: dict[str, list[Ref]] = field(default_factory=dict)

    def value_of(self, ref: Ref) -> Ref:
        """The node output or input ``ref`` names: a use's output is one inside it."""
        return self.aliases[ref.name][ref.index] if ref.name in self.aliases else ref

    @property
    def model_name(self) -> str:
        """The spec's name, or Keras's default for its kind of model."""
        if self.spec.name is not None:
            return self.spec.name
        return "sequential" if self.spec.inputs is None else "functional"

    @cached_property
    def nodes_by_name(self) -> dict[str, LayerNode]:
        """The nodes, by name."""
        return {n.name: n for n in self.nodes}

    @cached_property
    def owning_nodes(self) -> set[str]:
        """The nodes that hold their weights' owners' weights: the owner's own node, or
        for a sub-model's layer (owner ``encoder/dense``) the node of its first use."""
        first: dict[str, str] = {}
        for node in self.nodes:
            first.setdefault(node.owner, node.name)
        return {owner if owner in self.nodes_by_name else n for owner, n in first.items()}

    def node(self, name: str) -> LayerNode:
        """The node called ``name``."""
        return self.nodes_by_name[name]


def parse_reference(text: str) -> Ref:
    """``"lstm[2]"`` -> ``Ref("lstm", 2)``; ``"dense"`` -> ``Ref("dense", 0)``."""
    # Sliced rather than matched: a lazy regular expression retries every split of the
    # name, and this runs once per layer.
    if text.endswith("]"):
        name, bracket, index = text[:-1].rpartition("[")
        if name and bracket and index.isascii() and index.isdigit():
            return Ref(name, int(index))
    return Ref(text)


def _as_list(value: str | list[str] | None) -> list[str] | None:
    return [value] if isinstance(value, str) else value


def _input_types(spec: ModelSpec, sink: DiagnosticSink) -> dict[str, TensorType]:
    sequential = spec.inputs is None
    for i, entry in enumerate(spec.layers):
        if not isinstance(entry, Layer) or (sequential and i == 0):
            continue
        for key in ("input_shape", "input_dtype"):
            if getattr(entry, key) is not None:
                where = "under 'inputs'" if not sequential else "on the first layer only"
                sink.error(
                    "SPC204-input-shape",
                    f"{key} belongs only on the first layer of a spec without 'inputs'; "
                    f"declare it {where}",
                    ("layers", i, key),
                )
    if spec.inputs is not None:
        return {n: TensorType(s.dtype, tuple(s.shape)) for n, s in spec.inputs.items()}
    first = spec.layers[0]
    if isinstance(spec, SubModel) and (not isinstance(first, Layer) or first.input_shape is None):
        return {SEQUENTIAL_INPUT: ANY_INPUT}
    if not isinstance(first, Layer) or first.input_shape is None:
        sink.error(
            "SPC202-no-input",
            "the spec has no 'inputs', so its first layer needs input_shape "
            "(e.g. input_shape: [16])",
            ("layers", 0),
        )
        return {}
    return {SEQUENTIAL_INPUT: TensorType(first.input_dtype or "float32", tuple(first.input_shape))}


def _assign_names(spec: ModelSpec, taken: set[str]) -> list[str]:
    # Keras names unnamed layers <snake_type>, then <snake_type>_1, _2, ... in order.
    names: list[str] = []
    counters: dict[str, int] = {}
    stems: dict[type, str] = {}  # a 100k-layer stack has a handful of types
    for entry in spec.layers:
        if entry.name is not None:
            names.append(entry.name)
            continue
        assert isinstance(entry, Layer)  # a shared entry's name is required by the schema
        stem = stems.get(type(entry)) or stems.setdefault(type(entry), entry.default_name())
        k = counters.get(stem, 0)
        candidate = stem if k == 0 else f"{stem}_{k}"
        while candidate in taken:
            k += 1
            candidate = f"{stem}_{k}"
        counters[stem] = k + 1
        taken.add(candidate)
        names.append(candidate)
    return names


def resolve_references(spec: ModelSpec | SubModel, nesting: Nesting | None = None) -> ResolvedGraph:
    """Resolve names and references; raise ``SpecError`` listing every problem.

    ``nesting``: the spec's sub-models, when ``spec`` is one of them."""
    from specc.passes.nested import Nesting, PendingUse, check_inlined_size, inline_uses

    sink = DiagnosticSink()
    top = nesting is None
    if nesting is None:
        models = dict(spec.models or {}) if isinstance(spec, ModelSpec) else {}
        nesting = Nesting(models, resolve_references)
        if isinstance(spec, ModelSpec):
            check_inlined_size(spec, sink)
    pending: list[PendingUse] = []
    inputs = _input_types(spec, sink)
    if not inputs:
        sink.check()  # nothing downstream can be resolved without an input
    explicit = {e.name for e in spec.layers if e.name is not None}
    names = _assign_names(spec, explicit | set(inputs))

    seen: dict[str, int] = {}
    for i, name in enumerate(names):
        if name in inputs:
            sink.error(
                "SPC203-duplicate-name",
                f"layer name '{name}' is also an input's name",
                ("layers", i, "name"),
            )
        elif name in seen:
            sink.error(
                "SPC203-duplicate-name",
                f"duplicate layer name '{name}' (also layers[{seen[name]}])",
                ("layers", i, "name"),
            )
        else:
            seen[name] = i

    entries = dict(zip(names, spec.layers, strict=True))
    nodes: dict[str, LayerNode] = {}
    # Entries already reported as broken; references to them are not reported again.
    broken: set[str] = set()
    sole_input = next(iter(inputs)) if len(inputs) == 1 else None
    layer_hints = _Hints([n for n, e in entries.items() if isinstance(e, Layer)])
    for i, (name, entry) in enumerate(zip(names, spec.layers, strict=True)):
        if name in nodes:
            continue
        owner, layer = name, entry
        if isinstance(entry, SharedLayer):
            target = entries.get(entry.shares)
            if not isinstance(target, Layer):
                what = "another shared entry" if isinstance(target, SharedLayer) else "not a layer"
                hint = layer_hints.hint(entry.shares)
                sink.error(
                    "SPC205-bad-shares",
                    f"shares '{entry.shares}' is {what}{hint if target is None else ''}",
                    ("layers", i, "shares"),
                )
                broken.add(name)
                continue
            owner, layer = entry.shares, target
        refs = _as_list(entry.inputs)
        explicit_inputs = refs is not None
        if refs is None:
            if i > 0:
                refs = [names[i - 1]]
            elif sole_input is not None:
                refs = [sole_input]
            else:
                sink.error(
                    "SPC207-no-inputs",
                    "the first layer takes no 'inputs' and the spec has several inputs; "
                    "name them with 'inputs'",
                    ("layers", i),
                )
                broken.add(name)
                continue
        if isinstance(entry, InlineModel):
            entry = nesting.add_inline(name, entry, ("layers", i), sink)
        if isinstance(entry, ModelUse):
            refs_of_use = [parse_reference(r) for r in refs]
            pending.append(PendingUse(name, entry, i, refs_of_use, explicit_inputs))
            continue
        nodes[name] = LayerNode(
            name, layer, [parse_reference(r) for r in refs], i, owner, explicit_inputs
        )

    known = set(nodes) | set(inputs) | {use.name for use in pending}
    known_hints = _Hints(known)
    for node in nodes.values():
        for k, ref in enumerate(node.inputs):
            if ref.name in broken:
                continue
            if ref.name not in known:
                at = (
                    (*node.inputs_path, k)
                    if isinstance(spec.layers[node.entry].inputs, list)
                    else node.inputs_path
                )
                sink.error(
                    "SPC201-unknown-reference",
                    f"layer '{node.name}' takes input '{ref}', which is not defined"
                    + known_hints.hint(ref.name),
                    at,
                )
            elif ref.name in inputs and ref.index != 0:
                sink.error(
                    "SPC201-unknown-reference",
                    f"input '{ref.name}' has one output; '{ref}' does not exist",
                    node.inputs_path,
                )
        _check_arity(node, sink)

    outputs = _resolve_outputs(spec, names, nodes, inputs, sink)
    sink.check()
    aliases, uses = inline_uses(pending, nodes, known, nesting, sink)
    if top:
        nesting.check_unused(sink)
    sink.check()
    order = _topological_order(nodes, inputs, sink)
    sink.check()
    used = {ref.name for n in order for ref in n.inputs}
    used |= {ref.name for refs in aliases.values() for ref in refs}
    for name in inputs:
        if name not in used:
            path = ("inputs", name) if spec.inputs is not None else ("layers", 0)
            sink.error("SPC206-unused-input", f"input '{name}' is not used by any layer", path)
    sink.check()
    input_paths = {n: ("inputs", n) for n in inputs} if spec.inputs is not None else {}
    return ResolvedGraph(spec, inputs, order, outputs, input_paths, uses, aliases)


class _Hints:
    """ "Did you mean" hints among a spec's names, within a budget of comparisons.

    Finding the nearest name compares it with every name; for a spec with 20,000 broken
    references among 20,000 layers that is 400 million comparisons. The first hints get
    the full search; once the budget is spent, only a name differing in case is found.
    """

    BUDGET = 200_000  # name comparisons: under a second

    def __init__(self, names: Iterable[str]) -> None:
        self.names = sorted(set(names))
        self.lowered = {name.lower(): name for name in self.names}
        self.spent = 0

    def hint(self, name: str) -> str:
        """The tail of an unknown-name message: ``; did you mean 'x'?`` or the choices."""
        cost = 2 * len(self.names)  # did_you_mean searches twice: as written, then lowered
        if self.spent + cost <= self.BUDGET:
            self.spent += cost
            return did_you_mean(name, self.names)
        same = self.lowered.get(name.lower())
        return f"; did you mean '{same}'?" if same is not None else ""


def _check_arity(node: LayerNode, sink: DiagnosticSink) -> None:
    count = len(node.inputs)
    low, high = node.layer.min_inputs, node.layer.max_inputs
    if count < low or (high is not None and count > high):
        if high == low:
            wanted = f"exactly {low}"
        elif high is None:
            wanted = f"at least {low}"
        else:
            wanted = f"{low} to {high}"
        sink.error(
            "SPC208-input-count",
            f"{node.layer.type_name()} layer '{node.name}' takes {wanted} input(s); got {count}",
            node.inputs_path,
        )


def _resolve_outputs(
    spec: ModelSpec,
    names: list[str],
    nodes: dict[str, LayerNode],
    inputs: dict[str, TensorType],
    sink: DiagnosticSink,
) -> list[Ref]:
    if spec.outputs is None:
        return [Ref(names[-1])]
    outputs = []
    hints = _Hints(names)
    for k, text in enumerate(spec.outputs):
        ref = parse_reference(text)
        if ref.name in inputs:
            sink.error(
                "SPC209-bad-output", f"output '{text}' is an input, not a layer", ("outputs", k)
            )
        elif ref.name not in names:  # an entry that is in names but not nodes was reported
            sink.error(
                "SPC201-unknown-reference",
                f"output '{text}' is not a layer" + hints.hint(ref.name),
                ("outputs", k),
            )
        elif ref in outputs:
            sink.error("SPC209-bad-output", f"output '{text}' is listed twice", ("outputs", k))
        outputs.append(ref)
    return outputs


def _topological_order(
    nodes: dict[str, LayerNode], inputs: dict[str, TensorType], sink: DiagnosticSink
) -> list[LayerNode]:
    """Depth-first order; a back edge is a cycle, reported with the layers on it."""
    state: dict[str, int] = {}  # 1 = on the path being explored, 2 = done
    order: list[LayerNode] = []
    reported: set[frozenset[str]] = set()

    def report(cycle: list[str]) -> None:
        if frozenset(cycle) in reported:
            return
        reported.add(frozenset(cycle))
        first = nodes[min(cycle, key=lambda n: nodes[n].entry)]
        start = cycle.index(first.name)
        # ``cycle`` runs from consumers to producers; print it in the direction data flows.
        loop = [*cycle[start:], *cycle[:start], first.name]
        sink.error(
            "SPC210-cycle",
            "the layers form a cycle: " + " -> ".join(reversed(loop)),
            first.inputs_path,
        )

    # Iterative depth-first search: a 1,000-layer stack must not hit Python's recursion limit.
    for root in sorted(nodes, key=lambda n: nodes[n].entry):
        if root in state:
            continue
        path: list[str] = [root]
        pending = [iter(nodes[root].inputs)]
        state[root] = 1
        while pending:
            ref = next(pending[-1], None)
            if ref is None:
                done = path.pop()
                pending.pop()
                state[done] = 2
                order.append(nodes[done])
            elif ref.name in nodes:
                if state.get(ref.name) == 1:
                    report(path[path.index(ref.name) :])
                elif ref.name not in state:
                    state[ref.name] = 1
                    path.append(ref.name)
                    pending.append(iter(nodes[ref.name].inputs))
    if sink.diagnostics:
        raise SpecError(sink.diagnostics)
    return order
