"""The training run as callbacks see it (``specc.callbacks.TrainingControl``).

Callbacks act on the run through this object: the session's parameters (Keras's
``get_weights``/``set_weights``: the backend's ``snapshot`` and ``restore``), its learning
rate, ``stop_training``, and files. A callback's files go into ``folder``, a scratch folder
that ``write_outputs`` moves into the run's output folder with the model, so the output
folder is still replaced whole; a name is checked to stay inside it and to be none of the
run's own files.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

from specc.atomic import new_scratch_folder
from specc.callbacks import CallbackConfig, CallbackError
from specc.callbacks.paths import check_relative
from specc.diagnostics import Diagnostic, SpecError
from specc.onnx_model import write_model
from specc.pipeline import CompiledModel
from specc.spec.callbacks_check import history_directions
from specc.train.backend import TrainingBackend
from specc.train.outputs import CHECKPOINT_FOLDER, TRAINED_FILES
from specc.weights import save_weights

#: The scratch folders of callbacks' files: <tmp>/specc-callbacks-<pid>-<random>.
FOLDER_PREFIX = "specc-callbacks-"
CALLBACK_ERROR = "SPC541-callback"


class RunControl:
    """A ``TrainingControl`` over a training session and a scratch folder."""

    def __init__(
        self,
        session: TrainingBackend,
        folder: Path,
        directions: Mapping[str, str],
        reserved: frozenset[str],
        by_key: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]],
        model_for: Callable[[dict[str, np.ndarray]], object],
        previous_folder: Path | None = None,
    ) -> None:
        self.session = session
        self.folder = folder
        self.directions = {k: d for k, d in directions.items() if d}
        self.stop_training = False
        self._reserved = reserved
        self._by_key = by_key
        self._model_for = model_for
        self._previous = previous_folder
        #: Top-level names callbacks wrote, for run.json.
        self.written: set[str] = set()

    def get_weights(self) -> dict[str, np.ndarray]:
        """Copies of every parameter, by ONNX name."""
        return self.session.snapshot()

    def set_weights(self, weights: Mapping[str, np.ndarray]) -> None:
        """Put parameters back into the session."""
        self.session.restore(dict(weights))

    def get_learning_rate(self) -> float:
        """The session's learning rate."""
        return self.session.learning_rate

    def set_learning_rate(self, value: float) -> None:
        """Assign the session's learning rate."""
        self.session.set_learning_rate(value)

    def file(self, relative: str) -> Path:
        """``relative`` inside the folder, its parents made; refused if it leaves it or is
        one of the run's own files."""
        problem = check_relative(relative)
        if problem is not None:
            raise CallbackError(problem)
        top = relative.split("/")[0]
        if top in self._reserved:
            raise CallbackError(
                f"'{relative}' is one of the files specc train writes itself; choose another name"
            )
        path = self.folder.joinpath(*relative.split("/"))
        # Defence in depth: the checked name cannot leave the folder, nor can a link.
        if not path.resolve().is_relative_to(self.folder.resolve()):
            raise CallbackError(f"'{relative}' is not inside the run's output folder")
        path.parent.mkdir(parents=True, exist_ok=True)
        self.written.add(top)
        return path

    def previous(self, relative: str) -> Path | None:
        """``relative`` in the previous run's folder, when it is a plain file there."""
        if self._previous is None or check_relative(relative) is not None:
            return None
        path = self._previous.joinpath(*relative.split("/"))
        if path.is_symlink() or not path.is_file():
            return None
        return path

    def save_weights(self, path: Path) -> None:
        """The current weights in the weights-file format, keyed ``layer/weight``."""
        save_weights(path, self._by_key(self.session.snapshot()))

    def save_model(self, path: Path) -> None:
        """The inference model with the current weights."""
        write_model(self._model_for(self.session.snapshot()), path)  # type: ignore[arg-type]


def callback_configs(compiled: CompiledModel) -> list[CallbackConfig]:
    """The spec's ``train.callbacks``."""
    return list(compiled.train.callbacks) if compiled.train is not None else []


def run_control(
    compiled: CompiledModel,
    session: TrainingBackend,
    by_key: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]],
    model_for: Callable[[dict[str, np.ndarray]], object],
    previous: Path | None,
    reserved: tuple[str, ...] = (CHECKPOINT_FOLDER,),
) -> RunControl:
    """The run's control over ``session``, with a new scratch folder (``remove_folder``
    it, or let ``write_outputs`` move its files into the run's folder and remove it);
    ``by_key`` and ``model_for`` make the weights file's and the model's contents from
    parameters by ONNX name. ``reserved`` are top-level names of ``--out`` that the run's
    checkpoints hold, which no callback's file may take."""
    config = compiled.compile
    assert config is not None  # training needs the compile section
    outputs = [name for name, _ in compiled.graph.outputs]
    return RunControl(
        session,
        new_scratch_folder(FOLDER_PREFIX),
        history_directions(config, outputs),
        frozenset((*TRAINED_FILES, *reserved)),
        by_key,
        model_for,
        previous,
    )


def remove_folder(folder: Path | None) -> None:
    """Remove a scratch folder (nothing for None)."""
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)


def located(compiled: CompiledModel, error: CallbackError) -> SpecError:
    """A callback's problem as a diagnostic at its ``train.callbacks`` entry."""
    path = ("train", "callbacks", error.index or 0, *error.field)
    return SpecError([compiled.loaded.locate(Diagnostic(CALLBACK_ERROR, error.message, path))])


def check_monitored(
    compiled: CompiledModel, configs: list[CallbackConfig], validating: bool
) -> None:
    """Refuse a callback reading a ``val_`` key in a run without validation data, before
    training (Keras would warn each epoch and never act, or fail to name a checkpoint)."""
    if validating:
        return
    found = []
    for index, config in enumerate(configs):
        read = [("monitor", config.monitored()), *(("filepath", k) for k in config.log_fields())]
        found += [
            Diagnostic(
                CALLBACK_ERROR,
                f"{field} reads '{key}', a validation value, but this run has no validation "
                "data; give --validation-data or train.validation_split, or use "
                f"'{key.removeprefix('val_')}'",
                ("train", "callbacks", index, field),
            )
            for field, key in read
            if key is not None and key.startswith("val_")
        ]
    if found:
        raise SpecError([compiled.loaded.locate(d) for d in found])
