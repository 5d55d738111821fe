"""Writes masks_states.json and masks_states.npz: Keras 3.15.1's final states of masked
recurrent layers (return_state), forwards and backwards, alone and in Bidirectional, on
the ids of masks_keras.py (padding at the end, at the start, in the middle, a row with
every step masked), which tests/test_masks_states.py compares specc's models with.

Not run by the test suite (it needs Keras); run it by hand with a Keras 3.15.1 install:
    KERAS_BACKEND=jax python tests/keras_reference/masks_states_keras.py
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import keras
import numpy as np

from tests.keras_reference.masks_keras import IDS, record

HERE = Path(__file__).parent
LSTM = {"type": "LSTM", "units": 3, "return_state": True}
GRU = {"type": "GRU", "units": 3, "return_state": True}

# name -> the layers after the Embedding, as spec entries (type and Keras arguments).
CASES: dict[str, list[dict[str, Any]]] = {
    "lstm_state": [LSTM],
    "lstm_state_seq": [{**LSTM, "return_sequences": True}],
    "lstm_state_backwards": [{**LSTM, "go_backwards": True}],
    "lstm_state_zero_output": [{**LSTM, "return_sequences": True, "zero_output_for_mask": True}],
    "lstm_state_no_bias": [{**LSTM, "use_bias": False, "go_backwards": True}],
    "gru_state": [GRU],
    "gru_state_backwards": [{**GRU, "go_backwards": True, "reset_after": False}],
    "simple_rnn_state": [{"type": "SimpleRNN", "units": 3, "return_state": True}],
    "bidirectional_lstm_state": [{"type": "Bidirectional", "layer": {**LSTM, "units": 2}}],
    "bidirectional_gru_state": [
        {"type": "Bidirectional", "merge_mode": "sum", "layer": {**GRU, "return_sequences": True}}
    ],
}


def main() -> None:
    rng = np.random.default_rng(20261207)
    arrays: dict[str, np.ndarray] = {}
    cases: dict[str, Any] = {}
    for name, entries in CASES.items():
        cases[name] = record(name, entries, IDS, rng, arrays)
    np.savez(HERE / "masks_states.npz", **arrays)
    header = {"keras": keras.__version__, "backend": keras.backend.backend(), "cases": cases}
    (HERE / "masks_states.json").write_text(json.dumps(header, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
