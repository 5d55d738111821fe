"""The generated docs are current and every diagnostic code is documented."""

from __future__ import annotations

import re

import pytest

from specc.catalog import CATALOG_PATH, render_catalog
from specc.cli.diagnostic_codes import DIAGNOSTIC_CODES
from specc.cli.diagnostic_docs import (
    DIAGNOSTICS_DOC,
    TABLE_END,
    TABLE_START,
    MissingMarkers,
    render_doc,
)
from tests.spec_helpers import ROOT


def test_catalog_is_current() -> None:
    assert CATALOG_PATH.read_text() == render_catalog(), (
        "docs/catalog.md is stale: run `python -m specc.catalog`"
    )


def test_diagnostics_doc_is_current() -> None:
    assert DIAGNOSTICS_DOC.read_text() == render_doc(DIAGNOSTICS_DOC.read_text()), (
        "docs/diagnostics.md is stale: run `python -m specc.cli.diagnostic_docs`"
    )


def test_the_diagnostics_table_is_made_from_the_codes_and_the_prose_kept() -> None:
    stale = f"Intro.\n\n{TABLE_START}\n| old | row |\n{TABLE_END}\n\nOutro.\n"
    codes = {"SPC900-a": "one `x`", "SPC901-b": "a | b"}
    assert render_doc(stale, codes) == (
        f"Intro.\n\n{TABLE_START}\n| code | meaning |\n| --- | --- |\n"
        f"| SPC900-a | one `x` |\n| SPC901-b | a \\| b |\n{TABLE_END}\n\nOutro.\n"
    )
    with pytest.raises(MissingMarkers):
        render_doc("no markers here\n", codes)


def test_every_diagnostic_code_is_documented() -> None:
    sources = [*ROOT.joinpath("specc").rglob("*.py"), *ROOT.joinpath("cli").rglob("*.py")]
    used = {code for path in sources for code in re.findall(r"SPC\d{3}-[a-z-]+", path.read_text())}
    assert used - set(DIAGNOSTIC_CODES) == set()
    assert len(used) >= 20


def test_diagnostic_numbers_are_unique() -> None:
    numbers = [code[:6] for code in DIAGNOSTIC_CODES]
    assert len(numbers) == len(set(numbers))
