"""Escaping text for each place it lands: terminal, GitHub annotations, JS, HTML,
Markdown, Kotlin/Swift, file names; templates filled in one pass."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET

import pytest

from specc.escape import (
    fill_template,
    github_data,
    github_property,
    html_text,
    js_comment,
    js_string,
    json_in_html,
    kotlin_string,
    markdown_code,
    markdown_text,
    safe_file_name,
    swift_string,
    terminal_lines,
    terminal_text,
    unpaired_escaped,
    xml_text,
)

HOSTILE = [
    "demo\nconsole.log('ran');//",
    "</title><script>alert(1)</script>",
    "{{name}}",
    "a\u2028b\u2029c",
    "\x1b]0;title\x07\x1b[31mred",
    "quote\" apostrophe' back\\slash `tick` $dollar \\(interp)",
    "\u202egnp.exe",
    "\x00nul",
    "*emphasis* [link](http://x) # heading | table |",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_terminal_text_is_one_line_without_controls(text: str) -> None:
    shown = terminal_text(text)
    assert "\n" not in shown
    assert not re.search("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e]", shown)


def test_terminal_text_shows_what_it_hid() -> None:
    assert terminal_text("a\x1b[31mb\nc") == "a\\x1b[31mb\\x0ac"
    assert terminal_text("x\u202ey") == "x\\u202ey"
    assert terminal_lines("one\x07\ntwo") == "one\\x07\ntwo"


@pytest.mark.parametrize("text", HOSTILE)
def test_js_string_round_trips_and_cannot_close_a_script(text: str) -> None:
    literal = js_string(text)
    assert json.loads(literal) == text
    assert "<" not in literal and "\u2028" not in literal and "\n" not in literal


@pytest.mark.parametrize("text", HOSTILE)
def test_js_comment_stays_one_comment_line(text: str) -> None:
    comment = js_comment(text)
    assert "\n" not in comment and "\u2028" not in comment and "*/" not in comment


def test_json_in_html_cannot_close_the_element() -> None:
    embedded = json_in_html({"name": "</script><script>alert(1)</script>"})
    assert "</" not in embedded
    assert json.loads(embedded) == {"name": "</script><script>alert(1)</script>"}


def test_html_text_escapes_markup_and_quotes() -> None:
    assert html_text('</title><b a="1">') == "&lt;/title&gt;&lt;b a=&quot;1&quot;&gt;"


@pytest.mark.parametrize("text", [*HOSTILE, "\ud800 lone \udfff surrogates \ufffe\uffff"])
def test_xml_text_always_makes_a_well_formed_document(text: str) -> None:
    escaped = xml_text(text)
    document = f'<svg a="{escaped}"><title>{escaped}</title></svg>'.encode()
    root = ET.fromstring(document)
    assert root.find("title").text == root.get("a") == terminal_text(unpaired_escaped(text))
    assert unpaired_escaped("\ud800x\uffff") == "\\ud800x\\uffff"


def test_markdown_text_escapes_every_markup_character() -> None:
    shown = markdown_text("*x* [l](u) # h | t | <b>")
    assert shown == r"\*x\* \[l\]\(u\) \# h \| t \| \<b\>"


def test_markdown_code_fences_past_backticks() -> None:
    assert markdown_code("a`b") == "``a`b``"
    assert markdown_code("`x`") == "`` `x` ``"


def test_kotlin_and_swift_strings_cannot_interpolate() -> None:
    assert kotlin_string('a"$b\\\n') == '"a\\"\\$b\\\\\\n"'
    assert swift_string("a\\(x)") == '"a\\\\(x)"'
    assert swift_string("\x1b") == '"\\u{001b}"'


def test_github_escaping() -> None:
    assert github_data("50%\r\nx") == "50%25%0D%0Ax"
    assert github_property("a,b:c") == "a%2Cb%3Ac"


def test_fill_template_is_one_pass() -> None:
    assert fill_template("{{a}}|{{b}}", {"a": "{{b}}", "b": "B"}) == "{{b}}|B"
    with pytest.raises(KeyError):
        fill_template("{{missing}}", {})


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("../../escaped", "escaped"),
        ("/etc/passwd", "etc-passwd"),
        ("a/b\\c", "a-b-c"),
        ("..", "model"),
        ("", "model"),
        ("\x00\n", "model"),
        ("Modèle ünïcode", "Modele-unicode"),
        ("x" * 300, "x" * 64),
        ("digits_mlp", "digits_mlp"),
    ],
)
def test_safe_file_name(text: str, name: str) -> None:
    assert safe_file_name(text) == name
