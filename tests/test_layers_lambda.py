"""Lambda: expressions against NumPy, shapes against onnxruntime, and hostile input rejected.

An expression is a formula in specc's own grammar (docs/lambda.md), never Python: every
string outside the grammar must be a located validation error from ``specc validate``
(exit 1, no traceback), and no string may crash the parser.
"""

from __future__ import annotations

import builtins
import contextlib
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from typer.testing import CliRunner

from specc.cli.app import app
from specc.diagnostics import SpecError
from specc.graph import GraphBuilder
from specc.lambda_functions import FUNCTIONS
from specc.lambda_ops import infer
from specc.lambda_syntax import parse
from specc.lambda_tokens import MAX_LENGTH, ExpressionError, walk
from specc.layers.base import LowerContext, ShapeError
from specc.onnx_model import to_model_proto
from specc.pipeline import check_spec
from specc.types import TensorType
from tests.layer_harness import compare_layer, make_layer, run_layer
from tests.spec_helpers import ROOT, random_inputs

F32 = "float32"
runner = CliRunner()


def compare(expression: str, types: list[TensorType], batch: int = 3, seed: int = 0) -> np.ndarray:
    """Run the expression in onnxruntime; check dtype, shape and values against NumPy."""
    rng = np.random.default_rng(seed)
    xs = []
    for t in types:
        shape = (batch, *(5 if d is None else d for d in t.shape))
        if t.dtype == "bool":
            xs.append(rng.random(shape) > 0.5)
        elif t.dtype.startswith("int"):
            xs.append(rng.integers(-4, 5, size=shape).astype(t.dtype))
        else:
            xs.append(rng.normal(size=shape).astype(t.dtype))
    (got,) = compare_layer("Lambda", {"expression": expression}, types, xs, atol=1e-5)
    assert got.dtype == np.float32
    return got


def types_of(*shapes: tuple[int | None, ...], dtype: str = F32) -> list[TensorType]:
    return [TensorType(dtype, s) for s in shapes]


# ----------------------------------------------------------------------------- semantics


