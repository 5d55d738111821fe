// Train a web bundle in Node.js: node run_node_training.mjs BUNDLE_DIR JOB.json -> prints the
// result of train_in_page.mjs's script as JSON. The bundle imports onnxruntime-web from a
// node_modules folder at or above BUNDLE_DIR (or its own ort/ with --include-runtime).
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { trainWith } from './train_in_page.mjs';

const [bundle, jobFile] = process.argv.slice(2);
const specc = await import(pathToFileURL(`${bundle}/specc.js`).href);
const result = await trainWith(specc, JSON.parse(readFileSync(jobFile, 'utf8')));
process.stdout.write(JSON.stringify(result));
