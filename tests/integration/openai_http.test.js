// The official `openai` npm SDK and raw HTTP (fetch, curl -N) against the real server.
'use strict';
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { execFile } = require('node:child_process');
const { OpenAI } = require('openai');
const h = require('./harness');

let server;
let client;

before(async () => {
  server = await h.startServer({ '--max-body-bytes': 65536, '--max-tokens-limit': 2048,
    '--max-prompt-tokens': 1024 });
  client = new OpenAI({ baseURL: `${server.base}/v1`, apiKey: 'unused', maxRetries: 0 });
});
after(async () => {
  const code = await server.stop();
  assert.equal(code, 0, 'server exits 0 on SIGTERM');
});

test('completions: non-streaming shape and usage', async () => {
  const r = await client.completions.create({ model: 'tiny', prompt: 'Hello', max_tokens: 8,
    temperature: 0, ignore_eos: true });
  assert.equal(r.object, 'text_completion');
  assert.equal(r.model, 'tiny');
  assert.equal(r.choices.length, 1);
  assert.equal(typeof r.choices[0].text, 'string');
  assert.equal(r.choices[0].finish_reason, 'length');
  assert.equal(r.usage.completion_tokens, 8);
  assert.equal(r.usage.prompt_tokens > 0, true);
  assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + 8);
});

test('completions: streaming equals unary for the same seed, with a usage chunk', async () => {
  const params = { model: 'tiny', prompt: 'Once upon', max_tokens: 12, temperature: 0.9,
    seed: 1234, ignore_eos: true };
  const unary = await client.completions.create(params);
  const stream = await client.completions.create({ ...params, stream: true,
    stream_options: { include_usage: true } });
  let text = '';
  let usage = null;
  let finish = null;
  for await (const chunk of stream) {
    if (chunk.usage) usage = chunk.usage;
    for (const c of chunk.choices) {
      text += c.text;
      if (c.finish_reason) finish = c.finish_reason;
    }
  }
  assert.equal(text, unary.choices[0].text);
  assert.equal(finish, 'length');
  assert.ok(usage, 'usage chunk present');
  assert.equal(usage.completion_tokens, 12);
  assert.equal(usage.prompt_tokens, unary.usage.prompt_tokens);
});

test('completions: prompt as token ids, list of prompts, n choices', async () => {
  const ids = await (await fetch(`${server.base}/tokenize`, { method: 'POST',
    body: JSON.stringify({ prompt: 'abc' }) })).json();
  const byText = await client.completions.create({ prompt: 'abc', max_tokens: 4, temperature: 0, ignore_eos: true });
  const byIds = await client.completions.create({ prompt: ids.tokens, max_tokens: 4, temperature: 0, ignore_eos: true });
  assert.equal(byIds.choices[0].text, byText.choices[0].text);
  const multi = await client.completions.create({ prompt: ['a', 'b'], n: 2, max_tokens: 3,
    temperature: 0, ignore_eos: true });
  assert.deepEqual(multi.choices.map((c) => c.index), [0, 1, 2, 3]);
  assert.equal(multi.usage.completion_tokens, 12);
  assert.equal(multi.choices[0].text, multi.choices[1].text, 'greedy choices agree');
});

