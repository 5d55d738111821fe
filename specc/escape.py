"""Text from a spec, a data file or a model's metadata, made safe for the place it lands.

Anything a user wrote (a model name, a label, a file name, an error message quoting them) is
untrusted where it ends up in generated code or in a terminal. Each function here renders
it for exactly one place; templates are filled in one pass (``fill_template``), so a value
that happens to look like a placeholder stays text.
"""

from __future__ import annotations

import html
import json
import re
import unicodedata
from collections.abc import Mapping

# C0 and C1 controls and DEL, plus the characters that change how following text is shown:
# line and paragraph separators, and the bidirectional overrides of "Trojan Source".
_UNSAFE_FOR_TERMINAL = re.compile(
    "[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]"
)


def _escaped_char(match: re.Match[str]) -> str:
    code = ord(match.group(0))
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def terminal_text(text: str) -> str:
    """``text`` with every control and direction character shown as an escape (``\\x1b``),
    so that it prints on one line and cannot move the cursor, retitle the window or colour
    what follows."""
    return _UNSAFE_FOR_TERMINAL.sub(_escaped_char, text)


def terminal_lines(text: str) -> str:
    """Like ``terminal_text``, but keeping the newlines that separate lines of a message."""
    return "\n".join(terminal_text(line) for line in text.split("\n"))


def js_string(text: str) -> str:
    """A JavaScript string literal (quotes included) holding ``text``, safe inside a
    ``<script>`` element and an ES module: JSON's escaping, plus the line separators
    JSON allows but older JavaScript does not, and ``<``, so ``</script>`` cannot close the
    element."""
    literal = json.dumps(text, ensure_ascii=False)
    return (
        literal.replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
    )


def js_comment(text: str) -> str:
    """``text`` for a ``//`` line comment: one line, no way to end the comment early."""
    flat = terminal_text(text)
    return flat.replace("*/", "*\\/").replace("<", "\\u003c")


def json_in_html(value: object) -> str:
    """A JSON value to embed in an HTML ``<script>`` element."""
    return (
        json.dumps(value, ensure_ascii=False)
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


def html_text(text: str) -> str:
    """``text`` as HTML text or a quoted attribute value."""
    return html.escape(terminal_text(text), quote=True)


# What XML 1.0 cannot hold at all, even as a character reference: lone surrogates (JSON's
# "\\ud800" decodes to one) and the two noncharacters U+FFFE and U+FFFF.
_NOT_XML = re.compile("[\ud800-\udfff\ufffe\uffff]")


def unpaired_escaped(text: str) -> str:
    """``text`` with lone surrogates, which no encoding holds, and U+FFFE and U+FFFF shown
    as escapes (``\\ud800``): for places that encode or render text, not just print it."""
    return _NOT_XML.sub(_escaped_char, text)


def xml_text(text: str) -> str:
    """``text`` as XML (SVG) character data or a quoted attribute value: escaped as
    ``html_text`` does, and the characters XML forbids shown as escapes, so the document
    always parses."""
    return html_text(unpaired_escaped(text))


_MARKDOWN_SPECIALS = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~&\"'=:])")


def markdown_text(text: str) -> str:
    """``text`` as literal Markdown inline text: one line, every character that could
    start markup (emphasis, links, HTML, tables) backslash-escaped."""
    return _MARKDOWN_SPECIALS.sub(r"\\\1", terminal_text(text))


def markdown_code(text: str) -> str:
    """``text`` as a Markdown code span, fenced with more backticks than it holds."""
    flat = terminal_text(text)
    longest = max((len(run) for run in re.findall("`+", flat)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if flat.startswith("`") or flat.endswith("`") or not flat else ""
    return f"{fence}{pad}{flat}{pad}{fence}"


def kotlin_string(text: str) -> str:
    """A Kotlin string literal holding ``text`` (``$`` escaped: no templates)."""
    return _c_like_string(text, {"$": "\\$"})


def swift_string(text: str) -> str:
    """A Swift string literal holding ``text`` (``\\(`` cannot interpolate)."""
    return _c_like_string(text, {})


def _c_like_string(text: str, extra: Mapping[str, str]) -> str:
    out = []
    for char in text:
        if char in extra:
            out.append(extra[char])
        elif char in ('"', "\\"):
            out.append("\\" + char)
        elif char == "\n":
            out.append("\\n")
        elif ord(char) < 0x20 or 0x7F <= ord(char) <= 0x9F or _UNSAFE_FOR_TERMINAL.match(char):
            out.append(f"\\u{{{ord(char):04x}}}" if not extra else f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


# GitHub workflow commands: https://docs.github.com/actions (workflow commands). Data and
# property values are escaped differently; property values also escape ':' and ','.
def github_data(text: str) -> str:
    """A workflow command's message."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def github_property(text: str) -> str:
    """A workflow command's property value (``file=``, ``title=``)."""
    return github_data(text).replace(":", "%3A").replace(",", "%2C")


# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_text(text: str) -> str:
    """A CSV field (RFC 4180) holding ``text``, a header or a label, never a number: a
    leading formula character gets a ``'`` in front, so a spreadsheet shows it as text;
    a field with a comma, a quote or a line break is quoted, its quotes doubled."""
    if text.startswith(_FORMULA_START):
        text = "'" + text
    if any(c in text for c in ',"\r\n') or text != text.strip():
        return '"' + text.replace('"', '""') + '"'
    return text


_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")


def fill_template(template: str, values: Mapping[str, str]) -> str:
    """Replace each ``{{name}}`` in ``template`` by ``values[name]`` in one pass: text
    that a value brings in is never scanned for placeholders. An unknown name is an error
    (a template and its caller disagree)."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise KeyError(f"template placeholder {{{{{name}}}}} has no value")
        return values[name]

    return _PLACEHOLDER.sub(replace, template)


_FILE_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_file_name(text: str, fallback: str = "model", limit: int = 64) -> str:
    """A file or folder name made from untrusted text: letters, digits, '.', '_' and '-'
    only, no leading dot, at most ``limit`` characters; ``fallback`` when nothing is left."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    name = _FILE_NAME_UNSAFE.sub("-", ascii_text).strip(".-_")[:limit].strip(".-_")
    return name or fallback


def excerpt(text: str, width: int = 60) -> str:
    """``text`` from a file (a column name, a cell, an archive member) for a one-line
    message: control characters escaped as ``terminal_text`` does, and cut to ``width``
    characters with ``...`` when longer, so a 1 MB cell does not become a 1 MB message."""
    if len(text) > width:
        text = text[:width] + "..."
    return terminal_text(text)
