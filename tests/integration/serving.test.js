// Metrics (promtool + expected deltas), disconnect storm, API key, graceful shutdown.
'use strict';
const { test } = require('node:test');
const assert = require('node:assert/strict');
const { execFile } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const net = require('node:net');
const h = require('./harness');

// promtool's only objection is the "_total" suffix of the gauge linspec_state_slots_total, a
// name fixed by DESIGN.md §5; any other problem (format errors included) fails the test.
const KNOWN_LINT = 'linspec_state_slots_total non-counter metrics should not have "_total" suffix';
function promtoolCheck(text) {
  return new Promise((resolve) => {
    const p = execFile('promtool', ['check', 'metrics'], (err, stdout, stderr) => {
      const problems = (stdout + stderr).split('\n').map((l) => l.trim())
        .filter((l) => l && l !== KNOWN_LINT);
      resolve({ code: err ? err.code : 0, problems });
    });
    p.stdin.end(text);
  });
}

const M = { model_name: 'tiny' };

test('metrics: promtool accepts them and a known workload moves them as expected', async () => {
  const server = await h.startServer();
  try {
    const before = await h.metricsText(server.base);
    const lint = await promtoolCheck(before);
    assert.deepEqual(lint.problems, []);
    assert.ok(lint.code === 0 || lint.code === 3, `promtool exit ${lint.code}`);
    const v = (t, name, labels = {}) => h.metricValue(t, name, { ...M, ...labels }) || 0;
    // Known workload: 3 completions x 5 tokens, 1 stream x 4 tokens, 1 rejected request.
    for (let i = 0; i < 3; i++) {
      const r = await fetch(`${server.base}/v1/completions`, { method: 'POST', body: JSON.stringify({
        prompt: 'abcd', max_tokens: 5, temperature: 0, ignore_eos: true }) });
      assert.equal(r.status, 200);
    }
    const s = await fetch(`${server.base}/v1/completions`, { method: 'POST', body: JSON.stringify({
      prompt: 'abcd', max_tokens: 4, stream: true, ignore_eos: true }) });
    await s.text();
    assert.equal((await fetch(`${server.base}/v1/completions`, { method: 'POST', body: '{"prompt": ""}' })).status, 400);
    const after = await h.metricsText(server.base);
    assert.deepEqual((await promtoolCheck(after)).problems, []);
    const d = (name, labels) => v(after, name, labels) - v(before, name, labels);
    assert.equal(d('linspec_requests_total', { status: 'length' }), 4);
    assert.equal(d('linspec_requests_total', { status: 'rejected' }), 1);
    assert.equal(d('linspec_generation_tokens_total'), 19);
    const promptTokens = (await (await fetch(`${server.base}/tokenize`, { method: 'POST',
      body: JSON.stringify({ prompt: 'abcd' }) })).json()).count;
    assert.equal(d('linspec_prompt_tokens_total'), 4 * promptTokens);
    assert.equal(d('linspec_e2e_request_latency_seconds_count'), 4);
    assert.equal(d('linspec_time_to_first_token_seconds_count'), 4);
    assert.equal(d('linspec_request_queue_time_seconds_count'), 4);
    // 19 tokens over 4 requests: 15 inter-token gaps.
    assert.equal(d('linspec_inter_token_latency_seconds_count'), 15);
    assert.ok(d('linspec_batch_size_count') > 0);
    assert.ok(d('linspec_engine_step_seconds_count') > 0);
    assert.equal(v(after, 'linspec_num_requests_running'), 0);
    assert.equal(v(after, 'linspec_state_slots_total'), 8);
    assert.ok(after.includes('linspec_inter_token_latency_seconds_bucket{model_name="tiny",le="0.0005"}'));
  } finally {
    assert.equal(await server.stop(), 0);
  }
});

