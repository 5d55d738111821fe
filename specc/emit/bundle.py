"""Writing a bundle folder whole: every file of an export appears together, or none does.

An export writes into a staging folder beside ``--out`` (``specc.atomic.staged_folder``),
which replaces ``--out`` in one step when every file is written. A failure leaves ``--out``
as it was; a symbolic link planted in it is replaced with the folder, never written
through; and a folder holding files that specc did not write is refused
(``OutputFolderError``), since replacing it would delete them.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from pathlib import Path

from specc.atomic import OutputFolderError, check_output_folder, staged_folder

__all__ = ["OutputFolderError", "check_output_folder", "write_bundle"]


def write_bundle(
    out: Path, owned: Collection[str], write: Callable[[Path], list[Path]]
) -> list[Path]:
    """Run ``write(folder)`` on a staging folder and swap it in as ``out``; return the
    files it wrote, as paths in ``out``. ``owned``: the top-level names an earlier export
    of the same kind may have left in ``out``."""
    with staged_folder(out, owned) as staging:
        written = write(staging)
    return [out / path.relative_to(staging) for path in written]
