"""The README.md of a mobile bundle: which packages to add and how to call this model.

The sketches use the model's own input and output names, dtypes and shapes, so an app
developer can copy them; they follow onnxruntime's Java (Kotlin) and Objective-C (Swift)
APIs of the release that wrote the files.
"""

from __future__ import annotations

from typing import Any

from specc.emit.mobile_code import (
    cell_code,
    code_name,
    kotlin_tensors,
    swift_tensors,
    tensor_table,
)
from specc.emit.mobile_ort import INFERENCE_PACKAGES, OPERATORS_CONFIG, ORT_VERSION
from specc.emit.mobile_step_readme import render_step_training
from specc.escape import kotlin_string, markdown_code, markdown_text, swift_string


def render_readme(
    description: dict[str, Any],
    sizes: dict[str, int],
    quantization: dict[str, Any] | None,
    training: dict[str, Any] | None,
) -> str:
    """The bundle's README.md as text."""
    name = str(description.get("name", "model"))
    parts = [
        f"# {markdown_text(name)}: mobile bundle\n\n"
        f"Written by `specc export --target mobile` with onnxruntime {ORT_VERSION}'s ORT-format "
        "converter. Use the onnxruntime mobile packages of that same release.\n",
        _files(sizes),
        _inference(description),
    ]
    if quantization is not None:
        parts.append(_quantization(quantization))
    if training is not None and training.get("engine") == "standard":
        parts.append(render_step_training(training))
    elif training is not None:
        parts.append(_training(training))
    return "\n".join(parts)


def _files(sizes: dict[str, int]) -> str:
    rows = "\n".join(f"| {cell_code(path)} | {size:,} |" for path, size in sizes.items())
    return f"## Files\n\n| file | bytes |\n| --- | ---: |\n{rows}\n"


def _inference(description: dict[str, Any]) -> str:
    inputs, outputs = description["inputs"], description["outputs"]
    feeds = ", ".join(f"{kotlin_string(t['name'])} to {code_name(t['name'])}" for t in inputs)
    swift_feeds = ", ".join(f"{swift_string(t['name'])}: {code_name(t['name'])}" for t in inputs)
    names = ", ".join(swift_string(t["name"]) for t in outputs)
    first = outputs[0]["name"]
    first_kotlin, first_swift = kotlin_string(first), swift_string(first)
    labels = [t["name"] for t in outputs if t.get("labels")]
    label_note = (
        f"\nClass labels for {', '.join(markdown_code(n) for n in labels)} are in `model.json`.\n"
        if labels
        else ""
    )
    return f"""## Inference

Packages: Android `{INFERENCE_PACKAGES["android"]}`; iOS {INFERENCE_PACKAGES["ios"]}.
For a smaller app, build a minimal runtime from `{OPERATORS_CONFIG}` (onnxruntime's
`build.py --minimal_build --include_ops_by_config {OPERATORS_CONFIG}`); it lists every
operator the `.ort` files in this folder use.

Inputs (the batch axis comes first; `lenK` is a variable length):

{tensor_table(inputs)}

Outputs:

{tensor_table(outputs)}
{label_note}
Kotlin:

```kotlin
import ai.onnxruntime.*
val env = OrtEnvironment.getEnvironment()
val session = env.createSession(modelBytes /* model.ort */, OrtSession.SessionOptions())
{kotlin_tensors(inputs)}
session.run(mapOf({feeds})).use {{ result ->
    val {code_name(first)} = result.get({first_kotlin}).get().value  // Array<FloatArray>
}}
```

Swift:

```swift
import onnxruntime_objc
let env = try ORTEnv(loggingLevel: .warning)
let session = try ORTSession(env: env, modelPath: modelPath /* model.ort */, sessionOptions: nil)
{swift_tensors(inputs)}
let outputs = try session.run(withInputs: [{swift_feeds}],
                              outputNames: [{names}], runOptions: nil)
let {code_name(first)} = try outputs[{first_swift}]!.tensorData()  // row-major, float32
```
"""


