// specc.js: run the model {{NAME_COMMENT}} in a browser with onnxruntime-web {{ORT_VERSION}}
// (WebAssembly backend). Written by `specc export --target web`; README.md beside it tells
// how to serve and use it. No build step: this is a plain ES module.
//
//   import { load } from './specc.js';
//   const model = await load();
//   const out = await model.predict({ image: pixels });   // shapes come from model.json
//   out.digit.data, out.digit.dims, out.digit.top          // top: best label per example
import * as ort from '{{ORT_MODULE}}';
{{TRAINING_EXPORTS}}

export { ort };
export const ORT_WEB_VERSION = '{{ORT_VERSION}}';
// The model's name, as model.json gives it.
export const MODEL_NAME = {{NAME_JS}};

// Static `new URL(..., import.meta.url)` literals: bundlers (Vite, webpack) copy the files.
const MODEL_URL = new URL('./model.onnx', import.meta.url);
const DESCRIPTION_URL = new URL('./model.json', import.meta.url);
// The runtime's .wasm file when the bundle carries it (null: next to onnxruntime-web's module).
const RUNTIME_WASM = {{RUNTIME_WASM}};

const ARRAYS = {
  float32: Float32Array,
  int32: Int32Array,
  int64: BigInt64Array,
  bool: Uint8Array, // onnxruntime-web holds bool tensors as bytes
};

/** A loaded model: its onnxruntime-web session and its description (model.json). */
export class Model {
  constructor(session, description) {
    this.session = session;
    this.description = description;
  }

  /** Input names, in the spec's order. */
  get inputNames() {
    return this.description.inputs.map((t) => t.name);
  }

  /** Output names, in the spec's order. */
  get outputNames() {
    return this.description.outputs.map((t) => t.name);
  }

  /**
   * Run the model. `inputs` maps every input name to one of:
   * - a flat TypedArray or Array: dims from model.json; the batch is inferred from its
   *   length, and an input with a variable dimension besides the batch (token ids) is
   *   taken as one example;
   * - a nested Array: dims from the nesting (without the batch level: one example);
   * - `{data, dims}`, or an ort.Tensor: dims as given.
   * Returns `{outputName: {data, dims, labels?, top?}}`; `labels` and `top` (the best label
   * of each example: `{index, label, score}`) are there when model.json has labels.
   */
  async predict(inputs) {
    const feeds = Object.create(null); // keyed by input names, from the spec
    const names = new Set(this.inputNames);
    for (const name of Object.keys(inputs)) {
      if (!names.has(name)) {
        throw new Error(`unknown input '${name}'; expected ${[...names].join(', ')}`);
      }
    }
    for (const spec of this.description.inputs) {
      if (!Object.hasOwn(inputs, spec.name)) {
        throw new Error(`missing input '${spec.name}'; expected ${[...names].join(', ')}`);
      }
      feeds[spec.name] = toTensor(spec, inputs[spec.name]);
    }
    const batches = new Set(Object.values(feeds).map((t) => t.dims[0]));
    if (batches.size > 1) {
      throw new Error(`inputs disagree on the batch size: ${[...batches].join(' vs ')}`);
    }
    const results = await this.session.run(feeds);
    const outputs = [];
    for (const spec of this.description.outputs) {
      const tensor = results[spec.name];
      const entry = { data: tensor.data, dims: Array.from(tensor.dims) };
      if (spec.labels) {
        entry.labels = spec.labels;
        entry.top = topLabels(entry, spec.labels);
      }
      outputs.push([spec.name, entry]);
    }
    // Object.fromEntries defines each name as an own property, `__proto__` included.
    return Object.fromEntries(outputs);
  }

  /** Free the session's memory. */
  async release() {
    await this.session.release();
  }
}

/**
 * Create the model's session. Options (all optional): `modelUrl` and `descriptionUrl`
 * (default: model.onnx and model.json next to this file), `description` (model.json's
 * content, skipping its fetch), `wasmPaths` and `numThreads` (onnxruntime-web's
 * `ort.env.wasm` settings), `sessionOptions` (passed to ort.InferenceSession.create).
 */
