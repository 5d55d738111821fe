// specc-train.js: train the model {{NAME_COMMENT}} where it runs (browser or Node.js) with
// onnxruntime-web {{ORT_VERSION}}. Written by `specc export --target web --with-training`;
// specc.js re-exports everything here. The step is `specc train`'s own step graph
// (train_step.onnx): forward, losses, gradients, the optimizer's update, constraints and
// BatchNormalization's moving statistics in one run, the whole state in and `next/*` out.
//
//   import { loadTrainer } from './specc.js';
//   const trainer = await loadTrainer();
//   const { loss } = await trainer.trainStep({ pixels, digit });   // inputs and targets
//   const history = await trainer.fit(data, { epochs: 3, batchSize: 32 });
//   const bytes = trainer.saveWeights();   // a weights .npz for `specc build --weights`
import { ort, Model, configureRuntime, fetchBytes, fetchJson, toTensor } from './specc.js';
import { Averages, historyParts, metricFeeds, metricValues, seeded, shuffleInPlace } from './specc-fit.js';
import { weightsNpz } from './specc-npz.js';

const TRAINING_URL = new URL('./training.json', import.meta.url);
const DESCRIPTION_URL = new URL('./model.json', import.meta.url);
// training.json's layout this module reads.
const FORMAT = 1;
// numpy's dtype names in training.json -> onnxruntime-web's tensor types and arrays.
const STATE_TYPES = {
  float32: ['float32', Float32Array],
  int32: ['int32', Int32Array],
  int64: ['int64', BigInt64Array],
  bool: ['bool', Uint8Array],
};

/**
 * A model that trains: the step, evaluation, prediction and metrics sessions (no metrics
 * session for a model without metrics) and the state.
 */
export class Trainer {
  constructor(sessions, description, training, state) {
    this.sessions = sessions;
    this.description = description;
    this.training = training;
    // name -> ort.Tensor: each step's next/* outputs become the next step's inputs.
    this.state = state;
    this.shapes = Object.fromEntries(training.state.tensors.map((s) => [s.name, s.shape]));
    // The history's losses and metrics: what a step's values and fit's averages hold.
    this.parts = historyParts(training);
    const parameters = new Set(sessions.predict.inputNames);
    // predict() runs the inference model with the weights trained so far.
    const current = { run: (feeds) => sessions.predict.run({ ...feeds, ...this._pick(parameters) }) };
    this.model = new Model(current, description);
    this.evaluationInputs = new Set(sessions.evaluation.inputNames);
  }

  /** Optimizer steps taken so far (Keras's `optimizer.iterations`). */
  get iterations() {
    return Number(this.state[this.training.iterations].data[0]);
  }

  /**
   * One training step on a batch: `batch` maps every input and output name (its targets)
   * to values in any form `predict` accepts. Resolves to `{loss, <output>_loss..., <metric>...}`
   * for this batch, computed before its update. A batch whose loss is not finite leaves the
   * state as it was (`result.loss` says so).
   */
  async trainStep(batch) {
    return this._finished(await this._step(batch));
  }

