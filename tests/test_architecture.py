"""The package layers of docs/architecture.md, held over the import graph.

Every module of specc belongs to one layer; a module imports from its own layer and the
layers below it, never from one above (function-level and type-checking imports
included). The test reads the source, so it sees the imports that run only on some paths.
"""

from __future__ import annotations

import ast
from fnmatch import fnmatchcase
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Top to bottom, as docs/architecture.md draws them. Patterns are module names.
LAYERS: list[tuple[str, list[str]]] = [
    ("cli", ["specc.cli", "specc.cli.*"]),
    ("tune", ["specc.tune", "specc.tune.*"]),
    ("import", ["specc.importer", "specc.importer.*"]),
    ("emit", ["specc.emit", "specc.emit.*"]),
    ("train", ["specc.train", "specc.train.*"]),
    ("distributed", ["specc.distributed", "specc.distributed.*"]),
    (
        "compiler",
        [
            "specc.pipeline",
            "specc.check_passes",
            "specc.trace",
            "specc.summary",
            "specc.schema",
            "specc.schema_*",
            "specc.catalog",
            "specc.model_layout",
            "specc.plot_model",
            "specc.format*",
        ],
    ),
    ("passes", ["specc.passes", "specc.passes.*"]),
    ("spec", ["specc.spec", "specc.spec.*"]),
    ("layers", ["specc.layers", "specc.layers.*"]),
    (
        "registries",
        [
            "specc.registry",
            "specc.registry_source",
            "specc.fields",
            "specc.activations",
            "specc.initializers",
            "specc.regularizers",
            "specc.constraints",
            "specc.schedules",
            "specc.losses",
            "specc.losses.*",
            "specc.metrics",
            "specc.metrics.*",
            "specc.optimizers",
            "specc.optimizers.*",
            "specc.callbacks",
            "specc.callbacks.*",
            "specc.lambda_*",
        ],
    ),
    ("autodiff", ["specc.autodiff", "specc.autodiff.*"]),
    (
        "foundation",
        [
            "specc",
            "specc.graph",
            "specc.types",
            "specc.lazy_numpy",
            "specc.onnx_model",
            "specc.weights",
            "specc.npz",
            "specc.diagnostics",
            "specc.escape",
            "specc.atomic",
            "specc.limits",
            "specc.random_ops",
            "specc.plotting",
            "specc.history_file",
            "specc.plot_history",
            "specc.generated_file",
        ],
    ),
]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[0] == "cli":  # installed as specc.cli
        parts.insert(0, "specc")
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    files = [*ROOT.glob("specc/**/*.py"), *ROOT.glob("cli/**/*.py")]
    return {_module_name(path): path for path in sorted(files)}


def layer_of(module: str) -> int:
    """The index of ``module``'s layer in ``LAYERS`` (0 is the top)."""
    for index, (_, patterns) in enumerate(LAYERS):
        if any(fnmatchcase(module, pattern) for pattern in patterns):
            return index
    raise LookupError(module)


def _imports(path: Path, module: str) -> list[tuple[str, int]]:
    """(imported specc module, line) for every import in the file, relative ones resolved."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.append((base, node.lineno))
            # ``from specc import train`` imports the package ``specc.train``.
            found += [(f"{base}.{alias.name}", node.lineno) for alias in node.names]
    return [(name, line) for name, line in found if name.split(".")[0] == "specc"]


def _known(name: str, modules: dict[str, Path]) -> str | None:
    """The longest prefix of ``name`` that is a specc module (a name may end in a class)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def upward_imports() -> list[str]:
    """Every import of a module from a higher layer, as ``file:line: a (layer) -> b (layer)``."""
    modules = _modules()
    found = []
    for module, path in modules.items():
        own = layer_of(module)
        for name, line in _imports(path, module):
            target = _known(name, modules)
            if target is None or target == module:
                continue
            if layer_of(target) < own:
                where = f"{path.relative_to(ROOT)}:{line}"
                found.append(
                    f"{where}: {module} ({LAYERS[own][0]}) imports {target} "
                    f"({LAYERS[layer_of(target)][0]})"
                )
    return sorted(set(found))


def test_every_module_has_a_layer() -> None:
    unplaced = []
    for module in _modules():
        try:
            layer_of(module)
        except LookupError:
            unplaced.append(module)
    assert not unplaced, f"add these modules to a layer in LAYERS: {unplaced}"


def test_no_module_imports_from_a_layer_above_it() -> None:
    problems = upward_imports()
    assert not problems, "imports against the layering:\n" + "\n".join(problems)


@pytest.mark.parametrize(
    ("module", "target", "upward"),
    [
        ("specc.train.fit", "specc.emit.web", True),
        ("specc.layers.dense", "specc.passes.layout", True),
        ("specc.emit.web", "specc.train.fit", False),
        ("specc.passes.lower", "specc.layers.base", False),
    ],
)
def test_the_check_tells_up_from_down(module: str, target: str, upward: bool) -> None:
    assert (layer_of(target) < layer_of(module)) is upward


def test_relative_and_package_imports_are_resolved(tmp_path: Path) -> None:
    source = "from . import fit\nfrom ..emit import web\nfrom specc import train\n"
    path = tmp_path / "x.py"
    path.write_text(source)
    names = {name for name, _ in _imports(path, "specc.train.x")}
    assert {"specc.train.fit", "specc.emit.web", "specc.train"} <= names
