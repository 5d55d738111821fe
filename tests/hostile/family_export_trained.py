"""A folder ``specc train`` wrote, as it may arrive from a download: a model file that is
not protobuf, truncated, a folder, a device, too big, pointing at other files, failing the
ONNX checker, or with metadata that is not JSON, of the wrong shape, or lying about the
graph; a damaged weights.npz beside it. Each is a located error on the file, exit 1."""

from __future__ import annotations

import os

import onnx

from tests.hostile.case import Case
from tests.hostile.export_inputs import (
    check_all,
    described,
    model_bytes,
    output_described,
    trained_folder,
    with_description,
    with_model,
    wrote_nothing,
)

FAMILY = "trained folder"
WEB = ["export", "run", "--target", "web"]
MOBILE = ["export", "run", "--target", "mobile"]
AT_MODEL = r"run/model\.onnx: error: "


def _case(name: str, files: dict, pattern: str, argv: list[str] = WEB) -> Case:
    return Case(FAMILY, name, argv, files, output_has=(pattern,), check=wrote_nothing)


def _external(model: onnx.ModelProto) -> None:
    tensor = model.graph.initializer[0]
    tensor.ClearField("raw_data")
    tensor.data_location = onnx.TensorProto.EXTERNAL
    entry = tensor.external_data.add()
    entry.key, entry.value = "location", "../../../etc/passwd"


def _claims_more(model: onnx.ModelProto) -> None:
    model.graph.initializer[0].dims[0] = 5


def _custom_op(model: onnx.ModelProto) -> None:
    model.graph.node.append(onnx.helper.make_node("Evil", ["input_layer"], ["x"], domain="evil"))
    model.opset_import.append(onnx.helper.make_opsetid("evil", 1))


def _bad_axis(model: onnx.ModelProto) -> None:
    for node in model.graph.node:
        for attribute in node.attribute:
            if node.op_type == "Softmax" and attribute.name == "axis":
                attribute.i = 10


def _renamed_input(model: onnx.ModelProto) -> None:
    model.graph.input[0].name = "other"


def _mkdir(path) -> None:
    path.mkdir()


def _dev_zero(path) -> None:
    path.symlink_to("/dev/zero")


def _truncated_weights(path) -> None:
    import numpy as np

    np.savez(path, kernel=np.zeros((64, 64), np.float32))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


CASES = [
    _case(
        "model is not protobuf",
        trained_folder(model=os.urandom(4096)),
        AT_MODEL + ".*is not an ONNX model",
    ),
    _case(
        "model truncated",
        trained_folder(model=model_bytes()[: len(model_bytes()) * 2 // 3]),
        AT_MODEL + r".*not an ONNX model \(truncated",
    ),
    _case("model.onnx is a folder", trained_folder(model=_mkdir), AT_MODEL + ".*is a folder"),
    _case(
        "model.onnx is /dev/zero",
        trained_folder(model=_dev_zero),
        AT_MODEL + ".*not a regular file",
    ),
    _case("model is empty", trained_folder(model=b""), AT_MODEL),
    _case(
        "model over the size limit",
        trained_folder(),
        AT_MODEL + r".*raise it with --limit params=",
        [*WEB, "--limit", "params=1", "--limit", "file_size=100"],
    ),
    _case(
        "model over the parameter limit",
        trained_folder(),
        AT_MODEL + r".*more than 10 values.*--limit params=",
        [*WEB, "--max-params", "10"],
    ),
    _case(
        "tensor pointing at another file",
        trained_folder(model=with_model(_external)),
        AT_MODEL + ".*refers to an external data file",
    ),
    _case(
        "tensor claiming more values than it holds",
        trained_folder(model=with_model(_claims_more)),
        AT_MODEL + ".*claims 15 values and holds 12",
    ),
    _case(
        "attribute the checker refuses",
        trained_folder(model=with_model(_bad_axis)),
        AT_MODEL + ".*'axis' must be in",
    ),
    _case(
        "op from an unknown domain (mobile)",
        trained_folder(model=with_model(_custom_op)),
        r"domain 'evil'.*Evil \[SPC518-mobile-model\]",
        MOBILE,
    ),
    _case(
        "metadata is not JSON",
        trained_folder(model=with_description("{not json")),
        AT_MODEL + "its 'specc.model' metadata is not JSON",
    ),
    _case(
        "metadata nested 100,000 deep",
        trained_folder(model=with_description("[" * 100_000 + "]" * 100_000)),
        "nested too deeply",
    ),
    _case(
        "metadata with a 5,000-digit number",
        trained_folder(model=with_description('{"name": 1' + "0" * 5000 + "}")),
        "more than 4,300 digits",
    ),
    _case(
        "metadata missing the outputs",
        trained_folder(model=with_description('{"name": "x", "inputs": []}')),
        "missing required key 'outputs'",
    ),
    _case(
        "metadata of the wrong types",
        trained_folder(model=described(inputs="x", name=7)),
        r"inputs must be a list",
    ),
    _case(
        "metadata with a huge dimension",
        trained_folder(
            model=with_description(
                '{"name": "x", "inputs": [{"name": "input_layer", "dtype": "float32", '
                '"shape": [null, 1' + "0" * 30 + ']}], "outputs": []}'
            )
        ),
        r"at most 2147483647.*\(at inputs\[0\]\.shape\[1\]\)",
    ),
    _case(
        "metadata with an unknown dtype",
        trained_folder(model=output_described(dtype="object")),
        r"dtype must be",
    ),
    _case(
        "metadata naming an output the graph lacks",
        trained_folder(model=output_described(name="other")),
        r"metadata lists the outputs \['other'\], but the graph's outputs are \['dense'\]",
    ),
    _case(
        "graph input no node reads",
        trained_folder(model=with_model(_renamed_input)),
        AT_MODEL + ".*the ONNX checker says",
    ),
    _case(
        "metadata with escape sequences in a name",
        trained_folder(model=described(name="\x1b]0;pwned\x07")),
        r"control, invisible or direction characters",
    ),
    _case(
        "metadata with 2 labels for 3 classes",
        trained_folder(model=output_described(labels=["a", "b"])),
        r"output 'dense' has 2 labels for 3 class\(es\)",
    ),
    _case(
        "metadata with a label that is not text",
        trained_folder(model=output_described(labels=["a", None, {"x": 1}])),
        r"labels\[1\]",
    ),
    _case(
        "weights.npz truncated",
        trained_folder(weights=_truncated_weights),
        r"run/weights\.npz: error: .*damaged.*interrupted",
    ),
    _case(
        "weights.npz is a pipe",
        trained_folder(weights=lambda path: os.mkfifo(path)),
        r"run/weights\.npz: error: .*not a regular file",
    ),
    _case(
        "weights.npz is not an archive",
        trained_folder(weights=b"\x93NUMPY not a zip"),
        r"run/weights\.npz: error: .*damaged",
    ),
    Case(
        FAMILY,
        "hostile trained folder, no traceback with --debug",
        [*WEB, "--debug"],
        trained_folder(model=with_description("[1, 2")),
        output_has=("not JSON",),
        check=check_all(wrote_nothing),
    ),
]
