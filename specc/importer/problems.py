"""Problems found in a Keras model file, each at its JSON path in the config it came from."""

from __future__ import annotations

from dataclasses import dataclass, field

from specc.diagnostics import Diagnostic, SpecError, SpecPath
from specc.spec.source import PositionMap

# The codes are the spec's own: a model file is refused for the reasons a spec would be.
UNKNOWN_NAME = "SPC102-unknown-name"
UNKNOWN_KEY = "SPC103-unknown-key"
SCHEMA = "SPC101-schema"
FILE = "SPC105-file"
LIMIT = "SPC110-limit"
REFERENCE = "SPC201-unknown-reference"


@dataclass
class ConfigProblems:
    """Collects the problems of one config document, located in it; ``check()`` raises
    them all at once."""

    file: str
    positions: PositionMap = field(default_factory=PositionMap)
    diagnostics: list[Diagnostic] = field(default_factory=list)

    def error(self, code: str, message: str, path: SpecPath) -> None:
        """Record a problem at ``path`` in the config (``config.layers[3].config``)."""
        position = self.positions.locate(path)
        diagnostic = Diagnostic(code, message, path, self.file, position)
        if diagnostic not in self.diagnostics:  # a layer's later calls repeat its problems
            self.diagnostics.append(diagnostic)

    def check(self) -> None:
        """Raise ``SpecError`` with every problem recorded, if any."""
        if self.diagnostics:
            raise SpecError(self.diagnostics)


def file_error(file: str, message: str, code: str = FILE) -> SpecError:
    """A ``SpecError`` about a whole file (not readable, not a model, too big)."""
    return SpecError([Diagnostic(code, message, (), file)])