def _quantization(report: dict[str, Any]) -> str:
    size = report["size"]
    quantized = ", ".join(
        f"{count} {markdown_text(op)}" for op, count in report["quantized_ops"].items()
    )
    lines = [
        "## int8 model\n",
        f"`model.int8.ort` stores the weights of {quantized or 'no'} ONNX nodes as int8 "
        "in a 7-bit range, which x86 CPUs without VNNI multiply without saturating "
        "(onnxruntime's dynamic quantization; activations are quantized at run time). It "
        "takes the same inputs and gives the same outputs as `model.ort`.",
    ]
    if report["float_ops_kept"]:
        lines.append(
            f"{', '.join(report['float_ops_kept'])} ops stay float32: onnxruntime's CPU "
            "provider has no integer kernel for them with int8 weights."
        )
    lines.append(
        f"\nSize: {size['float_bytes']:,} -> {size['int8_bytes']:,} bytes "
        f"({size['ratio']:.0%} of the float model)."
    )
    accuracy = report["accuracy"]
    if not accuracy["measured"]:
        lines.append("Accuracy was not measured (no data was given).")
    else:
        data = markdown_code(str(accuracy["data"]))
        lines.append(f"Measured on {accuracy['samples']} samples of {data}:\n")
        for output, entry in accuracy["outputs"].items():
            if entry.get("non_finite"):
                counts = entry["non_finite"]
                lines.append(
                    f"- {markdown_code(output)}: not compared, NaN or infinity in "
                    f"{counts['float']:,} float and {counts['int8']:,} int8 values"
                )
                continue
            text = (
                f"- {markdown_code(output)}: max |float - int8| {entry['max_abs_diff']:.3g}, "
                f"mean {entry['mean_abs_diff']:.3g}"
            )
            if "float_accuracy" in entry:
                text += f"; accuracy {entry['float_accuracy']:.4f} -> {entry['int8_accuracy']:.4f}"
            if "agreement" in entry:
                text += f"; same class {entry['agreement']:.2%} of the time"
            lines.append(text)
    lines.append("\nAll numbers are in `quantization.json`.\n")
    return "\n".join(lines)


