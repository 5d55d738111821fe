"""Which files ``specc validate`` checks when it is given folders.

A file named on the command line is always checked. In a folder (searched recursively,
in sorted order, hidden folders and ``node_modules`` skipped) a file is a spec when

- its name ends in ``.specc.yaml``, ``.specc.yml`` or ``.specc.json``; or
- it is any other ``.yaml``, ``.yml`` or ``.json`` file whose top level has a ``specc`` key
  (``specc: 1``), read as far as the file-size limit allows.

So a repository's CI configuration, data files and lock files are passed over, and a spec
does not have to be renamed to be found.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

SPEC_SUFFIXES = (".specc.yaml", ".specc.yml", ".specc.json")
YAML_SUFFIXES = (".yaml", ".yml")
SKIPPED_FOLDERS = frozenset({"node_modules", "__pycache__"})

# A top-level ``specc`` key: at the start of a line, bare or quoted, then a colon.
_YAML_SPECC_KEY = re.compile(r"""^(specc|"specc"|'specc')[ \t]*:""", re.M)


def spec_files(paths: list[Path], max_bytes: int) -> list[Path]:
    """The files to check, in the order given, each folder replaced by the specs it holds
    (sorted). A file named twice is checked twice, as before folders were taken."""
    found: list[Path] = []
    for path in paths:
        found.extend(_specs_in(path, max_bytes) if path.is_dir() else [path])
    return found


def _specs_in(folder: Path, max_bytes: int) -> Iterator[Path]:
    for root, folders, files in os.walk(folder):
        # Sorted in place, so the walk itself runs in a fixed order.
        folders[:] = sorted(f for f in folders if not _skipped(f))
        for name in sorted(files):
            path = Path(root, name)
            if is_spec_file(path, max_bytes):
                yield path


def _skipped(folder: str) -> bool:
    return folder.startswith(".") or folder in SKIPPED_FOLDERS


def is_spec_file(path: Path, max_bytes: int) -> bool:
    """Whether a file found in a folder is a spec (see the module's docstring)."""
    name = path.name.lower()
    if name.endswith(SPEC_SUFFIXES):
        return True
    if not name.endswith((*YAML_SUFFIXES, ".json")):
        return False
    try:
        if not path.is_file() or path.stat().st_size > max_bytes:
            return False
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    if name.endswith(YAML_SUFFIXES):
        return _YAML_SPECC_KEY.search(text) is not None
    return _json_has_specc_key(text)


def _json_has_specc_key(text: str) -> bool:
    if not text.lstrip().startswith("{"):
        return False
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return False
    return isinstance(data, dict) and "specc" in data
