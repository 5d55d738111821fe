"""Where ``specc export`` writes: a name made to point elsewhere (``../``, absolute, NUL,
overlong) is refused where it is written, the default folder is built from a sanitised
name, and ``--out`` is replaced whole or not at all: never written through a symbolic
link, never mixed with files specc did not write."""

from __future__ import annotations

from pathlib import Path

from tests.hostile.case import Case, Outcome
from tests.hostile.export_inputs import (
    SPEC,
    Check,
    check_all,
    described,
    spec_text,
    text_is,
    trained_folder,
    wrote_nothing,
)

FAMILY = "output paths"
VICTIM = "not specc's: must survive\n"


def _export(target: str, *extra: str) -> list[str]:
    return ["export", SPEC, "--target", target, *extra]


def nothing_outside(name: str) -> Check:
    """No ``name`` appeared in the case's folder, beside it, or at ``name`` itself when it
    is absolute."""

    def check(outcome: Outcome) -> str | None:
        places = [outcome.folder / name, outcome.folder.parent / name]
        for place in [*places, *([Path(name)] if Path(name).is_absolute() else [])]:
            if place.exists():
                return f"wrote {place}"
        return None

    return check


def _files_in(folder: str, expected: set[str]) -> Check:
    def check(outcome: Outcome) -> str | None:
        if not (outcome.folder / folder).is_dir():
            return f"no folder {folder}"
        found = {p.name for p in (outcome.folder / folder).iterdir()}
        return None if found == expected else f"{folder} holds {sorted(found)}"

    return check


BUNDLE = {"model.onnx", "model.json", "specc.js", "index.html", "README.md", "package.json"}

CASES = [
    Case(
        FAMILY,
        "name climbing out of the folder (web)",
        _export("web"),
        {SPEC: spec_text(name="../escaped")},
        output_has=(r"spec\.json:1:\d+: error: name must not contain '/'.*\(at name\)",),
        check=check_all(wrote_nothing, nothing_outside("escaped-web")),
    ),
    Case(
        FAMILY,
        "absolute name (mobile)",
        _export("mobile"),
        {SPEC: spec_text(name="/tmp/specc-hostile-escaped")},
        output_has=(r"name must not contain '/'",),
        check=check_all(wrote_nothing, nothing_outside("/tmp/specc-hostile-escaped-mobile")),
    ),
    Case(
        FAMILY,
        "name with a path inside (mobile)",
        _export("mobile"),
        {SPEC: spec_text(name="models/tiny")},
        output_has=(r"name must not contain '/'",),
        check=check_all(wrote_nothing, nothing_outside("models")),
    ),
    Case(
        FAMILY,
        "trained folder named to climb out",
        ["export", "run", "--target", "web"],
        trained_folder(model=described(name="../escaped")),
        output_has=(r"run/model\.onnx: error: .*name must not contain '/'.*SPC515",),
        check=check_all(wrote_nothing, nothing_outside("escaped-web")),
    ),
    Case(
        FAMILY,
        "name with NUL",
        _export("web"),
        {SPEC: spec_text(name="tiny\x00.onnx")},
        output_has=(r"U\+0000",),
        check=wrote_nothing,
    ),
    Case(
        FAMILY,
        "name of 300 characters",
        _export("web"),
        {SPEC: spec_text(name="n" * 300)},
        output_has=(r"name must be at most 128 characters; got 300",),
        check=wrote_nothing,
    ),
    Case(
        FAMILY,
        "name that is only dots",
        _export("web", "-q"),
        {SPEC: spec_text(name="..")},
        exit_code=0,
        check=_files_in("model-web", BUNDLE),
    ),
    Case(
        FAMILY,
        "out holds files specc did not write",
        _export("web", "--out", "site"),
        {SPEC: spec_text(), "site/notes.md": VICTIM, "site/model.onnx": "old"},
        exit_code=2,
        output_has=(r"--out: site holds files specc did not write \(notes\.md\)",),
        check=check_all(text_is("site/notes.md", VICTIM), text_is("site/model.onnx", "old")),
    ),
    Case(
        FAMILY,
        "mobile out holds files specc did not write",
        _export("mobile", "--out", "app"),
        {SPEC: spec_text(), "app/build.gradle": VICTIM},
        exit_code=2,
        output_has=(r"did not write \(build\.gradle\)",),
        check=text_is("app/build.gradle", VICTIM),
    ),
    Case(
        FAMILY,
        "out is a file",
        _export("web", "--out", "notes.txt"),
        {SPEC: spec_text(), "notes.txt": VICTIM},
        exit_code=2,
        output_has=(r"notes\.txt is a file",),
        check=text_is("notes.txt", VICTIM),
    ),
    Case(
        FAMILY,
        "symbolic links in out",
        _export("web", "--out", "site", "-q"),
        {
            SPEC: spec_text(),
            "victim.txt": VICTIM,
            "site/model.onnx": lambda p: p.symlink_to("../victim.txt"),
            "site/README.md": lambda p: p.symlink_to("../victim.txt"),
        },
        exit_code=0,
        check=check_all(text_is("victim.txt", VICTIM), _files_in("site", BUNDLE)),
    ),
    Case(
        FAMILY,
        "an earlier bundle is replaced whole",
        _export("web", "--out", "site", "-q"),
        {SPEC: spec_text(), "site/model.onnx.data": "stale", "site/index.html": "old"},
        exit_code=0,
        check=_files_in("site", BUNDLE),
    ),
]