def _training(info: dict[str, Any]) -> str:
    inputs, outputs = info["inputs"], info["outputs"]
    optimizer = info["optimizer"]
    rate = info["learning_rate"]
    if "constant" in rate:
        lr = f"{rate['constant']}"
        lr_text = f"a constant {lr}: call `setLearningRate({lr})` once after creating the session"
    else:
        lr = "learningRate(step)"
        lr_text = (
            f"a schedule, {rate['schedule']['type']}: {rate['formula']} (`training.json` has "
            f"its arguments and the first values: "
            f"{', '.join(f'{v:.6g}' for v in rate['first_steps'][:4])}, ...). Call "
            "`setLearningRate(learningRate(step))` before every `optimizerStep()`, with `step` "
            "the number of optimizer steps already taken (0 for the first)"
        )
    kotlin_lr = f"{lr}f" if "constant" in rate else "learningRate(step).toFloat()"
    step = (info.get("random_step") or {}).get("name")
    batch_inputs = [t for t in inputs if t["name"] != step]
    feeds = ", ".join(f"{kotlin_string(t['name'])} to {code_name(t['name'])}" for t in batch_inputs)
    train_feeds = feeds
    ordered = ", ".join(code_name(t["name"]) for t in batch_inputs)
    swift_step = ""
    step_text = ""
    if step is not None:
        # Inputs of trainStep only: the eval model, which draws nothing, has it baked in.
        train_feeds += f", {kotlin_string(step)} to OnnxTensor.createTensor(env, step.toLong())"
        ordered += ", randomStep"
        swift_step = (
            "\nvar stepValue = Int64(step)  // optimizer steps taken so far"
            "\nlet randomStep = try ORTValue(tensorData: NSMutableData(bytes: &stepValue, "
            "length: 8), elementType: .int64, shape: [])"
        )
        step_text = (
            f"The random step {markdown_code(step)} (an int64 scalar, the last input of "
            "`trainStep`; `evalStep` does not take it) is the number of optimizer steps "
            "taken so far, 0 for the first: dropout and the noise layers draw their masks "
            "from it, so each step draws fresh ones, and a run resumed with the count it "
            "stopped at goes on with the masks `specc train` would have drawn. Keep counting "
            "across epochs (store it as a checkpoint property).\n\n"
        )
    predictions = [t["name"] for t in outputs if t["role"] == "prediction"]
    shown_predictions = ", ".join(markdown_code(p) for p in predictions)
    flag = (
        f"The training flag {markdown_code(info['training_flag']['name'])} (dropout and other "
        "training-only behaviour) is baked in: on in `training_model.ort`, off in "
        "`eval_model.ort`. It is not an input.\n\n"
        if info["training_flag"]
        else ""
    )
    notes = "".join(f"\n\n- {note}" for note in optimizer["notes"])
    return f"""## On-device training (`training/`)

Packages: Android `{info["packages"]["android"]}` (use it instead of `onnxruntime-android`);
iOS {info["packages"]["ios"]}. The files were written by onnxruntime-training
{ORT_VERSION}, the last release with training packages.

`training_model.ort`, `eval_model.ort` and `optimizer_model.ort` are the ORT-format
artifacts; `checkpoint` holds the weights (the ones `model.ort` holds) and, after saving,
the optimizer state. The training model computes the same loss as `specc train`:
the weighted sum of the outputs' losses plus every regularization penalty.

Inputs of `trainStep`, in this order (Swift and C take them by position); `evalStep` takes
the same but the random step, if listed:

{tensor_table(inputs, roles=True)}

{flag}{step_text}Outputs of `trainStep` and `evalStep`:

{tensor_table(outputs, roles=True)}

Compute metrics in the app from the prediction outputs ({shown_predictions}).

Optimizer: {optimizer["keras"]} as `{optimizer["kernel"]}` in `optimizer_model.ort`{
        ", gradients clipped first ("
        + ", ".join(f"{k}={v}" for k, v in optimizer["clip"].items())
        + ")"
        if optimizer["clip"]
        else ""
    }.{notes}

Learning rate: {lr_text}. The session starts at 0.001 whatever the spec says, and does not
restore the rate from a checkpoint; store `step` as a checkpoint property to resume.
Batch size in the spec: {info["batch_size"]}.

Kotlin (copy `training/` out of the APK assets first: the API takes file paths):

```kotlin
import ai.onnxruntime.*
val env = OrtEnvironment.getEnvironment()
val session = env.createTrainingSession("$dir/checkpoint", "$dir/training_model.ort",
    "$dir/eval_model.ort", "$dir/optimizer_model.ort")
for ((step, batch) in batches.withIndex()) {{
    session.setLearningRate({kotlin_lr})
    session.trainStep(mapOf({train_feeds})).use {{ r ->
        val loss = r.get("loss").get().value as Float
    }}
    session.optimizerStep()
    session.lazyResetGrad()
}}
session.evalStep(mapOf({feeds})).use {{ r -> /* losses and predictions, no update */ }}
session.saveCheckpoint(java.nio.file.Paths.get("$dir/trained"), true)
```

Swift:

```swift
let env = try ORTEnv(loggingLevel: .warning)
let checkpoint = try ORTCheckpoint(path: dir + "/checkpoint")
let session = try ORTTrainingSession(env: env, sessionOptions: ORTSessionOptions(),
    checkpoint: checkpoint, trainModelPath: dir + "/training_model.ort",
    evalModelPath: dir + "/eval_model.ort", optimizerModelPath: dir + "/optimizer_model.ort")
try session.setLearningRate(Float({lr})){swift_step}
let outputs = try session.trainStep(withInputValues: [{ordered}])  // outputs[0]: loss
try session.optimizerStep()
try session.lazyResetGrad()
try checkpoint.saveCheckpoint(toPath: dir + "/trained", withOptimizerState: true)
```

To get an inference model with the trained weights on the device, call
`exportModelForInference` with the prediction outputs ({shown_predictions}). It
re-reads the eval model and cannot parse an `.ort` one, so create the session with
`eval_model.onnx` (shipped for this) instead of `eval_model.ort` when you export.
Alternatively `evalStep` returns the predictions of the current weights (feed any targets).
"""
