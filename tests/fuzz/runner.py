"""Starting fuzz workers and reading what they found: executions, coverage, failures.

``fuzz(name, seconds, ...)`` runs one target's worker for that long and returns a
``Result``. libFuzzer stops the worker on what the worker cannot catch itself (its
wall-clock timeout, its RSS limit, a fatal signal); the runner then records that input as
a failure and starts the worker again for the time left, so a long run is not cut short.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tests.fuzz import targets
from tests.fuzz.worker import EXACT_COUNTS, inputs_in

ROOT = Path(__file__).resolve().parents[2]
_STATUS = re.compile(r"^#(\d+)\s+\w+\s+cov: (\d+) ft: (\d+) corp: (\d+)/", re.M)
_EXECUTED = re.compile(r"^stat::number_of_executed_units: (\d+)", re.M)
_DONE = re.compile(r"^Done \d+ runs in (\d+) second", re.M)
_FATAL = re.compile(r"ERROR: libFuzzer: (timeout|out-of-memory|deadly signal|[a-z -]+)")
_ARTIFACT = re.compile(r"Test unit written to (\S+)")
# Restarts after libFuzzer kills a worker, at most: past that, something is badly wrong.
MAX_STARTS = 20


@dataclass(frozen=True)
class Limits:
    """What one input may use: CPU seconds (checked by the worker), wall seconds (libFuzzer
    kills the worker past them: code stuck outside Python) and megabytes of memory."""

    cpu_seconds: float = 10.0
    wall_seconds: int = 120
    memory_mb: int = 1024


@dataclass
class Found:
    """One failure signature: how often it was hit, whether it was expected, saved inputs."""

    count: int = 0
    known: bool = False
    files: list[str] = field(default_factory=list)
    detail: str = ""


@dataclass
class Result:
    """What one target's run did."""

    target: str
    # Wall-clock time of the whole run, and the part spent in libFuzzer (without the
    # workers' start-up and instrumentation).
    seconds: float = 0.0
    fuzzing_seconds: int = 0
    executions: int = 0
    edges: int = 0
    features: int = 0
    corpus: int = 0
    starts: int = 0
    failures: dict[str, Found] = field(default_factory=dict)
    # Known crash inputs replayed first: file name -> signature (None: handled cleanly).
    replays: dict[str, str | None] = field(default_factory=dict)
    # What went wrong with each failing replayed input.
    replay_details: dict[str, str] = field(default_factory=dict)
    log: Path | None = None

    @property
    def new_failures(self) -> dict[str, Found]:
        """The failures whose signature no known crash input has."""
        return {s: f for s, f in self.failures.items() if not f.known}

    def summary(self) -> str:
        """A few lines for a person: figures, then each failure signature."""
        lines = [
            f"{self.target}: {self.seconds:.0f} s ({self.fuzzing_seconds} s in libFuzzer), "
            f"{self.executions:,} executions, "
            f"coverage {self.edges:,} edges / {self.features:,} features, corpus "
            f"{self.corpus:,} inputs, {len(self.failures)} failure signature(s)"
            + (f", {self.starts} worker starts" if self.starts > 1 else "")
        ]
        for signature, found in sorted(self.failures.items()):
            kind = "known" if found.known else "NEW"
            many = "at least " if found.count > EXACT_COUNTS else ""
            lines.append(f"  [{kind}] {signature}: {many}{found.count} input(s)")
            lines.extend(f"      {file}" for file in found.files)
        return "\n".join(lines)


@contextmanager
def scratch_folder() -> Iterator[Path]:
    """A temporary folder, in memory where the system has one (inputs are written there)."""
    shm = Path("/dev/shm")
    base = shm if shm.is_dir() and os.access(shm, os.W_OK) else None
    folder = Path(tempfile.mkdtemp(prefix="specc-fuzz-", dir=base))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def fuzz(
    name: str,
    seconds: float,
    crashes: Path,
    corpus: Path | None = None,
    limits: Limits = Limits(),
    known: bool = True,
    log: Path | None = None,
    nice: int = 0,
) -> Result:
    """Fuzz target ``name`` for ``seconds`` (0: only replay the checked-in corpus).

    New inputs go to ``corpus`` (a temporary folder when None; the checked-in corpus is
    only read), failing ones to ``crashes``. With ``known``, the inputs in
    ``tests/fuzz/crashes/<name>/`` are replayed first and their signatures expected.
    ``log`` keeps libFuzzer's output.
    """
    result = Result(name, log=log)
    with scratch_folder() as scratch:
        log = log or scratch / "fuzz.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text("", encoding="utf-8")
        corpus = corpus or scratch / "corpus"
        corpus.mkdir(parents=True, exist_ok=True)
        report = scratch / "report.jsonl"
        dictionary = targets.write_dictionary(targets.load(name).tokens(), scratch / "dict")
        start = time.monotonic()
        while result.starts < MAX_STARTS:
            left = seconds - (time.monotonic() - start)
            if result.starts and left < 1:
                break
            options = [
                f"--report={report}",
                f"--scratch={scratch}",
                f"--crashes={crashes}",
                f"--cpu-seconds={limits.cpu_seconds}",
                f"--memory-mb={limits.memory_mb}",
            ]
            if known:
                options.append(f"--known={targets.CRASHES / name}")
            fuzzer = _libfuzzer_options(name, left, corpus, crashes, dictionary, limits)
            crashes.mkdir(parents=True, exist_ok=True)
            text = _run_worker(name, options, fuzzer, seconds, limits, nice, log)
            result.starts += 1
            _read_figures(text, result)
            if not _record_fatal(text, result) or seconds <= 0:
                break
        result.seconds = time.monotonic() - start
        _read_report(report, result)
    return result


