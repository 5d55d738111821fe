"""Every string from a spec or a model's metadata is escaped for the file it lands in.

The schema refuses names with control or direction characters; these tests go around it
(a description built by hand) to check that each file is safe on its own: ``specc.js``
imports in node without running anything and gives back the exact name, the page gains no
element, the READMEs no Markdown structure, Kotlin and Swift no interpolation.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from specc.emit.mobile_readme import render_readme
from specc.emit.source import ExportSource, load_source
from specc.emit.web import export_web
from specc.emit.web_render import signature
from specc.escape import kotlin_string, swift_string
from tests.hostile.export_checks import markdown_shape, page_of
from tests.spec_helpers import ROOT

NODE_MODULES = ROOT / "tests" / "browser" / "node_modules"
# Each line of this name, left unescaped, would run as code after the comment it starts in.
NAME = (
    "demo\nglobalThis.ran = 1;//\u2028globalThis.ran = 2;\u2029globalThis.ran = 3;\r"
    "globalThis.ran = 4; */ </script><script>globalThis.ran = 5</script> {{NAME_JS}} "
    "\" ' ` ${globalThis.ran = 6} \\( $x # *x* [l](javascript:x) | \x1b]0;t\x07 \u202e"
)
LABELS = ["</script><img src=x onerror=alert(1)>", "a\nb", "{{OUTPUTS}}", "|", "#", "\x00"]


@pytest.fixture(scope="module")
def source() -> ExportSource:
    """A six-class model described with NAME and LABELS, past the schema."""
    spec = ROOT / "models" / "digits_mlp.yaml"
    loaded = load_source(spec)
    description = json.loads(json.dumps(loaded.description))
    description["name"] = NAME
    description["outputs"][0]["labels"] = [*LABELS, "7", "8", "9", "10"]
    return ExportSource(loaded.model, description, spec)


@pytest.fixture(scope="module")
def bundles(source: ExportSource, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The hostile bundle and the same model's under a plain name and labels."""
    root = tmp_path_factory.mktemp("bundles")
    plain = json.loads(json.dumps(source.description))
    plain["name"] = "plain"
    plain["outputs"][0]["labels"] = [f"l{k}" for k in range(10)]
    export_web(source, root / "hostile")
    export_web(ExportSource(source.model, plain, source.origin), root / "plain")
    return {"hostile": root / "hostile", "plain": root / "plain"}


def test_page_gains_no_element(bundles: dict[str, Path]) -> None:
    hostile, plain = (page_of((b / "index.html").read_text()) for b in bundles.values())
    assert hostile.tags == plain.tags
    # The title shows the name as text (control characters as visible escapes).
    assert hostile.title.startswith("demo\\x0aglobalThis.ran = 1;//\\u2028")
    assert "</script><script>" in hostile.title


def test_readme_gains_no_structure(bundles: dict[str, Path]) -> None:
    hostile, plain = ((b / "README.md").read_text() for b in bundles.values())
    assert markdown_shape(hostile) == markdown_shape(plain)
    assert len(hostile.splitlines()) == len(plain.splitlines())
    # A placeholder in the name stays text.
    assert "\\{\\{NAME\\_JS\\}\\}" in hostile.splitlines()[0]


def test_json_files_hold_the_exact_strings(bundles: dict[str, Path]) -> None:
    description = json.loads((bundles["hostile"] / "model.json").read_text())
    assert description["name"] == NAME
    assert description["outputs"][0]["labels"][: len(LABELS)] == LABELS
    package = json.loads((bundles["hostile"] / "package.json").read_text())
    assert package["description"].startswith(NAME)
    assert package["name"] == "demo-globalthis.ran-1-globalthis.ran-2-globalthis.ran-3-globalth"


def test_script_runs_nothing_and_gives_the_exact_name(
    bundles: dict[str, Path], tmp_path: Path
) -> None:
    if shutil.which("node") is None or not (NODE_MODULES / "onnxruntime-web").is_dir():
        pytest.skip("needs node and `npm ci --prefix tests/browser`")
    # The bundle beside a node_modules that holds onnxruntime-web, as an app would have it.
    shutil.copytree(bundles["hostile"], tmp_path / "bundle")
    (tmp_path / "node_modules").symlink_to(NODE_MODULES)
    probe = tmp_path / "probe.mjs"
    probe.write_text(
        "const mod = await import('./bundle/specc.js');\n"
        "console.log(JSON.stringify({ran: globalThis.ran ?? null, name: mod.MODEL_NAME}));\n"
    )
    done = subprocess.run(
        ["node", str(probe)], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result == {"ran": None, "name": NAME}


def test_markdown_signature_escapes_names_and_labels() -> None:
    text = signature([{"name": "a`b|c", "dtype": "float32", "shape": [None, 2], "labels": LABELS}])
    assert text.count("\n") == 0
    assert "\\<img" in text
    assert set(markdown_shape(text)) == {
        "bullet_list_open",
        "list_item_open",
        "paragraph_open",
        "inline",
        "code_inline",
        "paragraph_close",
        "list_item_close",
        "bullet_list_close",
    }


def _tensor(name: str, shape: list[int | None], **extra: Any) -> dict[str, Any]:
    return {"name": name, "dtype": "float32", "shape": shape, **extra}


def test_mobile_readme_escapes_for_markdown_kotlin_and_swift() -> None:
    hostile_name = 'x"); System.exit(1); val y = ("$x \\(y) ${z}\n```\n# Heading |'
    hostile = {
        "name": NAME,
        "inputs": [_tensor(hostile_name, [None, 4])],
        "outputs": [_tensor(hostile_name + "2", [None, 3], labels=LABELS[:3])],
    }
    plain = {
        "name": "plain",
        "inputs": [_tensor("x", [None, 4])],
        "outputs": [_tensor("y", [None, 3], labels=["a", "b", "c"])],
    }
    sizes = {"model.ort": 10}
    text, plain_text = (render_readme(d, sizes, None, None) for d in (hostile, plain))
    assert markdown_shape(text) == markdown_shape(plain_text)
    assert len(text.splitlines()) == len(plain_text.splitlines())
    assert kotlin_string(hostile_name) in text and swift_string(hostile_name) in text
    # Kotlin: '$' cannot template; Swift: '\(' cannot interpolate; neither string ends early.
    assert "\\$x" in kotlin_string(hostile_name) and "\\\\(y)" in swift_string(hostile_name)
    assert '\\")' in kotlin_string(hostile_name)
