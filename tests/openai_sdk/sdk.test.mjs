// The official `openai` npm SDK against a running deepkb gateway (started by run_test.sh, which
// passes everything in environment variables). Each test goes through the SDK's public API; a
// wrapper around the client's fetch records what the SDK actually sent.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { test } from 'node:test';

function env(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set (run this through tests/openai_sdk/run_test.sh)`);
  return v;
}

const URL = env('DEEPKB_URL');
const ADMIN_KEY = env('DEEPKB_API_KEY');
const READER_KEY = env('DEEPKB_READER_KEY');  // a reader scoped to collection "other"
const ALIAS = env('DEEPKB_ALIAS');            // knowledge alias over collection "docs"
const MODEL = env('FAKE_MODEL');              // the model fake_upstream serves
const ANSWER = env('FAKE_ANSWER');            // its answer template ({system_chars})
const REASONING = env('FAKE_REASONING');

// The SDK is installed outside the source tree (setup.sh), so resolve it from there.
const require = createRequire(path.join(env('OPENAI_SDK_DIR'), 'package.json'));
const OpenAI = require('openai');
const SDK_VERSION = JSON.parse(
  fs.readFileSync(path.join(path.dirname(require.resolve('openai')), 'package.json'), 'utf8')).version;

const FERRY_DOC = 'kestrel-ferry.txt';
const TEA_DOC = 'longjing-tea.txt';
const ENGLISH_QUESTION = 'At which bay does the Kestrel orbital ferry dock?';
const CHINESE_QUESTION = '龙井茶园每年什么时候开始采摘新茶？';

// The answer the fake gives when the gateway sent no system message (plain upstream model).
const PLAIN_ANSWER = ANSWER.replace('{system_chars}', '0');
// The same answer with the system message's size in bytes: the passages were sent when > 0.
const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const ANSWER_PARTS = ANSWER.split('{system_chars}');
assert.equal(ANSWER_PARTS.length, 2, 'FAKE_ANSWER has one {system_chars}');
const ANSWER_RE = new RegExp('^' + escape(ANSWER_PARTS[0]) + '(\\d+)' + escape(ANSWER_PARTS[1]) + '$');

// A client whose requests are recorded ({url, method, body}) as the SDK sent them.
function client(apiKey = ADMIN_KEY) {
  const c = new OpenAI({ baseURL: URL + '/v1', apiKey, maxRetries: 0, timeout: 30_000 });
  const inner = c.fetch;
  c.sent = [];
  c.fetch = (url, init) => {
    c.sent.push({ url: String(url), method: init?.method,
                  body: typeof init?.body === 'string' ? JSON.parse(init.body) : init?.body });
    return inner(url, init);
  };
  return c;
}

// Iterates a streamed chat answer; returns the raw chunk objects.
async function collect(stream) {
  const chunks = [];
  for await (const chunk of stream) chunks.push(chunk);
  return chunks;
}

const deltas = (chunks, field) =>
  chunks.flatMap((c) => c.choices ?? []).map((ch) => ch.delta?.[field] ?? '').join('');

// The system message's size the fake reported in its answer.
function systemChars(content) {
  const m = ANSWER_RE.exec(content);
  assert.ok(m, `answer ${JSON.stringify(content)} does not have the fake's shape`);
  return Number(m[1]);
}

function assertFerryCitation(citations, content) {
  assert.ok(Array.isArray(citations) && citations.length >= 1,
            `citations: ${JSON.stringify(citations)}`);
  const first = citations[0];
  assert.equal(first.index, 1);
  assert.equal(first.doc_id, FERRY_DOC);
  assert.equal(first.collection, 'docs');
  assert.equal(typeof first.chunk_id, 'number');
  assert.equal(typeof first.score, 'number');
  assert.match(first.text, /docks at bay seven every Tuesday/);
  assert.equal(first.cited, true, 'the answer cites [1]');
  for (const c of citations.slice(1)) assert.equal(c.cited, false, `only [1] is cited: ${c.index}`);
  // The fake saw a system message longer than the passage it carries.
  assert.ok(systemChars(content) > Buffer.byteLength(first.text),
            `system message of ${systemChars(content)} bytes cannot hold the passage`);
}

test(`openai ${SDK_VERSION}: models.list has the upstream model, the alias and extractive`, async () => {
  const ids = [];
  for await (const m of client().models.list()) ids.push(m.id);
  for (const id of [MODEL, ALIAS, 'extractive']) assert.ok(ids.includes(id), `${id} in ${ids}`);
});

