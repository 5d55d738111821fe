"""``specc validate SPEC...``: schema, references, compile section and shapes, every error."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

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
    reported_passes,
    resolve_limits,
    run_spec_pass,
    usage_error,
)
from specc.diagnostics import render
from specc.escape import terminal_text
from specc.pipeline import check_spec
from specc.summary import parameter_counts


def validate(
    specs: Annotated[
        list[Path],
        typer.Argument(help="Spec files (.yaml, .yml or .json).", exists=True, dir_okay=False),
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
    if dump_stages is not None and len(specs) > 1:
        raise usage_error(f"--dump-stages takes one spec; got {len(specs)}")
    problems = []
    reports = []
    with internal_errors(debug):
        check_dump_folder(dump_stages)
        for spec in specs:
            with reported_passes(debug, dump_stages, spec, quiet):
                typed, diagnostics = run_spec_pass(lambda spec=spec: check_spec(spec, limits))
            problems.extend(diagnostics)
            if typed is not None:
                trainable, frozen = parameter_counts(typed)
                reports.append(
                    {
                        "file": str(spec),
                        "valid": True,
                        "layers": len(typed.resolved.nodes),
                        "params": trainable + frozen,
                    }
                )
            else:
                reports.append({"file": str(spec), "valid": False, "errors": len(diagnostics)})
    if output_format is OutputFormat.json:
        payload = {"files": reports, "diagnostics": json.loads(render(problems, "json"))}
        echo(json.dumps(payload, indent=2))
    else:
        if problems:
            echo(render(problems, output_format.value))
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
    raise typer.Exit(EXIT_SPEC_ERROR if problems else EXIT_OK)
