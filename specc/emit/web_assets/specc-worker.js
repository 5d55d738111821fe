// specc-worker.js: a module Worker that trains off the page's main thread. The page talks to
// it through loadTrainer({ worker: true }) (specc-worker-client.js), never directly:
// messages are {id, method, args} in and {id, result | error | event} out. Written by
// `specc export --target web --with-training`.
import { loadTrainer } from './specc-train.js';

let trainer = null;
// A running fit's id -> the AbortController its `signal` stands for in here.
const running = new Map();

async function call(id, method, args) {
  if (method === 'load') {
    trainer = await loadTrainer({ ...args[0], worker: false });
    return { description: trainer.description, training: trainer.training };
  }
  if (!trainer) throw new Error('the trainer is not loaded');
  if (method === 'fit') {
    const [data, options] = args;
    const controller = new AbortController();
    running.set(id, controller);
    try {
      const history = await trainer.fit(data, {
        ...options,
        signal: controller.signal,
        onBatchEnd: (step, logs, batch) => postMessage({ id, event: 'batch', args: [step, logs, { ...batch }] }),
        onEpochEnd: (epoch, logs) => postMessage({ id, event: 'epoch', args: [epoch, logs] }),
      });
      return { history: { ...history }, stopped: history.stopped ?? null };
    } finally {
      running.delete(id);
    }
  }
  if (!['trainStep', 'evaluate', 'predict', 'saveWeights', 'release'].includes(method)) {
    throw new Error(`unknown method '${method}'`);
  }
  return trainer[method](...args);
}

self.onmessage = async ({ data }) => {
  const { id, method, args = [] } = data ?? {};
  if (method === 'abort') {
    running.get(args[0])?.abort();
    return;
  }
  try {
    postMessage({ id, result: await call(id, method, args) });
  } catch (error) {
    postMessage({ id, error: String(error?.message ?? error) });
  }
};
