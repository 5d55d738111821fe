"""Whether a bundle written for a hostile name or hostile labels is valid and inert.

A bundle is compared with the bundle of the same model under a plain name and plain labels,
written by the same specc: the web page must have the same elements, the READMEs the same
Markdown structure (no new heading, list, link, HTML or line), ``specc.js`` the same code
apart from its name, and the JSON files must give back the exact strings.
"""

from __future__ import annotations

import html.parser
import json
import re
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from tests.hostile.case import Outcome
from tests.hostile.export_inputs import SPEC, Check


class _Tags(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.title = ""
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag + "".join(sorted(f" {k}" for k, _ in attrs)))
        self._in_title = tag == "title"

    def handle_endtag(self, tag: str) -> None:
        self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data


def page_of(text: str) -> _Tags:
    parser = _Tags()
    parser.feed(text)
    parser.close()
    return parser


def markdown_shape(text: str) -> Counter[str]:
    """Every Markdown token but plain text, counted: headings, lists, tables, code, links,
    HTML, line breaks."""
    from markdown_it import MarkdownIt

    shape: Counter[str] = Counter()
    for token in MarkdownIt("commonmark").enable("table").parse(text):
        shape[token.type] += 1
        for child in token.children or []:
            if child.type not in ("text", "text_special"):
                shape[child.type] += 1
    return shape


def _plain(description: dict[str, Any]) -> dict[str, Any]:
    plain = dict(description, name="plain")
    plain["outputs"] = [
        {**t, "labels": [f"label{k}" for k in range(len(t["labels"]))]} if t.get("labels") else t
        for t in description["outputs"]
    ]
    return plain


def _plain_bundle(spec: Path, target: str, out: Path) -> None:
    """The same model's bundle under a plain name and plain labels, written to ``out``."""
    from specc.emit.source import load_source

    source = load_source(spec)
    plain = type(source)(source.model, _plain(source.description), source.origin)
    if target == "web":
        from specc.emit.web import export_web

        export_web(plain, out)
    else:
        from specc.emit.mobile import export_mobile

        export_mobile(plain, out)


# Control, invisible and direction characters: shown as escapes, never raw.
_HIDDEN = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069]")
_JS_NAME = re.compile(r"^export const MODEL_NAME = (.*);$", re.M)


def _web_problem(bundle: Path, plain: Path, name: str, labels: list[str] | None) -> str | None:
    page, plain_page = (page_of((b / "index.html").read_text("utf-8")) for b in (bundle, plain))
    if page.tags != plain_page.tags:
        return f"index.html has other elements: {sorted(set(page.tags) ^ set(plain_page.tags))}"
    if page.title != plain_page.title.replace("plain", name, 1):
        return f"index.html's title is {page.title!r}"
    script, plain_script = ((b / "specc.js").read_text("utf-8") for b in (bundle, plain))
    literal = _JS_NAME.search(script)
    if literal is None or json.loads(literal.group(1)) != name:
        return "specc.js does not give the exact name"
    lines, plain_lines = script.splitlines(), plain_script.splitlines()
    changed = [k for k, (a, b) in enumerate(zip(lines, plain_lines, strict=False)) if a != b]
    if len(lines) != len(plain_lines) or not set(changed) <= {0, _line_of(plain_script)}:
        return f"specc.js differs from a plain bundle's beyond its name (lines {changed[:5]})"
    if any(c in lines[0] for c in "\n\r\u2028\u2029"):
        return "specc.js's first comment line was broken"
    package = json.loads((bundle / "package.json").read_text("utf-8"))
    if not package["description"].startswith(name):
        return "package.json does not hold the exact name"
    return _json_problem(bundle, name, labels)


def _line_of(script: str) -> int:
    match = _JS_NAME.search(script)
    return script[: match.start()].count("\n") if match else -1


def _json_problem(bundle: Path, name: str, labels: list[str] | None) -> str | None:
    description = json.loads((bundle / "model.json").read_text("utf-8"))
    if description["name"] != name:
        return "model.json does not hold the exact name"
    if labels is not None and description["outputs"][0].get("labels") != labels:
        return "model.json does not hold the exact labels"
    return None


def bundle_is_inert(
    folder: str, target: str, name: str, labels: list[str] | None = None, source: str = SPEC
) -> Check:
    """The bundle in ``folder``, exported from ``source``, is valid and inert, and gives
    back ``name`` and ``labels``."""

    def check(outcome: Outcome) -> str | None:
        bundle = outcome.folder / folder
        if not bundle.is_dir():
            return f"no bundle in {folder}"
        with tempfile.TemporaryDirectory(prefix="specc-plain-") as tmp:
            plain = Path(tmp) / "bundle"
            _plain_bundle(outcome.folder / source, target, plain)
            return _compare(bundle, plain, target, name, labels)

    return check


def _compare(
    bundle: Path, plain: Path, target: str, name: str, labels: list[str] | None
) -> str | None:
    readme, plain_readme = ((b / "README.md").read_text("utf-8") for b in (bundle, plain))
    if markdown_shape(readme) != markdown_shape(plain_readme):
        return "README.md has another Markdown structure than a plain bundle's"
    if len(readme.splitlines()) != len(plain_readme.splitlines()):
        return "README.md has other lines than a plain bundle's"
    hidden = _HIDDEN.search(readme)
    if hidden:
        return f"README.md holds the raw character U+{ord(hidden.group(0)):04X}"
    if target == "web":
        return _web_problem(bundle, plain, name, labels)
    return _json_problem(bundle, name, labels)