@pytest.mark.parametrize(
    ("expression", "shapes", "want"),
    [
        ("x * 2 + 1", [(3,)], (3,)),
        ("x + y", [(2, 5), (5,)], (2, 5)),
        ("x * y", [(4, 1), (1, 6)], (4, 6)),
        ("x - y", [(None, 3), (1, 3)], (None, 3)),
        ("x / (y * y + 1)", [(3,), (2, 4, 3)], (2, 4, 3)),
        ("sum(x)", [(2, 3)], ()),
        ("sum(x, axis=1) + mean(x, axis=-1, keepdims=true)", [(2, 3)], (2, 3)),
        ("max(x, axis=[1, 3], keepdims=true) * min(x, axis=[-1, 2])", [(2, 3, 4)], (1, 3, 2)),
        ("max(x, axis=[1, 3])", [(2, 3, 4)], (3,)),
        ("min(x, axis=[2, 3], keepdims=true)", [(2, None, 4)], (2, 1, 1)),
        ("logsumexp(x * 30, axis=[1, 2])", [(2, 3)], ()),
        ("norm(x, axis=-1) + std(x, axis=1) - var(x, axis=-1)", [(4, 4)], (4,)),
        ("mean(x, axis=1)", [(None, 3)], (3,)),
        ("mean(x)", [(None, None)], ()),
        ("reshape(x, [-1])", [(2, 3, 4)], (24,)),
        ("reshape(x, [4, -1, 2])", [(2, 3, 4)], (4, 3, 2)),
        ("reshape(x, [3, 1])", [(3,)], (3, 1)),
        ("reshape(x, [2, -1])", [(None, 2)], (2, None)),
        ("transpose(x)", [(2, 3, 4)], (4, 3, 2)),
        ("transpose(x, axes=[2, 3, 1])", [(2, 3, 4)], (3, 4, 2)),
        ("expand_dims(x, 1) + expand_dims(x, -1)", [(3,)], (3, 3)),
        ("squeeze(x) + squeeze(x, [1, 3])", [(1, 4, 1)], (4,)),
        ("softmax(x) + log_softmax(x, axis=1)", [(3, 4)], (3, 4)),
        ("concat([x, y, x], axis=1)", [(2, 3), (4, 3)], (8, 3)),
        ("concatenate([x, y])", [(2, None), (2, 3)], (2, None)),
        ("where(x > y, x, y) - maximum(x, y)", [(3,), (3,)], (3,)),
        ("where(x, 1, 0) + (x != 0)", [(4,)], (4,)),
        ("(x < 0) + (x <= 0) + (x > 0) + (x >= 0) + (x == x) + (x != x)", [(5,)], (5,)),
        ("clip(x, -0.5, 0.5) + clip(x, y, 1) + clip(x, -1, y)", [(2, 3), (3,)], (2, 3)),
        ("abs(x) + exp(x) + log(abs(x) + 1) + sqrt(abs(x)) + square(x)", [(4,)], (4,)),
        ("sin(x) * cos(x) + erf(x) + log1p(x * x) + expm1(x) + rsqrt(x * x + 1)", [(4,)], (4,)),
        ("reciprocal(x * x + 1) + relu6(x * 4) + mish(x) + elu(x, alpha=0.5)", [(4,)], (4,)),
        ("gelu(x, approximate=true) + softsign(x) + exponential(x) + linear(x)", [(4,)], (4,)),
        ("relu(x, negative_slope=0.1, max_value=1.5, threshold=0.2)", [(6,)], (6,)),
        ("(x * x + 1) ** 0.5 + x ** 3 + x ** -2 * 0 + 2 ** x + 0.5 ** -x", [(5,)], (5,)),
        ("x ** (1 / 3) * (x > 0)", [(5,)], (5,)),
        ("-x ** 2 + (-x) ** 2", [(3,)], (3,)),
        ("x * 0 + 2 ** 3 ** 2", [(1,)], (1,)),
        ("x - 1 - 1 + x / 2 / 2", [(3,)], (3,)),
        ("x * 0 + exp(1) + tanh(2) * 3", [(2,)], (2,)),
        ("x", [(3,)], (3,)),
        ("x + 1", [()], ()),
    ],
)
def test_expression_matches_numpy(
    expression: str, shapes: list[tuple[int | None, ...]], want: tuple[int | None, ...]
) -> None:
    types = types_of(*shapes)
    assert make_layer("Lambda", expression=expression).output_types(types)[0].shape == want
    compare(expression, types)


def test_a_variable_size_against_a_fixed_one_gives_the_fixed_one() -> None:
    assert infer(parse("x - y"), types_of((None, 3), (4, 3))) == (4, 3)
    assert infer(parse("x - y"), types_of((None, 3), (1, 3))) == (None, 3)
    assert infer(parse("x - y"), types_of((None,), (None,))) == (None,)


def test_precedence_and_associativity_values() -> None:
    x = np.array([[2.0]], np.float32)
    layer = make_layer("Lambda", expression="x * 0 + 2 ** 3 ** 2 - -x ** 2 + 10 - 4 - 3")
    (got,) = run_layer(layer, types_of((1,)), [x], {})
    np.testing.assert_allclose(got, [[512 + 4 + 3]])
    layer = make_layer("Lambda", expression="x + 1 > 2 * x")  # arithmetic before comparison
    (got,) = run_layer(layer, types_of((1,)), [np.array([[0.5], [2.0]], np.float32)], {})
    np.testing.assert_array_equal(got, [[1.0], [0.0]])


@pytest.mark.parametrize(
    ("dtype", "expression"),
    [("int32", "x * 2 + 1"), ("int64", "x / 3"), ("bool", "x + 1"), ("float16", "x * 0.5")],
)
def test_inputs_of_any_dtype_compute_in_float32(dtype: str, expression: str) -> None:
    compare(expression, [TensorType(dtype, (4,))])


def test_input_names_follow_inputs_order() -> None:
    six = types_of(*[(2,)] * 6)
    layer = make_layer(
        "Lambda", expression="x0 + 10 * y + 100 * z + 1000 * w + 1e4 * x4 + 1e5 * x5"
    )
    xs = [np.full((1, 2), k, np.float32) for k in range(1, 7)]
    (got,) = run_layer(layer, six, xs, {})
    np.testing.assert_allclose(got, np.full((1, 2), 654321.0))
    compare("x - x0 + y * x1", types_of((3,), (3,)))


