// @grpc/grpc-js + @grpc/proto-loader against the real server: unary, streaming,
// cancellation mid-stream, health checking, and gRPC == HTTP.
'use strict';
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./harness');

let server;
let c;

before(async () => {
  server = await h.startServer();
  c = h.grpcClients(server.grpcTarget);
});
after(async () => {
  c.generation.close();
  c.health.close();
  assert.equal(await server.stop(), 0);
});

function streamAll(req, metadata) {
  return new Promise((resolve, reject) => {
    const msgs = [];
    const call = c.generation.GenerateStream(req, metadata || new c.grpc.Metadata());
    call.on('data', (m) => msgs.push(m));
    call.on('error', reject);
    call.on('end', () => resolve(msgs));
  });
}

test('health: SERVING for the server and the service', async () => {
  for (const service of ['', 'linspec.v1.Generation']) {
    const r = await h.unary(c.health, 'Check', { service });
    assert.equal(r.status, 'SERVING', service);
  }
});

test('unary Generate and GetModelInfo', async () => {
  const info = await h.unary(c.generation, 'GetModelInfo', {});
  assert.equal(info.model_name, 'tiny');
  assert.equal(info.vocab_size, 263);
  assert.equal(info.num_state_slots, 8);
  const r = await h.unary(c.generation, 'Generate', { text: 'Hello', add_special_tokens: true,
    sampling: { temperature: 0, max_tokens: 10, ignore_eos: true } });
  assert.equal(r.token_ids.length, 10);
  assert.equal(r.finish_reason, 'FINISH_REASON_LENGTH');
  assert.equal(r.usage.completion_tokens, 10);
  assert.ok(r.request_id.length > 0);
});

test('streaming equals unary (sampled, seeded); last message has finish reason and usage', async () => {
  const req = { text: 'Once upon a time', add_special_tokens: true,
    sampling: { temperature: 0.8, top_p: 0.95, seed: 99, max_tokens: 16, ignore_eos: true } };
  const unary = await h.unary(c.generation, 'Generate', req);
  const msgs = await streamAll(req);
  const last = msgs[msgs.length - 1];
  assert.equal(last.finish_reason, 'FINISH_REASON_LENGTH');
  assert.equal(last.usage.completion_tokens, 16);
  for (const m of msgs.slice(0, -1)) assert.equal(m.finish_reason, 'FINISH_REASON_UNSPECIFIED');
  const ids = msgs.flatMap((m) => m.token_ids);
  assert.deepEqual(ids, unary.token_ids);
  assert.equal(msgs.map((m) => m.text).join(''), unary.text);
});

test('gRPC equals HTTP for the same greedy request', async () => {
  const g = await h.unary(c.generation, 'Generate', { text: 'The cat', add_special_tokens: true,
    sampling: { temperature: 0, max_tokens: 12, ignore_eos: true } });
  const r = await fetch(`${server.base}/v1/completions`, { method: 'POST', body: JSON.stringify({
    prompt: 'The cat', temperature: 0, max_tokens: 12, ignore_eos: true }) });
  const j = await r.json();
  assert.equal(j.choices[0].text, g.text);
});

test('token ids prompt, tokenize and detokenize', async () => {
  const t = await h.unary(c.generation, 'Tokenize', { text: 'abc', add_special_tokens: false });
  assert.equal(t.token_ids.length, t.tokens.length);
  const d = await h.unary(c.generation, 'Detokenize', { token_ids: t.token_ids });
  assert.equal(d.text, 'abc');
  const byIds = await h.unary(c.generation, 'Generate', { token_ids: { ids: t.token_ids },
    sampling: { temperature: 0, max_tokens: 4, ignore_eos: true } });
  const byText = await h.unary(c.generation, 'Generate', { text: 'abc',
    sampling: { temperature: 0, max_tokens: 4, ignore_eos: true } });
  assert.deepEqual(byIds.token_ids, byText.token_ids);
});

test('bad input is INVALID_ARGUMENT; unknown model NOT_FOUND', async () => {
  await assert.rejects(h.unary(c.generation, 'Generate', { text: 'x', sampling: { temperature: -1 } }),
    (e) => e.code === c.grpc.status.INVALID_ARGUMENT);
  await assert.rejects(h.unary(c.generation, 'Generate', {}),
    (e) => e.code === c.grpc.status.INVALID_ARGUMENT);
  await assert.rejects(h.unary(c.generation, 'Generate', { text: 'x', sampling: { max_tokens: 1e9 } }),
    (e) => e.code === c.grpc.status.INVALID_ARGUMENT);
  await assert.rejects(h.unary(c.generation, 'Generate', { text: 'x', model: 'other' }),
    (e) => e.code === c.grpc.status.NOT_FOUND);
});

test('cancellation mid-stream frees the slot', async () => {
  const call = c.generation.GenerateStream({ text: 'cancel me', sampling: { max_tokens: 4000,
    ignore_eos: true } });
  let got = 0;
  const done = new Promise((resolve) => {
    call.on('data', () => { got += 1; if (got === 3) call.cancel(); });
    call.on('error', (e) => resolve(e.code));
    call.on('end', () => resolve('end'));
  });
  assert.equal(await done, c.grpc.status.CANCELLED);
  // The scheduler frees the slot within a step; poll the gauge (bounded wait, not a timing check).
  for (let i = 0; i < 400; i++) {
    const m = await h.metricsText(server.base);
    if (h.metricValue(m, 'linspec_num_requests_running', { model_name: 'tiny' }) === 0 &&
        h.metricValue(m, 'linspec_state_slots_used', { model_name: 'tiny' }) === 0) return;
    await h.sleep(25);
  }
  assert.fail('slot not freed after cancellation');
});

test('deadline exceeded is reported as DEADLINE_EXCEEDED and frees the slot', async () => {
  const slow = await h.startServer({}, { model: 'slow' });
  const sc = h.grpcClients(slow.grpcTarget);
  try {
    const deadline = new Date(Date.now() + 300);
    await assert.rejects(new Promise((resolve, reject) => {
      sc.generation.Generate({ text: 'slow', sampling: { max_tokens: 3000, ignore_eos: true } },
        new sc.grpc.Metadata(), { deadline }, (e, r) => (e ? reject(e) : resolve(r)));
    }), (e) => e.code === sc.grpc.status.DEADLINE_EXCEEDED);
    for (let i = 0; i < 400; i++) {
      const m = await h.metricsText(slow.base);
      if (h.metricValue(m, 'linspec_num_requests_running', { model_name: 'tiny' }) === 0) return;
      await h.sleep(25);
    }
    assert.fail('request still running after its deadline');
  } finally {
    sc.generation.close();
    sc.health.close();
    assert.equal(await slow.stop(), 0);
  }
});
