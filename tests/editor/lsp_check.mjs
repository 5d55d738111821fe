// Runs yaml-language-server headless over LSP (stdio), as VS Code's YAML extension runs it,
// and prints, as JSON, the diagnostics it publishes for each spec given, and what it answers
// to hover and completion requests at the positions asked.
//
//   node lsp_check.mjs SCHEMA PATTERN [--probe=hover|completion:SPEC:LINE:CHARACTER]... SPEC...
//
// SCHEMA is mapped to the glob PATTERN through the `yaml.schemas` setting (specs with a
// modeline use theirs); LINE and CHARACTER count from 0, as LSP does. Output:
// {"diagnostics": {"<spec>": [{message, range, severity, source}, ...]},
//  "probes": [{probe, hover: "<markdown>"} or {probe, completion: ["<label>", ...]}]}.
import { spawn } from "node:child_process";
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";

const require = createRequire(import.meta.url);
const server = require.resolve("yaml-language-server/bin/yaml-language-server");
const [schema, pattern, ...rest] = process.argv.slice(2);
const probes = rest.filter((arg) => arg.startsWith("--probe=")).map((arg) => arg.slice(8));
const specs = rest.filter((arg) => !arg.startsWith("--probe="));
const uris = new Map(specs.map((spec) => [pathToFileURL(resolve(spec)).href, spec]));

const child = spawn(process.execPath, [server, "--stdio"], { stdio: ["pipe", "pipe", "inherit"] });
let nextId = 1;
const pending = new Map();
const diagnostics = new Map();

function send(message) {
  const body = JSON.stringify({ jsonrpc: "2.0", ...message });
  child.stdin.write(`Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
}

function request(method, params) {
  const id = nextId++;
  send({ id, method, params });
  return new Promise((done) => pending.set(id, done));
}

let buffer = Buffer.alloc(0);
child.stdout.on("data", (chunk) => {
  buffer = Buffer.concat([buffer, chunk]);
  for (;;) {
    const end = buffer.indexOf("\r\n\r\n");
    if (end < 0) return;
    const length = Number(/Content-Length: (\d+)/i.exec(buffer.subarray(0, end).toString())[1]);
    if (buffer.length < end + 4 + length) return;
    const message = JSON.parse(buffer.subarray(end + 4, end + 4 + length).toString());
    buffer = buffer.subarray(end + 4 + length);
    receive(message);
  }
});

function receive(message) {
  if (message.id !== undefined && message.method === undefined) {
    pending.get(message.id)?.(message.result);
    pending.delete(message.id);
  } else if (message.id !== undefined) {
    // A request from the server: its settings (it pulls them after each change), or a
    // capability registration, which needs no more than an answer.
    const result =
      message.method === "workspace/configuration"
        ? message.params.items.map((item) => settings[item.section] ?? null)
        : null;
    send({ id: message.id, result });
  } else if (message.method === "textDocument/publishDiagnostics") {
    if (uris.has(message.params.uri)) diagnostics.set(message.params.uri, message.params.diagnostics);
  }
}

const settings = {
  yaml: {
    validate: true,
    hover: true,
    completion: true,
    yamlVersion: "1.2",
    schemaStore: { enable: false },
    schemas: { [pathToFileURL(resolve(schema)).href]: [pattern] },
  },
};
const settle = (ms) => new Promise((done) => setTimeout(done, ms));

await request("initialize", {
  processId: process.pid,
  rootUri: null,
  capabilities: {
    workspace: { configuration: true },
    textDocument: { publishDiagnostics: { relatedInformation: false } },
  },
});
send({ method: "initialized", params: {} });
send({ method: "workspace/didChangeConfiguration", params: { settings } });
for (const [uri, spec] of uris) {
  const text = readFileSync(spec, "utf8");
  send({ method: "textDocument/didOpen", params: { textDocument: { uri, languageId: "yaml", version: 1, text } } });
}
// Diagnostics come once the schema is read and each document validated; wait until every
// document has some and nothing new has come for a while.
const deadline = Date.now() + 60_000;
let seen = -1;
while (Date.now() < deadline) {
  await settle(1000);
  const count = [...diagnostics.values()].reduce((n, list) => n + list.length + 1, 0);
  if (diagnostics.size === uris.size && count === seen) break;
  seen = count;
}
const published = Object.fromEntries(
  [...uris].map(([uri, spec]) => [
    spec,
    (diagnostics.get(uri) ?? null)?.map(({ message, range, severity, source }) => ({ message, range, severity, source })) ?? null,
  ]),
);
const answers = [];
for (const probe of probes) {
  const [kind, spec, line, character] = probe.split(":");
  const params = {
    textDocument: { uri: pathToFileURL(resolve(spec)).href },
    position: { line: Number(line), character: Number(character) },
  };
  if (kind === "hover") {
    const hover = await request("textDocument/hover", params);
    answers.push({ probe, hover: hover?.contents?.value ?? null });
  } else {
    const completion = await request("textDocument/completion", params);
    const items = Array.isArray(completion) ? completion : (completion?.items ?? []);
    answers.push({ probe, completion: items.map((item) => item.label) });
  }
}
const result = { diagnostics: published, probes: answers };
process.stdout.write(JSON.stringify(result, null, 1) + "\n");
await request("shutdown", null);
send({ method: "exit", params: null });
child.kill();
