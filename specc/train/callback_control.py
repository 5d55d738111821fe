"""The training run as callbacks see it (``specc.callbacks.TrainingControl``).

Callbacks act on the run through this object: the session's parameters (Keras's
``get_weights``/``set_weights``: the backend's ``snapshot`` and ``restore``), its learning
rate, ``stop_training``, and files. A callback's files go into ``folder``, a scratch folder
that ``write_outputs`` moves into the run's output folder with the model, so the output
folder is still replaced whole; a name is checked to stay inside it and to be none of the
run's own files.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

from specc.callbacks import CallbackError
from specc.callbacks.paths import check_relative
from specc.onnx_model import write_model
from specc.train.backend import TrainingBackend
from specc.weights import save_weights

#: Names of the run's own files, which no callback may write (``specc.train.outputs``).
Reserved = frozenset[str]


class RunControl:
    """A ``TrainingControl`` over a training session and a scratch folder."""

    def __init__(
        self,
        session: TrainingBackend,
        folder: Path,
        directions: Mapping[str, str],
        reserved: Reserved,
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
