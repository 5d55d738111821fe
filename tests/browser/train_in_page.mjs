// The "train" job of run_pages.mjs, and the same script for Node.js (run_node_training.mjs):
// load a training bundle's trainer, take one trainStep per batch, then evaluate, predict
// and saveWeights (the bytes as base64). Batches and inputs are {name: {data, dims}}.

/** The job's script, run where `specc` (the bundle's specc.js module) is loaded. */
export async function trainWith(specc, job) {
  const trainer = await specc.loadTrainer(job.options ?? {});
  if (job.fit) return fitWith(trainer, job.fit);
  // A batch of NaN first: its loss is not finite, so the state must stay as it was.
  let nanLoss = null;
  if (job.nanFirst) {
    const poisoned = {};
    for (const [name, value] of Object.entries(job.batches[0])) {
      poisoned[name] = name === job.nanFirst ? { data: value.data.map(() => NaN), dims: value.dims } : value;
    }
    nanLoss = String((await trainer.trainStep(poisoned)).loss);
  }
  const steps = [];
  const stepMs = [];
  const started = performance.now();
  for (const batch of job.batches) {
    const before = performance.now();
    const values = await trainer.trainStep(batch);
    stepMs.push(performance.now() - before);
    steps.push(Object.fromEntries(Object.entries(values).map(([k, v]) => [k, Number(v)])));
  }
  const trainMs = performance.now() - started;
  if (job.timingOnly) return { stepMs, trainMs, crossOriginIsolated: globalThis.crossOriginIsolated ?? false, threads: specc.ort.env.wasm.numThreads ?? null };
  const evaluation = job.evaluate ? await trainer.evaluate(job.evaluate, { batchSize: job.evaluateBatchSize }) : null;
  const outputs = await trainer.predict(job.predict);
  const plain = {};
  for (const [name, out] of Object.entries(outputs)) plain[name] = { dims: out.dims, data: Array.from(out.data, Number) };
  const module = job.moduleFunctions ? await specc.predict(job.predict) : null;
  const bytes = await trainer.saveWeights();
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return {
    steps,
    trainMs,
    stepMs,
    crossOriginIsolated: globalThis.crossOriginIsolated ?? false,
    threads: specc.ort.env.wasm.numThreads ?? null,
    evaluation,
    outputs: plain,
    modulePredict: module && Object.keys(module),
    weights: btoa(binary),
    iterations: trainer.iterations ?? null,
    // A GPUDevice once onnxruntime-web's WebGPU provider runs (undefined on WebAssembly).
    webgpuDevice: String(specc.ort.env.webgpu?.device ?? ''),
    nanLoss,
  };
}

/**
 * `fit` on `fit.data` with `fit.options`, aborted after `fit.abortAfter` batches if given;
 * then `predict` on `fit.predict` if given.
 */
async function fitWith(trainer, fit) {
  const controller = new AbortController();
  const batches = [];
  const epochs = [];
  const history = await trainer.fit(fit.data, {
    ...fit.options,
    validationData: fit.validationData,
    signal: controller.signal,
    onBatchEnd: (step, logs, batch) => {
      batches.push({ step, logs, loss: Number(batch.loss) });
      if (fit.abortAfter && batches.length >= fit.abortAfter) controller.abort();
    },
    onEpochEnd: (epoch, logs) => epochs.push({ epoch, logs }),
  });
  // Then, with `fit.predict`, the trained model's outputs for those inputs.
  const outputs = fit.predict ? await trainer.predict(fit.predict) : {};
  const predicted = Object.fromEntries(Object.entries(outputs).map(([name, out]) => [name, Array.from(out.data, Number)]));
  return { history: { ...history }, stopped: history.stopped ?? null, batches, epochs, iterations: trainer.iterations, predicted };
}

/** Run the job in a Chromium page. */
export async function trainInPage(page, job) {
  return page.evaluate(
    async ({ moduleUrl, job }) => {
      const specc = await import(moduleUrl);
      const { trainWith } = await import(job.scriptUrl);
      return trainWith(specc, job);
    },
    { moduleUrl: new URL('specc.js', job.url).href, job },
  );
}