test('non-streaming chat with the upstream model returns the fake answer and usage', async () => {
  const c = client();
  const r = await c.chat.completions.create({
    model: MODEL, messages: [{ role: 'user', content: 'Say something.' }] });
  assert.equal(r.object, 'chat.completion');
  assert.equal(r.model, MODEL);
  assert.equal(r.choices.length, 1);
  assert.equal(r.choices[0].message.role, 'assistant');
  assert.equal(r.choices[0].message.content, PLAIN_ANSWER);
  assert.equal(r.choices[0].message.reasoning_content, REASONING);
  assert.equal(r.choices[0].finish_reason, 'stop');
  assert.ok(r.usage && r.usage.completion_tokens > 0, JSON.stringify(r.usage));
  assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens);
  assert.equal(r.citations, undefined, 'no retrieval without an alias or `knowledge`');
  assert.equal(c.sent[0].body.stream, undefined);
});

test('streaming chat with the upstream model: content and reasoning deltas, usage chunk', async () => {
  const c = client();
  const stream = await c.chat.completions.create({
    model: MODEL, stream: true, stream_options: { include_usage: true },
    messages: [{ role: 'user', content: 'Say something.' }] });
  const chunks = await collect(stream);
  assert.equal(c.sent[0].body.stream, true);
  assert.ok(chunks.length > 3, `${chunks.length} chunks`);
  for (const ch of chunks) {
    assert.equal(ch.object, 'chat.completion.chunk');
    assert.equal(ch.id, chunks[0].id);
    assert.equal(ch.model, MODEL);
  }
  assert.equal(deltas(chunks, 'content'), PLAIN_ANSWER);
  assert.equal(deltas(chunks, 'reasoning_content'), REASONING);
  assert.equal(chunks[0].choices[0].delta.role, 'assistant');
  // Reasoning comes before the answer, as DeepSeek-R1 streams it.
  const firstContent = chunks.findIndex((ch) => ch.choices[0]?.delta?.content);
  const lastReasoning = chunks.findLastIndex((ch) => ch.choices[0]?.delta?.reasoning_content);
  assert.ok(lastReasoning < firstContent);
  const finishes = chunks.filter((ch) => ch.choices[0]?.finish_reason);
  assert.deepEqual(finishes.map((ch) => ch.choices[0].finish_reason), ['stop']);
  const usage = chunks.filter((ch) => ch.usage);
  assert.equal(usage.length, 1);
  assert.deepEqual(usage[0].choices, []);
  assert.ok(usage[0].usage.completion_tokens > 0);
  assert.ok(chunks.every((ch) => ch.citations === undefined));
});

test('knowledge alias, non-streaming: citations and knowledge on the response', async () => {
  const r = await client().chat.completions.create({
    model: ALIAS, messages: [{ role: 'user', content: ENGLISH_QUESTION }] });
  assert.equal(r.model, ALIAS);
  const content = r.choices[0].message.content;
  assertFerryCitation(r.citations, content);
  assert.deepEqual(r.knowledge.collections, ['docs']);
  assert.equal(r.knowledge.passages, r.citations.length);
});

test('knowledge alias, streaming: a citations chunk arrives before the stream ends', async () => {
  const chunks = await collect(await client().chat.completions.create({
    model: ALIAS, stream: true, messages: [{ role: 'user', content: ENGLISH_QUESTION }] }));
  const withCitations = chunks.filter((ch) => ch.citations !== undefined);
  assert.equal(withCitations.length, 1);
  const tail = withCitations[0];
  assert.equal(chunks.at(-1), tail, 'the citations chunk is the last one before [DONE]');
  assert.deepEqual(tail.choices, []);
  const finish = chunks.findIndex((ch) => ch.choices[0]?.finish_reason === 'stop');
  assert.ok(finish >= 0 && finish < chunks.length - 1);
  assertFerryCitation(tail.citations, deltas(chunks, 'content'));
  assert.deepEqual(tail.knowledge.collections, ['docs']);
});

test('knowledge alias, streaming with include_usage: citations, then usage as the last chunk', async () => {
  const chunks = await collect(await client().chat.completions.create({
    model: ALIAS, stream: true, stream_options: { include_usage: true },
    messages: [{ role: 'user', content: ENGLISH_QUESTION }] }));
  const last = chunks.at(-1);
  assert.ok(last.usage && last.usage.completion_tokens > 0, `last chunk: ${JSON.stringify(last)}`);
  assert.ok(chunks.at(-2).citations, 'the citations chunk comes right before the usage chunk');
});

test("the SDK's stream helper accumulates an alias answer despite the citations chunk", async () => {
  const runner = client().beta.chat.completions.stream({
    model: ALIAS, messages: [{ role: 'user', content: ENGLISH_QUESTION }] });
  const final = await runner.finalChatCompletion();
  assert.ok(systemChars(final.choices[0].message.content) > 0);
  assert.equal(final.choices[0].finish_reason, 'stop');
});

