"""``specc validate SPEC...``: schema, references, compile section and shapes, every error.

Given folders, it checks the specs in them (see ``specc.cli.spec_files``). Many files are
checked by a pool of processes, one per core, in runs of neighbouring files; the output
keeps the order the files were given in, whatever order the workers finish.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer

from specc.check_passes import check_spec
from specc.cli.common import (
    EXIT_OK,
    EXIT_SPEC_ERROR,
    DebugOption,
    DumpStagesOption,
    FormatOption,
    LimitOption,
    MaxFileSizeOption,
    MaxParamsOption,
    OutputFormat,
    check_dump_folder,
    echo,
    internal_errors,
    render_diagnostics,
    reported_passes,
    resolve_limits,
    run_spec_pass,
    usage_error,
)
from specc.cli.spec_files import spec_files
from specc.diagnostics import Diagnostic, render
from specc.escape import terminal_text
from specc.limits import Limits
from specc.spec.compile import load_every_entry, loaded_sections
from specc.summary import parameter_counts

# Below this many files a pool costs more than it saves: a small spec takes about a
# millisecond to check, and starting the workers, loading the layer modules in each and
# sending the results back costs tens of milliseconds.
POOL_MIN_FILES = 128
# Each worker gets at least this many files, so that on many cores each pays for its start.
FILES_PER_WORKER = 64
# From this many files on, one process checks them sooner with every entry made ready up
# front (load_every_entry, a few tenths of a second) than by building a spec model for each
# new set of names a file brings (tenths of a second each, more as the names in use grow):
# 115 specs that between them name every catalog entry took 26 s, and take 7 s.
PREPARE_MIN_FILES = 4

Report = dict[str, Any]


def validate(
    specs: Annotated[
        list[Path],
        typer.Argument(
            help="Spec files (.yaml, .yml or .json), or folders to search for specs "
            "(*.specc.yaml/.yml/.json, and YAML or JSON files with a top-level 'specc' key).",
            exists=True,
        ),
    ],
    output_format: FormatOption = OutputFormat.text,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print problems only.")] = False,
    debug: DebugOption = False,
    dump_stages: DumpStagesOption = None,
    limit: LimitOption = None,
    max_params: MaxParamsOption = None,
    max_file_size: MaxFileSizeOption = None,
) -> None:
    """Check specs without building them. Exit 0 when all are valid, 1 when any is not."""
    limits = resolve_limits(limit, max_params, max_file_size)
    files = spec_files(specs, limits.file_size)
    if not files:
        raise usage_error("no spec files in " + ", ".join(str(s) for s in specs))
    if dump_stages is not None and len(files) > 1:
        raise usage_error(f"--dump-stages takes one spec; got {len(files)}")
    problems: list[Diagnostic] = []
    reports: list[Report] = []
    with internal_errors(debug):
        check_dump_folder(dump_stages)
        # --debug and --dump-stages report on each pass as it runs: in this process.
        if debug or dump_stages is not None or _workers(len(files)) < 2:
            if len(files) >= PREPARE_MIN_FILES:
                load_every_entry()
            results = [_check_reported(spec, limits, debug, dump_stages, quiet) for spec in files]
        else:
            results = _check_in_pool(files, limits)
        for report, diagnostics in results:
            reports.append(report)
            problems.extend(diagnostics)
    _print(reports, problems, output_format, quiet)
    raise typer.Exit(EXIT_SPEC_ERROR if problems else EXIT_OK)


def _check_reported(
    spec: Path, limits: Limits, debug: bool, dump_stages: Path | None, quiet: bool
) -> tuple[Report, list[Diagnostic]]:
    with reported_passes(debug, dump_stages, spec, quiet):
        return check_file(spec, limits)


def check_file(spec: Path, limits: Limits) -> tuple[Report, list[Diagnostic]]:
    """Check one spec: its report line's facts, and its problems."""
    typed, diagnostics = run_spec_pass(lambda: check_spec(spec, limits))
    if typed is None:
        return {"file": str(spec), "valid": False, "errors": len(diagnostics)}, diagnostics
    trainable, frozen = parameter_counts(typed)
    report = {
        "file": str(spec),
        "valid": True,
        "layers": len(typed.resolved.nodes),
        "params": trainable + frozen,
    }
    return report, diagnostics


def _check_files(files: list[Path], limits: Limits) -> list[tuple[Report, list[Diagnostic]]]:
    return [check_file(spec, limits) for spec in files]


def _workers(count: int) -> int:
    if count < POOL_MIN_FILES:
        return 1
    return max(1, min(_cores(), count // FILES_PER_WORKER))


def _cores() -> int:
    # The cores this process may run on (a container's or taskset's share), not the host's.
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _check_in_pool(files: list[Path], limits: Limits) -> list[tuple[Report, list[Diagnostic]]]:
    workers = _workers(len(files))
    # One contiguous run of files per task, a few tasks per worker so that a slow run does
    # not leave the others idle; map returns them in the order given.
    size = max(1, -(-len(files) // (workers * 4)))
    runs = [files[i : i + size] for i in range(0, len(files), size)]
    # fork: the workers start with everything this process imported (the spec schema, the
    # compiler); elsewhere the platform's default. The only other threads here are NumPy's
    # BLAS workers, idle, which the BLAS library itself restarts in a forked child.
    # Here: most runs check a few files, and a small spec checks in less time than these
    # imports take.
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    # A forked worker shares what was imported and built here: the entry modules and the
    # compile and train sections made from them, once for all of them (each would
    # otherwise import the modules its specs name and build the sections, on its own).
    load_every_entry()
    loaded_sections()
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else None)
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        done = pool.map(_check_files, runs, [limits] * len(runs))
        return [result for run in done for result in run]


def _print(
    reports: list[Report], problems: list[Diagnostic], output_format: OutputFormat, quiet: bool
) -> None:
    if output_format is OutputFormat.json:
        payload = {"files": reports, "diagnostics": json.loads(render(problems, "json"))}
        echo(json.dumps(payload, indent=2))
        return
    if output_format is OutputFormat.sarif:
        echo(render_diagnostics(problems, output_format))
        return
    if problems:
        echo(render_diagnostics(problems, output_format))
    if not quiet and output_format is OutputFormat.text:
        for report in reports:
            if report["valid"]:
                echo(
                    f"{terminal_text(str(report['file']))}: ok ({report['layers']} layers, "
                    f"{report['params']:,} parameters)"
                )
        if problems:
            invalid = sum(1 for r in reports if not r["valid"])
            echo(f"{len(problems)} error(s) in {invalid} file(s)")
