// Unit tests of the UI's pure parts, in node: the SSE parser, the Prometheus parser and metrics
// summary, and the completeness of the two dictionaries (every key the code uses exists in both,
// and both have the same keys).
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { SseParser } from '../../ui/js/api.js';
import { DICT } from '../../ui/js/i18n.js';
import { parsePrometheus, summarize } from '../../ui/js/metrics.js';

const ui = fileURLToPath(new URL('../../ui/', import.meta.url));

test('SSE: arbitrary chunk boundaries, CRLF/CR/LF, comments, multi-line data', () => {
  const stream = ': keep-alive\r\ndata: {"a":1}\r\n\r\ndata: line1\ndata: line2\n\nevent: x\rdata: [DONE]\r\r\n';
  for (let size = 1; size <= stream.length; ++size) {
    const p = new SseParser();
    const got = [];
    for (let i = 0; i < stream.length; i += size) got.push(...p.push(stream.slice(i, i + size)));
    assert.deepEqual(got, ['{"a":1}', 'line1\nline2', '[DONE]'], `chunk size ${size}`);
  }
});

test('Prometheus text: labels with escapes, special values, the admin summary', () => {
  const text = [
    '# HELP deepkb_documents Documents per collection',
    '# TYPE deepkb_documents gauge',
    'deepkb_documents{collection="docs"} 3',
    'deepkb_chunks{collection="docs"} 12',
    'deepkb_documents{collection="we\\"ird"} 1',
    'deepkb_disk_usage_ratio 0.25',
    'deepkb_llm_circuit_state{upstream="fake"} 2',
    'deepkb_llm_queue_depth{upstream="fake"} 4',
    'deepkb_http_requests_total{route="/v1/collections",code="200"} 7 1700000000000',
    'deepkb_http_requests_total{route="/v1/chat/completions",code="503"} 2',
    'deepkb_http_request_duration_seconds_bucket{le="+Inf"} 9',
    'deepkb_some_limit +Inf',
    'garbage line',
  ].join('\n');
  const samples = parsePrometheus(text);
  assert.equal(samples.length, 10);
  assert.equal(samples.find((x) => x.labels.le).labels.le, '+Inf');
  assert.equal(samples.find((x) => x.name === 'deepkb_some_limit').value, Infinity);
  assert.equal(samples[2].labels.collection, 'we"ird');
  const m = summarize(samples);
  assert.equal(m.diskUsageRatio, 0.25);
  assert.deepEqual(m.collections[0], { collection: 'docs', documents: 3, chunks: 12 });
  assert.deepEqual(m.upstreams, [{ upstream: 'fake', circuit: 'open', queue: 4 }]);
  assert.equal(m.httpRequests, 9);
  assert.equal(m.httpErrors, 2);
});

test('i18n: both languages have the same keys, and every key the code names exists', () => {
  const en = Object.keys(DICT.en).sort();
  assert.deepEqual(Object.keys(DICT.zh).sort(), en);
  for (const [k, v] of Object.entries(DICT.zh)) {
    const vars = (s) => (s.match(/\{\w+\}/g) || []).sort().join();
    assert.equal(vars(v), vars(DICT.en[k]), `placeholders of ${k}`);
  }
  const sources = [join(ui, 'index.html'), ...readdirSync(join(ui, 'js')).map((f) => join(ui, 'js', f))];
  const used = new Set();
  const prefixes = '(?:nav|signin|noaccess|common|error|chat|cite|kb|search|admin|role)';
  for (const file of sources) {
    const src = readFileSync(file, 'utf8');
    for (const m of src.matchAll(new RegExp(`['"](${prefixes}\\.[A-Za-z0-9_.]+)['"]`, 'g'))) used.add(m[1]);
    // Keys built at run time from a prefix: `role.${r}` etc. must exist for every value.
    for (const m of src.matchAll(new RegExp('`(' + prefixes + '\\.[A-Za-z.]*)\\$\\{', 'g'))) {
      assert.ok(en.some((k) => k.startsWith(m[1])), `no key starts with ${m[1]}`);
    }
  }
  for (const dynamic of ['role.admin', 'role.writer', 'role.reader', 'role.guest',
    'kb.file.created', 'kb.file.updated', 'kb.file.unchanged', 'admin.circuit.closed',
    'admin.circuit.half_open', 'admin.circuit.open', 'error.0', 'error.401', 'error.503']) {
    used.add(dynamic);
  }
  const missing = [...used].filter((k) => !(k in DICT.en));
  assert.deepEqual(missing, []);
  assert.ok(used.size > 100, `only ${used.size} keys found: the scan is broken`);
});