  /**
   * Keras's `fit`: `data` maps every input and output name to all its rows. Options:
   * `epochs` (1), `batchSize` (training.json's), `shuffle` (true), `seed` (a number: the
   * shuffling is repeatable), `validationData` (same form: `val_*` values after each epoch),
   * `onBatchEnd(step, logs, batch)` (logs: the epoch's running means, as Keras's; batch:
   * this batch's own values), `onEpochEnd(epoch, logs)` and `signal` (an AbortSignal:
   * training stops after the current batch). Resolves to the History (`history.json`'s
   * form: a list per key, one value per finished epoch), with `stopped` set when the run
   * ended early ('aborted' or 'non-finite loss').
   */
  async fit(data, options = {}) {
    const epochs = options.epochs ?? 1;
    const batchSize = options.batchSize ?? this.training.batch_size;
    const rows = this._rows(data);
    const random = seeded(options.seed ?? Math.floor(Math.random() * 2 ** 31));
    const history = Object.create(null); // keyed by history names, from the spec
    let stopped = null;
    for (let epoch = 0; epoch < epochs && !stopped; epoch++) {
      const order = Array.from({ length: rows.count }, (_, i) => i);
      if (options.shuffle ?? true) shuffleInPlace(order, random);
      const averages = this._averages();
      let step = 0;
      for (let start = 0; start < rows.count; start += batchSize) {
        const picked = order.slice(start, start + batchSize);
        const statistics = await this._step(rows.take(picked));
        if (!Number.isFinite(statistics.loss)) {
          stopped = 'non-finite loss';
          break;
        }
        averages.add(statistics, picked.length);
        // The running metrics are finished only for a listener (a run of metrics.onnx each).
        if (options.onBatchEnd) options.onBatchEnd(step, await averages.values(), await this._finished(statistics));
        step++;
        if (options.signal?.aborted) {
          stopped = 'aborted';
          break;
        }
      }
      if (stopped) break; // an unfinished epoch has no History entry, as in Keras
      const logs = await averages.values();
      if (options.validationData) {
        const validation = await this.evaluate(options.validationData, { batchSize });
        for (const [key, value] of Object.entries(validation)) logs[`val_${key}`] = value;
      }
      for (const [key, value] of Object.entries(logs)) (history[key] ??= []).push(value);
      await options.onEpochEnd?.(epoch, logs);
      if (options.signal?.aborted && epoch + 1 < epochs) stopped = 'aborted';
    }
    const result = Object.fromEntries(Object.entries(history));
    if (stopped) Object.defineProperty(result, 'stopped', { value: stopped, enumerable: false });
    return result;
  }

  /**
   * Keras's `evaluate` on the current weights, in inference mode: `data` as for `fit`;
   * option `batchSize` (32). Each loss is the batch-size-weighted mean over the batches,
   * each metric computed from its statistics summed over them by one run of metrics.onnx,
   * as `specc evaluate` does.
   */
  async evaluate(data, options = {}) {
    const batchSize = options.batchSize ?? 32;
    const rows = this._rows(data);
    const averages = this._averages();
    for (let start = 0; start < rows.count; start += batchSize) {
      const picked = Array.from({ length: Math.min(batchSize, rows.count - start) }, (_, i) => start + i);
      const { feeds } = this._batch(rows.take(picked));
      const state = Object.fromEntries(Object.entries(this.state).filter(([name]) => this.evaluationInputs.has(name)));
      const results = await this.sessions.evaluation.run({ ...feeds, ...state });
      averages.add(this._statistics(results), picked.length);
    }
    return averages.values();
  }

  /** `predict` (see specc.js's Model.predict) on the weights trained so far. */
  async predict(inputs) {
    return this.model.predict(inputs);
  }

  /**
   * The current weights as the bytes of a weights `.npz` (an uncompressed zip of `.npy`
   * files under Keras's keys, `layer/weight`), which `specc build --weights` and
   * `specc train --weights` load.
   */
  saveWeights() {
    const weights = this.training.state.tensors.filter((t) => t.weights_key !== undefined);
    return weightsNpz(weights.map((t) => ({ key: t.weights_key, tensor: this.state[t.name] })));
  }

  /** Free the sessions' memory. */
  async release() {
    await Promise.all(Object.values(this.sessions).filter(Boolean).map((s) => s.release()));
  }

  _pick(names) {
    return Object.fromEntries([...names].filter((n) => n in this.state).map((n) => [n, this.state[n]]));
  }

  // A next/* output with the declared shape (a step may give a scalar back as [1]).
  _fit(name, tensor) {
    const shape = this.shapes[name];
    const same = tensor.dims.length === shape.length && tensor.dims.every((d, i) => d === shape[i]);
    return same ? tensor : new ort.Tensor(tensor.type, tensor.data, shape);
  }

