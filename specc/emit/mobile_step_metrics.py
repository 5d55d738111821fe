"""The metrics part of the standard training engine's README loops: ``metrics.ort``.

A step (or an evaluation batch) gives each metric's statistics for its batch; the app sums
them over an epoch's batches (in double, as ``specc train`` does) and runs ``metrics.ort``
once on the sums (as float32) to get every metric's value by its history name, as
``specc train`` logs it. The names come from ``training.json`` at run time
(``metrics.inputs`` and ``metrics.outputs``), so nothing from the spec lands in the code.
Each piece is empty for a spec without metrics (no ``metrics.ort``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class MetricsCode:
    """The lines a loop gains: before it, inside it (after the step's run, whose outputs
    are ``result``/``outputs``), and after it."""

    before: str = ""
    inside: str = ""
    after: str = ""


KOTLIN = MetricsCode(
    before="""// Metrics: each statistic summed over an epoch's batches, then a run of metrics.ort.
val statistics = info.getJSONObject("metrics").getJSONArray("inputs")
val sums = HashMap<String, DoubleArray>()
""",
    inside="""    for (i in 0 until statistics.length()) {
        val name = statistics.getJSONObject(i).getString("name")
        val values = (result.get(name).get() as OnnxTensor).floatBuffer
        val sum = sums.getOrPut(name) { DoubleArray(values.remaining()) }
        for (k in sum.indices) sum[k] += values.get(k)
    }
""",
    after="""// Every metric's value, by its history name (statistics of no batch: zeros).
val metrics = env.createSession(File(dir, "metrics.ort").path, OrtSession.SessionOptions())
val metricFeeds = HashMap<String, OnnxTensor>()
for (i in 0 until statistics.length()) {
    val t = statistics.getJSONObject(i)
    val shape = t.getJSONArray("shape").let { s -> LongArray(s.length()) { s.getLong(it) } }
    val sum = sums[t.getString("name")] ?: DoubleArray(shape.fold(1L) { a, b -> a * b }.toInt())
    val values = FloatBuffer.wrap(FloatArray(sum.size) { sum[it].toFloat() })
    metricFeeds[t.getString("name")] = OnnxTensor.createTensor(env, values, shape)
}
val valueOutputs = info.getJSONObject("metrics").getJSONArray("outputs")
metrics.run(metricFeeds).use { values ->
    for (i in 0 until valueOutputs.length()) {
        val output = valueOutputs.getJSONObject(i)
        val buffer = (values.get(output.getString("name")).get() as OnnxTensor).floatBuffer
        val value = FloatArray(buffer.remaining()) { buffer.get(it) }
        println(output.getString("history") + ": " + value.joinToString())
    }
}
metricFeeds.values.forEach { it.close() }
""",
)

SWIFT = MetricsCode(
    before="""// Metrics: each statistic summed over an epoch's batches, then a run of metrics.ort.
let metricsInfo = info["metrics"] as! [String: Any]
let statistics = metricsInfo["inputs"] as! [[String: Any]]
var sums: [String: [Double]] = [:]
wanted.formUnion(statistics.map { $0["name"] as! String })
""",
    inside="""    for t in statistics {
        let name = t["name"] as! String
        let data = try outputs[name]!.tensorData() as Data
        let values = data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        let sum = sums[name] ?? Array(repeating: 0, count: values.count)
        sums[name] = zip(sum, values).map { $0 + Double($1) }
    }
""",
    after=r"""// Every metric's value, by its history name (statistics of no batch: zeros).
let metrics = try ORTSession(env: env, modelPath: dir + "/metrics.ort", sessionOptions: nil)
var metricFeeds: [String: ORTValue] = [:]
for t in statistics {
    let name = t["name"] as! String, shape = t["shape"] as! [Int]
    var values = (sums[name] ?? Array(repeating: 0, count: shape.reduce(1, *))).map { Float($0) }
    let data = NSMutableData(bytes: &values, length: values.count * MemoryLayout<Float>.size)
    metricFeeds[name] = try ORTValue(
        tensorData: data, elementType: .float, shape: shape.map { NSNumber(value: $0) })
}
let valueOutputs = metricsInfo["outputs"] as! [[String: Any]]
let metricValues = try metrics.run(
    withInputs: metricFeeds, outputNames: Set(valueOutputs.map { $0["name"] as! String }),
    runOptions: nil)
// Each metric's value under its history name.
for output in valueOutputs {
    let data = try metricValues[output["name"] as! String]!.tensorData() as Data
    let value = data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
    print("\(output["history"] as! String): \(value)")
}
""",
)


def metrics_code(info: dict[str, Any], language: str) -> MetricsCode:
    """The metrics lines of the ``kotlin`` or ``swift`` loop for ``info`` (training.json):
    none without metrics."""
    if not info.get("metrics"):
        return MetricsCode()
    return KOTLIN if language == "kotlin" else SWIFT
