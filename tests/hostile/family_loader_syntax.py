"""Spec syntax: byte-order marks, merge keys, numbers out of range, bytes that are not
UTF-8 and other odd files get a located one-line error (or load, for a BOM)."""

from __future__ import annotations

from tests.hostile.case import Case

FAMILY = "spec syntax"
LAYER = "{type: Dense, units: 2, input_shape: [2]}"
JSON_SPEC = '{"specc": 1, "layers": [{"type": "Dense", "units": 2, "input_shape": [2]}]}'
BOM = b"\xef\xbb\xbf"


def _yaml_units(units: str) -> str:
    return f"specc: 1\nlayers:\n  - {{type: Dense, units: {units}, input_shape: [2]}}\n"


def _json_units(units: str) -> str:
    return JSON_SPEC.replace('"units": 2', f'"units": {units}')


CASES = [
    Case(
        FAMILY,
        "JSON with a byte-order mark",
        ["validate", "spec.json"],
        {"spec.json": BOM + JSON_SPEC.encode()},
        exit_code=0,
        output_has=(r"spec\.json: ok \(1 layers",),
    ),
    Case(
        FAMILY,
        "JSON with a byte-order mark and an error on line 1",
        ["validate", "spec.json"],
        {"spec.json": BOM + JSON_SPEC.replace('"units"', '"unit"').encode()},
        # Columns count from after the mark, as editors show them.
        output_has=(r"spec\.json:1:43: error: unknown key 'unit'; did you mean 'units'\?",),
    ),
    Case(
        FAMILY,
        "YAML with a byte-order mark",
        ["validate", "spec.yaml"],
        {"spec.yaml": BOM + f"specc: 1\nlayers:\n  - {LAYER}\n".encode()},
        exit_code=0,
        output_has=(r"spec\.yaml: ok \(1 layers",),
    ),
    Case(
        FAMILY,
        "YAML merge key",
        ["validate", "spec.yaml"],
        {
            "spec.yaml": (
                "specc: 1\nbase: &b {type: Dense, units: 3}\nlayers:\n  - <<: *b\n"
                "    input_shape: [4]\n"
            )
        },
        output_has=(
            r"spec\.yaml:4:5: error: YAML merge keys \('<<'\) are not supported in a spec; "
            r"write the keys out, or alias the whole mapping \[SPC107-merge-key\]",
        ),
    ),
    Case(
        FAMILY,
        "5,000-digit integer (YAML)",
        ["validate", "spec.yaml"],
        {"spec.yaml": _yaml_units("7" * 5000)},
        output_has=(
            r"spec\.yaml:3:26: error: integer 7{24}\.\.\. \(5,000 characters\) is out of range; "
            r"a spec's integers must fit in 64 bits",
        ),
    ),
    Case(
        FAMILY,
        "5,000-digit hex integer (YAML)",
        ["validate", "spec.yaml"],
        {"spec.yaml": _yaml_units("0x" + "f" * 5000)},
        output_has=(r"spec\.yaml:3:26: error: integer 0xf{22}\.\.\. .*\[SPC106-number\]",),
    ),
    Case(
        FAMILY,
        "5,000-digit integer (JSON)",
        ["validate", "spec.json"],
        {"spec.json": _json_units("9" * 5000)},
        output_has=(r"spec\.json:1:52: error: integer 9{24}\.\.\. .*\[SPC106-number\]",),
    ),
    Case(
        FAMILY,
        "2**64 (YAML)",
        ["validate", "spec.yaml"],
        {"spec.yaml": _yaml_units(str(2**64))},
        output_has=(r"integer 18446744073709551616 is out of range.*\[SPC106-number\]",),
    ),
    Case(
        FAMILY,
        "float with a huge exponent (YAML)",
        ["validate", "spec.yaml"],
        {"spec.yaml": _yaml_units("1e99999")},
        output_has=(r"spec\.yaml:3:26: error: number 1e99999 is too large for a 64-bit float",),
    ),
    Case(
        FAMILY,
        "float with a 100,000-digit mantissa (JSON)",
        ["validate", "spec.json"],
        {"spec.json": _json_units("1" * 100_000 + ".5")},
        output_has=(r"number 1{24}\.\.\. \(100,002 characters\) is too large .*\[SPC106-number\]",),
    ),
    Case(
        FAMILY,
        "output index of 5,000 digits",
        ["validate", "spec.yaml"],
        {"spec.yaml": f"specc: 1\nlayers:\n  - {LAYER}\noutputs: ['dense[{'9' * 5000}]']\n"},
        output_has=(r"spec\.yaml:4:11: error: outputs must be at most 139 characters; got 5007",),
    ),
    Case(
        FAMILY,
        "Latin-1 bytes",
        ["validate", "spec.yaml"],
        {"spec.yaml": b"specc: 1\nname: caf\xe9\nlayers:\n  - " + LAYER.encode() + b"\n"},
        output_has=(
            r"spec\.yaml:2:10: error: the spec is not UTF-8 text \(byte 0xe9 cannot start or "
            r"continue a character\) \[SPC105-file\]",
        ),
    ),
    Case(
        FAMILY,
        "UTF-16 file",
        ["validate", "spec.json"],
        {"spec.json": JSON_SPEC.encode("utf-16")},
        output_has=(r"spec\.json:1:1: error: the spec is not UTF-8 text \(byte 0xff",),
    ),
    Case(
        FAMILY,
        "empty file",
        ["validate", "spec.yaml"],
        {"spec.yaml": ""},
        output_has=(r"spec\.yaml:1:1: error: the spec is empty \[SPC100-syntax\]",),
    ),
    Case(
        FAMILY,
        "only a byte-order mark",
        ["validate", "spec.json"],
        {"spec.json": BOM},
        output_has=(r"spec\.json:1:1: error: the spec is empty",),
    ),
    Case(
        FAMILY,
        "NUL byte in YAML",
        ["validate", "spec.yaml"],
        {"spec.yaml": f"specc: 1\nname: a\0b\nlayers:\n  - {LAYER}\n"},
        output_has=(r"spec\.yaml:2:8: error: invalid YAML: the character '\\x00' is not allowed",),
    ),
    Case(
        FAMILY,
        "escape character in a JSON string",
        ["validate", "spec.json"],
        {"spec.json": JSON_SPEC.replace('"Dense"', '"Den\x1b[2Jse"')},
        output_has=(r"spec\.json:1:38: error: invalid JSON: control character '\\x1b' in a",),
    ),
    Case(
        FAMILY,
        "a directory",
        ["build", "folder"],
        {"folder/spec.yaml": f"specc: 1\nlayers:\n  - {LAYER}\n"},
        exit_code=2,
        output_has=(r"is a directory",),
    ),
]
