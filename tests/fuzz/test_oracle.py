"""The fuzzing harness's own parts: the oracle's verdicts, npz recipes, dictionaries."""

from __future__ import annotations

import io
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from specc.diagnostics import Diagnostic, Position, SpecError
from tests.fuzz import npz_recipe
from tests.fuzz.oracle import Unsound, examine
from tests.fuzz.targets import NAMES, load, write_dictionary

FILE = "/tmp/spec.yaml"
START = Position(1, 1)


def _raise(error: BaseException):
    def run() -> None:
        raise error

    return run


def _spec_error(message: str, file: str = FILE, position: Position | None = START):
    return _raise(SpecError([Diagnostic("SPC101-schema", message, (), file, position)]))


def test_success_and_clean_errors_pass() -> None:
    assert examine(lambda: None, FILE, True, 5) is None
    assert examine(_spec_error("units must be positive"), FILE, True, 5) is None
    excerpt = "bad '$' (at column 5 of the expression)\n  x + $\n      ^"
    assert examine(_spec_error(excerpt), FILE, True, 5) is None


@pytest.mark.parametrize(
    ("run", "signature"),
    [
        (_raise(ValueError("x")), "ValueError at "),
        (_raise(RecursionError()), "RecursionError at "),
        (_spec_error("ok", position=None), "unclean error: diagnostic without line"),
        (_spec_error("ok", file="<spec>"), "unclean error: diagnostic not about the file"),
        (_spec_error("use allow_pickle=True"), "unclean error: a diagnostic suggests enabling"),
        (_raise(SpecError([])), "unclean error: SpecError without diagnostics"),
        (_raise(Unsound("a non-finite constant", "f/scalar")), "unsound: a non-finite constant"),
    ],
)
def test_every_other_outcome_is_a_failure(run, signature: str) -> None:
    failure = examine(run, FILE, True, 5)
    assert failure is not None and failure.signature.startswith(signature), failure


@pytest.mark.parametrize("message", ["unknown key '\x1b]0;t\x07'", "unknown key 'a\nb'"])
def test_control_characters_in_rendered_diagnostics_are_failures(
    message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Diagnostic.as_text escapes them; the oracle guards that rendering, so it is checked
    # against a rendering that does not.
    monkeypatch.setattr(Diagnostic, "as_text", lambda d: f"{d.file}:1:1: error: {d.message}")
    failure = examine(_spec_error(message), FILE, True, 5)
    assert failure is not None and failure.signature.startswith(
        "unclean error: control characters"
    ), failure


def test_data_file_diagnostics_need_no_position() -> None:
    assert examine(_spec_error("bad", position=None), FILE, False, 5) is None


def test_an_input_over_its_cpu_time_is_a_failure() -> None:
    def spin() -> None:
        end = time.process_time() + 5
        while time.process_time() < end:
            pass

    failure = examine(spin, FILE, True, 0.2)
    assert failure is not None and failure.signature.startswith("slow at ")


def test_recipes_build_npz_files_and_real_files_pass_through() -> None:
    assert npz_recipe.build(b"PK\x03\x04rest", ("a",)) == b"PK\x03\x04rest"
    assert npz_recipe.build(b"", ("a",)) == b""
    one_member = bytes([1, 0, 1, 1, 0, 1, 2, 3, 4, 0, 1, 0, 0, 0, 0, 0, 128, 62, 0, 0, 0, 0, 0])
    data = npz_recipe.build(npz_recipe.RECIPE + one_member, ("w",))
    with np.load(io.BytesIO(data)) as archive:
        assert archive["w"].shape == (3, 4) and archive["w"].dtype == np.float32
    for seed in range(50):
        recipe = npz_recipe.RECIPE + np.random.default_rng(seed).bytes(64)
        zipfile.ZipFile(io.BytesIO(npz_recipe.build(recipe, ("w",)))).testzip()


def test_dictionaries_quote_every_byte(tmp_path: Path) -> None:
    text = write_dictionary(['a"b', "\\", "\x1b", "é", ""], tmp_path / "d").read_text()
    assert text.splitlines() == ['"a\\x22b"', '"\\x5c"', '"\\x1b"', '"\\xc3\\xa9"']


@pytest.mark.parametrize("name", NAMES)
def test_every_target_loads_and_has_tokens(name: str) -> None:
    target = load(name)
    assert target.name == name and target.tokens()
