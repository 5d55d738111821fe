"""The web bundle's text files: ``specc.js``, ``index.html`` and ``README.md`` from templates.

The templates in ``web_assets/`` hold ``{{KEY}}`` placeholders, one per value and per
place it lands: the model's name is ``NAME_JS`` in a JavaScript string, ``NAME_COMMENT``
in a comment, ``NAME_HTML`` in the page and ``NAME_MD`` in Markdown, each escaped for that
place (``specc.escape``). Each template is filled in one pass (``fill_template``), so a
value that looks like a placeholder stays text.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from specc.escape import (
    fill_template,
    html_text,
    js_comment,
    js_string,
    json_in_html,
    markdown_code,
    markdown_text,
    safe_file_name,
)

TEMPLATES = ("specc.js", "index.html", "README.md")
# A training bundle's modules (``specc.emit.web_training``), and the template its page
# comes from instead of the inference one; its README gains README.training.md.
TRAINING_SCRIPTS = (
    "specc-train.js",
    "specc-fit.js",
    "specc-npz.js",
    "specc-worker.js",
    "specc-worker-client.js",
)
TRAINING_TEMPLATES = {"index.html": "index.training.html"}
# specc.js re-exports the training API from specc-train.js in a training bundle.
TRAINING_EXPORTS = (
    "export { Trainer, loadTrainer, trainStep, fit, evaluate, saveWeights } "
    "from './specc-train.js';\n"
    "import { defaultTrainer } from './specc-train.js';\n"
    "const WITH_TRAINING = true;"
)


def asset(name: str) -> str:
    """The text of a file in ``web_assets/``."""
    return resources.files("specc.emit").joinpath("web_assets", name).read_text(encoding="utf-8")


def render_templates(
    description: dict[str, Any],
    runtime: dict[str, str],
    include_runtime: bool,
    training: bool = False,
) -> dict[str, str]:
    """Each template's text, filled from the bundle's description and its runtime:
    ``runtime`` gives ``version``, ``package``, ``module`` (the ES module's file name)
    and ``folder`` and ``wasm`` (where ``include_runtime`` puts them). A ``training``
    bundle also gets the training modules, its own page and README."""
    name = str(description["name"])
    if include_runtime:
        module = f"./{runtime['folder']}/{runtime['module']}"
        runtime_wasm = f"new URL('./{runtime['folder']}/{runtime['wasm']}', import.meta.url).href"
        import_map = ""
        note = "README.runtime-included.md"
    else:
        module = f"{runtime['package']}/wasm"
        runtime_wasm = "null"
        # The demo page resolves the bare specifier to an npm install inside this folder.
        imports = {module: f"./node_modules/{runtime['package']}/dist/{runtime['module']}"}
        import_map = (
            '<script type="importmap">\n' + json_in_html({"imports": imports}) + "\n</script>"
        )
        note = "README.runtime-external.md"
    runtime_note = fill_template(
        asset(note),
        {
            "ORT_VERSION": runtime["version"],
            "ORT_FILE": runtime["module"],
            "FOLDER": safe_file_name(name),
        },
    )
    values = {
        "NAME_JS": js_string(name),
        "NAME_COMMENT": '"' + js_comment(name) + '"',
        "NAME_HTML": html_text(name),
        "NAME_MD": markdown_text(name),
        "ORT_VERSION": runtime["version"],
        "ORT_MODULE": module,
        "RUNTIME_WASM": runtime_wasm,
        "IMPORT_MAP": import_map,
        "INPUTS": signature(description["inputs"]),
        "OUTPUTS": signature(description["outputs"]),
        "RUNTIME_NOTE": runtime_note,
        "TRAINING_EXPORTS": TRAINING_EXPORTS
        if training
        else "const WITH_TRAINING = false;\nconst defaultTrainer = null;",
    }
    training_readme = fill_template(asset("README.training.md"), values) if training else ""
    values["TRAINING_README"] = training_readme
    names = {t: TRAINING_TEMPLATES.get(t, t) if training else t for t in TEMPLATES}
    if training:
        names.update({script: script for script in TRAINING_SCRIPTS})
    return {name: fill_template(asset(template), values) for name, template in names.items()}


def signature(tensors: list[dict[str, Any]]) -> str:
    """A Markdown list of tensors: name, dtype, shape and labels, each escaped."""
    lines = []
    for t in tensors:
        shape = ", ".join("null" if d is None else str(int(d)) for d in t["shape"])
        labels = t.get("labels")
        listed = ", labels: " + ", ".join(markdown_text(str(x)) for x in labels) if labels else ""
        lines.append(f"- {markdown_code(str(t['name']))}: {t['dtype']} [{shape}]{listed}")
    return "\n".join(lines)


def package_json(description: dict[str, Any], package: str, version: str) -> str:
    """``package.json``: pins onnxruntime-web for ``npm install`` in the folder or an app."""
    name = str(description["name"])
    content = {
        # npm names: lower case, URL-safe, no leading dot or underscore.
        "name": safe_file_name(name.lower(), fallback="specc-model"),
        "private": True,
        "description": f"{name}, exported by specc for onnxruntime-web",
        "type": "module",
        "main": "specc.js",
        "exports": {".": "./specc.js", "./model.json": "./model.json"},
        "dependencies": {package: version},
    }
    return json.dumps(content, indent=2) + "\n"
