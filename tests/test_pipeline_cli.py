"""``--debug`` prints each compiler pass's time; ``--dump-stages DIR`` writes each stage."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from specc.cli.app import app
from specc.pipeline import CHECK_PASSES, PASS_NAMES, STAGE_FILES
from tests.spec_helpers import ROOT

STACK = ROOT / "models" / "dense_stack.yaml"
TIMING = re.compile(r"^  (\w+) +\d+\.\d{3} ms$")

runner = CliRunner()


def _timed_passes(stderr: str) -> list[str]:
    """The pass names of the timing lines, in order (each table's total aside)."""
    names = [m.group(1) for line in stderr.splitlines() if (m := TIMING.match(line))]
    assert names[-1] == "total"
    return [name for name in names if name != "total"]


def _spec(tmp_path: Path, spec: dict) -> Path:
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))
    return path


TINY = {
    "specc": 1,
    "name": "tiny",
    "inputs": {"x": {"shape": [3]}},
    "layers": [{"name": "dense", "type": "Dense", "inputs": ["x"], "units": 2}],
    "compile": {"optimizer": "sgd", "loss": "mse"},
}


def test_build_debug_prints_a_line_per_pass(tmp_path: Path) -> None:
    result = runner.invoke(app, ["build", str(STACK), "-o", str(tmp_path / "m.onnx"), "--debug"])
    assert result.exit_code == 0, result.output
    assert _timed_passes(result.stderr) == list(PASS_NAMES)
    assert f"compiler passes for {STACK}:" in result.stderr
    assert "compiler passes" not in result.stdout  # the summary alone on stdout


def test_validate_debug_times_the_checks_of_each_spec(tmp_path: Path) -> None:
    result = runner.invoke(app, ["validate", str(STACK), str(STACK), "--debug"])
    assert result.exit_code == 0, result.output
    checks = [p.name for p in CHECK_PASSES]
    assert _timed_passes(result.stderr) == checks + checks
    result = runner.invoke(app, ["validate", str(STACK)])
    assert "compiler passes" not in result.output  # only with --debug


def test_debug_times_the_passes_that_ran_before_an_error(tmp_path: Path) -> None:
    bad = {**TINY, "layers": [{**TINY["layers"][0], "units": 0}]}
    result = runner.invoke(app, ["validate", str(_spec(tmp_path, bad)), "--debug"])
    assert result.exit_code == 1
    assert _timed_passes(result.stderr) == ["load_spec", "validate_spec"]


def test_train_and_export_debug_time_the_passes(tmp_path: Path) -> None:
    spec = _spec(tmp_path, TINY)
    data = tmp_path / "data.npz"
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(8, 3)), rng.normal(size=(8, 2))
    np.savez(data, x=x.astype(np.float32), dense=y.astype(np.float32))
    args = ["train", str(spec), "--data", str(data), "--out", str(tmp_path / "run"), "--debug"]
    result = runner.invoke(app, [*args, "--quiet", "--dump-stages", str(tmp_path / "stages")])
    assert result.exit_code == 0, result.output
    assert _timed_passes(result.stderr) == list(PASS_NAMES)
    assert sorted(p.name for p in (tmp_path / "stages").iterdir()) == sorted(STAGE_FILES.values())

    out = tmp_path / "web"
    result = runner.invoke(app, ["export", str(spec), "-t", "web", "-o", str(out), "--debug"])
    assert result.exit_code == 0, result.output
    assert _timed_passes(result.stderr) == list(PASS_NAMES)
    # A trained folder is read, not compiled: no passes, no table.
    trained = ["export", str(tmp_path / "run"), "-t", "web", "-o", str(tmp_path / "web2")]
    result = runner.invoke(app, [*trained, "--debug"])
    assert result.exit_code == 0, result.output
    assert "compiler passes" not in result.stderr


def test_build_dump_stages_writes_every_stage(tmp_path: Path) -> None:
    stages = tmp_path / "stages"
    args = ["build", str(STACK), "-o", str(tmp_path / "m.onnx"), "--dump-stages", str(stages)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in stages.iterdir()) == sorted(STAGE_FILES.values())
    for name in STAGE_FILES.values():
        text = (stages / name).read_text()
        if name.endswith(".json"):
            json.loads(text)
    assert json.loads((stages / STAGE_FILES["validate_spec"]).read_text())["name"] == "dense_stack"
    typed = json.loads((stages / STAGE_FILES["infer_shapes"]).read_text())
    assert [layer["name"] for layer in typed["layers"]] == ["dense", "dense_1", "dense_2"]
    assert (stages / STAGE_FILES["lower_to_onnx"]).read_text().startswith('graph "dense_stack"\n')
    assert f"wrote {len(STAGE_FILES)} stage files to {stages}" in result.stderr

    # A second run replaces the folder it wrote.
    result = runner.invoke(app, [*args, "--quiet"])
    assert result.exit_code == 0, result.output
    assert result.output == ""


