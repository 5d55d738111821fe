"""One fuzz target in its own process: ``python -m tests.fuzz.worker TARGET [options] [-- ARGS]``.

libFuzzer takes over the process it runs in, so ``runner`` starts this module for each
target. It imports specc inside atheris's instrumentation (coverage of specc's code guides
the mutations), replays the known crashes (``--known``: their signatures are then expected
and only counted), and runs libFuzzer with ``ARGS``. With ``--replay FILE...`` it runs
those inputs once each, without atheris, and reports each outcome.

Every input runs under the oracle (``oracle.examine``) with a CPU-time limit, and the
process under an address-space limit, so that a huge allocation is a ``MemoryError`` with
a stack rather than a dead machine. A failure is recorded (a line in ``--report``, and
the input saved under ``--crashes`` as ``<signature>-<sha1>``, three a signature) and
fuzzing goes on: one run finds every kind of failure, not only the first.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import resource
import sys
from importlib import import_module
from pathlib import Path
from typing import Any

from tests.fuzz import targets
from tests.fuzz.oracle import Failure, examine

# Packages whose coverage guides every target (a target adds modules of its own).
INSTRUMENTED = ["specc", "yaml"]
SAVED_PER_SIGNATURE = 3
EXACT_COUNTS = 16


def slug(signature: str) -> str:
    """A file-name-safe form of a signature."""
    return re.sub(r"[^A-Za-z0-9]+", "-", signature).strip("-")[:80]


class Recorder:
    """Runs inputs through the oracle and records every failure."""

    def __init__(self, target: targets.Target, args: argparse.Namespace) -> None:
        self.target = target
        self.file = args.scratch / target.file_name
        self.crashes: Path = args.crashes
        self.report = args.report.open("a", encoding="utf-8")
        self.cpu_seconds = args.cpu_seconds
        self.known: set[str] = set()
        self.counts: dict[str, int] = {}

    def examine(self, data: bytes) -> Failure | None:
        """Run one input; ``None`` when handled cleanly."""
        self.file.write_bytes(self.target.prepare(data))
        return examine(
            lambda: self.target.check(self.file),
            str(self.file),
            self.target.positioned,
            self.cpu_seconds,
        )

    def fuzz_one(self, data: bytes) -> None:
        """libFuzzer's callback: never raises, so that fuzzing goes on after a failure."""
        failure = self.examine(data)
        if failure is not None:
            self.record(data, failure)

    def record(self, data: bytes, failure: Failure) -> None:
        count = self.counts[failure.signature] = self.counts.get(failure.signature, 0) + 1
        known = failure.signature in self.known
        saved = None
        name = f"{slug(failure.signature)}-{hashlib.sha1(data).hexdigest()[:12]}"
        if count <= SAVED_PER_SIGNATURE and not known and not (self.crashes / name).exists():
            self.crashes.mkdir(parents=True, exist_ok=True)
            saved = self.crashes / name
            saved.write_bytes(data)
            saved.with_name(name + ".txt").write_text(failure.detail, encoding="utf-8")
        # Every count up to EXACT_COUNTS, then powers of two: the report stays small (libFuzzer
        # ends the process without a chance to write final counts).
        if saved is not None or count <= EXACT_COUNTS or count & (count - 1) == 0:
            self.write(
                event="failure",
                signature=failure.signature,
                known=known,
                count=count,
                file=str(saved) if saved else None,
                detail=failure.detail[-3000:] if saved else None,
            )

    def replay(self, files: list[Path], known: bool) -> None:
        """Run each file once; with ``known``, their signatures become expected."""
        for path in files:
            failure = self.examine(path.read_bytes())
            signature = failure.signature if failure else None
            if known and signature:
                self.known.add(signature)
            detail = failure.detail[-3000:] if failure else None
            self.write(event="replay", file=path.name, signature=signature, detail=detail)

    def write(self, **fields: object) -> None:
        self.report.write(json.dumps({"target": self.target.name, **fields}) + "\n")
        self.report.flush()


def instrument_modules(atheris: Any, names: tuple[str, ...]) -> None:
    """Instrument the functions (and methods) defined in modules that are already imported:
    cheaper than ``instrument_imports`` on their whole package (numpy takes seconds)."""
    done: set[int] = set()
    for name in names:
        module = sys.modules.get(name) or _import(name)
        if module is None:
            continue
        for value in vars(module).values():
            members = vars(value).values() if isinstance(value, type) else [value]
            for member in members:
                code = getattr(member, "__code__", None)
                owner = getattr(member, "__module__", None)
                if code is not None and owner == module.__name__ and id(member) not in done:
                    done.add(id(member))
                    atheris.instrument_func(member)


def _import(name: str) -> Any:
    try:
        return import_module(name)
    except ImportError:
        return None


def limit_memory(megabytes: int) -> None:
    """Cap the address space at what the process holds now plus ``megabytes``."""
    status = Path("/proc/self/status").read_text()
    now = int(re.search(r"VmSize:\s+(\d+) kB", status).group(1)) * 1024
    cap = now + megabytes * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))


def inputs_in(folder: Path | None) -> list[Path]:
    """The inputs saved in a folder (not the ``.txt`` notes beside them)."""
    if folder is None or not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix != ".txt")


def parse(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    """Our options, and libFuzzer's (after ``--``)."""
    split = argv.index("--") if "--" in argv else len(argv)
    ours, fuzzer = argv[:split], argv[split + 1 :]
    parser = argparse.ArgumentParser(prog="python -m tests.fuzz.worker")
    parser.add_argument("target", choices=targets.NAMES)
    parser.add_argument("--report", type=Path, required=True)
    parser.add_argument("--scratch", type=Path, required=True)
    parser.add_argument("--crashes", type=Path, required=True)
    parser.add_argument("--known", type=Path)
    parser.add_argument("--replay", type=Path, nargs="+")
    parser.add_argument("--cpu-seconds", type=float, default=10.0)
    parser.add_argument("--memory-mb", type=int, default=1024)
    return parser.parse_args(ours), fuzzer


def main(argv: list[str]) -> int:
    """Run the worker (see the module docstring)."""
    args, fuzzer_args = parse(argv)
    if args.replay:
        target = targets.load(args.target)
        limit_memory(args.memory_mb)
        Recorder(target, args).replay(args.replay, known=False)
        return 0
    import atheris

    with atheris.instrument_imports(include=INSTRUMENTED):
        target = targets.load(args.target)
    instrument_modules(atheris, target.instrument)
    recorder = Recorder(target, args)
    limit_memory(args.memory_mb)
    recorder.replay(inputs_in(args.known), known=True)
    atheris.Setup([sys.argv[0], *fuzzer_args], recorder.fuzz_one)
    atheris.Fuzz()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
