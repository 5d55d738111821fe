"""Diagnostics: every problem found in a spec, with where it is and what to do about it.

Passes collect diagnostics instead of raising at the first problem, so a user sees every
error in one run. Codes follow ``SPC`` + three digits + a slug (see docs/diagnostics.md):
1xx schema, 2xx references, 3xx shapes, 4xx lowering, 5xx training and export.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from specc.escape import github_data, github_property, terminal_text

SpecPath = tuple[str | int, ...]


@dataclass(frozen=True)
class Position:
    """A 1-based line and column in a spec file."""

    line: int
    column: int


@dataclass(frozen=True)
class Diagnostic:
    """One problem in a spec: a code, a message, and the spec path it points at."""

    code: str
    message: str
    path: SpecPath = ()
    file: str = "<spec>"
    position: Position | None = None
    severity: str = "error"
    # True when the position to report is the mapping key at ``path`` (an unknown key),
    # not its value.
    at_key: bool = False
    # For a problem inside a string value (a Lambda expression): the 0-based offset of the
    # offending character in that string.
    offset: int | None = None

    @property
    def dotted_path(self) -> str:
        """The spec path as users write it: ``layers[3].units``."""
        return format_path(self.path)

    def located(self, file: str, position: Position | None) -> Diagnostic:
        """This diagnostic pinned to a file and a position."""
        return Diagnostic(
            self.code,
            self.message,
            self.path,
            file,
            position,
            self.severity,
            self.at_key,
            self.offset,
        )

    def _summary_and_excerpt(self) -> tuple[str, list[str]]:
        """The message's first line, and the indented excerpt lines under it (a Lambda
        expression with a caret under the offending character), each shown safely. A
        message whose later lines are not such an excerpt is one line: its breaks came from
        a name or a value, not from specc."""
        first, *rest = self.message.split("\n")
        if rest and all(line.startswith("  ") for line in rest):
            return terminal_text(first), [terminal_text(line) for line in rest]
        return terminal_text(self.message), []

    def as_text(self) -> str:
        """``file:line:col: error: message (at path) [code]``, the format editors and CI
        understand, then any excerpt lines.

        The first line stays one line, whatever the file name, path or message hold:
        control characters are shown as escapes, so a hostile name can neither split it nor
        drive the terminal."""
        where = f" (at {self.dotted_path})" if self.path else ""
        place = f"{self.position.line}:{self.position.column}:" if self.position else ""
        summary, excerpt = self._summary_and_excerpt()
        head = terminal_text(f"{self.file}:{place} {self.severity}: ")
        return "\n".join([f"{head}{summary}{terminal_text(where)} [{self.code}]", *excerpt])

    def as_github(self) -> str:
        """A GitHub Actions workflow command that annotates the offending line.

        Property values and the message are escaped as GitHub's workflow commands require
        (``%``, CR and LF everywhere; ``:`` and ``,`` in properties), so a file name cannot
        close the command early and forge another annotation."""
        line, col = (self.position.line, self.position.column) if self.position else (1, 1)
        where = f" (at {self.dotted_path})" if self.path else ""
        properties = ",".join(
            f"{key}={github_property(terminal_text(str(value)))}"
            for key, value in (
                ("file", self.file),
                ("line", line),
                ("col", col),
                ("title", self.code),
            )
        )
        summary, excerpt = self._summary_and_excerpt()
        message = github_data("\n".join([summary + terminal_text(where), *excerpt]))
        return f"::{self.severity} {properties}::{message}"

    def as_dict(self) -> dict[str, object]:
        """A JSON-friendly mapping of every field."""
        return {
            "file": self.file,
            "line": self.position.line if self.position else None,
            "column": self.position.column if self.position else None,
            "severity": self.severity,
            "code": self.code,
            "path": self.dotted_path,
            "message": self.message,
        }


class SpecError(Exception):
    """Raised when a spec has errors; carries every diagnostic found so far."""

    def __init__(self, diagnostics: Sequence[Diagnostic]) -> None:
        self.diagnostics = list(diagnostics)
        super().__init__("\n".join(d.as_text() for d in self.diagnostics))


def format_path(path: Iterable[str | int]) -> str:
    """Render ``("layers", 3, "units")`` as ``layers[3].units``; a key that is not a plain
    word (a user's misspelt key with a newline, or a megabyte long) as ``['...']``, escaped
    and cut short."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not _PLAIN_KEY.fullmatch(part):
            shown = repr(part) if len(part) <= 40 else f"{part[:37]!r}..."
            out += f"[{shown}]"
        else:
            out += f".{part}" if out else str(part)
    return out


_PLAIN_KEY = re.compile(r"[A-Za-z0-9_\-][A-Za-z0-9_.\-]{0,79}")


def suggest(name: str, choices: Iterable[str]) -> str | None:
    """The closest valid name to ``name``, if any is close enough to be a likely typo."""
    options = list(choices)
    lowered = {c.lower(): c for c in options}
    if name.lower() in lowered:
        return lowered[name.lower()]
    matches = difflib.get_close_matches(name, options, n=1, cutoff=0.6)
    if not matches:
        matches = difflib.get_close_matches(name.lower(), list(lowered), n=1, cutoff=0.6)
        matches = [lowered[m] for m in matches]
    return matches[0] if matches else None


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """A hint for an unknown name: a suggestion, or the list of choices when it is short."""
    options = sorted(set(choices))
    best = suggest(name, options)
    if best is not None:
        return f"; did you mean '{best}'?"
    if len(options) <= 10:
        return "; expected one of " + ", ".join(f"'{o}'" for o in options)
    return ""


def render(diagnostics: Sequence[Diagnostic], fmt: str) -> str:
    """Render diagnostics as ``text``, ``json`` or ``github`` output."""
    if fmt == "json":
        return json.dumps([d.as_dict() for d in diagnostics], indent=2)
    if fmt == "github":
        return "\n".join(d.as_github() for d in diagnostics)
    return "\n".join(d.as_text() for d in diagnostics)


@dataclass
class DiagnosticSink:
    """Collects diagnostics from a pass; ``check()`` raises once at the end if any were added."""

    diagnostics: list[Diagnostic] = field(default_factory=list)

    def error(self, code: str, message: str, path: SpecPath = ()) -> None:
        """Record an error at a spec path."""
        self.diagnostics.append(Diagnostic(code, message, path))

    def extend(self, diagnostics: Iterable[Diagnostic]) -> None:
        """Record diagnostics gathered elsewhere."""
        self.diagnostics.extend(diagnostics)

    def check(self) -> None:
        """Raise ``SpecError`` if anything was recorded."""
        if self.diagnostics:
            raise SpecError(self.diagnostics)
