// Starts the real linspec-server on 127.0.0.1 with ephemeral ports and a small random model,
// and gives tests real clients. Paths come from the environment set by CMake (add_test).
'use strict';
const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const SERVER_BIN = process.env.LINSPEC_SERVER_BIN;
const MAKE_MODEL_BIN = process.env.LINSPEC_MAKE_MODEL_BIN;
const PROTO_DIR = process.env.LINSPEC_PROTO_DIR;

function requireEnv() {
  for (const [k, v] of Object.entries({ SERVER_BIN, MAKE_MODEL_BIN, PROTO_DIR })) {
    if (!v) throw new Error(`environment variable for ${k} is not set (run through ctest)`);
  }
}

const models = {};
// Random models, made once per test process with the byte-level tokenizer (vocab 263, so every
// generated id decodes). 'tiny': 2 layers, hidden 64 (fast). 'slow': 4 layers, hidden 512, for
// tests that need a request to stay running for a while (drain, keep-alive, disconnects).
const MODEL_ARGS = {
  tiny: ['--hidden-size', '64', '--layers', '2', '--heads', '4'],
  slow: ['--hidden-size', '512', '--intermediate-size', '1536', '--layers', '4', '--heads', '8'],
};
function makeModel(kind = 'tiny') {
  requireEnv();
  if (models[kind]) return models[kind];
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'linspec-it-'));
  const out = path.join(dir, kind);
  execFileSync(MAKE_MODEL_BIN, ['--out', out, ...MODEL_ARGS[kind], '--vocab-size', '263',
    '--seed', '7'], { stdio: 'pipe' });
  models[kind] = out;
  return out;
}

async function sleep(ms) { return new Promise((r) => setTimeout(r, ms)); }

// Starts a server; resolves once /health is 200. extraArgs are added to the command line.
// flags: {'--num-slots': '4', ...} override the defaults below; opts.model: 'tiny' | 'slow'.
async function startServer(flags = {}, opts = {}) {
  const all = { '--model': makeModel(opts.model || 'tiny'), '--model-name': 'tiny',
    '--host': '127.0.0.1', '--grpc-port': '0', '--http-port': '0', '--device': 'cpu',
    '--threads': '1', '--num-slots': '8', '--sse-keepalive-seconds': '10', ...flags };
  const args = Object.entries(all).flat().map(String);
  const proc = spawn(SERVER_BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  proc.stderr.on('data', (d) => { stderr += d.toString(); });
  const ports = await new Promise((resolve, reject) => {
    const onData = (d) => {
      stdout += d.toString();
      const m = stdout.match(/linspec: listening grpc=([\d.]+):(\d+) http=([\d.]+):(\d+)/);
      if (m) {
        proc.stdout.off('data', onData);
        resolve({ grpc: Number(m[2]), http: Number(m[4]) });
      }
    };
    proc.stdout.on('data', onData);
    proc.on('exit', (code) => reject(new Error(`server exited early (${code}): ${stderr}`)));
  });
  proc.stdout.on('data', (d) => { stdout += d.toString(); });
  const base = `http://127.0.0.1:${ports.http}`;
  for (let i = 0; ; i++) {
    try {
      const r = await fetch(`${base}/health`);
      if (r.status === 200) break;
    } catch (e) { /* not yet */ }
    if (i > 600) throw new Error(`server never became healthy: ${stderr}`);
    await sleep(50);
  }
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
  return {
    proc, ports, base, exited,
    grpcTarget: `127.0.0.1:${ports.grpc}`,
    logs: () => stderr,
    stdout: () => stdout,
    async stop() {
      if (proc.exitCode !== null) return proc.exitCode;
      proc.kill('SIGTERM');
      const r = await exited;
      return r.code;
    },
  };
}

function grpcClients(target) {
  const grpc = require('@grpc/grpc-js');
  const loader = require('@grpc/proto-loader');
  const opts = { keepCase: true, longs: Number, enums: String, defaults: true, oneofs: true };
  const gen = grpc.loadPackageDefinition(
    loader.loadSync(path.join(PROTO_DIR, 'linspec/v1/generation.proto'), { ...opts, includeDirs: [PROTO_DIR] }));
  const health = grpc.loadPackageDefinition(
    loader.loadSync(path.join(__dirname, 'protos/grpc/health/v1/health.proto'), opts));
  const creds = grpc.credentials.createInsecure();
  return {
    grpc,
    generation: new gen.linspec.v1.Generation(target, creds),
    health: new health.grpc.health.v1.Health(target, creds),
  };
}

function unary(client, method, req, metadata) {
  const grpc = require('@grpc/grpc-js');
  return new Promise((resolve, reject) => {
    client[method](req, metadata || new grpc.Metadata(), (err, res) => (err ? reject(err) : resolve(res)));
  });
}

// Parses an SSE body into events: {data: string} or {comment: string}.
function parseSse(text) {
  const events = [];
  for (const block of text.split('\n\n')) {
    if (!block) continue;
    if (block.startsWith(':')) { events.push({ comment: block.slice(1).trim() }); continue; }
    const data = block.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n');
    events.push({ data });
  }
  return events;
}

async function metricsText(base) {
  const r = await fetch(`${base}/metrics`);
  return r.text();
}

// Value of one sample line, e.g. metric('linspec_requests_total', {status: 'length'}).
function metricValue(text, name, labels = {}) {
  let total = null;
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || !line.startsWith(name)) continue;
    const m = line.match(/^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)$/);
    if (!m || m[1] !== name) continue;
    const ls = {};
    for (const kv of (m[2] || '').replace(/^\{|\}$/g, '').split(',').filter(Boolean)) {
      const [k, v] = kv.split('=');
      ls[k] = v.replace(/^"|"$/g, '');
    }
    if (Object.entries(labels).every(([k, v]) => ls[k] === String(v))) total = (total || 0) + Number(m[3]);
  }
  return total;
}

module.exports = { startServer, grpcClients, unary, parseSse, metricsText, metricValue, sleep, makeModel };
