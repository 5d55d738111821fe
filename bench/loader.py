"""Benchmark: `specc validate` on big specs, in seconds per MB (target: the same at any size).

Specs, generated in YAML and in JSON:
  wide   a functional model of Dense layers, each named, with its own input, initializer
         and regularizer written out in block style: 1 MB and 10 MB (--mb)
  deep   a sequential stack of Dense layers, one flow mapping a line: 10k and 100k layers
         (--layers)
Each run is the whole `specc validate -q` command in a fresh process (imports included);
the specs are timed round by round (interleaved), so load from other processes on the
shared machine hits them alike. Prints, per spec, medians of --runs runs: wall seconds, the
command's CPU seconds (less sensitive to other processes than wall time), and both per MB
after subtracting the same command on a one-layer spec (start-up). The last lines compare
seconds per MB of the big spec with the small one of its kind: 1.0 is linear.
Run: python bench/loader.py [--runs 3] [--mb 1,10] [--layers 10000,100000]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def wide_spec(megabytes: float) -> dict:
    """A functional spec of named Dense layers, about ``megabytes`` MB as YAML."""
    per_layer = len(as_yaml(_wide(2), block=True)) - len(as_yaml(_wide(1), block=True))
    return _wide(max(1, round(megabytes * 1e6 / per_layer)))


def _wide(count: int) -> dict:
    layers = [
        {
            "name": f"dense_{i:07d}",
            "type": "Dense",
            "units": 16,
            "activation": "relu",
            "kernel_initializer": {"type": "GlorotUniform", "seed": i},
            "kernel_regularizer": {"type": "L2", "l2": 0.0001},
            "inputs": f"dense_{i - 1:07d}" if i else "features",
        }
        for i in range(count)
    ]
    return {
        "specc": 1,
        "name": "wide",
        "inputs": {"features": {"shape": [16]}},
        "layers": layers,
        "outputs": [layers[-1]["name"]],
    }


def deep_spec(layers: int) -> dict:
    """A sequential stack of ``layers`` Dense layers."""
    first = {"type": "Dense", "units": 8, "activation": "relu", "input_shape": [8]}
    rest = [{"type": "Dense", "units": 8, "activation": "relu"} for _ in range(layers - 1)]
    return {"specc": 1, "name": "deep", "layers": [first, *rest]}


def as_yaml(spec: dict, block: bool) -> str:
    """YAML text of a generated spec: layers in block style (``block``) or one flow mapping a
    line. Every generated key and value is a plain YAML scalar, so JSON's spelling of the
    inner mappings is YAML too once its quotes are gone."""
    lines = [f"specc: {spec['specc']}", f"name: {spec['name']}"]
    if "inputs" in spec:
        lines.append("inputs:")
        lines += [f"  {key}: {_plain(value)}" for key, value in spec["inputs"].items()]
    lines.append("layers:")
    for layer in spec["layers"]:
        if block:
            lines.append("  - " + "\n    ".join(f"{k}: {_plain(v)}" for k, v in layer.items()))
        else:
            lines.append("  - " + _plain(layer))
    if "outputs" in spec:
        lines.append(f"outputs: {_plain(spec['outputs'])}")
    return "\n".join(lines) + "\n"


def _plain(value: object) -> str:
    return json.dumps(value).replace('"', "")


def write_specs(folder: Path, megabytes: list[float], layer_counts: list[int]) -> list[Path]:
    """The benchmark's specs, written into ``folder``; a one-layer spec first."""
    paths = [folder / "tiny.yaml"]
    paths[0].write_text(as_yaml(deep_spec(1), block=False))
    for size in megabytes:
        spec = wide_spec(size)
        (folder / f"wide-{size:g}MB.yaml").write_text(as_yaml(spec, block=True))
        (folder / f"wide-{size:g}MB.json").write_text(json.dumps(spec, indent=2))
        paths += [folder / f"wide-{size:g}MB.yaml", folder / f"wide-{size:g}MB.json"]
    for count in layer_counts:
        spec = deep_spec(count)
        (folder / f"deep-{count}.yaml").write_text(as_yaml(spec, block=False))
        (folder / f"deep-{count}.json").write_text(json.dumps(spec))
        paths += [folder / f"deep-{count}.yaml", folder / f"deep-{count}.json"]
    return paths


def run_validate(spec: Path) -> tuple[float, float]:
    """Wall and CPU seconds of `specc validate -q spec` in a fresh process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    command = [sys.executable, "-m", "specc.cli.app", "validate", "-q", str(spec)]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--mb", default="1,10", help="sizes of the wide specs, in MB")
    parser.add_argument("--layers", default="10000,100000", help="layers of the deep specs")
    args = parser.parse_args()
    megabytes = [float(x) for x in args.mb.split(",")]
    layer_counts = [int(x) for x in args.layers.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_specs(Path(tmp), megabytes, layer_counts)
        sizes = {p.name: p.stat().st_size / 1e6 for p in paths}
        wall: dict[str, list[float]] = {p.name: [] for p in paths}
        cpu: dict[str, list[float]] = {p.name: [] for p in paths}
        for _ in range(args.runs):  # interleaved
            for path in paths:
                seconds, cpu_seconds = run_validate(path)
                wall[path.name].append(seconds)
                cpu[path.name].append(cpu_seconds)
    median_wall = {k: statistics.median(v) for k, v in wall.items()}
    median_cpu = {k: statistics.median(v) for k, v in cpu.items()}
    base_wall, base_cpu = median_wall["tiny.yaml"], median_cpu["tiny.yaml"]
    print(f"specc validate ({args.runs} interleaved runs, medians; start-up = one-layer spec)")
    print(f"  {'spec':<18} {'MB':>6} {'wall s':>8} {'cpu s':>8} {'wall s/MB':>10} {'cpu s/MB':>9}")
    per_mb: dict[str, float] = {}
    for name, size in sizes.items():
        net_wall = (median_wall[name] - base_wall) / size
        net_cpu = (median_cpu[name] - base_cpu) / size
        per_mb[name] = net_cpu
        shown = f"{net_wall:10.2f} {net_cpu:9.2f}" if name != "tiny.yaml" else f"{'-':>10} {'-':>9}"
        print(f"  {name:<18} {size:6.2f} {median_wall[name]:8.2f} {median_cpu[name]:8.2f} {shown}")
    print("  linearity (cpu s/MB of the big spec over the small one; 1.0 = linear):")
    pairs = [
        (f"wide-{megabytes[0]:g}MB", f"wide-{megabytes[-1]:g}MB"),
        (f"deep-{layer_counts[0]}", f"deep-{layer_counts[-1]}"),
    ]
    for small, big in pairs:
        for suffix in (".yaml", ".json"):
            ratio = per_mb[big + suffix] / per_mb[small + suffix]
            print(f"    {big + suffix:<18} / {small + suffix:<18} = {ratio:.2f}")


if __name__ == "__main__":
    main()
