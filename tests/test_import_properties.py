"""A damaged model config gets located problems, never a traceback: any value of a real
Keras config replaced by any JSON value either imports or fails with diagnostics."""

from __future__ import annotations

import json
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from specc.diagnostics import SpecError
from specc.importer import import_model
from specc.importer.model import config_to_spec

MODELS = Path(__file__).parent / "data" / "keras_models"
NAMES = ["mlp", "multi_output", "transformer", "bilstm_mask", "siamese", "shared_layer"]


def _config(name: str) -> Any:
    with zipfile.ZipFile(MODELS / f"{name}.keras") as archive:
        return json.loads(archive.read("config.json"))


CONFIGS = {name: _config(name) for name in NAMES}


def _paths(value: Any, path: tuple = ()) -> list[tuple]:
    found = [path]
    if isinstance(value, dict):
        for key, item in value.items():
            found.extend(_paths(item, (*path, key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.extend(_paths(item, (*path, index)))
    return found


def _replaced(value: Any, path: tuple, new: Any) -> Any:
    if not path:
        return new
    copy = dict(value) if isinstance(value, dict) else list(value)
    copy[path[0]] = _replaced(value[path[0]], path[1:], new)
    return copy


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 3) | st.sampled_from(["", "x", "Dense"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=5,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(NAMES), st.data(), JSON)
def test_damaged_config_is_reported_not_raised(name: str, data: Any, new: Any) -> None:
    config = CONFIGS[name]
    path = data.draw(st.sampled_from(_paths(config)))
    try:
        config_to_spec(_replaced(config, path, new), "m.keras/config.json")
    except SpecError as error:
        assert error.diagnostics
        assert all(d.file == "m.keras/config.json" for d in error.diagnostics)


@pytest.mark.parametrize("name", NAMES)
def test_real_configs_map(name: str) -> None:
    spec = config_to_spec(CONFIGS[name], "m.keras/config.json")
    assert spec["layers"] and spec["outputs"]


def _members(name: str) -> dict[str, bytes]:
    with zipfile.ZipFile(MODELS / f"{name}.keras") as archive:
        return {n: archive.read(n) for n in archive.namelist()}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(["mlp", "multi_output", "transformer"]), st.data(), JSON)
def test_damaged_model_file_imports_or_is_reported(name: str, data: Any, new: Any) -> None:
    pytest.importorskip("h5py")
    config = CONFIGS[name]
    path = data.draw(st.sampled_from(_paths(config)))
    members = _members(name)
    members["config.json"] = json.dumps(_replaced(config, path, new)).encode()
    with tempfile.TemporaryDirectory() as folder:
        model = Path(folder) / "m.keras"
        with zipfile.ZipFile(model, "w") as archive:
            for member, content in members.items():
                archive.writestr(member, content)
        try:
            import_model(model)
        except SpecError as error:
            assert error.diagnostics
