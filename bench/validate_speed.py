"""Benchmark: `specc validate` as CI and pre-commit run it, before and after a change.

Two cases, each the whole command in a fresh process (imports included):
  small  one small spec (models/digits_mlp.yaml)
  many   500 generated specs (MLPs, CNNs, LSTM classifiers; every 20th with an error),
         given as 500 paths
"before" is the code at a git revision (default 1609c9e, the commit before the fast
validate), checked out with `git worktree` into a temporary folder; "after" is this
checkout. Both run under the same interpreter (the one running this script, or --python)
through the same small launcher, which imports the `specc` package, `specc.cli` included,
from the tree it is given, so an editable install of either tree does not matter. Runs are
interleaved (before, after, before, ...) so that load from other processes hits both
alike; the script prints medians of --runs runs: wall seconds and the command's CPU
seconds (user + system, less sensitive to other processes), and whether both trees print
the same output and exit code.

Bytecode: each tree is run once first with bytecode caching on (PYTHONDONTWRITEBYTECODE
unset), as an installed package has its .pyc files; --no-bytecode keeps whatever the
environment says.

Run: python bench/validate_speed.py [--runs 7] [--baseline-rev 1609c9e] [--python PY]
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BASELINE_REV = "1609c9e"
SMALL_SPEC = ROOT / "models" / "digits_mlp.yaml"

# Imports `specc` from the tree named by argv[1] (specc.cli from its cli/ folder, as the
# package's setuptools mapping does), then runs the console script on the rest of argv.
LAUNCHER = """
import importlib.util, sys
tree = sys.argv.pop(1)
sys.path.insert(0, tree)
class _Cli:
    @staticmethod
    def find_spec(name, path=None, target=None):
        if name != "specc.cli":
            return None
        return importlib.util.spec_from_file_location(
            name, tree + "/cli/__init__.py", submodule_search_locations=[tree + "/cli"])
sys.meta_path.insert(0, _Cli)
sys.argv[0] = "specc"
from specc.cli.entry import main
main()
"""


def spec_text(inputs: str, layers: list[str], compile_section: str) -> str:
    """A spec in YAML: one flow mapping per layer, as people write small specs."""
    entries = "".join(f"  - {{{layer}}}\n" for layer in layers)
    return f"specc: 1\ninputs:\n  {inputs}\nlayers:\n{entries}compile:\n{compile_section}"


def mlp(rng: random.Random, broken: bool) -> str:
    hidden = [
        f"type: Dense, units: {rng.choice([16, 32, 64, 128])}, "
        f"activation: {rng.choice(['relu', 'tanh', 'gelu'])}"
        for _ in range(rng.randint(1, 4))
    ]
    last = f"type: Dense, units: {0 if broken else 10}"
    compile_section = "  optimizer: adam\n  loss: mse\n  metrics: [mae]\n"
    return spec_text(
        "x: {shape: [32]}", [*hidden, "type: Dropout, rate: 0.1", last], compile_section
    )


def cnn(rng: random.Random, broken: bool) -> str:
    layers = [
        f"type: Conv2D, filters: {rng.choice([8, 16, 32])}, kernel_size: 3, "
        f"activation: {'rleu' if broken else 'relu'}",
        "type: MaxPooling2D, pool_size: 2",
        f"type: Conv2D, filters: {rng.choice([16, 32])}, kernel_size: 3, padding: same",
        "type: BatchNormalization",
        "type: Flatten",
        "type: Dense, units: 10, activation: softmax",
    ]
    compile_section = (
        "  optimizer: {type: SGD, learning_rate: 0.01, momentum: 0.9}\n"
        "  loss: sparse_categorical_crossentropy\n  metrics: [accuracy]\n"
    )
    return spec_text("image: {shape: [28, 28, 1]}", layers, compile_section)


def lstm(rng: random.Random, broken: bool) -> str:
    layers = [
        f"type: Embedding, input_dim: 1000, output_dim: {rng.choice([16, 32])}",
        f"type: LSTM, {'unit' if broken else 'units'}: {rng.choice([8, 16, 32])}",
        "type: Dense, units: 1, activation: sigmoid",
    ]
    compile_section = "  optimizer: rmsprop\n  loss: binary_crossentropy\n  metrics: [accuracy]\n"
    return spec_text("tokens: {shape: [null], dtype: int32}", layers, compile_section)


def write_specs(folder: Path, count: int) -> list[Path]:
    """``count`` specs of three kinds, every 20th with one error, reproducibly."""
    rng = random.Random(0)
    kinds = [mlp, cnn, lstm]
    paths = []
    for k in range(count):
        path = folder / f"spec_{k:03d}.specc.yaml"
        path.write_text(kinds[k % 3](rng, broken=k % 20 == 19), encoding="utf-8")
        paths.append(path)
    return paths


def run(python: str, tree: Path, args: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Wall seconds, CPU seconds and output (exit code first) of one command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(
        [python, "-c", LAUNCHER, str(tree), "validate", *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if done.returncode not in (0, 1):
        raise SystemExit(f"{tree}: exit {done.returncode}\n{done.stderr[-2000:]}")
    return wall, cpu, f"{done.returncode}\n{done.stdout}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--count", type=int, default=500, help="specs in the many case")
    parser.add_argument("--baseline-rev", default=BASELINE_REV)
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--no-bytecode", action="store_true")
    options = parser.parse_args()
    env = dict(os.environ)
    if not options.no_bytecode:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
    with tempfile.TemporaryDirectory() as scratch:
        baseline = Path(scratch, "baseline")
        subprocess.run(
            ["git", "worktree", "add", "--detach", "-q", str(baseline), options.baseline_rev],
            cwd=ROOT,
            check=True,
        )
        try:
            specs = Path(scratch, "specs")
            specs.mkdir()
            paths = [str(p) for p in write_specs(specs, options.count)]
            cases = {"small": [str(SMALL_SPEC)], f"many ({options.count})": ["-q", *paths]}
            trees = {"before": baseline, "after": ROOT}
            _measure(options, env, cases, trees)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(baseline)], cwd=ROOT)


def _measure(
    options: argparse.Namespace,
    env: dict[str, str],
    cases: dict[str, list[str]],
    trees: dict[str, Path],
) -> None:
    print(f"python: {options.python}; cores: {len(os.sched_getaffinity(0))}; runs: {options.runs}")
    print(f"before: {options.baseline_rev}; after: {ROOT}")
    for case, args in cases.items():
        outputs = {name: run(options.python, tree, args, env)[2] for name, tree in trees.items()}
        walls: dict[str, list[float]] = {name: [] for name in trees}
        cpus: dict[str, list[float]] = {name: [] for name in trees}
        for _ in range(options.runs):
            for name, tree in trees.items():
                wall, cpu, _ = run(options.python, tree, args, env)
                walls[name].append(wall)
                cpus[name].append(cpu)
        same = outputs["before"] == outputs["after"]
        print(f"\n{case}: same output and exit code before and after: {same}")
        for name in trees:
            print(
                f"  {name:<6}  wall {statistics.median(walls[name]):6.3f} s   "
                f"cpu {statistics.median(cpus[name]):6.3f} s"
            )
        ratio = statistics.median(walls["before"]) / statistics.median(walls["after"])
        print(f"  speed-up (wall): {ratio:.2f}x")


if __name__ == "__main__":
    main()
