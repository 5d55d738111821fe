"""``specc train --out`` and ``specc build -o`` where the output cannot or must not be
written as it stands: checked before training, never written through a symbolic link,
never left half-replaced."""

from __future__ import annotations

from tests.hostile.case import Case
from tests.hostile.train_inputs import (
    TRAIN,
    absent,
    check_all,
    complete_run,
    did_not_train,
    folder_with,
    one_line,
    symlink_to,
    text_is,
    tiny_files,
)

FAMILY = "train output"
VICTIM = "precious: not specc's\n"
PREVIOUS = "a previous run's file\n"

CASES = [
    Case(
        FAMILY,
        "out is a file",
        [*TRAIN, "--out", "notes.txt"],
        tiny_files(**{"notes.txt": VICTIM}),
        exit_code=2,
        output_has=(r"notes\.txt is a file",),
        check=check_all(did_not_train, one_line, text_is("notes.txt", VICTIM)),
    ),
    Case(
        FAMILY,
        "out named with a terminal escape",
        [*TRAIN, "--out", "\x1b]0;pwned\x07"],
        tiny_files(**{"\x1b]0;pwned\x07": VICTIM}),
        exit_code=2,
        output_has=(r"\\x1b\]0;pwned\\x07 is a file",),
        check=check_all(did_not_train, one_line),
    ),
    Case(
        FAMILY,
        "out inside a file",
        [*TRAIN, "--out", "notes.txt/run"],
        tiny_files(**{"notes.txt": VICTIM}),
        exit_code=2,
        output_has=(r"cannot write",),
        check=check_all(did_not_train, one_line, text_is("notes.txt", VICTIM)),
    ),
    Case(
        FAMILY,
        "out holds files specc did not write",
        [*TRAIN, "--out", "project"],
        tiny_files(**{"project/notes.md": VICTIM, "project/model.onnx": PREVIOUS}),
        exit_code=2,
        output_has=(r"did not write \(notes\.md\)",),
        check=check_all(
            did_not_train,
            one_line,
            text_is("project/notes.md", VICTIM),
            text_is("project/model.onnx", PREVIOUS),
        ),
    ),
    # A rerun that failed after writing model.onnx left it beside the previous history.
    Case(
        FAMILY,
        "weights.npz in out is a folder",
        [*TRAIN, "--out", "trained"],
        tiny_files(
            **{
                "trained/model.onnx": PREVIOUS,
                "trained/history.json": PREVIOUS,
                "trained/weights.npz": folder_with("mine.txt", VICTIM),
            }
        ),
        exit_code=2,
        output_has=(r"weights\.npz is not a file specc wrote",),
        check=check_all(
            text_is("trained/model.onnx", PREVIOUS),
            text_is("trained/history.json", PREVIOUS),
            text_is("trained/weights.npz/mine.txt", VICTIM),
            did_not_train,
            one_line,
        ),
    ),
    Case(
        FAMILY,
        "model.onnx in out links elsewhere",
        [*TRAIN, "--out", "trained", "-q"],
        tiny_files(**{"victim.txt": VICTIM, "trained/model.onnx": symlink_to("../victim.txt")}),
        exit_code=0,
        check=check_all(text_is("victim.txt", VICTIM), complete_run("trained")),
    ),
    Case(
        FAMILY,
        "every file in out links elsewhere",
        [*TRAIN, "--out", "trained", "-q"],
        tiny_files(
            **{
                "victim.txt": VICTIM,
                "trained/model.onnx": symlink_to("../victim.txt"),
                "trained/weights.npz": symlink_to("../victim.txt"),
                "trained/history.json": symlink_to("../victim.txt"),
                "trained/run.json": symlink_to("../victim.txt"),
            }
        ),
        exit_code=0,
        check=check_all(text_is("victim.txt", VICTIM), complete_run("trained")),
    ),
    Case(
        FAMILY,
        "history.json in out is a dangling link",
        [*TRAIN, "--out", "trained", "-q"],
        tiny_files(**{"trained/history.json": symlink_to("../made/by/specc.json")}),
        exit_code=0,
        check=check_all(absent("made"), complete_run("trained")),
    ),
    Case(
        FAMILY,
        "rerun over a complete run",
        [*TRAIN, "--out", "trained", "-q"],
        tiny_files(
            **{
                "trained/model.onnx": PREVIOUS,
                "trained/weights.npz": PREVIOUS,
                "trained/history.json": PREVIOUS,
            }
        ),
        exit_code=0,
        check=complete_run("trained"),
    ),
    Case(
        FAMILY,
        "leftover staging folder of a killed run",
        [*TRAIN, "--out", "trained", "-q"],
        tiny_files(**{".trained.specc-staging-999999999-x/model.onnx": PREVIOUS}),
        exit_code=0,
        check=check_all(absent(".trained.specc-staging-999999999-x"), complete_run("trained")),
    ),
    Case(
        FAMILY,
        "build output links elsewhere",
        ["build", "tiny.yaml", "-o", "model.onnx", "--save-weights", "weights.npz", "-q"],
        tiny_files(
            **{
                "victim.txt": VICTIM,
                "model.onnx": symlink_to("victim.txt"),
                "weights.npz": symlink_to("victim.txt"),
            }
        ),
        exit_code=0,
        check=text_is("victim.txt", VICTIM),
    ),
    Case(
        FAMILY,
        "build output is a folder",
        ["build", "tiny.yaml", "-o", "model", "-q"],
        tiny_files(**{"model/keep.txt": VICTIM}),
        exit_code=2,
        output_has=(r"cannot write model",),
        check=check_all(one_line, text_is("model/keep.txt", VICTIM)),
    ),
]
