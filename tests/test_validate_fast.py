"""``specc validate`` as CI and pre-commit run it: a fresh process that imports only what
checking needs, folders searched for specs, many files checked by a pool in input order."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from typer.testing import CliRunner

import specc.layers
from specc.cli import validate as validate_command
from specc.cli.app import app
from specc.cli.spec_files import spec_files
from specc.layers import LAYERS
from specc.registry_source import module_index
from tests.spec_helpers import ROOT, single_layer_spec

MLP = ROOT / "models" / "mnist_mlp.yaml"
INVALID = ROOT / "tests" / "invalid"
runner = CliRunner()

# Runs the console script's entry point in a fresh interpreter (the command and its
# arguments from the command line), then reports which modules the run imported and the
# exit code it ended with.
PROBE = """
import json, sys
from specc.cli.entry import main
sys.argv = ["specc", *sys.argv[1:]]
code = 0
try:
    main()
except SystemExit as exc:
    code = exc.code
print(json.dumps({"code": code, "modules": sorted(sys.modules)}), file=sys.stderr)
"""


def _probe(*args: str, cwd: Path = ROOT, command: str = "validate") -> tuple[int, set[str], str]:
    result = subprocess.run(
        [sys.executable, "-c", PROBE, command, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )
    report = json.loads(result.stderr.strip().splitlines()[-1])
    return report["code"], set(report["modules"]), result.stdout


def test_validate_imports_neither_onnx_nor_other_commands() -> None:
    code, modules, out = _probe(str(MLP))
    assert code == 0, out
    assert "ok (5 layers, 669,706 parameters)" in out
    for heavy in ("onnx", "onnxruntime", "specc.cli.build", "specc.cli.train", "specc.emit"):
        assert heavy not in modules
    # Only the layer modules the spec names (Flatten is in core.py) are imported.
    layer_modules = {m for m in modules if m.startswith("specc.layers.")}
    assert "specc.layers.dense" in layer_modules
    assert not layer_modules & {"specc.layers.conv", "specc.layers.recurrent_lstm"}


# Checks one spec in a fresh interpreter, then reports what checking it imported and which
# activations, initializers, ... it marked in use or built a validator for.
LAZY_PROBE = """
import json, sys
from specc.cli.entry import main
sys.argv = ["specc", "validate", *sys.argv[1:]]
try:
    main()
except SystemExit:
    pass