def _libfuzzer_options(
    name: str, left: float, corpus: Path, crashes: Path, dictionary: Path, limits: Limits
) -> list[str]:
    """Corpus folders (the first one grows), then options: time, limits, where crashes go."""
    seeds = [str(targets.CORPUS / name)] if (targets.CORPUS / name).is_dir() else []
    return [
        str(corpus),
        *seeds,
        f"-max_total_time={int(left)}" if left >= 1 else "-runs=0",
        f"-timeout={limits.wall_seconds}",
        # libFuzzer saves inputs slower than this as "slow units"; on a busy machine
        # its default (10 s of wall time) saves inputs that are only waiting for a CPU.
        f"-report_slow_units={limits.wall_seconds}",
        f"-rss_limit_mb={limits.memory_mb + 1024}",
        f"-dict={dictionary}",
        f"-artifact_prefix={crashes}/",
        "-print_final_stats=1",
    ]


def _run_worker(
    name: str,
    options: list[str],
    fuzzer: list[str],
    seconds: float,
    limits: Limits,
    nice: int,
    log: Path,
) -> str:
    """Run one worker to its end, its output going to ``log`` as it comes (to follow a
    long run with ``tail -f``); that output."""
    command = [sys.executable, "-m", "tests.fuzz.worker", name, *options, "--", *fuzzer]
    # The worker's own startup, plus a slow last input, on top of the fuzzing time.
    deadline = seconds + limits.wall_seconds + 300
    with log.open("a", encoding="utf-8", errors="replace") as out:
        start = out.tell()
        try:
            subprocess.run(
                command,
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=deadline,
                preexec_fn=(lambda: os.nice(nice)) if nice else None,
            )
        except subprocess.TimeoutExpired:
            out.write(f"\nERROR: libFuzzer: worker still running after {deadline:.0f} s\n")
    with log.open("rb") as written:
        written.seek(start)
        return written.read().decode("utf-8", "replace")


def _read_figures(text: str, result: Result) -> None:
    statuses = _STATUS.findall(text)
    executed = _EXECUTED.findall(text)
    if executed:
        result.executions += int(executed[-1])
    elif statuses:
        result.executions += int(statuses[-1][0])
    result.fuzzing_seconds += sum(int(x) for x in _DONE.findall(text))
    if statuses:
        _, edges, features, corpus = (int(x) for x in statuses[-1])
        result.edges = max(result.edges, edges)
        result.features = max(result.features, features)
        result.corpus = max(result.corpus, corpus)


def _record_fatal(text: str, result: Result) -> bool:
    """Record what made libFuzzer stop the worker, if it did; True if so."""
    fatal = _FATAL.search(text)
    if fatal is None:
        return False
    signature = f"libFuzzer {fatal.group(1).strip()}"
    if "Uncaught Python exception" in text:
        signature = "harness error (an exception outside the oracle)"
    found = result.failures.setdefault(signature, Found())
    found.count += 1
    found.files += _ARTIFACT.findall(text)
    found.detail = text[-3000:]
    return True


def _read_report(report: Path, result: Result) -> None:
    if not report.exists():
        return
    for line in report.read_text(encoding="utf-8").splitlines():
        event = json.loads(line)
        if event["event"] == "replay":
            result.replays[event["file"]] = event["signature"]
            if event["detail"]:
                result.replay_details[event["file"]] = event["detail"]
            continue
        found = result.failures.setdefault(event["signature"], Found())
        found.count = max(found.count, event["count"])
        found.known = event["known"]
        if event["file"]:
            found.files.append(event["file"])
            found.detail = found.detail or event["detail"]


def replay(name: str, files: list[Path], limits: Limits = Limits()) -> Result:
    """Run inputs of target ``name`` once each in a worker; the result's ``replays`` map
    each file name to its failure signature (None: handled cleanly; absent: the worker
    died on it)."""
    with scratch_folder() as scratch:
        report = scratch / "report.jsonl"
        command = [sys.executable, "-m", "tests.fuzz.worker", name, f"--report={report}"]
        command += [f"--scratch={scratch}", f"--crashes={scratch / 'crashes'}"]
        command += [f"--cpu-seconds={limits.cpu_seconds}", f"--memory-mb={limits.memory_mb}"]
        command += ["--replay", *map(str, files)]
        subprocess.run(command, cwd=ROOT, capture_output=True, timeout=600)
        result = Result(name)
        _read_report(report, result)
        return result


def known_crashes(name: str) -> list[Path]:
    """The checked-in inputs of ``name`` that still fail (``tests/fuzz/crashes/<name>/``)."""
    return inputs_in(targets.CRASHES / name)
