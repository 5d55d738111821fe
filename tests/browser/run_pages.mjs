// Drive headless Chromium (Debian's /usr/bin/chromium) with playwright-core for
// tests/test_export_web.py.
//
//   node run_pages.mjs JOBS.json   ->  prints a JSON list of results, one per job
//
// A job is {url, kind: "predict" | "demo" | "train" | "training-demo" | "webgpu", ...}.
// "predict" opens url, imports specc.js from the same folder, loads the model and runs
// predict(inputs) with inputs given as {name: {data, dims}}; "demo" opens url (a bundle's
// index.html) and waits until the page says it is done. "train" runs a training script in
// the page (train_in_page.mjs: trainStep on each of `batches`, then predict and
// saveWeights); "training-demo" waits for a training bundle's index.html and, given
// `screenshot`, saves a picture of the page there; "webgpu" says whether the page gets a
// WebGPU adapter. Every result carries the URLs the page requested, its console messages
// and its errors. Requests to any host but the test server are aborted: the tests are
// offline, and a page that needs the network fails visibly.
import { readFileSync } from 'node:fs';
import { chromium } from 'playwright-core';
import { trainInPage } from './train_in_page.mjs';

// SPECC_WEBGPU=1 gives pages WebGPU on Chromium's SwiftShader (Vulkan on the CPU), so
// that onnxruntime-web's WebGPU provider runs on a machine without a GPU.
const GPU_FLAGS = process.env.SPECC_WEBGPU === '1'
  ? ['--enable-unsafe-webgpu', '--enable-features=Vulkan', '--use-vulkan=swiftshader', '--use-webgpu-adapter=swiftshader', '--disable-vulkan-surface']
  : ['--disable-gpu'];
const FLAGS = [
  '--no-sandbox',
  ...GPU_FLAGS,
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

async function predictInPage(page, url, inputs) {
  return page.evaluate(
    async ({ moduleUrl, inputs }) => {
      const specc = await import(moduleUrl);
      const model = await specc.load();
      const started = performance.now();
      const outputs = await model.predict(inputs);
      const ms = performance.now() - started;
      const plain = {};
      for (const [name, out] of Object.entries(outputs)) {
        plain[name] = { dims: out.dims, data: Array.from(out.data, Number), top: out.top ?? null };
      }
      return { outputs: plain, predictMs: ms, ortVersion: specc.ort.env.versions?.web ?? null };
    },
    { moduleUrl: new URL('specc.js', url).href, inputs },
  );
}

async function demoInPage(page) {
  await page.waitForFunction(() => ['done', 'error'].includes(document.body.dataset.state), null, {
    timeout: 60000,
  });
  return page.evaluate(() => ({
    state: document.body.dataset.state,
    title: document.title,
    heading: document.querySelector('h1')?.textContent ?? null,
    // Set only by code a hostile name or label managed to run in the page.
    injected: window.__speccInjected ?? null,
    status: document.getElementById('status').textContent,
    timeText: document.getElementById('time-to-first-prediction').textContent,
    demo: window.speccDemo,
    rows: Array.from(document.querySelectorAll('#outputs tbody tr'), (tr) => ({
      id: tr.id,
      topLabel: tr.dataset.topLabel,
      cells: Array.from(tr.cells, (td) => td.textContent),
    })),
  }));
}

async function trainingDemoInPage(page, job) {
  const states = ['done', 'error', 'no-data'];
  await page.waitForFunction((ends) => ends.includes(document.body.dataset.state), states, {
    timeout: 120000,
  });
  if (job.screenshot) await page.screenshot({ path: job.screenshot, fullPage: true });
  return page.evaluate(() => ({
    state: document.body.dataset.state,
    title: document.title,
    heading: document.querySelector('h1')?.textContent ?? null,
    injected: window.__speccInjected ?? null,
    status: document.getElementById('status').textContent,
    points: document.getElementById('loss-line').getAttribute('points').trim().split(/\s+/).filter(Boolean).length,
    training: window.speccTraining,
  }));
}

async function webgpuInPage(page) {
  return page.evaluate(async () => {
    const adapter = navigator.gpu ? await navigator.gpu.requestAdapter() : null;
    return { adapter: Boolean(adapter), architecture: adapter?.info?.architecture ?? null };
  });
}

async function runJob(browser, job) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const origin = new URL(job.url).origin;
  const record = { requests: [], console: [], errors: [] };
  await page.route('**/*', (route) =>
    route.request().url().startsWith(origin) ? route.continue() : route.abort(),
  );
  page.on('request', (request) => record.requests.push(request.url()));
  page.on('console', (message) => record.console.push(`${message.type()}: ${message.text()}`));
  page.on('pageerror', (error) => record.errors.push(String(error)));
  try {
    await page.goto(job.url, { waitUntil: 'load' });
    if (job.kind === 'predict') record.result = await predictInPage(page, job.url, job.inputs);
    else if (job.kind === 'train') record.result = await trainInPage(page, job);
    else if (job.kind === 'training-demo') record.result = await trainingDemoInPage(page, job);
    else if (job.kind === 'webgpu') record.result = await webgpuInPage(page);
    else record.result = await demoInPage(page);
  } catch (error) {
    record.errors.push(String(error?.message ?? error));
  } finally {
    await context.close();
  }
  return record;
}

const jobs = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const browser = await chromium.launch({
  executablePath: process.env.SPECC_CHROMIUM || '/usr/bin/chromium',
  args: FLAGS,
});
try {
  const results = [];
  for (const job of jobs) results.push(await runJob(browser, job));
  process.stdout.write(JSON.stringify(results));
} finally {
  await browser.close();
}
