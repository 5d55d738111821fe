// specc-fit.js: what specc-train.js's fit and evaluate add up, and how fit shuffles.
// Written by `specc export --target web --with-training`.

/**
 * training.json's `history` split into what fit and evaluate add up: the losses (`kind`
 * 'batch mean', one step output each) and the metrics (`kind` 'metric', statistics summed).
 */
export function historyParts(training) {
  return {
    losses: training.history.filter((h) => h.kind === 'batch mean'),
    metrics: training.history.filter((h) => h.kind === 'metric'),
  };
}

/**
 * A metric's value from its statistics summed over batches, as its history entry's
 * `result` says: `mean` (total / count, 0 for no count) or `root_mean`; any other metric
 * is given as its summed statistics.
 */
export function metricValue(metric, sums) {
  if (metric.result === 'mean' || metric.result === 'root_mean') {
    const [total, count] = sums.map((s) => s[0]);
    const mean = count === 0 ? 0 : total / count;
    return metric.result === 'mean' ? mean : Math.sqrt(mean);
  }
  return sums; // a metric specc-train.js cannot finish: its summed statistics
}

/** Keras's running means: losses weighted by batch size, metric statistics summed. */
export class Averages {
  constructor(parts) {
    this.parts = parts;
    this.sums = {};
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

  values() {
    const out = {};
    for (const loss of this.parts.losses) out[loss.name] = (this.sums[loss.name] ?? 0) / Math.max(this.count, 1);
    for (const metric of this.parts.metrics) {
      const sums = this.sums[metric.name];
      out[metric.name] = sums ? metricValue(metric, sums) : 0;
    }
    return out;
  }
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