test('chat: non-streaming and streaming', async () => {
  const messages = [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hi!' }];
  const r = await client.chat.completions.create({ model: 'tiny', messages, max_tokens: 6,
    temperature: 0, ignore_eos: true });
  assert.equal(r.object, 'chat.completion');
  assert.equal(r.choices[0].message.role, 'assistant');
  assert.equal(r.choices[0].finish_reason, 'length');
  assert.equal(r.usage.completion_tokens, 6);
  const stream = await client.chat.completions.create({ model: 'tiny', messages,
    max_completion_tokens: 6, temperature: 0, ignore_eos: true, stream: true,
    stream_options: { include_usage: true } });
  let content = '';
  let role = null;
  let usage = null;
  for await (const chunk of stream) {
    if (chunk.usage) usage = chunk.usage;
    for (const c of chunk.choices) {
      if (c.delta.role) role = c.delta.role;
      content += c.delta.content || '';
    }
  }
  assert.equal(role, 'assistant');
  assert.equal(content, r.choices[0].message.content);
  assert.equal(usage.completion_tokens, 6);
});

test('models, tokenize/detokenize round trip', async () => {
  const models = await client.models.list();
  assert.deepEqual(models.data.map((m) => m.id), ['tiny']);
  const t = await (await fetch(`${server.base}/tokenize`, { method: 'POST',
    body: JSON.stringify({ prompt: 'hello world', add_special_tokens: false }) })).json();
  assert.equal(t.count, t.tokens.length);
  const d = await (await fetch(`${server.base}/detokenize`, { method: 'POST',
    body: JSON.stringify({ tokens: t.tokens }) })).json();
  assert.equal(d.prompt, 'hello world');
});

function curl(args) {
  return new Promise((resolve, reject) => {
    execFile('curl', args, { maxBuffer: 1 << 24 }, (err, stdout, stderr) =>
      (err ? reject(new Error(`${err.message}: ${stderr}`)) : resolve(stdout)));
  });
}

test('curl -N: raw SSE framing and headers', async () => {
  const out = await curl(['-sS', '-N', '-i', `${server.base}/v1/completions`, '-H',
    'Content-Type: application/json', '-d',
    JSON.stringify({ prompt: 'Hi', max_tokens: 5, stream: true, temperature: 0, ignore_eos: true })]);
  const [head, body] = out.split('\r\n\r\n');
  assert.match(head, /^HTTP\/1\.1 200/);
  assert.match(head, /content-type: text\/event-stream/i);
  assert.match(head, /cache-control: no-cache/i);
  assert.match(head, /x-accel-buffering: no/i);
  assert.ok(body.endsWith('data: [DONE]\n\n'), body);
  const events = h.parseSse(body).filter((e) => e.data !== undefined);
  assert.equal(events[events.length - 1].data, '[DONE]');
  for (const e of events.slice(0, -1)) JSON.parse(e.data);
});

async function post(path, body, headers = {}) {
  const r = await fetch(`${server.base}${path}`, { method: 'POST', body,
    headers: { 'Content-Type': 'application/json', ...headers } });
  return { status: r.status, json: await r.json().catch(() => null) };
}

test('bad inputs get their status while other requests keep running', async () => {
  // A long stream runs beside the bad requests and must complete normally.
  const beside = client.completions.create({ prompt: 'beside', max_tokens: 64, temperature: 0,
    ignore_eos: true, stream: true });
  const table = [
    ['malformed JSON', '/v1/completions', '{"prompt": "x",', 400],
    ['wrong type', '/v1/completions', JSON.stringify({ prompt: 'x', max_tokens: 'ten' }), 400],
    ['wrong type temperature', '/v1/chat/completions', JSON.stringify({ messages: [{ role: 'user', content: 'x' }], temperature: 'hot' }), 400],
    ['empty prompt', '/v1/completions', JSON.stringify({ prompt: '' }), 400],
    ['huge max_tokens', '/v1/completions', JSON.stringify({ prompt: 'x', max_tokens: 1e9 }), 400],
    ['n above bound', '/v1/completions', JSON.stringify({ prompt: 'x', n: 100 }), 400],
    ['prompt too long', '/v1/completions', JSON.stringify({ prompt: 'y'.repeat(5000) }), 400],
    ['oversize body', '/v1/completions', JSON.stringify({ prompt: 'z'.repeat(70000) }), 413],
    ['unknown model', '/v1/completions', JSON.stringify({ prompt: 'x', model: 'gpt-9' }), 404],
    ['logprobs unsupported', '/v1/completions', JSON.stringify({ prompt: 'x', logprobs: 3 }), 400],
    ['unknown route', '/v2/complete', '{}', 404],
  ];
  for (const [name, path, body, status] of table) {
    const r = await post(path, body);
    assert.equal(r.status, status, name);
    assert.ok(r.json && r.json.error && typeof r.json.error.message === 'string', `${name}: OpenAI error shape`);
    assert.ok('type' in r.json.error && 'param' in r.json.error && 'code' in r.json.error, name);
  }
  const wrongMethod = await fetch(`${server.base}/v1/completions`, { method: 'GET' });
  assert.equal(wrongMethod.status, 405);
  assert.equal(wrongMethod.headers.get('allow'), 'POST');
  const deleteHealth = await fetch(`${server.base}/health`, { method: 'DELETE' });
  assert.equal(deleteHealth.status, 405);
  // The SDK surfaces the status as a typed error.
  await assert.rejects(client.completions.create({ prompt: 'x', model: 'nope' }),
    (e) => e.status === 404);
  let n = 0;
  let finish = null;
  for await (const chunk of await beside) {
    for (const c of chunk.choices) { n += c.text.length > 0 ? 1 : 0; finish = c.finish_reason || finish; }
  }
  assert.equal(finish, 'length');
  assert.equal((await fetch(`${server.base}/health`)).status, 200);
});
