"""The long fuzzing run: ``python -m tests.fuzz --minutes 30 [--target NAME]...``.

Each target (or each one named) is fuzzed for that long, one after the other. What they
find goes under ``--work`` (outside the repository by default): ``corpus/<target>/`` grows
from run to run, ``crashes/<target>/`` holds failing inputs (with a ``.txt`` beside each
saying what went wrong), ``logs/<target>.log`` libFuzzer's output. Exit 1 when an input
fails in a way that no input in ``tests/fuzz/crashes/`` already shows. ``--replay FILE...``
runs saved inputs of one target once each and prints what happens (see docs/fuzzing.md).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from tests.fuzz import runner, targets


def _arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.fuzz", description=__doc__)
    duration = parser.add_mutually_exclusive_group()
    duration.add_argument("--minutes", type=float, help="per target (default 30)")
    duration.add_argument("--seconds", type=float, help="per target")
    parser.add_argument("--target", action="append", choices=targets.NAMES)
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "specc-fuzz")
    parser.add_argument("--cpu-seconds", type=float, default=runner.Limits.cpu_seconds)
    parser.add_argument("--memory-mb", type=int, default=runner.Limits.memory_mb)
    parser.add_argument("--nice", type=int, default=0, help="run the workers niced")
    parser.add_argument("--replay", type=Path, nargs="+", metavar="FILE")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    """Run the long run, or replay inputs; the exit code says whether anything new failed."""
    args = _arguments(argv)
    names = args.target or list(targets.NAMES)
    limits = runner.Limits(cpu_seconds=args.cpu_seconds, memory_mb=args.memory_mb)
    if args.replay:
        if len(names) != 1:
            print("--replay needs exactly one --target", file=sys.stderr)
            return 2
        result = runner.replay(names[0], args.replay, limits)
        for file in args.replay:
            outcome = result.replays.get(file.name, "the worker died on it")
            print(f"{file}: {outcome or 'handled cleanly'}")
            print(result.replay_details.get(file.name, ""))
        return 0 if all(result.replays.get(f.name, "") is None for f in args.replay) else 1
    seconds = args.seconds if args.seconds is not None else 60 * (args.minutes or 30)
    new = 0
    for name in names:
        print(f"fuzzing {name} for {seconds:.0f} s ...", flush=True)
        result = runner.fuzz(
            name,
            seconds,
            crashes=args.work / "crashes" / name,
            corpus=args.work / "corpus" / name,
            limits=limits,
            log=args.work / "logs" / f"{name}.log",
            nice=args.nice,
        )
        print(result.summary(), flush=True)
        new += len(result.new_failures)
    print(f"inputs and logs are under {args.work}")
    return 1 if new else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