test('a Chinese question with the `knowledge` field retrieves the Chinese document', async () => {
  const c = client();
  const chunks = await collect(await c.chat.completions.create({
    model: MODEL, stream: true, knowledge: { collections: ['docs'] },
    messages: [{ role: 'user', content: CHINESE_QUESTION }] }));
  assert.deepEqual(c.sent[0].body.knowledge, { collections: ['docs'] }, 'the SDK forwards it');
  const tail = chunks.at(-1);
  assert.ok(tail.citations, `last chunk: ${JSON.stringify(tail)}`);
  assert.equal(tail.citations[0].doc_id, TEA_DOC);
  assert.match(tail.citations[0].text, /龙井茶园每年三月开始采摘新茶/);
  assert.equal(tail.citations[0].cited, true);
  assert.ok(systemChars(deltas(chunks, 'content')) > Buffer.byteLength(tail.citations[0].text));
});

async function assertThrows(promise, ErrorClass, status, message) {
  await assert.rejects(promise, (err) => {
    assert.ok(err instanceof ErrorClass, `${err?.constructor?.name}: ${err?.message}`);
    assert.ok(err instanceof OpenAI.APIError);
    assert.equal(err.status, status);
    assert.match(err.message, message);
    return true;
  });
}

test('an unknown model is a NotFoundError (404) with the gateway message, streaming or not', async () => {
  for (const stream of [false, true]) {
    await assertThrows(
      client().chat.completions.create({
        model: 'no-such-model', stream, messages: [{ role: 'user', content: 'hi' }] }),
      OpenAI.NotFoundError, 404, /model 'no-such-model' is neither an upstream model nor a knowledge alias/);
  }
});

test('a bad API key is an AuthenticationError (401)', async () => {
  await assertThrows(client('dkb_not_a_real_key').models.list(), OpenAI.AuthenticationError, 401,
                     /API key/);
  await assertThrows(
    client('dkb_not_a_real_key').chat.completions.create({
      model: MODEL, messages: [{ role: 'user', content: 'hi' }] }),
    OpenAI.AuthenticationError, 401, /API key/);
});

test('a reader scoped to another collection gets PermissionDeniedError (403) on the alias', async () => {
  const reader = client(READER_KEY);
  const ids = [];
  for await (const m of reader.models.list()) ids.push(m.id);
  assert.ok(ids.includes(MODEL) && !ids.includes(ALIAS), `the reader sees ${ids}`);
  await assertThrows(
    reader.chat.completions.create({ model: ALIAS, messages: [{ role: 'user', content: 'hi' }] }),
    OpenAI.PermissionDeniedError, 403, /docs/);
  await assertThrows(
    reader.chat.completions.create({
      model: MODEL, stream: true, knowledge: { collections: ['docs'] },
      messages: [{ role: 'user', content: 'hi' }] }),
    OpenAI.PermissionDeniedError, 403, /docs/);
});

test('embeddings: base64 (the SDK default, decoded by it) equals the float format', async () => {
  const c = client();
  const input = ['hello', '你好'];
  const b64 = await c.embeddings.create({ model: 'docs', input });
  const floats = await c.embeddings.create({ model: 'docs', input, encoding_format: 'float' });
  assert.equal(c.sent[0].body.encoding_format, 'base64', 'the SDK asks for base64 by default');
  assert.equal(c.sent[1].body.encoding_format, 'float');
  for (const r of [b64, floats]) {
    assert.equal(r.object, 'list');
    assert.deepEqual(r.data.map((d) => d.index), [0, 1]);
    assert.ok(r.usage.prompt_tokens > 0);
  }
  const dim = b64.data[0].embedding.length;
  assert.ok(dim > 0);
  for (const d of b64.data) {
    assert.ok(Array.isArray(d.embedding), 'decoded to an array of numbers');
    assert.equal(d.embedding.length, dim);
    assert.ok(d.embedding.every(Number.isFinite));
    assert.ok(d.embedding.some((x) => x !== 0), 'not a zero vector');
  }
  assert.notDeepEqual(b64.data[0].embedding, b64.data[1].embedding);
  assert.deepEqual(b64.data.map((d) => d.embedding), floats.data.map((d) => d.embedding));
});

test('models.retrieve(id): GET /v1/models/{id}', async () => {
  const m = await client().models.retrieve(MODEL);
  assert.equal(m.id, MODEL);
  assert.equal(m.object, 'model');
  await assert.rejects(client().models.retrieve('no-such-model'),
                       (e) => e instanceof OpenAI.NotFoundError && e.status === 404);
});
