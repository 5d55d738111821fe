"""Property-based tests of ``specc format`` (hypothesis): any data, any comments.

Whatever a YAML file holds (strings that look like numbers, booleans or YAML syntax, floats
of every size, nested mappings and lists) and wherever its comments are, the formatted text
reads back as the same data in YAML 1.2 (specc) and, for the spellings it writes, YAML 1.1
(PyYAML), keeps every comment, and formats to itself, at any line length (and back to
itself from the layout of another).
"""

from __future__ import annotations

import math

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from specc.format_comments import comment_texts
from specc.formatting import format_text, same_data
from specc.spec.loader import load_text

# Deterministic examples: a failure here reproduces on every run and every machine.
SETTINGS = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# Strings a careless writer would leave plain and a reader would take for something else.
TRICKY = st.sampled_from(
    [
        "yes",
        "no",
        "on",
        "off",
        "null",
        "~",
        "1e-3",
        "0o17",
        "0x1f",
        "1_000",
        "1:2",
        "a: b",
        "- x",
        "#x",
        "x #y",
        "[a]",
        "{a}",
        "*a",
        "&a",
        "!t",
        "%x",
        "@x",
        "`x",
        "'q'",
        '"q"',
        ".inf",
        "-.nan",
        "true",
        "False",
        " lead",
        "trail ",
        "",
        "tab\tin",
        "two\nlines",
        "ends\n",
        "ünï",
        "a,b",
        "?",
        ":",
        "-",
        "=",
        "<<",
    ]
)
WORDS = st.text(alphabet="abcxyz_019.-", min_size=1, max_size=8)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False).filter(lambda f: abs(f) < 1e300),
    WORDS,
    TRICKY,
)
KEYS = st.one_of(WORDS, TRICKY).filter(lambda k: k != "<<")
DATA = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(KEYS, inner, max_size=4)),
    max_leaves=20,
)


def _with_comments(text: str, marks: list[int]) -> str:
    # A comment of its own before some lines and at the end of others; never inside a
    # multi-line string, which PyYAML writes quoted on continuation lines.
    lines = text.splitlines()
    out = []
    for number, line in enumerate(lines):
        safe = not line.startswith(" ") or line.lstrip()[:1] in "-abcxyz_"
        if number in marks and safe and '"' not in line and "'" not in line:
            out.append(f"# before {number}")
            out.append(f"{line}  # after {number}" if not line.endswith(("|", ">")) else line)
        else:
            out.append(line)
    return "\n".join(out) + "\n"


@SETTINGS
@given(
    data=st.dictionaries(KEYS, DATA, min_size=1, max_size=5),
    flow=st.booleans(),
    marks=st.lists(st.integers(0, 30), max_size=6),
    share=st.booleans(),
    line_length=st.sampled_from([1, 16, 40, 120, 10_000]),
)
def test_formatting_keeps_data_and_comments(
    data: dict, flow: bool, marks: list[int], share: bool, line_length: int
) -> None:
    keys = list(data)
    if share and len(keys) >= 2 and isinstance(data[keys[0]], (dict, list)):
        data[keys[-1]] = data[keys[0]]  # one object twice: PyYAML writes an anchor and alias
    source = yaml.safe_dump(data, default_flow_style=flow, sort_keys=False, allow_unicode=True)
    try:
        original = load_text(source).data
    except Exception:
        return  # PyYAML wrote something YAML 1.2 reads otherwise: not a spec
    text = _with_comments(source, marks)
    try:
        assert same_data(load_text(text).data, original)
    except Exception:
        return  # the comment landed inside a multi-line flow scalar
    formatted = format_text(text, line_length=line_length)
    assert same_data(_sorted_free(load_text(formatted).data), _sorted_free(original))
    assert sorted(comment_texts(formatted)) == sorted(comment_texts(text))
    assert format_text(formatted, line_length=line_length) == formatted
    assert format_text(format_text(formatted), line_length=line_length) == formatted
    assert same_data(_sorted_free(yaml.safe_load(formatted)), _sorted_free(original))


def _sorted_free(value: object) -> object:
    # A mapping that is no spec config keeps its order; the top level is ordered (specc,
    # name, ...), so compare as sets of items there.
    if isinstance(value, dict):
        return {k: value[k] for k in sorted(value, key=repr)}
    return value


def test_floats_keep_their_value() -> None:
    for value in (1e-3, 1e-5, 5e-324, 1.7976931348623157e308, -0.0, 123456789.125):
        text = format_text(f"specc: 1\nx: {value!r}\n")
        read = load_text(text).data["x"]
        assert read == value and math.copysign(1, read) == math.copysign(1, value)
        assert yaml.safe_load(text)["x"] == value