from specc.spec.field_entries import FIELD_REGISTRIES
report = {
    "modules": sorted(sys.modules),
    "in_use": {r.kind: sorted(m.__name__ for m in r.in_use()) for r in FIELD_REGISTRIES},
    "built": sorted(m.__name__ for r in FIELD_REGISTRIES for m in r if m.__pydantic_complete__),
}
print(json.dumps(report), file=sys.stderr)
"""


def test_validate_imports_no_lowering_and_builds_only_the_entries_named() -> None:
    result = subprocess.run(
        [sys.executable, "-c", LAZY_PROBE, str(ROOT / "models" / "digits_mlp.yaml")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert "ok (4 layers, 17,226 parameters)" in result.stdout, result.stdout + result.stderr
    report = json.loads(result.stderr.strip().splitlines()[-1])
    modules = set(report["modules"])
    for unneeded in ("specc.passes.lower", "specc.pipeline", "onnx", "onnxruntime", "specc.emit"):
        assert unneeded not in modules
    # The spec names relu and softmax, he_uniform and glorot_uniform; Dense's defaults add
    # zeros. Only their validators are made, inline in the spec's model: none on its own.
    assert report["in_use"] == {
        "activation": ["Relu", "Softmax"],
        "initializer": ["GlorotUniform", "HeUniform", "Zeros"],
        "regularizer": [],
        "constraint": [],
        "learning-rate schedule": [],
    }
    assert report["built"] == []


def test_checking_specs_first_leaves_the_schema_and_catalog_unchanged() -> None:
    # Checking and compiling build the models of the entries those specs name; the JSON
    # Schema and the catalog rendered afterwards must still take every entry.
    script = (
        "import sys\n"
        "from specc.catalog import CATALOG_PATH, render_catalog\n"
        "from specc.pipeline import check_spec, compile_spec\n"
        "from specc.schema import SCHEMA_PATH, render_schema\n"
        "for spec in sys.argv[1:]:\n"
        "    compile_spec(spec)\n"
        "    check_spec(spec)\n"
        "print(render_schema() == SCHEMA_PATH.read_text(encoding='utf-8'),"
        " render_catalog() == CATALOG_PATH.read_text(encoding='utf-8'))\n"
    )
    specs = [str(ROOT / "models" / name) for name in ("digits_mlp.yaml", "imdb_bilstm.yaml")]
    done = subprocess.run(
        [sys.executable, "-c", script, *specs], capture_output=True, text=True, check=True
    )
    assert done.stdout.split() == ["True", "True"]


def test_fresh_process_gives_every_expected_diagnostic() -> None:
    # tests/test_invalid_specs.py checks these in a process that may hold every layer; a
    # fresh one builds the schema from only the types each spec names, and must agree.
    cases = sorted(p for p in INVALID.iterdir() if p.suffix in {".yaml", ".yml", ".json"})
    relative = [p.relative_to(ROOT).as_posix() for p in cases]
    code, _, out = _probe("--quiet", *relative)
    assert code == 1
    expected = [
        line
        for case in cases
        for line in case.with_suffix(".expected").read_text(encoding="utf-8").splitlines()
    ]
    got = [line for line in out.splitlines() if not line.startswith("  ")]
    assert sorted(got) == sorted(line for line in expected if not line.startswith("  "))


def test_unknown_layer_type_gets_its_hint_in_a_fresh_process(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "specc: 1\nlayers:\n  - {type: Dense, units: 2, input_shape: [3]}\n  - {type: LSMT}\n"
    )
    code, modules, out = _probe(str(spec), cwd=tmp_path)
    assert code == 1
    assert "unknown layer type 'LSMT'; did you mean 'LSTM'?" in out
    # A name the source index does not know brings every layer in, so that a layer
    # registered in a way the index cannot read is never called unknown.
    assert "specc.layers.recurrent_lstm" in modules


def test_layer_index_read_from_source_matches_the_registry() -> None:
    index = module_index(specc.layers.__path__)
    LAYERS.load_all()
    assert sorted(index) == sorted(LAYERS.names())
    for name, module in index.items():
        assert LAYERS.get(name).__module__ == f"specc.layers.{module}"


COMPILED = """specc: 1
inputs:
  x: {shape: [4]}
layers:
  - {type: Dense, units: 3, activation: softmax, inputs: x}
compile:
  optimizer: {type: Adam, learning_rate: 0.01}
  loss: %s
train:
  callbacks: %s