  _batch(batch) {
    const specs = this.training.batch;
    const names = specs.map(batchKey);
    // An output without a loss has no targets: values given for it are not used.
    const unused = new Set(this.description.outputs.map((t) => t.name));
    for (const name of Object.keys(batch)) {
      if (!names.includes(name) && !unused.has(name)) {
        throw new Error(`unknown batch entry '${name}'; expected ${names.join(', ')}`);
      }
    }
    const feeds = Object.create(null); // keyed by input names, from the spec
    for (const spec of specs) {
      const key = batchKey(spec);
      if (!Object.hasOwn(batch, key)) throw new Error(`missing batch entry '${key}'; expected ${names.join(', ')}`);
      feeds[spec.name] = toTensor({ ...spec, name: key }, batch[key]);
    }
    const sizes = new Set(Object.values(feeds).map((t) => t.dims[0]));
    if (sizes.size > 1) throw new Error(`batch entries disagree on the batch size: ${[...sizes].join(' vs ')}`);
    return { feeds, size: [...sizes][0] };
  }

  // One step on a batch: its losses and metric statistics; the state moves on unless the
  // loss is not finite.
  async _step(batch) {
    const { feeds } = this._batch(batch);
    const results = await this.sessions.step.run({ ...feeds, ...this.state });
    const statistics = this._statistics(results);
    if (Number.isFinite(statistics.loss)) {
      for (const entry of this.training.state.tensors) this.state[entry.name] = this._fit(entry.name, results[entry.next]);
    }
    return statistics;
  }

  // The losses of one batch (numbers) and its metrics' statistics (one array each).
  _statistics(results) {
    const statistics = Object.create(null);
    const { losses, metrics } = this.parts;
    for (const loss of losses) statistics[loss.name] = Number(results[loss.outputs[0]].data[0]);
    for (const metric of metrics) {
      statistics[metric.name] = metric.outputs.map((s) => Array.from(results[s].data, Number));
    }
    return statistics;
  }

  // One batch's values: its losses, and its metrics finished from its own statistics.
  async _finished(statistics) {
    const averages = this._averages();
    averages.add(statistics, 1);
    const values = await averages.values();
    Object.defineProperty(values, 'statistics', { value: statistics, enumerable: false });
    return values;
  }

  _averages() {
    return new Averages(this.parts, (sums) => this._metrics(sums));
  }

  // Every metric's value from its summed statistics: one run of metrics.onnx.
  async _metrics(sums) {
    const described = this.training.metrics;
    if (!described) return {};
    const results = await this.sessions.metrics.run(metricFeeds(described, this.parts, sums, ort.Tensor));
    return metricValues(described, results);
  }

  // Every row of `data` as tensors, and a way to take some rows as a batch.
  _rows(data) {
    const { feeds } = this._batch(data);
    const entries = Object.entries(feeds);
    const count = entries.length ? entries[0][1].dims[0] : 0;
    const take = (picked) => {
      const batch = Object.create(null);
      for (const [name, tensor] of entries) {
        const row = tensor.data.length / Math.max(count, 1);
        const out = new tensor.data.constructor(picked.length * row);
        picked.forEach((r, i) => out.set(tensor.data.subarray(r * row, (r + 1) * row), i * row));
        batch[keyOf(this.training.batch, name)] = { data: out, dims: [picked.length, ...tensor.dims.slice(1)] };
      }
      return batch;
    };
    return { count, take };
  }
}

// A batch names a target by its output (`digit`), as `specc train`'s data files do.
function batchKey(spec) {
  return spec.role === 'target' ? spec.output : spec.name;
}

function keyOf(specs, name) {
  return batchKey(specs.find((s) => s.name === name));
}

/**
 * The state tensors of `training.json` from the bytes of state.bin, each length and
 * offset checked against the file and the tensor's shape before it is read.
 */
