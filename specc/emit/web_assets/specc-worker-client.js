// specc-worker-client.js: the page's side of specc-worker.js. loadTrainer({ worker: true })
// returns a WorkerTrainer whose methods match Trainer's and run in the Worker; fit's
// onBatchEnd and onEpochEnd are called here as the Worker reports, and its `signal` stops
// the Worker's fit after the current batch. Written by `specc export --target web --with-training`.

/** A Trainer whose work runs in a module Worker. */
export class WorkerTrainer {
  constructor(worker) {
    this.worker = worker;
    this.pending = new Map();
    this.next = 0;
    worker.onmessage = ({ data }) => {
      const call = this.pending.get(data.id);
      if (!call) return;
      if (data.event) {
        const hook = data.event === 'batch' ? call.options?.onBatchEnd : call.options?.onEpochEnd;
        hook?.(...data.args);
        return;
      }
      this.pending.delete(data.id);
      if (data.error !== undefined) call.reject(new Error(data.error));
      else call.resolve(data.result);
    };
    worker.onerror = (event) => {
      const error = new Error(`specc-worker.js failed: ${event.message ?? 'unknown error'}`);
      for (const call of this.pending.values()) call.reject(error);
      this.pending.clear();
    };
  }

  _call(method, args, options) {
    const id = this.next++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, options });
      this.worker.postMessage({ id, method, args });
    });
  }

  trainStep(batch) {
    return this._call('trainStep', [batch]);
  }

  async fit(data, options = {}) {
    const { signal, onBatchEnd, onEpochEnd, ...plain } = options;
    const id = this.next;
    const stop = () => this.worker.postMessage({ method: 'abort', args: [id] });
    signal?.addEventListener('abort', stop, { once: true });
    try {
      const { history, stopped } = await this._call('fit', [data, plain], { onBatchEnd, onEpochEnd });
      if (stopped) Object.defineProperty(history, 'stopped', { value: stopped, enumerable: false });
      return history;
    } finally {
      signal?.removeEventListener('abort', stop);
    }
  }

  evaluate(data, options) {
    return this._call('evaluate', [data, options]);
  }

  predict(inputs) {
    return this._call('predict', [inputs]);
  }

  saveWeights() {
    return this._call('saveWeights', []);
  }

  /** Free the sessions and end the Worker. */
  async release() {
    await this._call('release', []);
    this.worker.terminate();
  }
}

/** Start specc-worker.js and load the trainer in it (options as loadTrainer's, minus functions). */
export async function workerTrainer(options) {
  const worker = new Worker(new URL('./specc-worker.js', import.meta.url), { type: 'module' });
  const trainer = new WorkerTrainer(worker);
  const { worker: _, ...rest } = options;
  const loaded = await trainer._call('load', [rest]);
  trainer.description = loaded.description;
  trainer.training = loaded.training;
  return trainer;
}
