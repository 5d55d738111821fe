"""Small forms of the hostile inputs the hostile-input work lists, as fuzz seeds.

Each entry is a name and a file's text (or bytes). Sizes stay small: a 5,000-digit
integer rather than a 10 MB spec; the fuzzer grows them where that finds something.
"""

from __future__ import annotations

DENSE = "  - {type: Dense, units: 3, input_shape: [4]}\n"


def _named(name: str) -> str:
    """A valid YAML spec whose top-level name is ``name`` (a YAML double-quoted scalar)."""
    return f'specc: 1\nname: "{name}"\nlayers:\n{DENSE}'


def _layer_named(name: str) -> str:
    return f'specc: 1\nlayers:\n  - {{name: "{name}", type: Dense, units: 3, input_shape: [4]}}\n'


def _with(line: str) -> str:
    """A spec with ``line`` as one more key of its one layer."""
    return f"specc: 1\nlayers:\n  - {{type: Dense, units: 3, input_shape: [4], {line}}}\n"


def _compiled(section: str) -> str:
    head = "specc: 1\nlayers:\n  - {type: Dense, units: 3, input_shape: [4], activation: softmax}\n"
    return head + section


def _nested(depth: int) -> str:
    return "specc: 1\nlayers: " + "[" * depth + "]" * depth + "\n"


def _alias_bomb(levels: int, width: int) -> str:
    lines = ["specc: 1", "a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]")
    lines.append(f"layers: *a{levels - 1}")
    return "\n".join(lines) + "\n"


def _many_layers(count: int) -> str:
    first = "  - {type: Dense, units: 2, input_shape: [2]}\n"
    return "specc: 1\nlayers:\n" + first + "  - {type: Dense, units: 2}\n" * (count - 1)


def _misspelled(count: int) -> str:
    keys = ", ".join(f"unitz{i}: 1" for i in range(count))
    return f"specc: 1\nlayers:\n  - {{type: Dense, units: 3, input_shape: [4], {keys}}}\n"


YAML: dict[str, str | bytes] = {
    "name-js-injection": _named("demo\\nconsole.log('ran');//"),
    "name-html-injection": _named("</title><script>alert(1)</script>"),
    "name-template-placeholder": _named("{{name}} {{labels}}"),
    "name-u2028-escaped": _named("demo\\u2028console.log(1)"),
    "name-u2028-raw": _named("demo\u2028console.log(1)"),
    "name-parent-folder": _named("../../escaped"),
    "name-absolute": _named("/tmp/escaped"),
    "name-slash": _named("a/b"),
    "name-nul": _named("a\\0b"),
    "name-300-chars": _named("n" * 300),
    "name-osc-title": _named("\\e]0;owned\\a"),
    "name-colour": _named("\\e[31mred"),
    "name-bidi-override": _named("abc\\u202edcba"),
    "name-newline": _named("first\\nsecond: error: forged"),
    "layer-name-control-character": _layer_named("dense\\x1b[2J"),
    "layer-name-nul": _layer_named("dense\\0"),
    "layer-type-control-character": _with("").replace("Dense", '"Dense\\x07"', 1),
    "long-integer": _with("units: " + "9" * 5000).replace("units: 3, ", "", 1),
    "long-hex-integer": _with("units: 0x" + "f" * 5000).replace("units: 3, ", "", 1),
    "long-float": _with("kernel_regularizer: {type: l2, l2: 0." + "1" * 5000 + "}"),
    "bom": "\ufeff" + _named("bom"),
    "merge-key": "specc: 1\nbase: &base {type: Dense, units: 3}\nlayers:\n"
    "  - {<<: *base, input_shape: [4]}\n",
    "deep-flow-nesting": _nested(200),
    "deep-block-nesting": "specc: 1\nlayers:\n"
    + "".join("  " * i + "- \n" for i in range(100))
    + "  " * 100
    + "- 1\n",
    "alias-bomb": _alias_bomb(9, 9),
    "alias-bomb-shallow": _alias_bomb(4, 9),
    "nan-rate": "specc: 1\nlayers:\n  - {type: Dropout, rate: .nan, input_shape: [4]}\n",
    "inf-units": _with("units: .inf").replace("units: 3, ", "", 1),
    "nan-learning-rate": _compiled(
        "compile: {optimizer: {type: Adam, learning_rate: .nan}, loss: mse}\n"
    ),
    "train-seed-negative": _compiled("compile: {optimizer: adam, loss: mse}\ntrain: {seed: -1}\n"),
    "ignore-class-huge": _compiled(
        "compile:\n  optimizer: adam\n"
        "  loss: {type: SparseCategoricalCrossentropy, ignore_class: 1e20}\n"
    ),
    "auc-on-softmax-sparse": _compiled(
        "compile: {optimizer: adam, loss: sparse_categorical_crossentropy, metrics: [AUC]}\n"
    ),
    "repeat-vector-billion": "specc: 1\nlayers:\n"
    "  - {type: RepeatVector, n: 1000000000, input_shape: [4]}\n",
    "params-trillions": "specc: 1\nlayers:\n"
    "  - {type: Dense, units: 2000000, input_shape: [2000000]}\n",
    "lambda-divide-by-zero": "specc: 1\nlayers:\n"
    '  - {type: Lambda, expression: "x * (1 / 0)", input_shape: [4]}\n',
    "lambda-sqrt-negative": "specc: 1\nlayers:\n"
    '  - {type: Lambda, expression: "sqrt(0 - 1) * x", input_shape: [4]}\n',
    "python-object-tag": "specc: 1\nlayers: !!python/object/apply:os.system [echo owned]\n",
    "binary-tag": "specc: 1\nname: !!binary aGVsbG8=\nlayers:\n" + DENSE,
    "int-tag-on-text": _with("units: !!int three").replace("units: 3, ", "", 1),
    "two-documents": _named("one") + "---\n" + _named("two"),
    "tabs": "specc: 1\nlayers:\n\t- {type: Dense, units: 3, input_shape: [4]}\n",
    "invalid-utf8": b"specc: 1\nname: \xff\xfe\xc0\nlayers:\n" + DENSE.encode(),
    "nul-bytes": b"specc: 1\x00\nlayers:\n" + DENSE.encode(),
    "crlf": _named("crlf").replace("\n", "\r\n"),
    "empty": "",
    "only-comment": "# nothing\n",
    "top-level-list": "- specc: 1\n",
    "many-layers": _many_layers(1000),
    "misspelled-keys": _misspelled(300),
}

