"""The README section for the standard training engine: ``train_step.ort`` driven by an app.

The sketches use onnxruntime's inference APIs only (onnxruntime-android's ``OrtSession``
and ``OnnxTensor``, onnxruntime-objc's ``ORTSession`` and ``ORTValue``): load the state
from ``state.bin`` at the offsets ``training.json`` gives, then per step feed the batch and
the state, read the loss, and take every ``next/<name>`` output as the new state; save by
writing the state back in the same layout. Every name from the spec is escaped for the
place it lands (``specc.escape``). The metrics' lines come from
``specc.emit.mobile_step_metrics``.
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
from specc.emit.mobile_step_metrics import metrics_code
from specc.emit.step_files import SAMPLE_WEIGHT, TARGET
from specc.escape import kotlin_string, markdown_code, markdown_text, swift_string


def render_step_training(info: dict[str, Any]) -> str:
    """The ``## On-device training`` section for a standard-engine ``training.json``."""
    batch = [{**t, "role": _batch_role(t)} for t in info["batch"]]
    step, evaluation = info["train_step"], info["evaluate"]
    batch_names = ", ".join(code_name(t["name"]) for t in batch)
    kotlin_feeds = "\n".join(
        f"    feeds[{kotlin_string(t['name'])}] = {code_name(t['name'])}" for t in batch
    )
    swift_feeds = "\n".join(
        f"    feeds[{swift_string(t['name'])}] = {code_name(t['name'])}" for t in batch
    )
    rate = info["learning_rate"]
    rate_text = (
        f"a constant {rate['constant']}, kept in the state as `optimizer.learning_rate`: "
        "write another value there to change it"
        if "constant" in rate
        else f"the schedule {markdown_text(str(rate['schedule']['type']))}, computed inside "
        "the step from `optimizer.iterations`"
    )
    random = info["random_step"]
    random_text = (
        "Dropout and the noise layers draw from `optimizer.iterations` (part of the state), "
        "so each step draws fresh masks and a saved state goes on with the masks "
        "`specc train` would have drawn.\n\n"
        if random
        else ""
    )
    state_rows = "\n".join(
        f"| {cell_code(t['name'])} | {t['dtype']} | {t['shape']} | {t['offset']} | "
        f"{markdown_text(t['role'])} |"
        for t in info["state"]["tensors"]
    )
    history = "\n".join(_history_line(value) for value in info["history"])
    kotlin_metrics, swift_metrics = metrics_code(info, "kotlin"), metrics_code(info, "swift")
    metrics_text = (
        "`metrics.ort` finishes the metrics: sum each metric statistic over an epoch's "
        "batches (or an evaluation's), then one run of it on the sums gives every metric's "
        "value by its history name, as `specc train` and `specc evaluate` compute it "
        "(`training.json`'s `metrics`; the loops below show it).\n\n"
        if info.get("metrics")
        else ""
    )
    optimizer = markdown_text(str(info["optimizer"].get("type", "")))
    return f"""## On-device training (`training/`)

Packages: the same inference packages as above (Android `{info["packages"]["android"]}`;
iOS {info["packages"]["ios"]}): no training package is needed. `train_step.ort` is the
training step `specc train` runs (its default backend): one run is the forward pass, the
loss, its gradients, the {optimizer} update with its learning rate ({rate_text}),
the weight constraints and BatchNormalization's moving statistics. `evaluate.ort` is the
forward pass in inference mode with the losses, as `specc evaluate` computes them.
{random_text}{metrics_text}`required_operators.config` covers every graph here.

`state.bin` holds the whole training state as raw little-endian tensors (row-major) at
the byte offsets below, also listed in `training.json` (`state.tensors`): the weights
(the ones `model.ort` holds), the optimizer's slots and its step counter. `train_step.ort`
takes the batch and every state tensor, by name, and gives `next/<name>` for each: feed
those as the state of the next step. Keep the state on the device; save it by writing each
tensor back at its offset (a weight's `weights_key` is its key in specc's weights files).

Batch inputs of both graphs:

{tensor_table(batch, roles=True)}

State (`state.bin`; `evaluate.ort` takes the weights among it):

| name | dtype | shape | offset | role |
| --- | --- | --- | ---: | --- |
{state_rows}

Outputs of `train_step.ort` (besides `next/<name>`), computed before the update:

{tensor_table(step["outputs"], roles=True)}

Outputs of `evaluate.ort`:

{tensor_table(evaluation["outputs"], roles=True)}

What `specc train` logs per epoch, from these outputs:

{history}

Batch size in the spec: {info["batch_size"]}.

Kotlin (onnxruntime-android):

```kotlin
import ai.onnxruntime.*
import java.io.File
import java.nio.*  // ByteBuffer, ByteOrder and the FloatBuffer/LongBuffer of the batch
import org.json.JSONObject

val env = OrtEnvironment.getEnvironment()
val step = env.createSession(File(dir, "train_step.ort").path, OrtSession.SessionOptions())
val info = JSONObject(File(dir, "training.json").readText())
val tensors = info.getJSONObject("state").getJSONArray("tensors")
val names = (0 until tensors.length()).map {{ tensors.getJSONObject(it).getString("name") }}
val bytes = File(dir, "state.bin").readBytes()
// The state: every tensor read from state.bin at its offset.
val state = HashMap<String, OnnxTensor>()
for (i in 0 until tensors.length()) {{
    val t = tensors.getJSONObject(i)
    val shape = t.getJSONArray("shape").let {{ s -> LongArray(s.length()) {{ s.getLong(it) }} }}
    val buffer = ByteBuffer.wrap(bytes, t.getInt("offset"), t.getInt("bytes")).slice()
        .order(ByteOrder.LITTLE_ENDIAN)
    state[t.getString("name")] = if (t.getString("dtype") == "int64")
        OnnxTensor.createTensor(env, buffer.asLongBuffer(), shape)
    else OnnxTensor.createTensor(env, buffer.asFloatBuffer(), shape)
}}
val initial = state.values.toList()
var held: OrtSession.Result? = null  // owns the state after the first step
{kotlin_metrics.before}for (b in batches) {{  // b: this batch's values, as the arrays below
    val batch = b.rows.toLong()
{_indent(kotlin_tensors(batch), 4)}
    val feeds = HashMap<String, OnnxTensor>(state)
{kotlin_feeds}
    val result = step.run(feeds)
    val loss = (result.get("loss").get() as OnnxTensor).floatBuffer.get(0)
{kotlin_metrics.inside}\
    for (name in names) state[name] = result.get("next/" + name).get() as OnnxTensor
    listOf({batch_names}).forEach {{ it.close() }}
    held?.close() ?: initial.forEach {{ it.close() }}  // the state this step consumed
    held = result
}}
{kotlin_metrics.after}// Save: each tensor back at its offset (the shapes never change).
val saved = ByteBuffer.allocate(bytes.size).order(ByteOrder.LITTLE_ENDIAN)
for (i in 0 until tensors.length()) {{
    val t = tensors.getJSONObject(i)
    val value = state.getValue(t.getString("name"))
    saved.position(t.getInt("offset"))
    val view = saved.slice().order(ByteOrder.LITTLE_ENDIAN)
    if (t.getString("dtype") == "int64") view.asLongBuffer().put(value.longBuffer)
    else view.asFloatBuffer().put(value.floatBuffer)
}}
File(dir, "trained-state.bin").writeBytes(saved.array())
```

Swift (onnxruntime-objc):

```swift
import Foundation
import onnxruntime_objc

let env = try ORTEnv(loggingLevel: .warning)
let step = try ORTSession(env: env, modelPath: dir + "/train_step.ort", sessionOptions: nil)
let info = try JSONSerialization.jsonObject(
    with: Data(contentsOf: URL(fileURLWithPath: dir + "/training.json"))) as! [String: Any]
let tensors = (info["state"] as! [String: Any])["tensors"] as! [[String: Any]]
let bytes = try Data(contentsOf: URL(fileURLWithPath: dir + "/state.bin"))
// The state: every tensor read from state.bin at its offset.
var state: [String: ORTValue] = [:]
for t in tensors {{
    let offset = t["offset"] as! Int, count = t["bytes"] as! Int
    let data = NSMutableData(data: bytes.subdata(in: offset..<offset + count))
    let shape = (t["shape"] as! [Int]).map {{ NSNumber(value: $0) }}
    let type: ORTTensorElementDataType = t["dtype"] as! String == "int64" ? .int64 : .float
    state[t["name"] as! String] = try ORTValue(tensorData: data, elementType: type, shape: shape)
}}
var wanted = Set(["loss"] + state.keys.map {{ "next/" + $0 }})
{swift_metrics.before}for b in batches {{  // b: this batch's values, as the bytes below
    let batch = NSNumber(value: b.rows)
{_indent(swift_tensors(batch), 4)}
    var feeds = state
{swift_feeds}
    let outputs = try step.run(withInputs: feeds, outputNames: wanted, runOptions: nil)
    let lossData = try outputs["loss"]!.tensorData() as Data
    let loss = lossData.withUnsafeBytes {{ $0.load(as: Float.self) }}
{swift_metrics.inside}\
    for name in Array(state.keys) {{ state[name] = outputs["next/" + name]! }}
}}
{swift_metrics.after}// Save: each tensor back at its offset (the shapes never change).
let saved = NSMutableData(length: bytes.count)!
for t in tensors {{
    let data = try state[t["name"] as! String]!.tensorData()
    saved.replaceBytes(in: NSRange(location: t["offset"] as! Int, length: data.length),
                       withBytes: data.bytes)
}}
try saved.write(toFile: dir + "/trained-state.bin")
```

`evaluate.ort` runs the same way with the batch and its state inputs
(`training.json`'s `evaluate.state_inputs`), and updates nothing. `predict.ort` is
`model.ort` with its weights as inputs: feed the model inputs and the weights of the state
(`predict.state_inputs`) to predict with the weights trained so far.
"""


def _batch_role(tensor: dict[str, Any]) -> str:
    """A batch tensor's role (``specc.emit.step_files.batch_entries``) in words."""
    if tensor["role"] == TARGET:
        return f"targets of '{tensor['output']}'"
    if tensor["role"] == SAMPLE_WEIGHT:
        return f"loss weight of each sample of '{tensor['output']}' (1 for unweighted)"
    return "model input"


def _history_line(value: dict[str, Any]) -> str:
    outputs = ", ".join(markdown_code(name) for name in value["outputs"])
    name = markdown_code(value["name"])
    if value["kind"] == "batch mean":
        return f"- {name}: the mean of {outputs} over the epoch's batches, weighted by their sizes"
    rule = markdown_text(str(value.get("rule", "")))
    metric = markdown_text(str(value.get("metric", "")))
    return f"- {name}: {metric} from {outputs}, each summed over the epoch's batches ({rule})"


def _indent(text: str, spaces: int) -> str:
    return "\n".join(" " * spaces + line for line in text.splitlines())
