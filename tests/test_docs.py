"""The generated docs are current and every diagnostic code is documented."""

from __future__ import annotations

import re

from specc.catalog import CATALOG_PATH, render_catalog
from tests.spec_helpers import ROOT


def test_catalog_is_current() -> None:
    assert CATALOG_PATH.read_text() == render_catalog(), (
        "docs/catalog.md is stale: run `python -m specc.catalog`"
    )


def test_every_diagnostic_code_is_documented() -> None:
    sources = [*ROOT.joinpath("specc").rglob("*.py"), *ROOT.joinpath("cli").rglob("*.py")]
    used = {code for path in sources for code in re.findall(r"SPC\d{3}-[a-z-]+", path.read_text())}
    documented = set(
        re.findall(r"SPC\d{3}-[a-z-]+", ROOT.joinpath("docs/diagnostics.md").read_text())
    )
    assert used - documented == set()
    assert len(used) >= 20


def test_diagnostic_numbers_are_unique() -> None:
    documented = re.findall(r"\| (SPC\d{3})-", ROOT.joinpath("docs/diagnostics.md").read_text())
    assert len(documented) == len(set(documented))
