"""Every bad spec in ``tests/invalid/`` fails with exactly the diagnostics beside it.

Each case is a spec file ``<name>.yaml`` (or ``.json``) and ``<name>.expected``: the
diagnostics ``specc validate`` prints for it, one per line, with the file written as the
path relative to the repository root. Adding a case means adding those two files.

Cases in ``KNOWN_BUGS`` hold the diagnostics the compiler *should* give; the library
gives something else today, so they are strict xfails and turn red once fixed (then drop
them from the list).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from specc.cli.app import app
from specc.diagnostics import SpecError
from specc.pipeline import check_spec
from tests.spec_helpers import ROOT

INVALID = ROOT / "tests" / "invalid"
SPEC_SUFFIXES = {".yaml", ".yml", ".json"}

# name -> why the library's current output differs from the .expected file.
KNOWN_BUGS: dict[str, str] = {}


def spec_files() -> list[Path]:
    """Every spec in tests/invalid, in name order."""
    return sorted(p for p in INVALID.iterdir() if p.suffix in SPEC_SUFFIXES)


def relative(spec: Path) -> str:
    """The spec's path as the diagnostics print it."""
    return spec.relative_to(ROOT).as_posix()


def expected_lines(spec: Path) -> list[str]:
    """The lines of the spec's .expected file."""
    return spec.with_suffix(".expected").read_text(encoding="utf-8").splitlines()


def _case(spec: Path) -> object:
    reason = KNOWN_BUGS.get(spec.name)
    marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
    return pytest.param(spec, id=spec.name, marks=marks)


# Diagnostics carry the path as given; relative paths need the root as cwd.
pytestmark = pytest.mark.usefixtures("at_repo_root")


@pytest.mark.parametrize("spec", [_case(s) for s in spec_files()])
def test_invalid_spec_gives_expected_diagnostics(spec: Path) -> None:
    with pytest.raises(SpecError) as caught:
        check_spec(relative(spec))
    got = [d.as_text() for d in caught.value.diagnostics]
    assert got == expected_lines(spec)


def test_there_are_enough_cases() -> None:
    assert len(spec_files()) >= 30


def test_every_case_has_an_expectation_and_every_expectation_a_case() -> None:
    stems = [s.stem for s in spec_files()]
    assert len(stems) == len(set(stems)), "two specs share a stem, so one .expected file"
    expectations = {p.stem for p in INVALID.glob("*.expected")}
    assert expectations == set(stems)
    for spec in spec_files():
        lines = expected_lines(spec)
        assert lines, f"{spec.name}.expected is empty"
        assert all(line.startswith(relative(spec) + ":") for line in lines)


def test_known_bugs_name_existing_cases() -> None:
    names = {s.name for s in spec_files()}
    assert set(KNOWN_BUGS) <= names


CLI_CASES = [
    "unknown_layer_type.yaml",
    "several_errors.yaml",
    "json_syntax_error.json",
    "cycle_three.yaml",
    "loss_weights_count.yaml",
]


def test_cli_validate_reports_every_line_and_exits_1() -> None:
    specs = [INVALID / name for name in CLI_CASES]
    result = CliRunner().invoke(app, ["validate", *(relative(s) for s in specs)])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    out_lines = result.output.splitlines()
    for spec in specs:
        for line in expected_lines(spec):
            assert line in out_lines
    total = sum(len(expected_lines(s)) for s in specs)
    assert f"{total} error(s) in {len(specs)} file(s)" in result.output


def test_cli_validate_one_invalid_among_valid_still_exits_1() -> None:
    good = ROOT / "models" / "mnist_mlp.yaml"
    bad = INVALID / "units_zero.yaml"
    result = CliRunner().invoke(app, ["validate", relative(good), relative(bad)])
    assert result.exit_code == 1, result.output
    assert expected_lines(bad)[0] in result.output.splitlines()
    assert "models/mnist_mlp.yaml: ok" in result.output


def test_cli_validate_github_format_points_at_the_same_place() -> None:
    spec = INVALID / "unknown_activation.yaml"
    result = CliRunner().invoke(app, ["validate", "--format", "github", relative(spec)])
    assert result.exit_code == 1, result.output
    # tests/invalid/unknown_activation.yaml:8:17: ... -> line=8,col=17
    _, line, col = expected_lines(spec)[0].split(": ")[0].rsplit(":", 2)
    assert f"::error file={relative(spec)},line={line},col={col}," in result.output
