"""Atomic files and staged output folders: a reader sees the old content or the new, and a
symbolic link where an output goes is replaced, never written through."""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

import pytest

from specc import atomic
from specc.atomic import (
    OutputFolderError,
    check_output_folder,
    new_scratch_folder,
    open_atomic,
    scratch_folder_on,
    staged_folder,
    sweep_leftovers,
    write_text,
)


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "model.onnx"
    target.write_text("old")
    with pytest.raises(RuntimeError), open_atomic(target) as handle:
        handle.write(b"half")
        raise RuntimeError("disk full")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx"]


def test_a_symlink_at_the_target_is_replaced_not_followed(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious")
    link = tmp_path / "out.json"
    link.symlink_to(victim)
    write_text(link, "new")
    assert victim.read_text() == "precious"
    assert not link.is_symlink() and link.read_text() == "new"


def test_staged_folder_swaps_a_whole_run_in(tmp_path: Path) -> None:
    out = tmp_path / "out"
    for run in ("first", "second"):
        with staged_folder(out, {"a", "b"}) as staging:
            write_text(staging / "a", run)
            write_text(staging / "b", run)
    assert {p.name: p.read_text() for p in out.iterdir()} == {"a": "second", "b": "second"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_a_failed_run_leaves_the_previous_one(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with staged_folder(out, {"a"}) as staging:
        write_text(staging / "a", "kept")
    with pytest.raises(RuntimeError), staged_folder(out, {"a"}) as staging:
        write_text(staging / "a", "lost")
        raise RuntimeError
    assert (out / "a").read_text() == "kept"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_a_symlink_inside_the_old_folder_is_never_written_through(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious")
    out = tmp_path / "out"
    out.mkdir()
    (out / "a").symlink_to(victim)
    with staged_folder(out, {"a"}) as staging:
        write_text(staging / "a", "new")
    assert victim.read_text() == "precious"
    assert (out / "a").read_text() == "new" and not (out / "a").is_symlink()


def test_a_folder_with_foreign_files_is_refused_before_work(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(OutputFolderError, match=r"notes\.txt"):
        check_output_folder(out, {"model.onnx"})
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputFolderError, match="is a file"):
        check_output_folder(tmp_path / "file", {"model.onnx"})


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_an_unwritable_parent_is_refused(tmp_path: Path) -> None:
    parent = tmp_path / "locked"
    parent.mkdir()
    parent.chmod(0o500)
    try:
        with pytest.raises(OutputFolderError, match="cannot write"):
            check_output_folder(parent / "out", {"a"})
    finally:
        parent.chmod(0o700)


def test_leftovers_of_dead_processes_are_swept(tmp_path: Path) -> None:
    dead = 2**22 + 12345  # above the default pid_max: no such process
    stale = tmp_path / f".out.specc-staging-{dead}-abc"
    stale.mkdir()
    (stale / "model.onnx").write_text("partial")
    alive = tmp_path / f".out.specc-staging-{os.getppid()}-abc"
    alive.mkdir()
    sweep_leftovers(tmp_path, "out")
    assert not stale.exists()
    assert alive.exists()


def test_ctrl_c_as_a_scratch_folder_is_made_leaves_it_to_the_stack(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[Path] = []

    def made_then_interrupted(prefix: str, parent: Path | None = None) -> Path:
        folder = new_scratch_folder(prefix, parent)
        made.append(folder)
        signal.raise_signal(signal.SIGINT)  # pending while scratch_folder_on holds signals
        return folder

    monkeypatch.setattr(atomic, "new_scratch_folder", made_then_interrupted)
    # Python's own Ctrl-C handler, also where the suite started with SIGINT ignored (a
    # background job of a shell without job control).
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        stack = contextlib.ExitStack()
        with pytest.raises(KeyboardInterrupt):
            scratch_folder_on(stack, "specc-test-", tmp_path)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert made and made[0].is_dir()  # made, and the interrupt came before it was returned
    stack.close()
    assert list(tmp_path.iterdir()) == []
