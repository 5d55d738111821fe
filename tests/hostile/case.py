"""One hostile input: the files it needs, the command, and what a clean outcome is."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

# File contents: bytes or text, or a function that writes the file at the path it is given
# (for inputs too big to hold in a module, such as a zip that inflates to gigabytes).
Content = bytes | str | Callable[[Path], None]


@dataclass(frozen=True)
class Outcome:
    """What the command did."""

    exit_code: int
    output: str  # stdout and stderr together
    seconds: float
    folder: Path  # the case's working folder, with whatever the command wrote


@dataclass(frozen=True)
class Case:
    """A command run in a fresh folder holding ``files``; it is handled cleanly when it
    exits with ``exit_code``, its output holds each of ``output_has`` (regular expressions),
    it prints no traceback and no internal error, no control characters, and ``check``
    (given the outcome) finds no problem."""

    family: str
    name: str
    argv: list[str]
    files: dict[str, Content] = field(default_factory=dict)
    exit_code: int = 1
    output_has: tuple[str, ...] = ()
    check: Callable[[Outcome], str | None] | None = None
    seconds: float = 30.0

    @property
    def id(self) -> str:
        """``family/name``, as tests and the report name a case."""
        return f"{self.family}/{self.name}"


_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def problems(case: Case, outcome: Outcome) -> list[str]:
    """Every way ``outcome`` falls short of handling ``case`` cleanly (empty: handled)."""
    found = []
    if outcome.exit_code != case.exit_code:
        found.append(f"exit {outcome.exit_code}, expected {case.exit_code}")
    if "Traceback (most recent call last)" in outcome.output:
        found.append("printed a traceback")
    if "internal error" in outcome.output:
        found.append("reported an internal error")
    if _CONTROL.search(outcome.output):
        found.append("printed control characters")
    found.extend(
        f"output lacks /{pattern}/"
        for pattern in case.output_has
        if not re.search(pattern, outcome.output)
    )
    if outcome.seconds > case.seconds:
        found.append(f"took {outcome.seconds:.1f} s (limit {case.seconds:.0f} s)")
    if case.check is not None and not found:
        extra = case.check(outcome)
        if extra:
            found.append(extra)
    return found


def write_files(folder: Path, files: dict[str, Content]) -> None:
    """Lay a case's files out in ``folder``."""
    for name, content in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if callable(content):
            content(path)
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
