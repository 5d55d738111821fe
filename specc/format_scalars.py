"""A spec's scalars as ``specc format`` writes them: YAML 1.2 (specc) and YAML 1.1 readers
(PyYAML, many editors' older parsers) read the same value.

Floats always have a dot and a signed exponent (``1.0e-3``, never ``1e-3``, which YAML 1.1
reads as a string), and strings are quoted only where a plain one would read differently
(``"yes"``, ``"1.0"``, ``"a: b"``, and in a flow collection ``"a,b"``), in double quotes
with JSON's escapes.
"""

from __future__ import annotations

import functools
import math
import re
import unicodedata
from typing import Any

import yaml

from specc.diagnostics import SpecPath
from specc.spec.loader import load_text

# Integer keys of train.class_weight are kept as their text by the loader; written plain.
_CLASS_KEY = re.compile(r"^[0-9]+$")
# Strings of these characters read the same in a flow collection as in a block: none is a
# flow indicator (",[]{}"), or ":", "#" or "?", which read otherwise next to one.
_SAME_IN_FLOW = re.compile(r"[\w.\- ()+/]+")


def scalar_key(key: Any, path: SpecPath, flow: bool = False) -> str:
    """A mapping key as written (``flow``: inside a flow collection)."""
    if isinstance(key, str) and path[:2] == ("train", "class_weight") and _CLASS_KEY.match(key):
        return key
    return scalar(key, flow)


def scalar(value: Any, flow: bool = False) -> str:
    """A scalar as written (``flow``: inside a flow collection): both YAML 1.1 and 1.2 read
    it back as ``value``."""
    if value is None:
        return "null"
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return float_text(value)
    if isinstance(value, str):
        return value if _plain_reads_back(value, flow) else double_quoted(value)
    raise TypeError(f"no YAML spelling for {type(value).__name__}")


def float_text(value: float) -> str:
    """A float in the spelling both YAML 1.1 and 1.2 read as a float: ``0.001``, ``1.0``,
    ``1.0e-5``, ``2.5e+20`` (YAML 1.1 needs the dot and the exponent's sign)."""
    if math.isnan(value):
        return ".nan"
    if math.isinf(value):
        return ".inf" if value > 0 else "-.inf"
    text = repr(value)
    if "e" not in text:
        return text
    mantissa, exponent = text.split("e")
    if "." not in mantissa:
        mantissa += ".0"
    sign = "-" if exponent.startswith("-") else "+"
    return f"{mantissa}e{sign}{exponent.lstrip('+-').lstrip('0') or '0'}"


def double_quoted(text: str) -> str:
    """``text`` in double quotes, escaped as JSON escapes (YAML's double-quoted strings
    take the same), non-printable characters included."""
    parts = ['"']
    for char in text:
        if char in '"\\':
            parts.append("\\" + char)
        elif char in _SHORT_ESCAPES:
            parts.append(_SHORT_ESCAPES[char])
        elif not printable(char):
            code = ord(char)
            parts.append(f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}")
        else:
            parts.append(char)
    parts.append('"')
    return "".join(parts)


_SHORT_ESCAPES = {"\n": "\\n", "\t": "\\t", "\r": "\\r", "\b": "\\b", "\f": "\\f"}


def printable(char: str) -> bool:
    """Whether YAML may hold ``char`` as it is, unescaped, on one line."""
    # YAML's printable set, less the line and paragraph separators it reads as breaks.
    category = unicodedata.category(char)
    return not (category.startswith("C") or category in ("Zl", "Zp")) or char == "\t"


@functools.lru_cache(maxsize=4096)
def _plain_reads_back(text: str, flow: bool) -> bool:
    """Whether ``text`` written plain reads back as this string, as a key and a value,
    in YAML 1.2 (specc) and YAML 1.1 (PyYAML)."""
    if not text or text != text.strip() or not all(printable(c) and c != "\t" for c in text):
        return False
    if flow and _SAME_IN_FLOW.fullmatch(text):
        return _plain_reads_back(text, flow=False)  # no character a flow context reads apart
    documents = {f"{text}: {text}\n": {text: text}}
    if flow:  # a flow list's items and a flow mapping's key and value, each before a "," too
        documents[f"k: [{text}, {text}]\n"] = {"k": [text, text]}
        documents[f'k: {{{text}: {text}, "": 0}}\n'] = {"k": {text: text, "": 0}}
    for document, expected in documents.items():
        for read in (_read_yaml_1_1, _read_yaml_1_2):
            try:
                if read(document) != expected:
                    return False
            except Exception:  # any reading error means: not as a plain scalar
                return False
    return True


def _read_yaml_1_1(text: str) -> Any:
    return yaml.safe_load(text)


def _read_yaml_1_2(text: str) -> Any:
    return load_text(text).data
