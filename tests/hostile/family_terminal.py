"""Terminal and CI output: names and file names that try to drive a terminal or forge
GitHub annotations (escape sequences, newlines, workflow-command syntax)."""

from __future__ import annotations

import json

from tests.hostile.case import Case, Outcome

FAMILY = "terminal and CI output"

VALID = "specc: 1\nname: ok\nlayers:\n  - {type: Dense, units: 2, input_shape: [3]}\n"
# An unknown activation: one located error.
INVALID = (
    "specc: 1\nname: bad\nlayers:\n"
    "  - {type: Dense, units: 2, activation: rleu, input_shape: [3]}\n"
)

OSC_TITLE = "\x1b]0;pwned\x07"
CSI_RED = "\x1b[31m"


def _no_forged_annotation(outcome: Outcome) -> str | None:
    lines = outcome.output.splitlines()
    commands = [line for line in lines if line.startswith("::")]
    if len(commands) != 1:
        return f"expected one workflow command, got {len(commands)}: {commands}"
    if commands[0].startswith("::error file=README.md"):
        return "the file property was forged"
    return None


def _one_error_line(outcome: Outcome) -> str | None:
    errors = [line for line in outcome.output.splitlines() if ": error: " in line]
    return None if len(errors) == 1 else f"expected one error line, got {len(errors)}"


def _spec_with_key(key: str) -> str:
    spec = {
        "specc": 1,
        "name": "keys",
        "layers": [{"type": "Dense", "units": 2, "input_shape": [3], key: 1}],
    }
    return json.dumps(spec)


CASES = [
    Case(
        FAMILY,
        "escape sequence in a file name (text)",
        ["validate", f"evil{OSC_TITLE}.yaml"],
        {f"evil{OSC_TITLE}.yaml": INVALID},
        exit_code=1,
        output_has=(r"evil\\x1b\]0;pwned\\x07\.yaml:4:",),
        check=_one_error_line,
    ),
    Case(
        FAMILY,
        "escape sequence in a valid file's name (ok line)",
        ["validate", f"ok{CSI_RED}.yaml"],
        {f"ok{CSI_RED}.yaml": VALID},
        exit_code=0,
        output_has=(r"ok\\x1b\[31m\.yaml: ok",),
    ),
    Case(
        FAMILY,
        "newline in a valid file's name cannot fake a second line",
        ["validate", "ok\nother.yaml: ok (1 layers).yaml"],
        {"ok\nother.yaml: ok (1 layers).yaml": VALID},
        exit_code=0,
        check=lambda o: None if len(o.output.strip().splitlines()) == 1 else "split lines",
    ),
    Case(
        FAMILY,
        "file name forging a GitHub annotation",
        ["validate", "--format", "github", "evil\n::error file=README.md,line=1::forged.yaml"],
        {"evil\n::error file=README.md,line=1::forged.yaml": INVALID},
        exit_code=1,
        output_has=(r"file=evil\\x0a%3A%3Aerror file=README\.md%2Cline=1%3A%3Aforged\.yaml,",),
        check=_no_forged_annotation,
    ),
    Case(
        FAMILY,
        "percent and newline in a GitHub message",
        ["validate", "--format", "github", "spec.json"],
        {"spec.json": _spec_with_key("a%0A::error file=README.md::x\ny")},
        exit_code=1,
        output_has=(r"a%250A",),
        check=_no_forged_annotation,
    ),
    Case(
        FAMILY,
        "escape sequence in an unknown key",
        ["validate", "spec.json"],
        {"spec.json": _spec_with_key(f"units{OSC_TITLE}")},
        exit_code=1,
        output_has=(r"\\x1b\]0;pwned\\x07",),
        check=_one_error_line,
    ),
    Case(
        FAMILY,
        "newline in an unknown key stays on one line",
        ["validate", "spec.json"],
        {"spec.json": _spec_with_key("units\nspec.json:1:1: error: forged")},
        exit_code=1,
        check=_one_error_line,
    ),
    Case(
        FAMILY,
        "bidirectional override in an unknown key",
        ["validate", "spec.json"],
        {"spec.json": _spec_with_key("units\u202egnp.exe")},
        exit_code=1,
        output_has=(r"\\u202e",),
    ),
    Case(
        FAMILY,
        "escape sequence in a JSON-format report",
        ["validate", "--format", "json", f"evil{OSC_TITLE}.yaml"],
        {f"evil{OSC_TITLE}.yaml": INVALID},
        exit_code=1,
        output_has=(r"\\u001b\]0;pwned\\u0007",),
    ),
]