"""
ENTRY_PACKAGES = ("losses", "metrics", "optimizers", "callbacks")


def _entry_modules(modules: set[str]) -> set[str]:
    prefixes = tuple(f"specc.{package}." for package in ENTRY_PACKAGES)
    return {m for m in modules if m.startswith(prefixes)}


def test_validate_imports_only_the_entries_a_spec_names(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(COMPILED % ("sparse_categorical_crossentropy", "[]"))
    code, modules, out = _probe(str(spec), cwd=tmp_path)
    assert code == 0, out
    # The packages' shared bases, the modules of Adam and the loss, and the callback
    # the callback checks import by name; no other loss, metric or optimizer.
    assert _entry_modules(modules) == {
        "specc.losses.base",
        "specc.losses.crossentropy",
        "specc.metrics.base",
        "specc.optimizers.base",
        "specc.optimizers.update",
        "specc.optimizers.adam",
        "specc.callbacks.base",
        "specc.callbacks.reduce_lr_on_plateau",
    }


@pytest.mark.parametrize(
    ("loss", "callbacks", "expected", "module"),
    [
        (
            "sparse_categorical_crossentropi",
            "[]",
            "unknown loss 'sparse_categorical_crossentropi'; "
            "did you mean 'sparse_categorical_crossentropy'?",
            "specc.losses.regression",
        ),
        (
            "mse",
            "[EarlyStoping]",
            "unknown callback 'EarlyStoping'; did you mean 'EarlyStopping'?",
            "specc.callbacks.early_stopping",
        ),
    ],
)
def test_unknown_entry_name_gets_its_hint_in_a_fresh_process(
    tmp_path: Path, loss: str, callbacks: str, expected: str, module: str
) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(COMPILED % (loss, callbacks))
    code, modules, out = _probe(str(spec), cwd=tmp_path)
    assert code == 1
    assert expected in out
    # A name the source index does not know brings every module of its registry in.
    assert module in modules


@pytest.mark.parametrize("package", ENTRY_PACKAGES)
def test_entry_index_read_from_source_agrees_with_the_registry(package: str) -> None:
    found = importlib.import_module(f"specc.{package}")
    registry = getattr(found, package.upper())
    index = module_index(found.__path__)
    registry.load_all()
    # Every name the index reads is registered, by the module it names; a name it
    # cannot read (the metrics made from losses) makes the registry import everything.
    assert set(index) <= set(registry.names())
    for name, module in index.items():
        assert registry.get(name).__module__ == f"specc.{package}.{module}"
    if package != "metrics":
        assert sorted(index) == sorted(registry.names())


def test_registry_order_does_not_depend_on_load_order() -> None:
    # The JSON Schema and the catalog list entries in the registry's order: a process
    # that loaded some entries first must list them as a fresh import of all would.
    script = (
        "import json, sys\n"
        "from specc.metrics import METRICS\n"
        "METRICS.load(sys.argv[1:])\n"
        "print(json.dumps([m.__name__ for m in METRICS] + METRICS.names()))\n"
    )
    orders = {
        json.dumps(names): subprocess.run(
            [sys.executable, "-c", script, *names], capture_output=True, text=True, check=True
        ).stdout
        for names in ([], ["f1_score"], ["auc", "mse"])
    }
    assert len(set(orders.values())) == 1, orders


def _tree(root: Path) -> None:
    good = MLP.read_text()
    (root / "nested" / "deeper").mkdir(parents=True)
    (root / ".hidden").mkdir()
    (root / "node_modules").mkdir()
    (root / "b.specc.yaml").write_text(good)
    (root / "a.yaml").write_text(good)  # top-level specc key: a spec
    (root / "ci.yml").write_text("on: push\njobs: {}\n")  # no specc key: skipped
    (root / "data.json").write_text('{"x": [1, 2]}')
    (root / "nested" / "model.json").write_text(json.dumps({"specc": 1, "layers": []}))
    (root / "nested" / "deeper" / "c.specc.json").write_text("{not json")  # named: checked
    (root / "nested" / "notes.txt").write_text("specc: 1\n")
    (root / ".hidden" / "x.specc.yaml").write_text(good)
    (root / "node_modules" / "y.specc.yaml").write_text(good)


def test_folder_search_takes_named_specs_and_specc_documents(tmp_path: Path) -> None:
    _tree(tmp_path)
    found = [p.relative_to(tmp_path).as_posix() for p in spec_files([tmp_path], 2**20)]
    assert found == ["a.yaml", "b.specc.yaml", "nested/model.json", "nested/deeper/c.specc.json"]


def test_validate_folder_reports_each_spec(tmp_path: Path) -> None:
    _tree(tmp_path)
    result = runner.invoke(app, ["validate", str(tmp_path)])
    assert result.exit_code == 1, result.output
    assert f"{tmp_path / 'a.yaml'}: ok" in result.output
    assert f"{tmp_path / 'nested' / 'deeper' / 'c.specc.json'}:1:2: error:" in result.output
    assert f"{tmp_path / 'nested' / 'model.json'}:1:" in result.output  # layers: []
    assert "ci.yml" not in result.output


def test_validate_empty_folder_is_a_usage_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["validate", str(tmp_path)])
    assert result.exit_code == 2
    assert "no spec files in" in result.output


def _many(root: Path, count: int) -> list[Path]:
    good = MLP.read_text()
    paths = []
    for k in range(count):
        path = root / f"m{k:03d}.yaml"
        # Every seventh spec has an error, so problems interleave with valid reports.
        path.write_text(good.replace("units: 512", "units: 0") if k % 7 == 3 else good)
        paths.append(path)
    return paths


# pytest's process runs threads of its own (onnxruntime's, from other tests); the command
# forks from one that runs only NumPy's idle BLAS workers.
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
@pytest.mark.parametrize("fmt", ["text", "json"])
def test_pool_output_equals_one_process_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str
) -> None:
    paths = [str(p) for p in _many(tmp_path, 70)]
    # Reversed order: the output follows the order given, not the names.
    args = ["validate", "--format", fmt, *reversed(paths)]
    # Thresholds lowered, so that 70 files make a pool of three.
    monkeypatch.setattr(validate_command, "POOL_MIN_FILES", 8)
    monkeypatch.setattr(validate_command, "FILES_PER_WORKER", 8)
    monkeypatch.setattr(validate_command, "_cores", lambda: 3)
    assert validate_command._workers(70) == 3
    pooled = runner.invoke(app, args)
    monkeypatch.setattr(validate_command, "_cores", lambda: 1)
    single = runner.invoke(app, args)
    assert pooled.exit_code == single.exit_code == 1
    assert pooled.output == single.output
    if fmt == "json":
        files = [f["file"] for f in json.loads(pooled.output)["files"]]
        assert files == list(reversed(paths))


def test_pool_is_used_only_for_enough_files(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(validate_command, "_cores", lambda: 8)
    assert validate_command._workers(validate_command.POOL_MIN_FILES - 1) == 1
    assert validate_command._workers(validate_command.POOL_MIN_FILES) == 2
    assert validate_command._workers(10_000) == 8


@pytest.fixture
def lazy_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """A package whose registry loads on demand: one entry registered by the decorator
    (found by the source index), one by a plain call (which the index cannot read)."""
    package = tmp_path / "specc_lazy_probe"
    package.mkdir()
    (package / "__init__.py").write_text(
        "from specc.registry import Registry\nREG = Registry('thing', package=__name__)\n"
    )
    head = "from typing import Literal\nfrom specc.registry import SpecModel\n"
    (package / "decorated.py").write_text(
        head + "from specc_lazy_probe import REG\n\n\n@REG.register\n"
        'class Alpha(SpecModel):\n    type: Literal["Alpha", "alpha"]\n'
    )
    (package / "plain.py").write_text(
        head + "from specc_lazy_probe import REG\n\n\n"
        'class Beta(SpecModel):\n    type: Literal["Beta"]\n\n\nREG.register(Beta)\n'
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield importlib.import_module("specc_lazy_probe")
    for name in [m for m in sys.modules if m.startswith("specc_lazy_probe")]:
        del sys.modules[name]


def test_lazy_registry_imports_on_demand_and_misses_nothing(lazy_package: ModuleType) -> None:
    registry = lazy_package.REG
    assert "alpha" in registry
    assert "specc_lazy_probe.decorated" not in sys.modules  # the index answered
    assert registry.get("alpha").__name__ == "Alpha"
    assert "specc_lazy_probe.plain" not in sys.modules
    # Beta is not in the source index: asking for it imports every module.
    assert "Beta" in registry
    assert "Gamma" not in registry
    assert [model.__name__ for model in registry] == ["Alpha", "Beta"]


def test_entry_classes_are_found_on_their_package_when_asked_for() -> None:
    script = (
        "import sys\n"
        "import specc.optimizers as optimizers\n"
        "from specc.metrics import label_kind\n"
        # Tools probe modules for special names: that imports no entry module.
        "probed = hasattr(optimizers, '__wrapped__')\n"
        "before = 'specc.optimizers.adam' in sys.modules\n"
        "from specc.optimizers import Adam\n"
        "print(probed, before, Adam.__module__, label_kind.__module__,"
        " hasattr(optimizers, 'Adamm'))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert done.stdout.split() == [
        "False",
        "False",
        "specc.optimizers.adam",
        "specc.metrics.accuracy",
        "False",
    ]


def test_validating_a_small_spec_imports_no_numpy() -> None:
    code, modules, out = _probe(str(ROOT / "models" / "digits_mlp.yaml"))
    assert code == 0, out
    assert "numpy" not in modules


def _entry_specs(root: Path) -> list[Path]:
    """Specs that between them name every layer type (an example of each, so that its
    checks run through shape inference), every activation, initializer, regularizer and
    constraint, every learning-rate schedule, loss, metric, optimizer and callback."""
    from specc.callbacks import CALLBACKS
    from specc.losses import LOSSES
    from specc.metrics import METRICS
    from specc.optimizers import OPTIMIZERS
    from specc.spec.field_entries import FIELD_REGISTRIES

    def names(registry: Any) -> list[str]:
        return [registry.canonical_name(model) for model in registry]

    specs: list[dict[str, Any]] = [
        single_layer_spec(model.type_name(), *model.examples()[0]) for model in LAYERS
    ]
    activations, initializers, regularizers, constraints, schedules = map(names, FIELD_REGISTRIES)
    fields = [("activation", n) for n in activations]
    fields += [("kernel_initializer", n) for n in initializers]
    fields += [("kernel_regularizer", n) for n in regularizers]
    fields += [("kernel_constraint", n) for n in constraints]
    dense = [{"type": "Dense", "units": 2, key: name} for key, name in fields]
    compiled = {
        "specc": 1,
        "inputs": {"x": {"shape": [3]}},
        "layers": [{**layer, "inputs": "x"} for layer in dense[:1]] + dense[1:],
        "compile": {"optimizer": "adam", "loss": "mse", "metrics": names(METRICS)},
        "train": {"callbacks": names(CALLBACKS)},
    }
    specs.append(compiled)
    for loss in names(LOSSES):
        specs.append({**compiled, "compile": {"optimizer": "adam", "loss": loss}})
    for optimizer in names(OPTIMIZERS):
        specs.append({**compiled, "compile": {"optimizer": optimizer, "loss": "mse"}})
    for schedule in schedules:
        rate = {"type": schedule, "initial_learning_rate": 0.1, "decay_steps": 10}
        optimizer = {"type": "SGD", "learning_rate": rate}
        specs.append({**compiled, "compile": {"optimizer": optimizer, "loss": "mse"}})
    paths = []
    for k, spec in enumerate(specs):
        path = root / f"s{k:03d}.json"
        path.write_text(json.dumps(spec))
        paths.append(path)
    return paths


@pytest.mark.slow
def test_validating_specs_naming_every_entry_imports_no_numpy(tmp_path: Path) -> None:
    paths = _entry_specs(tmp_path)
    # One process checks them all (a pool would load every entry up front).
    assert len(paths) < validate_command.POOL_MIN_FILES
    _, modules, out = _probe("--quiet", *map(str, paths), cwd=tmp_path)
    assert "internal error" not in out
    # Every layer module and every entry module was loaded, and none of them imported
    # NumPy at its top: checking computes no arrays.
    layer_modules = {
        f"specc.layers.{name}" for name in module_index(specc.layers.__path__).values()
    }
    assert layer_modules <= modules
    assert {"specc.losses.regression", "specc.callbacks.early_stopping"} <= modules
    assert "numpy" not in modules


@pytest.mark.parametrize(("command", "plugins"), [("validate", "__all__"), ("train", None)])
def test_console_script_loads_the_app_then_turns_the_collector_back_on(
    command: str, plugins: str | None
) -> None:
    # The collector is held off while the app loads only: every command, training
    # included, runs with it on. Only validate turns Pydantic's plugin scan off.
    script = (
        "import gc, json, os, sys\n"
        "from specc.cli import entry\n"
        "sys.argv = ['specc', sys.argv[1]]\n"
        "entry._load_app()\n"
        "print(json.dumps([gc.isenabled(), os.environ.get('PYDANTIC_DISABLE_PLUGINS')]))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYDANTIC_DISABLE_PLUGINS"}
    done = subprocess.run(
        [sys.executable, "-c", script, command], capture_output=True, text=True, check=True, env=env
    )
    assert json.loads(done.stdout) == [True, plugins]


def test_training_loads_only_the_layer_modules_the_spec_names(tmp_path: Path) -> None:
    # A wrapper module, once imported, loads every layer type to bind what it wraps (the
    # whole catalog's models: seconds at each start), so no stage may import one a spec
    # does not name.
    args = ["models/digits_mlp.yaml", "--data", "models/data/digits.npz", "--epochs", "1"]
    code, modules, out = _probe(*args, "--quiet", "--out", str(tmp_path / "run"), command="train")
    assert code == 0, out
    layer_modules = {m for m in modules if m.startswith("specc.layers.")}
    assert "specc.layers.dense" in layer_modules
    assert not layer_modules & {"specc.layers.wrappers", "specc.layers.conv"}
