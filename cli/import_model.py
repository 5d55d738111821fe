"""``specc import MODEL --out DIR``: a Keras 3 model file as a spec and its weights."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from specc.atomic import check_output_folder, staged_folder, write_text
from specc.cli.common import (
    EXIT_SPEC_ERROR,
    DebugOption,
    FormatOption,
    LimitOption,
    OutputFormat,
    exits_on_signals,
    folder_write_errors,
    internal_errors,
    print_diagnostics,
    resolve_limits,
    say,
    usage_error,
)
from specc.diagnostics import SpecError
from specc.formatting import format_text
from specc.importer import import_model
from specc.importer.archive import is_archive
from specc.importer.h5_weights import MissingExtra
from specc.weights import save_weights

SPEC_FILE = "spec.yaml"
WEIGHTS_FILE = "weights.npz"
OWNED = (SPEC_FILE, WEIGHTS_FILE)
HEADER = "# Imported by specc import from {source}.\n"


def import_keras(
    model: Annotated[
        Path,
        typer.Argument(
            help="A Keras 3 .keras file, or a model.to_json() file (then give --weights).",
            exists=True,
            dir_okay=False,
        ),
    ],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Folder to write spec.yaml and weights.npz to.")
    ],
    weights: Annotated[
        Path | None,
        typer.Option(
            "--weights",
            "-w",
            help="The .weights.h5 file (model.save_weights) of a model.to_json() file.",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
    output_format: FormatOption = OutputFormat.text,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print problems only.")] = False,
    debug: DebugOption = False,
    limit: LimitOption = None,
) -> None:
    """Read a Keras 3 model and write it as DIR/spec.yaml and DIR/weights.npz.

    Nothing in the model is run; `specc build` turns the two files into the same model.
    Exit 1 when the model holds anything specc cannot map (each reported by its path in the
    config).
    """
    limits = resolve_limits(limit, None, None)
    is_archive = _starts_with_zip(model)
    if is_archive and weights is not None:
        raise usage_error("--weights is for a model.to_json() file; a .keras file holds its own")
    if not is_archive and weights is None:
        raise usage_error("a model.to_json() file needs its weights: give --weights W.weights.h5")
    with (
        exits_on_signals("interrupted; nothing written", "terminated; nothing written"),
        internal_errors(debug),
    ):
        with folder_write_errors(f"cannot write {out}"):
            check_output_folder(out, OWNED)  # before any work, as staged_folder will
        try:
            imported = import_model(model, weights, limits)
        except SpecError as error:
            print_diagnostics(error.diagnostics, output_format, err=False)
            raise typer.Exit(EXIT_SPEC_ERROR) from None
        except MissingExtra as missing:
            raise usage_error(str(missing)) from None
        text = format_text(_json(imported.spec), SPEC_FILE)
        with (
            folder_write_errors(f"cannot write {out}"),
            staged_folder(out, OWNED) as staging,
        ):
            write_text(staging / SPEC_FILE, HEADER.format(source=_printable(model.name)) + text)
            save_weights(staging / WEIGHTS_FILE, imported.weights)
    if not quiet:
        say(f"wrote {out / SPEC_FILE} and {out / WEIGHTS_FILE} ({len(imported.weights)} weights)")


def _starts_with_zip(path: Path) -> bool:
    try:
        return is_archive(path)
    except OSError as exc:
        raise usage_error(f"cannot read {path}: {exc.strerror or exc}") from None


def _printable(name: str) -> str:
    """A file name fit for a one-line YAML comment: a line break in it would end the
    comment and put the rest of the name into the spec."""
    return "".join(c if c.isprintable() else "?" for c in name)


def _json(spec: dict[str, object]) -> str:
    return json.dumps(spec, indent=2)