// Opens a raw streaming request and destroys the socket mid-stream: at the first data event,
// or (for a request still waiting for a slot) shortly after the response headers.
function dropMidStream(port, body) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1', () => {
      sock.write(`POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
    });
    let seen = '';
    let timer = null;
    const drop = () => { clearTimeout(timer); if (!sock.destroyed) sock.destroy(); resolve(); };
    sock.on('data', (d) => {
      seen += d.toString();
      assert.ok(seen.startsWith('HTTP/1.1 200'), seen.slice(0, 80));
      if (seen.includes('data: {')) drop();
      else if (!timer) timer = setTimeout(drop, 200);
    });
    sock.on('error', reject);
  });
}

test('disconnect storm: all slots free and nothing running afterwards', async () => {
  const server = await h.startServer({ '--num-slots': 8, '--max-queue': 256 }, { model: 'slow' });
  try {
    const before = await h.metricsText(server.base);
    const body = JSON.stringify({ prompt: 'storm', max_tokens: 3000, stream: true, ignore_eos: true });
    await Promise.all(Array.from({ length: 40 }, () => dropMidStream(server.ports.http, body)));
    let m = '';
    for (let i = 0; i < 2000; i++) {
      m = await h.metricsText(server.base);
      if (h.metricValue(m, 'linspec_num_requests_running', M) === 0 &&
          h.metricValue(m, 'linspec_num_requests_waiting', M) === 0 &&
          h.metricValue(m, 'linspec_state_slots_used', M) === 0) break;
      await h.sleep(25);
    }
    assert.equal(h.metricValue(m, 'linspec_num_requests_running', M), 0);
    assert.equal(h.metricValue(m, 'linspec_num_requests_waiting', M), 0);
    assert.equal(h.metricValue(m, 'linspec_state_slots_used', M), 0);
    const cancelled = (t) => h.metricValue(t, 'linspec_requests_total', { ...M, status: 'cancelled' });
    assert.equal(cancelled(m) - cancelled(before), 40);
    // Still serving.
    const r = await fetch(`${server.base}/v1/completions`, { method: 'POST', body: JSON.stringify({
      prompt: 'after', max_tokens: 3, ignore_eos: true }) });
    assert.equal(r.status, 200);
  } finally {
    assert.equal(await server.stop(), 0);
  }
});

test('SSE keep-alive comments arrive while a stream is open', async () => {
  const server = await h.startServer({ '--sse-keepalive-seconds': 0.2, '--num-slots': 1 },
    { model: 'slow' });
  try {
    const ac = new AbortController();
    const r = await fetch(`${server.base}/v1/completions`, { method: 'POST', signal: ac.signal,
      body: JSON.stringify({ prompt: 'x', max_tokens: 3000, stream: true, ignore_eos: true }) });
    const reader = r.body.getReader();
    let text = '';
    while (!text.includes(': keep-alive\n\n')) {
      const { value, done } = await reader.read();
      if (done) break;
      text += Buffer.from(value).toString();
    }
    ac.abort();
    assert.ok(text.includes(': keep-alive\n\n'), 'saw a keep-alive comment');
  } finally {
    assert.equal(await server.stop(), 0);
  }
});

test('API key: HTTP Bearer and gRPC metadata; /health and /metrics exempt', async () => {
  const keyFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'linspec-key-')), 'key');
  fs.writeFileSync(keyFile, 'sk-secret\n');
  const server = await h.startServer({ '--api-key-file': keyFile });
  const c = h.grpcClients(server.grpcTarget);
  try {
    const body = JSON.stringify({ prompt: 'x', max_tokens: 2 });
    const post = (auth) => fetch(`${server.base}/v1/completions`, { method: 'POST', body,
      headers: auth ? { Authorization: auth } : {} });
    assert.equal((await post()).status, 401);
    const bad = await post('Bearer sk-wrong');
    assert.equal(bad.status, 401);
    assert.equal((await bad.json()).error.type, 'authentication_error');
    assert.equal((await post('Bearer sk-secret')).status, 200);
    assert.equal((await fetch(`${server.base}/health`)).status, 200);
    assert.equal((await fetch(`${server.base}/metrics`)).status, 200);
    await assert.rejects(h.unary(c.generation, 'GetModelInfo', {}),
      (e) => e.code === c.grpc.status.UNAUTHENTICATED);
    const md = new c.grpc.Metadata();
    md.set('authorization', 'Bearer sk-secret');
    assert.equal((await h.unary(c.generation, 'GetModelInfo', {}, md)).model_name, 'tiny');
    assert.equal((await h.unary(c.health, 'Check', { service: '' })).status, 'SERVING');
  } finally {
    c.generation.close();
    c.health.close();
    assert.equal(await server.stop(), 0);
  }
});

test('graceful shutdown: running stream finishes, new requests 503, health NOT_SERVING, exit 0', async () => {
  const server = await h.startServer({ '--drain-timeout': 60 }, { model: 'slow' });
  const c = h.grpcClients(server.grpcTarget);
  try {
    // gRPC health Watch reports every change: SERVING now, NOT_SERVING once draining starts.
    const statuses = [];
    const watch = c.health.Watch({ service: '' });
    const notServing = new Promise((resolve) => {
      watch.on('data', (m) => { statuses.push(m.status); if (m.status === 'NOT_SERVING') resolve(); });
      watch.on('error', () => resolve());
      watch.on('end', () => resolve());
    });
    const r = await fetch(`${server.base}/v1/completions`, { method: 'POST', body: JSON.stringify({
      prompt: 'long', max_tokens: 60, stream: true, ignore_eos: true }) });
    const reader = r.body.getReader();
    let text = Buffer.from((await reader.read()).value).toString();
    server.proc.kill('SIGTERM');
    await notServing;
    assert.deepEqual(statuses, ['SERVING', 'NOT_SERVING']);
    // While the stream is still running, new work is refused and /health is 503.
    assert.equal((await fetch(`${server.base}/health`)).status, 503);
    const nr = await fetch(`${server.base}/v1/completions`, { method: 'POST',
      body: JSON.stringify({ prompt: 'x' }) });
    assert.equal(nr.status, 503);
    assert.equal((await nr.json()).error.type, 'service_unavailable_error');
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += Buffer.from(value).toString();
    }
    assert.ok(text.endsWith('data: [DONE]\n\n'), 'stream completed');
    assert.ok(text.includes('"finish_reason":"length"'));
    const { code } = await server.exited;
    assert.equal(code, 0);
  } finally {
    c.generation.close();
    c.health.close();
    await server.stop();
  }
});
