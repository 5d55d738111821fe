"""Spec size: big specs load in time proportional to their size; what is too big, or not a
file at all, is refused quickly, before it is read, with the limit and how to raise it."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.hostile.case import Case

FAMILY = "spec size"
DENSE = "  - {type: Dense, units: 2, input_shape: [2]}\n"


def _deep_json(layers: int) -> dict:
    first = {"type": "Dense", "units": 8, "activation": "relu", "input_shape": [8]}
    rest = [{"type": "Dense", "units": 8, "activation": "relu"}] * (layers - 1)
    return {"specc": 1, "layers": [first, *rest]}


def _write_deep_json(path: Path) -> None:
    # 10,000 layers, 0.7 MB: counting lines from the start of the file for every value
    # took a quarter of a minute (and four times as long for twice the layers).
    path.write_text(json.dumps(_deep_json(10_000), indent=1))


def _write_wide_yaml(path: Path) -> None:
    # 2 MB of named layers with their own inputs, initializers and regularizers.
    lines = ["specc: 1", "inputs: {features: {shape: [4]}}", "layers:"]
    for i in range(9_000):
        source = f"dense_{i - 1:05d}" if i else "features"
        lines += [
            f"  - name: dense_{i:05d}",
            "    type: Dense",
            "    units: 4",
            "    activation: relu",
            f"    kernel_initializer: {{type: GlorotUniform, seed: {i}}}",
            "    kernel_regularizer: {type: L2, l2: 0.0001}",
            f"    inputs: {source}",
        ]
    path.write_text("\n".join(lines) + "\n")


def _many_nodes() -> str:
    # 210,000 values in metadata: more nodes than the old alias-bomb guard allowed, in a
    # spec without a single alias.
    notes = list(range(210_000))
    return "specc: 1\nlayers:\n" + DENSE + f"metadata:\n  notes: {notes}\n"


def _billion_laughs() -> str:
    lines = ["specc: 1", "layers:", DENSE.rstrip(), "metadata:", "  a0: &a0 [lol, lol, lol, lol]"]
    for i in range(1, 12):  # 4**12 = 16 million strings once expanded
        lines.append(f"  a{i}: &a{i} [*a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}]")
    return "\n".join(lines) + "\n"


def _quadratic_aliases() -> str:
    # One list of 5,000 items, aliased 5,000 times: 25 million nodes from a 60 KB file.
    items = ", ".join(["x"] * 5_000)
    uses = ", ".join(["*big"] * 5_000)
    return "specc: 1\nlayers:\n" + DENSE + f"metadata:\n  big: &big [{items}]\n  uses: [{uses}]\n"


def _sparse_file(path: Path) -> None:
    with path.open("wb") as stream:  # 65 MB of nothing, written in no time
        stream.truncate(65 * 2**20)


def _deep_block_yaml() -> str:
    lines = ["specc: 1", "layers:", DENSE.rstrip(), "metadata:"]
    lines += [" " * (2 + i) + "a:" for i in range(150)]
    return "\n".join(lines) + " 1\n"


def _bidirectional_layers(count: int) -> str:
    first = "  - {type: LSTM, units: 2, return_sequences: true, input_shape: [3, 2]}\n"
    entry = "  - {type: Bidirectional, layer: {type: LSTM, units: 2}}\n"
    return "specc: 1\nlayers:\n" + first + entry * count


CASES = [
    Case(
        FAMILY,
        "10k-layer JSON spec",
        ["validate", "deep.json"],
        {"deep.json": _write_deep_json},
        exit_code=0,
        output_has=(r"ok \(10000 layers",),
        seconds=10,
    ),
    Case(
        FAMILY,
        "2 MB YAML spec",
        ["validate", "wide.yaml"],
        {"wide.yaml": _write_wide_yaml},
        exit_code=0,
        output_has=(r"ok \(9000 layers",),
        seconds=15,
    ),
    Case(
        FAMILY,
        "210k values without aliases (YAML)",
        ["validate", "many.yaml"],
        {"many.yaml": _many_nodes()},
        exit_code=0,
        output_has=(r"ok \(1 layers",),
        seconds=10,
    ),
    Case(
        FAMILY,
        "billion laughs",
        ["validate", "laughs.yaml"],
        {"laughs.yaml": _billion_laughs()},
        output_has=(
            r"laughs\.yaml:15:8: error: YAML aliases expand this spec from 43 nodes to "
            r"29,826,183 \(this node appears 5 times\); .*\[SPC108-alias\]",
        ),
        seconds=3,
    ),
    Case(
        FAMILY,
        "one list aliased 5,000 times",
        ["validate", "quadratic.yaml"],
        {"quadratic.yaml": _quadratic_aliases()},
        output_has=(r"from 5,\d+ nodes to 25,0\d\d,\d+.*\[SPC108-alias\]",),
        seconds=3,
    ),
    Case(
        FAMILY,
        "recursive alias",
        ["validate", "loop.yaml"],
        {"loop.yaml": "specc: 1\nlayers:\n" + DENSE + "metadata: &m {self: *m}\n"},
        output_has=(r"loop\.yaml:4:11: error: a YAML alias refers to a node that contains it",),
        seconds=3,
    ),
    Case(
        FAMILY,
        "file over --limit file_size",
        ["validate", "--limit", "file_size=1000", "spec.yaml"],
        {"spec.yaml": "specc: 1\nlayers:\n" + DENSE + "# padding\n" * 200},
        output_has=(
            r"spec\.yaml:1:1: error: the spec file is too large \(2,\d+ bytes\); the limit is "
            r"1,000; raise it with --limit file_size=\d+ \[SPC110-limit\]",
        ),
        seconds=3,
    ),
    Case(
        FAMILY,
        "65 MB file over the default limit",
        ["validate", "huge.yaml"],
        {"huge.yaml": _sparse_file},
        output_has=(r"too large \(68,157,440 bytes\); the limit is 67,108,864; raise it",),
        seconds=3,
    ),
    Case(
        FAMILY,
        "layers over --limit layers",
        ["validate", "--limit", "layers=10", "spec.yaml"],
        {"spec.yaml": _bidirectional_layers(5)},  # 1 + 5 wrappers + 5 wrapped = 11
        output_has=(
            r"spec\.yaml:2:1: error: the spec has 11 layers; the limit is 10; "
            r"raise it with --limit layers=20 \[SPC110-limit\]",
        ),
        seconds=5,
    ),
    Case(
        FAMILY,
        "/dev/zero as the spec",
        ["validate", "/dev/zero"],
        output_has=(r"/dev/zero:1:1: error: the spec path is a device, not a spec file",),
        seconds=3,
    ),
    Case(
        FAMILY,
        "/dev/urandom as the spec",
        ["validate", "/dev/urandom"],
        output_has=(r"the spec path is a device, not a spec file \[SPC105-file\]",),
        seconds=3,
    ),
    Case(
        FAMILY,
        "named pipe nobody writes to",
        ["validate", "pipe.yaml"],
        {"pipe.yaml": lambda path: os.mkfifo(path)},
        output_has=(r"pipe\.yaml:1:1: error: the spec is empty",),
        seconds=3,
    ),
    Case(
        FAMILY,
        "JSON nested 100,000 deep",
        ["validate", "deep.json"],
        {"deep.json": '{"specc": 1, "metadata": ' + "[" * 100_000 + "]" * 100_000 + "}"},
        output_has=(r"deep\.json:1:125: error: the spec nests deeper than 100 levels",),
        seconds=3,
    ),
    Case(
        FAMILY,
        "YAML mappings nested 150 deep",
        ["validate", "deep.yaml"],
        {"deep.yaml": _deep_block_yaml()},
        output_has=(r"deep\.yaml:\d+:\d+: error: the spec nests deeper than 100 levels",),
        seconds=3,
    ),
    Case(
        FAMILY,
        "YAML flow nested 5,000 deep",
        ["validate", "deep.yaml"],
        {"deep.yaml": "specc: 1\nmetadata: " + "[" * 5000 + "]" * 5000 + "\n"},
        output_has=(r"deep\.yaml:2:\d+: error: the spec nests deeper than 100 levels",),
        seconds=3,
    ),
]
