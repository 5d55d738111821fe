// Train several web bundles in one Node.js process: node run_node_training_jobs.mjs JOBS.json,
// JOBS.json a list of {bundle, job} -> prints the list of train_in_page.mjs's results as JSON,
// in order ({error} for a job that threw). Each bundle imports onnxruntime-web from a
// node_modules folder at or above it, so every bundle shares one runtime.
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { trainWith } from './train_in_page.mjs';

const [jobsFile] = process.argv.slice(2);
const results = [];
for (const { bundle, job } of JSON.parse(readFileSync(jobsFile, 'utf8'))) {
  try {
    const specc = await import(pathToFileURL(`${bundle}/specc.js`).href);
    results.push(await trainWith(specc, job));
  } catch (error) {
    results.push({ error: String(error?.stack ?? error) });
  }
}
process.stdout.write(JSON.stringify(results));