_GOOD_JSON = '{"specc": 1, "layers": [{"type": "Dense", "units": 3, "input_shape": [4]}]}'

JSON: dict[str, str | bytes] = {
    "bom": "\ufeff" + _GOOD_JSON,
    "name-js-injection": '{"specc": 1, "name": "demo\\nconsole.log(1);//", "layers": []}',
    "name-u2028": '{"specc": 1, "name": "a\\u2028b\u2028c", "layers": []}',
    "name-nul": '{"specc": 1, "name": "a\\u0000b", "layers": []}',
    "name-escape-sequence": '{"specc": 1, "name": "\\u001b]0;owned\\u0007", "layers": []}',
    "lone-surrogate": '{"specc": 1, "name": "\\ud800", "layers": []}',
    "long-integer": _GOOD_JSON.replace('"units": 3', '"units": ' + "9" * 5000),
    "long-negative-integer": _GOOD_JSON.replace('"units": 3', '"units": -' + "9" * 5000),
    "huge-exponent": _GOOD_JSON.replace('"units": 3', '"units": 1e999'),
    "nan": _GOOD_JSON.replace('"units": 3', '"units": NaN'),
    "infinity": _GOOD_JSON.replace('"units": 3', '"units": -Infinity'),
    "deep-nesting": '{"specc": 1, "layers": ' + "[" * 300 + "]" * 300 + "}",
    "deep-objects": '{"specc": 1, "layers": ' + '{"a": ' * 300 + "1" + "}" * 300 + "}",
    "duplicate-keys": '{"specc": 1, "specc": 2, "layers": []}',
    "trailing-garbage": _GOOD_JSON + " {}",
    "comments": "// a comment\n" + _GOOD_JSON,
    "single-quotes": _GOOD_JSON.replace('"', "'"),
    "raw-control-in-string": '{"specc": 1, "name": "a\tb\x1b", "layers": []}',
    "invalid-utf8": b'{"specc": 1, "name": "\xff\xfe", "layers": []}',
    "empty": "",
    "many-layers": '{"specc": 1, "layers": [{"type": "Dense", "units": 2, "input_shape": [2]}'
    + ', {"type": "Dense", "units": 2}' * 999
    + "]}",
}

