"""``--format sarif``: diagnostics as a SARIF 2.1.0 log, the format GitHub code scanning
(github/codeql-action/upload-sarif) and other CI tools read.

Each diagnostic code is a rule (its meaning from docs/diagnostics.md, by way of
``DIAGNOSTIC_CODES``); each diagnostic a result with its code, level, message and place.
File locations are relative to the folder specc ran in, under the base id ``%SRCROOT%``
(the checkout's root in a CI job), so the log reads the same on any machine; a file
outside that folder keeps its absolute ``file:`` URI. Messages come from spec files and
may hold anything: each is made one line (control characters shown as escapes) and the
log is written by ``json.dumps``, which escapes what JSON needs.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, metadata, version
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote

from specc.cli.diagnostic_codes import DIAGNOSTIC_CODES
from specc.diagnostics import Diagnostic
from specc.escape import terminal_text

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
SOURCE_ROOT = "%SRCROOT%"
# SARIF's levels are error, warning, note and none; specc's severities map onto them.
LEVELS = {"error": "error", "warning": "warning", "note": "note", "info": "note"}


def sarif_log(diagnostics: list[Diagnostic], root: Path) -> dict[str, Any]:
    """A SARIF log of one run of specc holding ``diagnostics``, their files given relative
    to ``root`` (the working folder)."""
    rules = dict(DIAGNOSTIC_CODES)
    for diagnostic in diagnostics:  # a code missing from the table still needs a rule
        rules.setdefault(diagnostic.code, "")
    index = {code: k for k, code in enumerate(rules)}
    return {
        "$schema": SARIF_SCHEMA,
        "version": SARIF_VERSION,
        "runs": [
            {
                "tool": {"driver": _driver(rules)},
                "originalUriBaseIds": {SOURCE_ROOT: {"uri": _folder_uri(root)}},
                "results": [_result(d, index[d.code], root) for d in diagnostics],
            }
        ],
    }


def _driver(rules: dict[str, str]) -> dict[str, Any]:
    return {
        "name": "specc",
        "version": _version(),
        "informationUri": _information_uri(),
        "rules": [_rule(code, meaning) for code, meaning in rules.items()],
    }


def _rule(code: str, meaning: str) -> dict[str, Any]:
    # SPC102-unknown-name: the slug is the rule's readable name.
    _, _, slug = code.partition("-")
    rule: dict[str, Any] = {"id": code, "name": slug or code}
    if meaning:
        rule["shortDescription"] = {"text": meaning}
    rule["defaultConfiguration"] = {"level": "error"}
    return rule


def _result(diagnostic: Diagnostic, rule_index: int, root: Path) -> dict[str, Any]:
    location: dict[str, Any] = {"artifactLocation": _artifact(diagnostic.file, root)}
    if diagnostic.position is not None:
        location["region"] = {
            "startLine": diagnostic.position.line,
            "startColumn": diagnostic.position.column,
        }
    result: dict[str, Any] = {
        "ruleId": diagnostic.code,
        "ruleIndex": rule_index,
        "level": LEVELS.get(diagnostic.severity, "error"),
        "message": {"text": one_line_message(diagnostic)},
        "locations": [{"physicalLocation": location}],
    }
    if diagnostic.path:
        result["properties"] = {"specPath": terminal_text(diagnostic.dotted_path)}
    return result


def one_line_message(diagnostic: Diagnostic) -> str:
    """The message and its spec path on one line: an excerpt under the message (a Lambda
    expression with a caret) is left out, and every line break or other control character
    in what remains is shown as an escape."""
    first, *rest = diagnostic.message.split("\n")
    text = first if rest and all(line.startswith("  ") for line in rest) else diagnostic.message
    where = f" (at {diagnostic.dotted_path})" if diagnostic.path else ""
    return terminal_text(text + where)


def _artifact(file: str, root: Path) -> dict[str, Any]:
    path = Path(file)
    absolute = path if path.is_absolute() else root / path
    try:
        relative = absolute.resolve().relative_to(root.resolve())
    except (ValueError, OSError):
        return {"uri": absolute.resolve().as_uri()}
    return {"uri": quote(str(PurePosixPath(*relative.parts))), "uriBaseId": SOURCE_ROOT}


def _folder_uri(root: Path) -> str:
    uri = root.resolve().as_uri()
    return uri if uri.endswith("/") else uri + "/"


def _version() -> str:
    try:
        return version("specc")
    except PackageNotFoundError:
        return "0+unknown"


def _information_uri() -> str:
    try:
        urls = metadata("specc").get_all("Project-URL") or []
    except PackageNotFoundError:
        urls = []
    for entry in urls:
        label, _, url = entry.partition(",")
        if label.strip().lower() in ("homepage", "documentation", "repository"):
            return url.strip()
    return "https://pypi.org/project/specc/"