def test_examples_are_distinct_and_cover_the_grammar() -> None:
    text = " ".join(c["expression"] for c, _ in make_layer("Lambda", expression="x").examples())
    for needed in ("**", "where", ">", "keepdims", "reshape", "transpose", "softmax", "concat"):
        assert needed in text


def _examples() -> list[tuple[dict[str, Any], list[TensorType]]]:
    return make_layer("Lambda", expression="x").examples()


def _built(config: dict[str, Any], types: list[TensorType]) -> GraphBuilder:
    b = GraphBuilder("lambda")
    inputs = [b.input(f"x{i}", t) for i, t in enumerate(types)]
    layer = make_layer("Lambda", **config)
    with b.scope("layer"):
        (out,) = layer.lower(LowerContext(b), inputs, types, {})
    b.output(out, "y", layer.output_types(types)[0])
    return b


def test_lowering_uses_only_ops_with_gradients() -> None:
    # No gradient builder for these in onnxruntime-training 1.19.2
    # (docs/engine-notes.md#no-gradient-builder);
    # ReduceMean's axes move from attribute to input at opset 18.
    banned = {"ReduceMax", "ReduceMin", "ReduceProd", "Einsum", "Sign", "Floor", "ReduceMean"}
    for config, types in _examples():
        assert not banned & {n.op_type for n in _built(config, types).graph.nodes}, config


@pytest.mark.parametrize("opset", [18, 21])
def test_examples_check_and_run_at_later_opsets(opset: int) -> None:
    for k, (config, types) in enumerate(_examples()):
        model = to_model_proto(_built(config, types).graph, opset)
        onnx.checker.check_model(model, full_check=True)
        session = ort.InferenceSession(model.SerializeToString())
        feeds = dict(
            zip([i.name for i in session.get_inputs()], random_inputs(types, 2, k), strict=True)
        )
        (got,) = session.run(None, feeds)
        (want,) = make_layer("Lambda", **config).reference(list(feeds.values()), {})
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5, err_msg=config["expression"])


# ----------------------------------------------------------------------------- errors


def lambda_spec(expression: str, shapes: list[list[int | None]] | None = None) -> dict[str, Any]:
    shapes = shapes or [[2, 3], [2, 3], [4]]
    names = ["a", "b", "c"][: len(shapes)]
    return {
        "specc": 1,
        "inputs": {n: {"shape": s} for n, s in zip(names, shapes, strict=True)},
        "layers": [{"name": "f", "type": "Lambda", "inputs": names, "expression": expression}],
    }


def write_yaml(tmp_path: Path, spec: dict[str, Any]) -> tuple[Path, int]:
    """The spec as YAML (one flow mapping per line); the expression's line number."""
    lines = [
        "specc: 1",
        "inputs: " + json.dumps(spec["inputs"]),
        "layers:",
        *("  - " + json.dumps(layer) for layer in spec["layers"]),
    ]
    path = tmp_path / "spec.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path, 4