export async function load(options = {}) {
  configureRuntime(options);
  const description = options.description ?? (await fetchJson(options.descriptionUrl ?? DESCRIPTION_URL));
  const modelUrl = new URL(options.modelUrl ?? MODEL_URL, globalThis.location?.href ?? import.meta.url);
  const sessionOptions = { executionProviders: ['wasm'], ...options.sessionOptions };
  if (description.external_data) {
    const data = new URL(description.external_data, modelUrl).href;
    sessionOptions.externalData = [{ path: description.external_data, data }];
  }
  const session = await ort.InferenceSession.create(modelUrl.href, sessionOptions);
  return new Model(session, description);
}

let defaultModel = null;

/**
 * `predict` on a model loaded once with default options; in a bundle that trains, on the
 * weights the module functions `trainStep` and `fit` trained so far.
 */
export async function predict(inputs) {
  if (WITH_TRAINING) return (await defaultTrainer()).predict(inputs);
  defaultModel ??= load();
  return (await defaultModel).predict(inputs);
}

/**
 * A deterministic example for every input, batch 1, as `{name: {data, dims}}`: floats
 * follow a fixed pattern in [0, 1), integers (token ids) cycle through 1..9, booleans
 * alternate; a variable dimension gets `length` (default 8).
 */
export function exampleInputs(description, length = 8) {
  const inputs = [];
  for (const spec of description.inputs) {
    const dims = spec.shape.map((d, axis) => (d !== null ? d : axis === 0 ? 1 : length));
    const size = dims.reduce((a, b) => a * b, 1);
    const values = Array.from({ length: size }, (_, i) => {
      if (spec.dtype === 'int32' || spec.dtype === 'int64') return 1 + (i % 9);
      if (spec.dtype === 'bool') return i % 2;
      return ((i * 37) % 101) / 101;
    });
    inputs.push([spec.name, { data: toArray(spec, values), dims }]);
  }
  return Object.fromEntries(inputs);
}

/** Set onnxruntime-web's `ort.env.wasm` from `wasmPaths` and `numThreads` (see `load`). */
export function configureRuntime(options = {}) {
  const wasmPaths = options.wasmPaths ?? (RUNTIME_WASM && { wasm: RUNTIME_WASM });
  if (wasmPaths) ort.env.wasm.wasmPaths = wasmPaths;
  if (options.numThreads !== undefined) ort.env.wasm.numThreads = options.numThreads;
  // Node.js: onnxruntime-web's ES module cannot ask node:os for the cores; one thread.
  else if (globalThis.process?.versions?.node && !ort.env.wasm.numThreads) ort.env.wasm.numThreads = 1;
}

