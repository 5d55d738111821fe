"""onnxruntime-training's own checkpoint of its state, as bytes a specc checkpoint holds.

The engine's fused optimizer kernel keeps its moments inside the engine, and its Python
API offers no way to read or set them; but ``CheckpointState.save_checkpoint`` with
``include_optimizer_state`` writes them with the parameters, and an ``Optimizer`` built
over a ``CheckpointState`` loaded from such a file takes them back (measured: a run resumed
this way continues bit for bit). So the fused route's state is that file's bytes, kept as
a uint8 array in the checkpoint's ``.npz``. Reading it back goes through the engine's
loader, which verifies the file's structure; the parameters it holds are then checked
against the model's names and shapes before anything is built on them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from specc.train.checkpoint import CheckpointError
from specc.train.engine import CheckpointState, engine_message

_SAVED = "saved_state.ckpt"
_LOADED = "resumed_state.ckpt"


def engine_state_bytes(state: CheckpointState, workdir: Path) -> np.ndarray:
    """The engine's parameters and optimizer state, as the bytes of its checkpoint file."""
    path = workdir / _SAVED
    CheckpointState.save_checkpoint(state, str(path), include_optimizer_state=True)
    try:
        return np.frombuffer(path.read_bytes(), np.uint8).copy()
    finally:
        path.unlink(missing_ok=True)


def load_engine_state(
    data: np.ndarray, workdir: Path, shapes: dict[str, tuple[int, ...]]
) -> CheckpointState:
    """A ``CheckpointState`` from ``engine_state_bytes``; ``CheckpointError`` when the
    engine cannot read it or its parameters are not ``shapes``'s."""
    path = workdir / _LOADED
    path.write_bytes(np.ascontiguousarray(data, np.uint8).tobytes())
    try:
        loaded = CheckpointState.load_checkpoint(str(path))
        for name, shape in shapes.items():
            found = np.shape(loaded.parameters[name].data)
            if found != shape:
                raise CheckpointError(
                    f"the engine's state holds {name} of shape {found}; the model's is {shape}"
                )
    except CheckpointError:
        raise
    except Exception as error:
        message = engine_message(error)
        raise CheckpointError(f"the engine cannot read its saved state: {message}") from None
    finally:
        path.unlink(missing_ok=True)
    return loaded
