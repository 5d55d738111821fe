// specc-fit.js: what specc-train.js's fit and evaluate add up, how they finish the metrics,
// and how fit shuffles.
// Written by `specc export --target web --with-training`.

/**
 * training.json's `history` split into what fit and evaluate add up: the losses (`kind`
 * 'batch mean', one step output each) and the metrics (`kind` 'metric', statistics summed,
 * then finished by metrics.onnx).
 */
export function historyParts(training) {
  return {
    losses: training.history.filter((h) => h.kind === 'batch mean'),
    metrics: training.history.filter((h) => h.kind === 'metric'),
  };
}

/**
 * Keras's running means: losses weighted by batch size, metric statistics summed.
 * `finish(sums)` turns the metrics' summed statistics (name -> one array per statistic)
 * into their values (name -> number, or list per class): one run of metrics.onnx.
 */
export class Averages {
  constructor(parts, finish) {
    this.parts = parts;
    this.finish = finish;
    // Keyed by history names, which come from the spec: no prototype, so that a name such
    // as `constructor` or `__proto__` is a key like any other.
    this.sums = Object.create(null);
    this.count = 0;
  }

  add(statistics, size) {
    this.count += size;
    for (const loss of this.parts.losses) this.sums[loss.name] = (this.sums[loss.name] ?? 0) + statistics[loss.name] * size;
    for (const metric of this.parts.metrics) {
      const batch = statistics[metric.name];
      const sums = (this.sums[metric.name] ??= batch.map((s) => s.map(() => 0)));
      batch.forEach((s, k) => s.forEach((v, i) => (sums[k][i] += v)));
    }
  }

  async values() {
    const losses = this.parts.losses.map((loss) => [loss.name, (this.sums[loss.name] ?? 0) / Math.max(this.count, 1)]);
    const sums = Object.create(null);
    for (const metric of this.parts.metrics) sums[metric.name] = this.sums[metric.name];
    // Object.fromEntries defines each name as an own property, `__proto__` included.
    return Object.fromEntries([...losses, ...Object.entries(await this.finish(sums))]);
  }
}

/**
 * The feeds of metrics.onnx (training.json's `metrics`) from the metrics' summed
 * statistics (a metric without any batch yet: zeros), and its results as history values.
 */
export function metricFeeds(described, parts, sums, Tensor) {
  const shapes = Object.fromEntries(described.inputs.map((t) => [t.name, t.shape]));
  const feeds = Object.create(null);
  for (const metric of parts.metrics) {
    metric.outputs.forEach((name, k) => {
      const shape = shapes[name];
      const size = shape.reduce((a, b) => a * b, 1);
      feeds[name] = new Tensor('float32', Float32Array.from(sums[metric.name]?.[k] ?? new Array(size).fill(0)), shape);
    });
  }
  return feeds;
}

/** metrics.onnx's outputs as history values: a number, or a list (one per class). */
export function metricValues(described, results) {
  const values = Object.create(null);
  for (const output of described.outputs) {
    const data = Array.from(results[output.name].data, Number);
    values[output.history] = output.shape.length ? data : data[0];
  }
  return values;
}

// mulberry32: a small seeded generator, so that a seeded fit shuffles the same way each time.
export function seeded(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function shuffleInPlace(order, random) {
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
}
