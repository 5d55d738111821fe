"""``specc schema [--out FILE]``: the spec format's JSON Schema, for editors and CI."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from specc.atomic import write_text
from specc.cli.common import DebugOption, folder_write_errors, internal_errors, say
from specc.schema import render_schema


def schema(
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Write the schema to FILE instead of printing it."),
    ] = None,
    debug: DebugOption = False,
) -> None:
    """Print the JSON Schema of the spec format (the same as schemas/specc.schema.json)."""
    with internal_errors(debug):
        text = render_schema()
        if out is None:
            typer.echo(text, nl=False)
            return
        with folder_write_errors(f"cannot write {out}"):
            write_text(out, text)
    say(f"wrote {out}")
