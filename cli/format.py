"""``specc format [--check] [--diff] [--line-length N] PATH...``: specs rewritten in the
canonical layout."""

from __future__ import annotations

import difflib
import os
import re
from pathlib import Path
from typing import Annotated

import typer

from specc.atomic import write_text
from specc.cli.common import (
    EXIT_OK,
    EXIT_SPEC_ERROR,
    DebugOption,
    LimitOption,
    MaxFileSizeOption,
    folder_write_errors,
    internal_errors,
    resolve_limits,
    say,
)
from specc.diagnostics import SpecError, render
from specc.escape import terminal_lines
from specc.format_yaml import LINE_LENGTH
from specc.formatting import Formatted, format_file

SUFFIXES = (".yaml", ".yml", ".json")
# Folders a search for specs never enters: tools' and packages' own files.
_SKIPPED_FOLDERS = {"node_modules", "__pycache__"}
_SPEC_KEY = re.compile(r'^(?:specc|"specc")\s*:|^\s*\{?\s*"specc"\s*:', re.MULTILINE)
_HEAD = 1 << 16  # the top-level key is looked for in a file's first 64 KiB


def format_specs(
    paths: Annotated[
        list[Path],
        typer.Argument(
            help="Spec files, or folders to search for specs (YAML and JSON files whose "
            "top level has a 'specc' key).",
            exists=True,
        ),
    ],
    check: Annotated[
        bool,
        typer.Option("--check", help="Write nothing; exit 1 listing the files that would change."),
    ] = False,
    diff: Annotated[
        bool, typer.Option("--diff", help="Write nothing; print the changes as a unified diff.")
    ] = False,
    line_length: Annotated[
        int,
        typer.Option(
            "--line-length",
            min=1,
            help="The widest line a mapping or list is written on in flow style "
            "({type: Dense, units: 64}); wider ones are written in block style.",
        ),
    ] = LINE_LENGTH,
    debug: DebugOption = False,
    limit: LimitOption = None,
    max_file_size: MaxFileSizeOption = None,
) -> None:
    """Rewrite specs in one canonical layout, comments kept.

    Exit 1 when a spec does not parse (or, with --check or --diff, when one would change).
    """
    limits = resolve_limits(limit, None, max_file_size)
    failed = False
    changed: list[Formatted] = []
    with internal_errors(debug):
        for path in _spec_files(paths):
            try:
                result = format_file(path, limits, line_length)
            except SpecError as exc:
                typer.echo(terminal_lines(render(exc.diagnostics, "text")), err=True)
                failed = True
                continue
            if not result.changed:
                continue
            changed.append(result)
            if diff:
                typer.echo(terminal_lines(_unified_diff(result)), nl=False)
            elif check:
                say(f"would reformat {path}", err=False)
            else:
                with folder_write_errors(f"cannot write {path}"):
                    write_text(path, result.formatted)
                say(f"reformatted {path}", err=False)
    if not check and not diff:
        say(f"{len(changed)} file(s) reformatted", err=True)
    if failed or ((check or diff) and changed):
        raise typer.Exit(EXIT_SPEC_ERROR)
    raise typer.Exit(EXIT_OK)


def _spec_files(paths: list[Path]) -> list[Path]:
    """The files given, and the specs in the folders given, each once, in order."""
    found: dict[Path, None] = {}
    for path in paths:
        if path.is_dir():
            found.update(dict.fromkeys(_specs_in(path)))
        else:
            found[path] = None
    return list(found)


def _specs_in(folder: Path) -> list[Path]:
    specs = []
    for root, folders, files in os.walk(folder):
        folders[:] = sorted(
            f for f in folders if not f.startswith(".") and f not in _SKIPPED_FOLDERS
        )
        for name in sorted(files):
            path = Path(root) / name
            if path.suffix.lower() in SUFFIXES and _looks_like_spec(path):
                specs.append(path)
    return specs


def _looks_like_spec(path: Path) -> bool:
    # A folder holds other YAML and JSON too (CI settings, histories); a spec names its
    # format version at the top level. Looked for in the text, so that a spec too broken
    # to parse is still found (and reported) while other files are left alone.
    try:
        head = path.read_text(encoding="utf-8", errors="replace")[:_HEAD]
    except OSError:
        return False
    return _SPEC_KEY.search(head) is not None


def _unified_diff(result: Formatted) -> str:
    name = str(result.path)
    lines = difflib.unified_diff(
        result.original.splitlines(keepends=True),
        result.formatted.splitlines(keepends=True),
        fromfile=name,
        tofile=name,
    )
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)