# Each is rejected when the spec is validated, and never run.
HOSTILE = [
    "__import__('os').system('touch pwned')",
    "__import__",
    "x.__class__",
    "().__class__.__bases__",
    "x.shape",
    "open('f')",
    "open(x)",
    "exec('1')",
    "eval(x)",
    "getattr(x, 1)",
    "print(x)",
    "x[0]",
    "x[:, 1]",
    "lambda: 1",
    "lambda x: x",
    "x; y",
    "x = 1",
    "x := 1",
    "'a'",
    '"x"',
    'f"{x}"',
    "x if x else y",
    "[i for i in x]",
    "[x, y]",
    "x @ y",
    "x // 2",
    "x % 2",
    "x ^ 2",
    "x & y",
    "not x",
    "x and y",
    "{x: 1}",
    "x # comment",
    "x \\\n+ 1",
    "1 +",
    "(((((x",
    "x))",
    "x, y",
    "tanh(x,)",
    "tanh(,x)",
    "tanh()",
    "tanh",
    "tanh(x, y)",
    "tanh(x)(y)",
    "x(1)",
    "(x)(1)",
    "os",
    "import os",
    "x " * 600,
    "(" * 40 + "x" + ")" * 40,
    "-" * 50 + "x",
    "+".join(["x"] * 120),
    "\u0445 + 1",  # Cyrillic small letter ha
    "x \uff0b 1",  # fullwidth plus
    "\uff58",  # fullwidth x
    "x\u00a0+ 1",  # no-break space
    "\u202ex",  # right-to-left override
    "x\x00",
    "",
    "   ",
    "1",
    "2 * 3",
    "x ** y",
    "x ** (y + 1)",
    "(-2) ** x",
    "sum(x, axis=0)",
    "sum(x, axis=[1, 0])",
    "softmax(x, axis=0)",
    "sum(x, axis=1, axis=2)",
    "sum(x, keepdims=1)",
    "sum(x, kepdims=true)",
    "sum(x, axis=1.5)",
    "sum(x, axis=y)",
    "sum(2)",
    "reshape(x, 7)",
    "reshape(x, [2, -1, -1])",
    "reshape(x, [0, 6])",
    "transpose(x, [0, 1])",
    "concat(x, y)",
    "concat([])",
    "x < y < z",
    "relu(x, negative_slope=-1)",
    "gelu(x, approximate=1)",
    "relu(x, type=1)",
    "true",
    "w",
    "x9",
    "x01",
    "1e999 * x",
    "0x10 + x",
    "1_000 * x",
    "1.2.3 * x",
    "tahn(x)",
]
# Valid grammar, but not for these inputs (a, b: (2, 3); c: (4,)): shape errors.
SHAPE_ERRORS = [
    ("reshape(x, [7])", "reshape() cannot turn"),
    ("x + z", "do not broadcast"),
    ("sum(x, axis=3)", "out of range"),
    ("sum(x, axis=-3)", "batch axis"),
    ("transpose(x, [1])", "transpose() axes"),
    ("squeeze(x, 1)", "must have size 1"),
    ("expand_dims(x, 4)", "out of range"),
    ("concat([x, z])", "one rank"),
    ("concat([x, transpose(y)], axis=1)", "differ on axis 2"),
    ("softmax(z, axis=2)", "out of range"),
    ("sum(sum(z))", "an axis besides the batch axis"),
]


