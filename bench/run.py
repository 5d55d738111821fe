"""Run every benchmark: python bench/run.py"""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

BENCHMARKS = [
    "build_deep_stack.py",
    "loader.py",
    "train_throughput.py",
    "optimizer_steps.py",
]

if __name__ == "__main__":
    for name in BENCHMARKS:
        print(f"== {name}", flush=True)
        sys.argv = [name]
        runpy.run_path(str(Path(__file__).parent / name), run_name="__main__")
