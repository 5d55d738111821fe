"""Run hostile cases in-process (for the test suite) or each in a limited subprocess."""

from __future__ import annotations

import importlib
import json
import os
import pkgutil
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from tests.hostile.case import Case, Outcome, problems, write_files

_HERE = Path(__file__).parent
# A case's process may use this much memory; beyond it, allocation fails (a MemoryError
# is not a clean outcome), which keeps a blow-up from taking the machine down.
MEMORY_LIMIT_BYTES = 6 * 2**30


def all_cases() -> list[Case]:
    """Every case of every ``family_*`` module, in module order."""
    cases: list[Case] = []
    for module in sorted(pkgutil.iter_modules([str(_HERE)]), key=lambda m: m.name):
        if module.name.startswith("family_"):
            cases.extend(importlib.import_module(f"tests.hostile.{module.name}").CASES)
    return cases


def run_in_process(case: Case, folder: Path) -> Outcome:
    """Run ``case`` through the CLI in this process (Click's runner), in ``folder``."""
    from typer.testing import CliRunner

    from specc.cli.app import app

    write_files(folder, case.files)
    previous = Path.cwd()
    os.chdir(folder)
    try:
        start = time.perf_counter()
        result = CliRunner().invoke(app, case.argv, catch_exceptions=True)
        seconds = time.perf_counter() - start
    finally:
        os.chdir(previous)
    output = result.output
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        output += f"\nTraceback (most recent call last): {result.exception!r}"
    return Outcome(result.exit_code, output, seconds, folder)


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT_BYTES, MEMORY_LIMIT_BYTES))


def run_in_subprocess(case: Case, folder: Path, python: str = sys.executable) -> Outcome:
    """Run ``case`` as ``python -m specc.cli.app`` in its own process, with memory and time
    limits; a kill by either counts as the case not handled."""
    write_files(folder, case.files)
    start = time.perf_counter()
    try:
        done = subprocess.run(
            [python, "-m", "specc.cli.app", *case.argv],
            cwd=folder,
            capture_output=True,
            timeout=max(case.seconds * 3, 60),
            preexec_fn=_limit_memory,
            env={**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "100"},
        )
        code = done.returncode
        output = done.stdout.decode("utf-8", "replace") + done.stderr.decode("utf-8", "replace")
    except subprocess.TimeoutExpired:
        code, output = -9, "timed out"
    return Outcome(code, output, time.perf_counter() - start, folder)


def report(cases: list[Case], python: str) -> dict[str, dict[str, object]]:
    """Run every case in a subprocess; per family, the count tried and handled, and the
    cases not handled with what went wrong."""
    table: dict[str, dict[str, object]] = {}
    tried: Counter[str] = Counter()
    handled: Counter[str] = Counter()
    failures: dict[str, list[str]] = {}
    for case in cases:
        with tempfile.TemporaryDirectory(prefix="specc-hostile-") as tmp:
            outcome = run_in_subprocess(case, Path(tmp), python)
            found = problems(case, outcome)
        tried[case.family] += 1
        if found:
            failures.setdefault(case.family, []).append(f"{case.name}: {'; '.join(found)}")
        else:
            handled[case.family] += 1
        print(f"{'ok ' if not found else 'BAD'} {case.id} {'; '.join(found)}", file=sys.stderr)
    for family in tried:
        table[family] = {
            "tried": tried[family],
            "handled": handled[family],
            "not_handled": failures.get(family, []),
        }
    return table


def main(argv: list[str]) -> int:
    """``python -m tests.hostile --report [--python PY] [--json FILE] [--family F]``."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m tests.hostile")
    parser.add_argument("--report", action="store_true", help="run every case in a subprocess")
    parser.add_argument("--python", default=sys.executable, help="the Python with specc")
    parser.add_argument("--family", action="append", help="only these families")
    parser.add_argument("--json", type=Path, help="also write the table as JSON here")
    args = parser.parse_args(argv)
    cases = [c for c in all_cases() if not args.family or c.family in args.family]
    table = report(cases, args.python)
    width = max([len("family"), *(len(f) for f in table)])
    print(f"{'family':<{width}}  tried  handled")
    for family, row in table.items():
        print(f"{family:<{width}}  {row['tried']:>5}  {row['handled']:>7}")
    total_tried = sum(int(r["tried"]) for r in table.values())
    total_handled = sum(int(r["handled"]) for r in table.values())
    print(f"{'total':<{width}}  {total_tried:>5}  {total_handled:>7}")
    if args.json:
        args.json.write_text(json.dumps(table, indent=2) + "\n", encoding="utf-8")
    return 0 if total_tried == total_handled else 1