export function readState(training, bytes) {
  const state = Object.create(null); // keyed by parameter names, from the spec
  for (const entry of training.state.tensors) {
    const known = STATE_TYPES[entry.dtype];
    if (!known) throw new Error(`state '${entry.name}': unsupported dtype ${entry.dtype}`);
    const [type, Type] = known;
    const size = entry.shape.reduce((a, b) => a * b, 1);
    const { offset, bytes: length } = entry;
    const fits =
      Number.isSafeInteger(offset) && Number.isSafeInteger(length) && offset >= 0 &&
      offset % Type.BYTES_PER_ELEMENT === 0 && length === size * Type.BYTES_PER_ELEMENT &&
      offset + length <= bytes.byteLength;
    if (!fits) {
      throw new Error(`state '${entry.name}': ${length} bytes at ${offset} do not fit state.bin (${bytes.byteLength} bytes) or shape [${entry.shape}]`);
    }
    const copy = bytes.slice(offset, offset + length); // its own buffer, aligned at 0
    state[entry.name] = new ort.Tensor(type, new Type(copy.buffer, 0, size), entry.shape);
  }
  return state;
}

/**
 * Create the trainer's sessions and read its initial state. Options (all optional):
 * `baseUrl` (the bundle's folder; default: next to this file), `executionProviders`
 * (['wasm'] by default; ['webgpu', 'wasm'] where WebGPU is available, needing onnxruntime-web's
 * WebGPU build), `wasmPaths` and `numThreads` (`ort.env.wasm`), `sessionOptions`, and
 * `worker: true` to train in a module Worker (specc-worker.js) behind the same methods.
 */
export async function loadTrainer(options = {}) {
  if (options.worker) {
    const { workerTrainer } = await import('./specc-worker-client.js');
    return workerTrainer(options);
  }
  configureRuntime(options);
  const base = options.baseUrl ? new URL(options.baseUrl, globalThis.location?.href ?? import.meta.url) : null;
  const at = (name, fallback) => (base ? new URL(name, base) : fallback ?? new URL(`./${name}`, import.meta.url));
  const description = options.description ?? (await fetchJson(at('model.json', DESCRIPTION_URL)));
  const training = await fetchJson(at('training.json', TRAINING_URL));
  if (training.format !== FORMAT) throw new Error(`training.json has format ${training.format}; this specc-train.js reads ${FORMAT}`);
  const sessionOptions = { executionProviders: options.executionProviders ?? ['wasm'], ...options.sessionOptions };
  // The files download together, but the sessions are created one after another:
  // onnxruntime-web's WebGPU provider refuses to create a session while another one is
  // being created.
  const names = [training.train_step.file, training.evaluate.file, training.predict.file];
  if (training.metrics) names.push(training.metrics.file);
  const [bytes, ...models] = await Promise.all([training.state.file, ...names].map((name) => fetchBytes(at(name))));
  const sessions = [];
  for (const model of models) sessions.push(await ort.InferenceSession.create(model, sessionOptions));
  const [step, evaluation, predict, metrics = null] = sessions;
  return new Trainer({ step, evaluation, predict, metrics }, description, training, readState(training, bytes));
}

let trainer = null;

/** The trainer the module functions use, loaded once with default options. */
export function defaultTrainer() {
  trainer ??= loadTrainer();
  return trainer;
}

/** `trainStep` on the default trainer. */
export async function trainStep(batch) {
  return (await defaultTrainer()).trainStep(batch);
}

/** `fit` on the default trainer. */
export async function fit(data, options) {
  return (await defaultTrainer()).fit(data, options);
}

/** `evaluate` on the default trainer. */
export async function evaluate(data, options) {
  return (await defaultTrainer()).evaluate(data, options);
}

/** `saveWeights` on the default trainer. */
export async function saveWeights() {
  return (await defaultTrainer()).saveWeights();
}
