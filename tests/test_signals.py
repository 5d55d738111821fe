"""Signals as exits, scratch folders swept by pid, and engine errors as one line."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pydantic
import pytest
import typer
from pydantic_core import core_schema

from specc.atomic import scratch_folder
from specc.cli.common import exits_on_signals
from specc.cli.signals import (
    Interrupted,
    Terminated,
    deferred,
    interrupt_raises,
    run_console,
    terminate_raises,
)
from specc.diagnostics import SpecError
from specc.train.native import engine_message
from tests.ort_training import HAVE_ORT_TRAINING

if HAVE_ORT_TRAINING:  # else the tests marked ort_training are skipped
    from specc.train.session import check_device


def _signal_self(signum: int) -> None:
    os.kill(os.getpid(), signum)
    time.sleep(0.05)  # the handler runs at the next bytecode boundary


def test_sigterm_raises_terminated_and_the_handler_is_restored() -> None:
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Terminated), terminate_raises():
        _signal_self(signal.SIGTERM)
    assert signal.getsignal(signal.SIGTERM) == before


def test_deferred_holds_signals_until_the_block_ends() -> None:
    reached = False
    with pytest.raises(Interrupted), deferred():
        _signal_self(signal.SIGINT)
        _signal_self(signal.SIGTERM)
        reached = True
    assert reached
    with pytest.raises(Terminated), terminate_raises(), deferred():
        _signal_self(signal.SIGTERM)


@pytest.mark.parametrize(
    ("signum", "code", "line"),
    [(signal.SIGINT, 130, "stopped by Ctrl-C"), (signal.SIGTERM, 143, "stopped by SIGTERM")],
)
def test_exits_on_signals(
    signum: int, code: int, line: str, capsys: pytest.CaptureFixture[str]
) -> None:
    cleaned = []
    stopping = exits_on_signals("stopped by Ctrl-C", "stopped by SIGTERM")
    with pytest.raises(typer.Exit) as caught, stopping:
        try:
            _signal_self(signum)
        finally:
            cleaned.append(True)
    assert caught.value.exit_code == code
    assert cleaned == [True]
    assert capsys.readouterr().err == line + "\n"


def test_ctrl_c_while_pydantic_builds_a_schema_lands_after_the_build() -> None:
    # Raised inside the build, pydantic-core would hand it on as a SchemaError.
    class Field:
        @classmethod
        def __get_pydantic_core_schema__(cls, source: object, handler: object) -> object:
            _signal_self(signal.SIGINT)  # waits longer than a retry: retried inside too
            return core_schema.int_schema()

    built = []
    with pytest.raises(Interrupted), interrupt_raises():
        built.append(pydantic.create_model("Built", value=(Field, ...)))
        time.sleep(1)  # the retry lands here
    assert built


def test_run_console_turns_a_signal_during_the_import_into_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    def load() -> object:
        _signal_self(signal.SIGINT)
        return lambda: pytest.fail("the app ran after Ctrl-C")

    with pytest.raises(SystemExit) as caught:
        run_console(load)
    assert caught.value.code == 130
    assert capsys.readouterr().err == "specc: interrupted\n"


def test_scratch_folders_of_dead_processes_are_swept(tmp_path: Path) -> None:
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    dead_pid = int(dead.stdout)
    (tmp_path / f"specc-train-{dead_pid}-abc").mkdir()
    (tmp_path / f"specc-train-{os.getppid()}-live").mkdir()  # a live process's
    (tmp_path / "specc-train-notapid").mkdir()
    with scratch_folder("specc-train-", tmp_path) as folder:
        assert folder.name.startswith(f"specc-train-{os.getpid()}-")
        (folder / "artifact").write_bytes(b"x")
        names = sorted(p.name for p in tmp_path.iterdir())
    assert f"specc-train-{dead_pid}-abc" not in names
    assert f"specc-train-{os.getppid()}-live" in names
    assert not folder.exists()


def test_engine_message_is_the_message_without_cpp_text() -> None:
    text = (
        "/onnxruntime_src/orttraining/orttraining/python/orttraining_pybind_state.cc:104 "
        "std::vector<std::shared_ptr<onnxruntime::IExecutionProvider> > onnxruntime::python::"
        "{anonymous}::GetExecutionProvidersForTrainingApis(OrtDevice) Unsupported device type: "
    )
    assert engine_message(RuntimeError(text)) == "Unsupported device type:"
    status = "[ONNXRuntimeError] : 1 : FAIL : Load model failed\nmore\nlines"
    assert engine_message(RuntimeError(status)) == "Load model failed"
    assert engine_message(OSError(27, "File too large", "/tmp/x")) == "File too large (/tmp/x)"


@pytest.mark.ort_training
def test_a_device_without_its_provider_is_refused_first() -> None:
    import onnxruntime

    if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        pytest.skip("this engine build has CUDA")
    with pytest.raises(SpecError) as caught:
        check_device("cuda", "model.yaml")
    [problem] = caught.value.diagnostics
    assert problem.code == "SPC503-device"
    assert problem.as_text().startswith("model.yaml: error: cannot train on device 'cuda'")
    assert "onnxruntime-training==1.19.2" in problem.message
    check_device("cpu")


def test_ctrl_c_while_the_interpreter_exits_keeps_the_exit_code() -> None:
    # Once the command has ended, Python's exit removes its own SIGINT handler: a Ctrl-C
    # then would kill the process by the signal, dropping the command's exit code. The
    # console script ignores it from there on (seen from an atexit function, which runs
    # in that exit); SIGTERM still ends the process.
    script = (
        "import atexit, sys\n"
        "def show():\n"
        "    status = open('/proc/self/status').read()\n"
        "    ignored = int(status.split('SigIgn:')[1].split()[0], 16)\n"
        "    sys.stderr.write(f'ignored {ignored}\\n')\n"
        "atexit.register(show)\n"
        "sys.argv = ['specc', '--version']\n"
        "from specc.cli.entry import main\n"
        "main()\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    ignored = int(done.stderr.split("ignored ")[1])
    assert ignored >> (signal.SIGINT - 1) & 1
    assert not ignored >> (signal.SIGTERM - 1) & 1