def test_validate_dump_stages_after_an_error(tmp_path: Path) -> None:
    """A spec with errors: the stages that ran before the failing pass, nothing stale."""
    stages = tmp_path / "stages"
    good = _spec(tmp_path, TINY)
    assert runner.invoke(app, ["build", str(good), "--dump-stages", str(stages)]).exit_code == 0
    bad = {**TINY, "layers": [{**TINY["layers"][0], "inputs": ["nowhere"]}]}
    args = ["validate", str(_spec(tmp_path, bad)), "--dump-stages", str(stages)]
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    assert sorted(p.name for p in stages.iterdir()) == [
        STAGE_FILES["load_spec"],
        STAGE_FILES["validate_spec"],
    ]


def test_dump_folder_refused_like_other_output_folders(tmp_path: Path) -> None:
    a_file = tmp_path / "file"
    a_file.write_text("x")
    target = tmp_path / "m.onnx"
    build = ["build", str(STACK), "-o", str(target), "--dump-stages"]
    result = runner.invoke(app, [*build, str(a_file)])
    assert result.exit_code == 2
    assert "--dump-stages:" in result.stderr and "is a file" in result.stderr
    assert not target.exists()  # refused before any work
    assert a_file.read_text() == "x"

    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep")
    result = runner.invoke(app, [*build, str(foreign)])
    assert result.exit_code == 2
    assert "did not write" in result.stderr
    assert (foreign / "notes.txt").read_text() == "keep"

    broken = tmp_path / "link"
    broken.symlink_to(tmp_path / "missing")
    result = runner.invoke(app, ["validate", str(STACK), "--dump-stages", str(broken)])
    assert result.exit_code == 2
    assert "broken symbolic link" in result.stderr

    under_a_file = a_file / "stages"
    result = runner.invoke(app, ["validate", str(STACK), "--dump-stages", str(under_a_file)])
    assert result.exit_code == 2

    # Replacing the dump folder would remove an output in it, and the other way round.
    stages = tmp_path / "stages"
    result = runner.invoke(
        app, ["build", str(STACK), "-o", str(stages / "m.onnx"), "--dump-stages", str(stages)]
    )
    assert result.exit_code == 2
    assert "overlaps" in result.stderr
    assert not stages.exists()
    result = runner.invoke(
        app,
        [
            "train",
            str(STACK),
            "--data",
            str(a_file),
            "--out",
            str(stages),
            "--dump-stages",
            str(stages / "in"),
        ],
    )
    assert result.exit_code == 2
    assert "overlaps" in result.stderr

    result = runner.invoke(
        app, ["validate", str(STACK), str(STACK), "--dump-stages", str(tmp_path / "s")]
    )
    assert result.exit_code == 2
    assert "takes one spec; got 2" in result.stderr
    assert not (tmp_path / "s").exists()


HOSTILE = [
    "\x1b[31mred\x1b[0m",
    "bell\x07",
    "</script><script>alert(1)</script>",
    "two\nlines",
    "\u202eright-to-left",
    "nul\x00",
]


def test_hostile_text_lands_escaped_in_the_dumps(tmp_path: Path) -> None:
    spec = {
        **TINY,
        "name": "<script>alert('x')<\\script>",
        "layers": [{**TINY["layers"][0], "units": len(HOSTILE), "activation": "softmax"}],
        "metadata": {"labels": HOSTILE, "note\x1b]0;title\x07": "\x1b[2J"},
    }
    stages = tmp_path / "stages"
    result = runner.invoke(app, ["build", str(_spec(tmp_path, spec)), "--dump-stages", str(stages)])
    assert result.exit_code == 0, result.output
    unsafe = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e]")
    for path in stages.iterdir():
        text = path.read_text()
        assert not unsafe.search(text), path.name
    description = json.loads((stages / STAGE_FILES["describe_model"]).read_text())
    assert description["specc.model"]["outputs"][0]["labels"] == HOSTILE
    loaded = json.loads((stages / STAGE_FILES["load_spec"]).read_text())
    assert loaded["data"]["metadata"]["note\x1b]0;title\x07"] == "\x1b[2J"
    listing = (stages / STAGE_FILES["lower_to_onnx"]).read_text()
    assert listing.splitlines()[0] == "graph " + json.dumps(spec["name"])


def test_readme_lists_the_stage_files() -> None:
    readme = ROOT.joinpath("README.md").read_text()
    listed = re.findall(r"^\| `(\d\d-\w+\.\w+)` \|", readme, re.M)
    assert listed == list(STAGE_FILES.values())
