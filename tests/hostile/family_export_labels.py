"""``metadata.labels`` that do not fit the outputs they name: too few or too many for the
classes, a list for a model with several outputs, a name that is not an output, labels
that are not text. Each is refused by ``specc validate``, at the labels; a list for the
sole output is applied, never dropped; long and strange labels come out exactly."""

from __future__ import annotations

import json

from tests.hostile.case import Case, Outcome
from tests.hostile.export_checks import bundle_is_inert
from tests.hostile.export_inputs import SPEC, Check, spec_text

FAMILY = "labels"
VALIDATE = ["validate", SPEC]
AT = r"spec\.json:1:\d+: error: "


def _labels_in_bundle(expected: list[str]) -> Check:
    def check(outcome: Outcome) -> str | None:
        description = json.loads((outcome.folder / "out" / "model.json").read_text("utf-8"))
        found = description["outputs"][0].get("labels")
        return None if found == expected else f"model.json labels are {found!r}"

    return check


def _refused(name: str, text: str, pattern: str) -> Case:
    return Case(FAMILY, name, VALIDATE, {SPEC: text}, output_has=(AT + ".*" + pattern,))


LONG = ["x" * 300, "y" * 300 + "\x00\u202e", "z" * 1000]

CASES = [
    _refused(
        "2 labels for 3 classes",
        spec_text(labels={"dense": ["a", "b"]}),
        r"output 'dense' of shape \(batch, 3\) takes 3 labels.*got 2 "
        r"\(at metadata\.labels\.dense\) \[SPC516-labels\]",
    ),
    _refused(
        "4 labels for 3 classes",
        spec_text(labels={"dense": ["a", "b", "c", "d"]}),
        r"takes 3 labels .*got 4",
    ),
    _refused(
        "1 label for a sigmoid unit",
        spec_text(labels={"dense": ["yes"]}, units=1, activation="sigmoid"),
        r"a single unit takes 2 labels",
    ),
    _refused(
        "a list for two outputs",
        spec_text(labels=["a", "b", "c"], two_outputs=True),
        r"labels is a list, but the model has 2 outputs \(dense, other\)",
    ),
    _refused(
        "labels for a name that is not an output",
        spec_text(labels={"dense": ["a", "b", "c"], "dens": ["x"]}),
        r"labels for 'dens', which is not an output; did you mean 'dense'\?",
    ),
    _refused(
        "labels that are not text",
        spec_text(labels={"dense": ["a", None, 2.5]}),
        r"must be a string or an integer; got null \(at metadata\.labels\.dense\[1\]\)",
    ),
    _refused(
        "labels that are a mapping",
        spec_text(labels={"dense": {"a": 1}}),
        r"must be a list",
    ),
    _refused(
        "a label of 1,001 characters",
        spec_text(labels={"dense": ["a", "b", "c" * 1001]}),
        r"a label must be at most 1000 characters; got 1,001",
    ),
    Case(
        FAMILY,
        "a list for the sole output is applied",
        ["export", SPEC, "--target", "web", "--out", "out", "-q"],
        {SPEC: spec_text(labels=["cat", "dog", 7])},
        exit_code=0,
        check=_labels_in_bundle(["cat", "dog", "7"]),
    ),
    Case(
        FAMILY,
        "2 labels for a sigmoid unit",
        ["export", SPEC, "--target", "web", "--out", "out", "-q"],
        {SPEC: spec_text(labels={"dense": ["no", "yes"]}, units=1, activation="sigmoid")},
        exit_code=0,
        check=_labels_in_bundle(["no", "yes"]),
    ),
    Case(
        FAMILY,
        "long labels with NUL and bidi (web)",
        ["export", SPEC, "--target", "web", "--out", "out", "-q"],
        {SPEC: spec_text(labels={"dense": LONG})},
        exit_code=0,
        check=bundle_is_inert("out", "web", "tiny", LONG),
    ),
]
