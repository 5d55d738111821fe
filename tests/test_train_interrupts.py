"""``specc train`` killed, terminated, interrupted or out of file space, in real processes.

After SIGKILL at any moment, ``--out`` holds the previous complete run byte for byte or a
new complete one; after SIGTERM no temporary folder is left; Ctrl-C during training writes
the run so far, during start-up nothing; a file-size limit leaves ``--out`` as it was. Each
run is ``python -m specc.cli train`` on a tiny spec, with TMPDIR pointed at a test folder so
that the engine's temporary folders can be counted.
"""

from __future__ import annotations

import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from tests.hostile.train_inputs import TINY_SPEC, strict_json, tiny_data

pytestmark = pytest.mark.slow

# history.png too: the test environments have matplotlib.
TRAINED = ["history.json", "history.png", "model.onnx", "run.json", "spec.json", "weights.npz"]
# The run's checkpoint, rewritten while it trains (tests/test_resume.py checks it): the
# trained files around it are what a killed run must leave whole.
CHECKPOINT = "checkpoint"
# The kill moments are drawn from this seed, so a failing sequence can be replayed.
KILL_SEED = 20240601


def _lay_out(folder: Path) -> Path:
    (folder / "tiny.yaml").write_text(TINY_SPEC, encoding="utf-8")
    (folder / "data.npz").write_bytes(tiny_data())
    (folder / "tmp").mkdir()
    return folder


@pytest.fixture
def work(tmp_path: Path) -> Path:
    """A folder with the tiny spec, its data and an empty TMPDIR."""
    return _lay_out(tmp_path)


@pytest.fixture(scope="module")
def first_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The ``out`` folder of one complete run, made once for every test here."""
    folder = _lay_out(tmp_path_factory.mktemp("first"))
    code, output = _finish(_start(folder, "--epochs", "1"))
    assert code == 0, output
    _check_complete(folder / "out")
    return folder / "out"


@pytest.fixture
def rerun(work: Path, first_run: Path) -> tuple[Path, dict[str, bytes]]:
    """``work`` holding a complete earlier run in ``out``, and that run's bytes."""
    shutil.copytree(first_run, work / "out")
    snapshot = _snapshot(work / "out")
    assert snapshot is not None
    return work, snapshot


# Most moments below are found by the training engine's temporary folder, which only the
# ort-training backend makes; the standard backend's are found by its progress lines.
needs_engine = pytest.mark.ort_training
ENGINE = ("--backend", "ort-training")


def _start(
    work: Path,
    *options: str,
    preexec: Callable[[], None] | None = None,
    quiet: bool = True,
    backend: tuple[str, ...] = (),
) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "specc.cli", "train", "tiny.yaml", "--data", "data.npz"]
    env = {**os.environ, "TMPDIR": str(work / "tmp"), "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [*command, "--out", "out", *(["-q"] if quiet else []), *backend, *options],
        cwd=work,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=preexec,
    )


def _finish(process: subprocess.Popen[bytes]) -> tuple[int, str]:
    """Wait for ``process``; its exit code and its output (stdout, then stderr)."""
    out, err = process.communicate(timeout=60)
    return process.returncode, (out + err).decode("utf-8", "replace")


def _wait_until(process: subprocess.Popen[bytes], ready: Callable[[], bool]) -> bool:
    """Poll until ``ready()``; False when the process ended first."""
    while process.poll() is None:
        if ready():
            return True
        time.sleep(0.0002)
    return False


def _engine_started(work: Path, process: subprocess.Popen[bytes]) -> bool:
    """Wait for the engine's temporary folder (the session being created); False when
    the process ended first."""
    return _wait_until(process, lambda: bool(_engine_folders(work, process.pid)))


def _writing(work: Path, process: subprocess.Popen[bytes]) -> bool:
    """Wait for the staging folder (the run being written); False when the process ended
    first."""
    return _wait_until(process, lambda: bool(_staging(work, process.pid)))