/** The bytes at `url`: fetched, or read from disk for a file: URL (Node.js). */
export async function fetchBytes(url) {
  const where = new URL(url, globalThis.location?.href ?? import.meta.url);
  if (where.protocol === 'file:') {
    const { readFile } = await import('node:fs/promises');
    const data = await readFile(where);
    return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  }
  const response = await fetch(where);
  if (!response.ok) throw new Error(`cannot fetch ${where}: HTTP ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}

/** The JSON at `url` (see `fetchBytes`). */
export async function fetchJson(url) {
  return JSON.parse(new TextDecoder().decode(await fetchBytes(url)));
}

/**
 * An ort.Tensor for `spec` ({name, dtype, shape}, the batch first and `null` for any
 * length) from any value `predict` accepts; throws on a shape that does not fit.
 */
export function toTensor(spec, value) {
  if (value instanceof ort.Tensor) return value;
  let data = value;
  let dims = null;
  if (value && typeof value === 'object' && !Array.isArray(value) && !ArrayBuffer.isView(value)) {
    ({ data, dims } = value);
    if (data === undefined) throw new Error(`input '${spec.name}': give an array or {data, dims}`);
  } else if (Array.isArray(value) && Array.isArray(value[0])) {
    dims = nestedDims(value);
    data = value.flat(Infinity);
    if (dims.length === spec.shape.length - 1) dims.unshift(1);
  }
  dims = dims ? Array.from(dims, Number) : inferDims(spec, data.length);
  checkDims(spec, dims, data.length);
  return new ort.Tensor(spec.dtype, toArray(spec, data), dims);
}

function nestedDims(value) {
  const dims = [];
  for (let level = value; Array.isArray(level); level = level[0]) dims.push(level.length);
  return dims;
}

function inferDims(spec, length) {
  const variable = spec.shape.flatMap((d, axis) => (d === null ? [axis] : []));
  const known = spec.shape.reduce((a, d) => a * (d ?? 1), 1);
  const dims = spec.shape.slice();
  if (variable.length === 2 && variable[0] === 0) {
    dims[0] = 1; // one example of variable length, e.g. token ids
    variable.shift();
  }
  if (variable.length > 1) {
    throw new Error(`input '${spec.name}' has several variable dimensions; give {data, dims}`);
  }
  if (variable.length === 1) dims[variable[0]] = known === 0 ? 0 : length / known;
  return dims;
}

function checkDims(spec, dims, length) {
  const expected = `[${spec.shape.map((d) => d ?? 'any').join(', ')}]`;
  const bad =
    dims.length !== spec.shape.length ||
    dims.some((d, axis) => !Number.isInteger(d) || d < 0 || (spec.shape[axis] !== null && d !== spec.shape[axis]));
  if (bad) {
    throw new Error(`input '${spec.name}' must have shape ${expected}; got ${length} values as [${dims.join(', ')}]`);
  }
  const size = dims.reduce((a, b) => a * b, 1);
  if (size !== length) {
    throw new Error(`input '${spec.name}': dims [${dims.join(', ')}] need ${size} values; got ${length}`);
  }
}

function toArray(spec, data) {
  if (spec.dtype === 'float16') return toFloat16(data);
  const Type = ARRAYS[spec.dtype];
  if (!Type) throw new Error(`input '${spec.name}': unsupported dtype ${spec.dtype}`);
  if (data instanceof Type) return data;
  if (spec.dtype === 'int64') return BigInt64Array.from(data, (x) => BigInt(x));
  if (spec.dtype === 'bool') return Uint8Array.from(data, (x) => (x ? 1 : 0));
  return Type.from(data, Number);
}

function toFloat16(data) {
  // onnxruntime-web takes Float16Array where the browser has it, else the raw bits.
  if (typeof Float16Array !== 'undefined') {
    return data instanceof Float16Array ? data : Float16Array.from(data, Number);
  }
  if (data instanceof Uint16Array) return data;
  const f32 = new Float32Array(1);
  const u32 = new Uint32Array(f32.buffer);
  return Uint16Array.from(data, (x) => {
    f32[0] = x;
    const bits = u32[0];
    const sign = (bits >>> 16) & 0x8000;
    const exp = ((bits >>> 23) & 0xff) - 127 + 15;
    const mant = bits & 0x7fffff;
    if (exp >= 31) return sign | 0x7c00 | (((bits >>> 23) & 0xff) === 0xff && mant ? 0x200 : 0);
    if (exp < -10) return sign; // below half the smallest subnormal
    // Round to nearest, ties to even; a carry out of the mantissa bumps the exponent.
    const full = exp > 0 ? mant : mant | 0x800000;
    const shift = exp > 0 ? 13 : 14 - exp;
    const half = 1 << (shift - 1);
    const rest = full & ((1 << shift) - 1);
    let h = (exp > 0 ? exp << 10 : 0) + (full >>> shift);
    if (rest > half || (rest === half && h & 1)) h += 1;
    return sign | h;
  });
}

function topLabels(output, labels) {
  const width = output.dims.length > 1 ? output.dims[output.dims.length - 1] : 1;
  const rows = width === 0 ? 0 : output.data.length / width;
  const top = [];
  for (let r = 0; r < rows; r++) {
    const row = Array.from(output.data.subarray(r * width, (r + 1) * width), Number);
    if (width === 1 && labels.length === 2) {
      // One sigmoid unit: labels are [negative, positive].
      const positive = row[0] >= 0.5;
      top.push({ index: positive ? 1 : 0, label: labels[positive ? 1 : 0], score: positive ? row[0] : 1 - row[0] });
    } else {
      const index = row.reduce((best, v, i) => (v > row[best] ? i : best), 0);
      top.push({ index, label: labels[index] ?? String(index), score: row[index] });
    }
  }
  return top;
}