EXPRESSIONS: dict[str, str | bytes] = {
    "divide-by-zero": "x * (1 / 0)",
    "sqrt-negative": "sqrt(0 - 1) * x",
    "log-zero": "log(0) + x",
    "literal-overflow": "x * 1e999",
    "folded-overflow": "x * (1e38 * 1e38)",
    "power-overflow": "x + 10 ** 100",
    "python-import": "__import__('os').system('echo owned')",
    "python-statement": "x; import os",
    "python-lambda": "lambda x: x",
    "python-attribute": "x.__class__",
    "python-subscript": "x[0]",
    "deep-parentheses": "(" * 40 + "x" + ")" * 40,
    "many-signs": "-" * 200 + "x",
    "long-sum": "+".join(["x"] * 300),
    "too-long": "x" + " + x" * 400,
    "u2028": "x\u2028+ 1",
    "nul": "x\x00 + 1",
    "escape-sequence": "x + \x1b]0;owned\x07",
    "huge-axis": "sum(x, axis=99999999999999999999)",
    "huge-reshape": "reshape(x, [99999999999, -1])",
    "reshape-zero": "reshape(x, [0])",
    "transpose-repeated-axis": "transpose(x, [1, 1])",
    "batch-axis": "mean(x, axis=0)",
    "empty-axes": "max(x, axis=[])",
    "input-out-of-range": "x0 + x9",
    "float-axis": "expand_dims(x, 1e3)",
    "where-one-argument": "where(x)",
    "unknown-function": "eval(x)",
    "comparison-chain": "x < y < z",
    "int-input": "w * 2 + sum(w, axis=1, keepdims=true)",
    "variable-size": "z + x",
    "keyword-twice": "sum(x, axis=1, axis=2)",
    "nested-lists": "concat([[x]], axis=1)",
    "empty": "",
    "spaces": "   ",
}

_HEADER = "features[0],features[1],features[2],tokens[0],tokens[1],tokens[2],tokens[3]"
_HEADER += ",score,category"
_ROWS = "\n".join(f"0.{i},0.5,-1,{i},1,2,3,{i % 2},{i % 3}" for i in range(6))

CSV: dict[str, str | bytes] = {
    "valid": f"{_HEADER}\n{_ROWS}\n",
    "huge-index": "features[99999999999999999999],score,category\n1,0,1\n",
    "large-index": "features[0],features[2000000000],score,category\n1,2,0,1\n",
    "negative-index": f"features[-1],{_HEADER}\n1,{_ROWS.splitlines()[0]}\n",
    "float-index": f"features[1.5],{_HEADER}\n1,{_ROWS.splitlines()[0]}\n",
    "nested-index": "features[0][0],features[0][1],score,category\n1,2,0,1\n",
    "index-gap": "features[0],features[2],features[3],score,category\n1,2,3,0,1\n",
    "long-cell-unused-column": f"{_HEADER},notes\n"
    + "\n".join(f"{row},{'n' * 2000}" for row in _ROWS.splitlines())
    + "\n",
    "bom": "\ufeff" + f"{_HEADER}\n{_ROWS}\n",
    "crlf": f"{_HEADER}\r\n{_ROWS}\r\n".replace("\n", "\r\n").replace("\r\r", "\r"),
    "quoted-newline": f'{_HEADER},notes\n{_ROWS.splitlines()[0]},"a\nb"\n',
    "nan-and-inf": f"{_HEADER}\nnan,inf,-inf,1,1,1,1,0,0\n",
    "token-ids-past-input-dim": f"{_HEADER}\n0,0,0,10,99,1000000,-1,0,0\n",
    "labels-out-of-range": f"{_HEADER}\n0,0,0,1,1,1,1,2,3\n",
    "float-labels": f"{_HEADER}\n0,0,0,1,1,1,1,0.5,1.5\n",
    "long-integer": f"{_HEADER}\n{'9' * 5000},0,0,1,1,1,1,0,0\n",
    "empty-cell": f"{_HEADER}\n,0,0,1,1,1,1,0,0\n",
    "ragged-rows": f"{_HEADER}\n0,0\n0,0,0,1,1,1,1,0,0,9,9\n",
    "duplicate-columns": f"{_HEADER},score\n{_ROWS.splitlines()[0]},1\n",
    "header-only": f"{_HEADER}\n",
    "empty": "",
    "nul-bytes": f"{_HEADER}\n0\x00,0,0,1,1,1,1,0,0\n",
    "control-characters-in-header": f"{_HEADER},\x1b]0;owned\x07\n{_ROWS.splitlines()[0]},1\n",
    "invalid-utf8": _HEADER.encode() + b"\n\xff\xfe,0,0,1,1,1,1,0,0\n",
    "cell-control-character": f"{_HEADER}\n0,0,0,1,1,1,1,\x1b[2J,0\n",
    "cell-line-break": f'{_HEADER}\n0,0,0,1,1,1,1,0,"a\nb"\n',
    "missing-column-control-character": f"{_HEADER[:-9]},\x1b]0;owned\x07\n0,0,0,1,1,1,1,0,0\n",
    "missing-column-line-break": f'{_HEADER[:-9]},"cate\ngory"\n0,0,0,1,1,1,1,0,0\n',
    "semicolons": _HEADER.replace(",", ";") + "\n" + _ROWS.replace(",", ";") + "\n",
}