def _catches(pid: int, signum: int) -> bool:
    """Whether process ``pid`` has a handler for ``signum`` (Linux's /proc)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text(encoding="ascii")
    except OSError:
        return False
    [caught] = (line.split()[1] for line in status.splitlines() if line.startswith("SigCgt:"))
    return bool(int(caught, 16) >> (signum - 1) & 1)


def _engine_folders(work: Path, pid: int | None = None) -> list[Path]:
    prefix = "specc-train-" if pid is None else f"specc-train-{pid}-"
    return [p for p in (work / "tmp").iterdir() if p.name.startswith(prefix)]


def _staging(work: Path, pid: int) -> list[Path]:
    return [p for p in work.iterdir() if p.name.startswith(f".out.specc-staging-{pid}-")]


def _leftovers(work: Path) -> list[str]:
    """Temporary and staging folders anywhere the run writes."""
    found = [p.name for p in work.iterdir() if p.name.startswith(".out.specc-")]
    return found + [p.name for p in _engine_folders(work)]


def _snapshot(out: Path) -> dict[str, bytes] | None:
    if not out.exists():
        return None
    # A checkpoint's staging folder, left by a kill during its write, too.
    trained = [p for p in sorted(out.iterdir()) if not p.name.startswith((CHECKPOINT, ".chec"))]
    return {p.name: p.read_bytes() for p in trained}


def _check_complete(out: Path, status: str = "completed") -> dict:
    """``out`` holds one run whose files load and agree; return its run.json."""
    files = [p for p in out.iterdir() if p.name != CHECKPOINT]
    assert sorted(p.name for p in files) == TRAINED
    assert all(p.is_file() and not p.is_symlink() for p in files)
    assert (out / CHECKPOINT / "checkpoint.json").is_file()
    run = strict_json(out / "run.json")
    history = strict_json(out / "history.json")
    assert run["status"] == status
    assert all(len(values) == run["epochs_completed"] for values in history.values())
    model = onnx.load(str(out / "model.onnx"))
    initializers = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    with np.load(out / "weights.npz", allow_pickle=False) as weights:
        assert sorted(weights.files) == ["out/bias", "out/kernel"]
        for key in weights.files:
            np.testing.assert_array_equal(weights[key], initializers[key.replace("/", ".")])
    return run


def _complete_run(work: Path, *options: str) -> dict[str, bytes]:
    code, output = _finish(_start(work, *options))
    assert code == 0, output
    _check_complete(work / "out")
    snapshot = _snapshot(work / "out")
    assert snapshot is not None
    return snapshot


@needs_engine
def test_sigkill_at_random_moments_leaves_the_previous_or_a_new_complete_run(
    rerun: tuple[Path, dict[str, bytes]],
) -> None:
    work, previous = rerun
    rng = random.Random(KILL_SEED)
    # Start-up kills are the cheapest (no full start); 20 kills in all.
    wanted = {"start-up": 8, "training": 6, "writing": 6}
    kills = dict.fromkeys(wanted, 0)
    attempts = 0
    while kills != wanted:
        attempts += 1
        assert attempts < 80, f"too few kills landed: {kills}"
        phase = rng.choice([p for p in wanted if kills[p] < wanted[p]])
        process = _start(work, *ENGINE, "--epochs", "40", "--seed", str(attempts))
        if phase == "start-up":  # imports, compiling, loading the data
            time.sleep(rng.uniform(0.0, 0.8))
        elif phase == "training":  # from the engine's session to the last batch
            if not _engine_started(work, process):
                _finish(process)
                continue
            time.sleep(rng.uniform(0.0, 0.15))
        else:  # the staging folder, its files, the swap, the clean-up
            if not _writing(work, process):
                _finish(process)
                continue
            time.sleep(rng.uniform(0.0, 0.01))
        process.kill()
        code, _ = _finish(process)
        if code != -signal.SIGKILL:
            continue  # it finished first
        kills[phase] += 1
        now = _snapshot(work / "out")
        if now != previous:
            _check_complete(work / "out")
            previous = now
    # The next run sweeps what the killed ones left: engine and staging folders.
    assert _leftovers(work), "no kill left a temporary folder: the moments missed"
    _complete_run(work, *ENGINE, "--epochs", "2")
    assert _leftovers(work) == []


@needs_engine
def test_sigterm_removes_temporary_folders_and_leaves_out(
    rerun: tuple[Path, dict[str, bytes]],
) -> None:
    work, previous = rerun
    process = _start(work, *ENGINE, "--epochs", "100000")
    assert _engine_started(work, process)
    time.sleep(0.2)
    process.send_signal(signal.SIGTERM)
    code, output = _finish(process)
    assert code == 143
    assert output == "terminated; out was left as it was\n"
    assert _leftovers(work) == []
    assert _snapshot(work / "out") == previous


def test_sigterm_during_start_up_is_one_line(work: Path) -> None:
    process = _start(work)
    # Past the interpreter's start: in the imports or just after them, by the machine's
    # speed (test_signals.py lands a signal inside the import itself, in-process).
    time.sleep(0.2)
    process.send_signal(signal.SIGTERM)
    code, output = _finish(process)
    assert code == 143
    assert output in ("specc: terminated\n", "terminated; out was left as it was\n")
    assert not (work / "out").exists()


@needs_engine
def test_ctrl_c_during_training_writes_the_run_so_far(
    rerun: tuple[Path, dict[str, bytes]],
) -> None:
    work, _ = rerun
    process = _start(work, *ENGINE, "--epochs", "100000")
    assert _engine_started(work, process)
    time.sleep(0.3)
    process.send_signal(signal.SIGINT)
    code, output = _finish(process)
    assert code == 130
    lines = output.splitlines()
    assert len(lines) == 1, output
    assert lines[0].startswith("interrupted at epoch ")
    assert "(run.json: interrupted)" in lines[0]
    run = _check_complete(work / "out", status="interrupted")
    assert run["epochs"] == 100000
    assert 0 < run["epochs_completed"] < 100000
    assert run["steps_trained"] >= 4 * run["epochs_completed"]
    assert _leftovers(work) == []


@needs_engine
@pytest.mark.parametrize("moment", ["imports", "session"])
def test_ctrl_c_during_start_up_leaves_out_as_it_was(
    rerun: tuple[Path, dict[str, bytes]], moment: str
) -> None:
    work, previous = rerun
    process = _start(work, *ENGINE, "--epochs", "3")
    if moment == "imports":
        time.sleep(0.4)
    else:  # the engine's temporary folder appears as the session is created
        assert _engine_started(work, process)
    process.send_signal(signal.SIGINT)
    code, output = _finish(process)
    assert code == 130
    assert len(output.splitlines()) == 1, output
    assert "Traceback" not in output and "KeyboardInterrupt" not in output
    if output.startswith("interrupted at epoch"):
        # Training had begun when the signal was handled: the run so far was written.
        _check_complete(work / "out", status="interrupted")
    else:
        assert output in ("specc: interrupted\n", "interrupted; out was left as it was\n")
        assert _snapshot(work / "out") == previous
    assert _leftovers(work) == []


# Every one-line ending Ctrl-C can have: before the command runs, in its imports or
# checks, in training, after the last batch.
CTRL_C_LINES = (
    "specc: interrupted",
    "interrupted; out was left as it was",
    "interrupted at epoch ",
    "interrupted after training ended; ",
)


def test_ctrl_c_at_every_moment_of_a_run_is_one_line(
    rerun: tuple[Path, dict[str, bytes]],
) -> None:
    # Moments spread over a whole short run, measured here, so that some land in Typer's
    # parsing of the arguments and its reading of the commands' annotations (once a silent
    # exit 130, and a death by SIGINT). They count from the moment specc's handlers are in:
    # before it, the interpreter is starting, where Ctrl-C ends any Python program.
    work, previous = rerun
    began = time.monotonic()
    assert _finish(_start(work, "--epochs", "1"))[0] == 0
    whole = time.monotonic() - began
    previous = _snapshot(work / "out")
    for step in range(8):
        process = _start(work, "--epochs", "1")
        pid = process.pid
        assert _wait_until(process, lambda: _catches(pid, signal.SIGTERM))  # noqa: B023
        time.sleep(whole * step / 8)
        process.send_signal(signal.SIGINT)
        code, output = _finish(process)
        if code == 0:
            break  # the run ended before the signal: the later moments would too
        assert code == 130, output
        assert len(output.splitlines()) == 1 and output.startswith(CTRL_C_LINES), output
        now = _snapshot(work / "out")
        if output.startswith(CTRL_C_LINES[:2]):
            assert now == previous
        else:
            status = "interrupted" if output.startswith(CTRL_C_LINES[2]) else "completed"
            _check_complete(work / "out", status=status)
            previous = now
        assert _leftovers(work) == []


def _file_size_limit(size: int) -> Callable[[], None]:
    def limit() -> None:
        # Writes past the limit fail with EFBIG; SIGXFSZ would kill the process first
        # (Python ignores it too, but the child must not depend on that).
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))

    return limit


def test_file_size_limit_while_writing_leaves_the_previous_run(
    rerun: tuple[Path, dict[str, bytes]],
) -> None:
    work, previous = rerun
    # 300 epochs make history.json about 11 kB; every other file stays under 8 kB.
    process = _start(work, "--epochs", "300", preexec=_file_size_limit(8000))
    code, output = _finish(process)
    assert code == 2
    assert output == "error: cannot write the run to out: File too large\n"
    assert _snapshot(work / "out") == previous
    assert _leftovers(work) == []


@needs_engine
def test_file_size_limit_in_the_engine_is_one_line(work: Path) -> None:
    process = _start(work, *ENGINE, "--epochs", "1", preexec=_file_size_limit(1000))
    code, output = _finish(process)
    assert code == 2
    lines = output.splitlines()
    assert len(lines) == 1, output
    assert lines[0].startswith("error: cannot start the training engine on cpu: File too large")
    assert not (work / "out").exists()
    assert _leftovers(work) == []


def test_sigterm_while_the_standard_backend_trains_leaves_out(
    rerun: tuple[Path, dict[str, bytes]],
) -> None:
    work, previous = rerun
    process = _start(work, "--epochs", "100000", quiet=False)
    assert process.stderr is not None
    # Not on a terminal, progress is a line per epoch: the first one means training runs.
    first = process.stderr.readline().decode()
    assert first.startswith("Epoch 1/"), first
    process.send_signal(signal.SIGTERM)
    code, output = _finish(process)
    assert code == 143
    assert output.splitlines()[-1] == "terminated; out was left as it was"
    assert _leftovers(work) == []
    assert _snapshot(work / "out") == previous


@needs_engine
@pytest.mark.parametrize("moment", ["reading the engine's inputs", "setting the optimizer"])
def test_an_interrupt_as_the_engine_session_opens_leaves_no_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, moment: str
) -> None:
    # The last steps of opening a session, after its artifacts are loaded: a Ctrl-C there
    # reaches no caller that could close the session, so the session removes its folder.
    import tempfile

    from specc.train import session as session_module
    from specc.train.run import prepare

    _lay_out(tmp_path)
    compiled, training = prepare(tmp_path / "tiny.yaml", None, 0)
    optimizer = compiled.typed.resolved.spec.compile.optimizer
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    if moment == "setting the optimizer":
        monkeypatch.setattr(session_module.TrainingSession, "use_optimizer", interrupted)
    else:
        monkeypatch.setattr(session_module.Module, "output_names", interrupted)
    with pytest.raises(KeyboardInterrupt):
        session_module.TrainingSession(training, optimizer=optimizer)
    assert list((tmp_path / "tmp").iterdir()) == []