@pytest.fixture
def no_python_evaluation(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail loudly if the test's expression reaches eval, exec or compile while a spec is
    checked. (Python itself compiles other text then: a module's source as the layer's
    module loads on first use, the type annotations of a validator built on first use.)"""
    expression = request.node.callspec.params["expression"]

    wanted = expression.strip()

    def guarded(real: Callable[..., Any]) -> Callable[..., Any]:
        def call(source: object, *args: object, **kwargs: object) -> Any:
            caller = sys._getframe(1).f_globals.get("__name__", "")
            text = source.decode(errors="replace") if isinstance(source, bytes) else source
            holds = isinstance(text, str) and (
                text.strip() == wanted or (len(wanted) >= 4 and wanted in text)
            )
            if holds or caller == "specc" or caller.startswith("specc."):
                raise AssertionError("Python evaluation attempted")
            return real(source, *args, **kwargs)

        return call

    for name in ("eval", "exec", "compile"):
        monkeypatch.setattr(builtins, name, guarded(getattr(builtins, name)))


def test_hostile_list_is_long_and_distinct() -> None:
    assert len(HOSTILE) >= 30 and len(set(HOSTILE)) == len(HOSTILE)


@pytest.mark.parametrize("expression", HOSTILE, ids=lambda e: repr(e)[:40])
def test_hostile_expression_is_a_validation_error(
    tmp_path: Path, expression: str, no_python_evaluation: None
) -> None:
    with pytest.raises(ValidationError) as caught:
        make_layer("Lambda", inputs=["a", "b", "c"], expression=expression)
    (error,) = caught.value.errors()
    assert error["type"] == "value_error" and isinstance(error["ctx"]["offset"], int)
    assert "of the expression)" in error["msg"]

    path, line = write_yaml(tmp_path, lambda_spec(expression))
    with pytest.raises(SpecError) as spec_error:
        check_spec(path)
    (diagnostic,) = spec_error.value.diagnostics
    assert diagnostic.code == "SPC101-schema"
    assert diagnostic.path == ("layers", 0, "expression")
    assert diagnostic.position is not None and diagnostic.position.line == line
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize("expression", HOSTILE[:12] + HOSTILE[-12:], ids=lambda e: repr(e)[:40])
def test_specc_validate_rejects_hostile_expression(tmp_path: Path, expression: str) -> None:
    path, line = write_yaml(tmp_path, lambda_spec(expression))
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert f"{path}:{line}:" in result.output
    assert re.search(r"\(at column \d+ of the expression\)", result.output)


@pytest.mark.parametrize(("expression", "words"), SHAPE_ERRORS)
def test_shape_mismatch_is_a_shape_error_at_the_expression(
    tmp_path: Path, expression: str, words: str
) -> None:
    make_layer("Lambda", expression=expression)  # the grammar accepts it
    path, line = write_yaml(tmp_path, lambda_spec(expression))
    with pytest.raises(SpecError) as caught:
        check_spec(path)
    (diagnostic,) = caught.value.diagnostics
    assert diagnostic.code == "SPC301-shape"
    assert diagnostic.path == ("layers", 0, "expression")
    assert diagnostic.position is not None and diagnostic.position.line == line
    assert words in diagnostic.message and "of the expression)" in diagnostic.message


def test_input_count_checked_at_validation_and_at_shape_inference(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="'y' names input 2, but the layer has 1"):
        make_layer("Lambda", inputs="a", expression="x + y")
    layer = make_layer("Lambda", expression="x + y")  # inputs unknown until resolved
    with pytest.raises(ShapeError, match="'y' names input 2"):
        layer.output_types(types_of((3,)))
    spec = {
        "specc": 1,
        "layers": [{"type": "Lambda", "input_shape": [3], "expression": "x * y"}],
    }
    path = tmp_path / "seq.json"
    path.write_text(json.dumps(spec))
    with pytest.raises(SpecError) as caught:
        check_spec(path)
    assert [d.path for d in caught.value.diagnostics] == [("layers", 0, "expression")]


def test_shared_lambda_checks_its_own_inputs(tmp_path: Path) -> None:
    spec = {
        "specc": 1,
        "inputs": {"a": {"shape": [3]}, "b": {"shape": [3]}},
        "layers": [
            {"name": "f", "type": "Lambda", "inputs": ["a", "b"], "expression": "x * y"},
            {"name": "g", "shares": "f", "inputs": "f"},
        ],
    }
    path = tmp_path / "shared.json"
    path.write_text(json.dumps(spec))
    with pytest.raises(SpecError, match="'y' names input 2, but the layer has 1"):
        check_spec(path)


@pytest.mark.parametrize(
    ("expression", "column", "words"),
    [
        ("x + __import__('os')", 16, "strings are not part"),
        ("x * 2 + open(x)", 9, "unknown function 'open'"),
        ("tanh(x) + y.shape", 12, "attribute access"),
        ("x ** y", 3, "constant exponent"),
        ("sum(x, axis=0)", 13, "batch axis"),
        ("x \u0445", 3, "CYRILLIC SMALL LETTER HA"),
        ("tahn(x)", 1, "did you mean 'tanh'"),
        ("sum(x, kepdims=true)", 8, "did you mean 'keepdims'"),
        ("(x + 1", 7, "missing ')' for the '(' at column 1"),
        ("x if y else x", 3, "Python keyword"),
        ("x " * 600, MAX_LENGTH + 1, "at most 1000"),
    ],
)
def test_messages_point_at_the_character(expression: str, column: int, words: str) -> None:
    with pytest.raises(ExpressionError) as caught:
        parse(expression)
    message = caught.value.render(expression)
    assert words in message
    assert f"(at column {column} of the expression)" in message
    _, excerpt, caret = message.split("\n")
    if len(expression) <= 60:  # shown whole: the caret sits under that very character
        assert caret.index("^") == excerpt.index(expression) + column - 1


def test_caret_window_of_a_long_expression() -> None:
    expression = "x + " * 40 + "y.z"
    with pytest.raises(ExpressionError) as caught:
        parse(expression)
    _, excerpt, caret = caught.value.render(expression).split("\n")
    assert excerpt.startswith("  ...")
    assert excerpt[caret.index("^")] == "."


def test_diagnostic_column_is_at_or_inside_the_expression(tmp_path: Path) -> None:
    """The position is the expression's; with offsets supported, the very character."""
    path, line = write_yaml(tmp_path, lambda_spec("x * 2 + open(x)"))
    value_column = path.read_text().splitlines()[line - 1].index('"expression": "') + 15
    with pytest.raises(SpecError) as caught:
        check_spec(path)
    (diagnostic,) = caught.value.diagnostics
    assert diagnostic.position is not None
    assert diagnostic.position.column in (value_column, value_column + 1 + 8)


def test_docs_examples_parse_and_the_docs_spec_validates(tmp_path: Path) -> None:
    text = (ROOT / "docs" / "lambda.md").read_text()
    examples = re.findall(r'^expression: "(.*)"$', text, flags=re.MULTILINE)
    assert len(examples) >= 10
    for expression in examples:
        parse(expression)
    spec = re.search(r"```yaml\n(specc: 1\n.*?)```", text, flags=re.DOTALL)
    assert spec is not None
    path = tmp_path / "doc.yaml"
    path.write_text(spec.group(1))
    typed = check_spec(path)
    assert typed.output_types["gate"][0].shape == (4, 3)
    assert typed.output_types["pooled"][0].shape == (3,)


def test_every_builtin_function_is_documented() -> None:
    text = (ROOT / "docs" / "lambda.md").read_text()
    own = [name for name, f in FUNCTIONS.items() if f.family != "activation"]
    assert [name for name in own if f"`{name}(" not in text and f"`{name}`" not in text] == []


# ----------------------------------------------------------------------------- properties

PROPERTY_SETTINGS = settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
TOKENS = [
    *"xyzw",
    "x0",
    "x7",
    "1",
    "2.5",
    "1e-3",
    ".5",
    *["+", "-", "*", "/", "**", "<", "<=", "==", "!=", "(", ")", "[", "]", ",", "=", " "],
    *["axis", "keepdims", "true", "false", "lambda", "__import__", ".", "'", ";", "@"],
    *list(FUNCTIONS)[:: max(1, len(FUNCTIONS) // 12)],
    "sum",
    "max",
    "reshape",
    "concat",
    "where",
]
TYPES = [TensorType(F32, (2, 3)), TensorType("int32", (3,)), TensorType(F32, (None, 1, 3))]


def _never_crashes(text: str) -> None:
    """Parsing, then shape inference, raise nothing but ``ExpressionError``."""
    try:
        tree = parse(text)
    except ExpressionError as error:
        assert 0 <= error.offset <= len(text)
        error.render(text)
        return
    count = 1 + max(n.value for n in walk(tree) if n.kind == "input")
    if count <= len(TYPES):
        with contextlib.suppress(ExpressionError):
            infer(tree, TYPES[:count])


@PROPERTY_SETTINGS
@given(st.text(max_size=60))
def test_random_text_never_crashes_the_parser(text: str) -> None:
    _never_crashes(text)


@PROPERTY_SETTINGS
@given(st.lists(st.sampled_from(TOKENS), max_size=30))
def test_random_token_soup_never_crashes(tokens: list[str]) -> None:
    text = " ".join(tokens)
    _never_crashes(text)
    try:
        make_layer("Lambda", expression=text)
    except ValidationError as error:
        assert error.errors()[0]["type"] == "value_error"


def _valid(depth: int) -> st.SearchStrategy[str]:
    leaf = st.sampled_from(["x", "y", "0.5", "2", "(x * y)"])
    if depth == 0:
        return leaf
    sub = _valid(depth - 1)
    unary = st.sampled_from(["tanh", "sigmoid", "sin", "abs", "erf", "-"])
    binary = st.sampled_from(["+", "-", "*", "minimum", "maximum", "<", ">="])
    return st.one_of(
        leaf,
        st.builds(lambda f, a: f"{f}({a})", unary, sub),
        st.builds(
            lambda op, a, b: f"{op}({a}, {b})" if op.isalpha() else f"({a} {op} {b})",
            binary,
            sub,
            sub,
        ),
        st.builds(lambda c, a, b: f"where({c}, {a}, {b})", sub, sub, sub),
        st.builds(lambda a: f"sum({a} * x, axis=-1, keepdims=true)", sub),
    )


@settings(max_examples=25, deadline=None, derandomize=True)
@given(_valid(3))
def test_random_valid_expressions_match_numpy(expression: str) -> None:
    compare(f"x * 0 + ({expression})", types_of((2, 3), (3,)))
