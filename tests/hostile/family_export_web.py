"""Names and labels written to inject code into a bundle: JavaScript, HTML, Markdown,
template placeholders, line separators. A name that no name needs (control, invisible or
direction characters, '/') is refused where it is written; every other one is escaped
wherever it lands, and the bundle is checked to be the plain bundle's twin."""

from __future__ import annotations

from tests.hostile.case import Case
from tests.hostile.export_checks import bundle_is_inert
from tests.hostile.export_inputs import SPEC, check_all, spec_text, wrote_nothing

FAMILY = "web injection"
WEB = ["export", SPEC, "--target", "web", "--out", "out", "-q"]
MOBILE = ["export", SPEC, "--target", "mobile", "--out", "out", "-q"]

# Names the schema accepts: each must come out of the bundle as the same text, inert.
HTML = "<img src=x onerror=alert(1)> <svg onload=alert(2)>"
PLACEHOLDERS = "{{NAME_JS}} {{NAME}} {{ORT_VERSION}} {{RUNTIME_NOTE}} {{INPUTS}}"
JAVASCRIPT = '"; globalThis.ran = 1; " \' ` ${globalThis.ran = 2} \\( \\u2028 * <!-- --> $x'
MARKDOWN = "# Title [link](javascript:alert(1)) *em* | cell | <b>bold ``` ~~s~~ ![i](x)"
# In Kotlin and Swift strings too.
MOBILE_NAME = "\" ' ` ${x} \\( $x <b>bold | # *em* [l](x) {{NAME_MD}}"
SCRIPTS = "café 日本語 Ελληνικά " + "x" * 100
# Labels may hold anything at all.
LABELS = [
    "</script><script>alert(1)</script>",
    "a\nconsole.log(1)//\u2028\u2029",
    "{{NAME_MD}} | # *x* [l](javascript:x) \u202e\u0000\x1b[31m`$`\\(",
]


def _accepted(label: str, name: str, labels: list[str] | None = None) -> Case:
    return Case(
        FAMILY,
        label,
        WEB,
        {SPEC: spec_text(name=name, labels=labels and {"dense": labels})},
        exit_code=0,
        check=bundle_is_inert("out", "web", name, labels),
    )


def _refused(label: str, name: str, pattern: str) -> Case:
    return Case(
        FAMILY,
        label,
        WEB,
        {SPEC: spec_text(name=name)},
        exit_code=1,
        output_has=(rf"spec\.json:1:\d+: error: name must not contain {pattern}",),
        check=wrote_nothing,
    )


CASES = [
    _accepted("name with HTML elements", HTML),
    _accepted("name with template placeholders", PLACEHOLDERS),
    _accepted("name closing a JS string or comment", JAVASCRIPT),
    _accepted("name with Markdown structure", MARKDOWN),
    _accepted("name in several scripts", SCRIPTS),
    _accepted("labels with script, newlines, controls", "labels", LABELS),
    Case(
        FAMILY,
        "mobile: hostile name and labels",
        MOBILE,
        {SPEC: spec_text(name=MOBILE_NAME, labels={"dense": LABELS})},
        exit_code=0,
        check=bundle_is_inert("out", "mobile", MOBILE_NAME, LABELS),
        seconds=20,
    ),
    _refused("name ending a JS comment with a newline", "demo\nconsole.log('ran');//", "control"),
    _refused("name closing the title element", "</title><script>alert(1)</script>", "'/'"),
    _refused("name with a line separator", "demo\u2028console.log('ran')", "control"),
    _refused("name with a bidi override", "safe\u202e}]1[laveEvil", "control"),
    _refused("name retitling the terminal", "\x1b]0;pwned\x07name", "control"),
    Case(
        FAMILY,
        "name with a zero-width space",
        ["validate", SPEC],
        {SPEC: spec_text(name="model\u200bname")},
        exit_code=1,
        output_has=(r"U\+200B",),
        check=check_all(wrote_nothing),
    ),
]
