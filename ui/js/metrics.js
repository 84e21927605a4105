// The Prometheus text exposition format (what GET /metrics returns), parsed into samples, and
// the node summary the admin page shows. Pure functions (tests/ui/unit.test.mjs runs them in
// node).

// [{name, labels: {k: v}, value}] — comments, HELP/TYPE lines and malformed lines are skipped.
export function parsePrometheus(text) {
  const out = [];
  const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\S+)?$/;
  const label = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const m = sample.exec(line);
    if (!m) continue;
    const labels = {};
    for (let l; (l = label.exec(m[2] || ''));) {
      labels[l[1]] = l[2].replace(/\\n/g, '\n').replace(/\\(["\\])/g, '$1');
    }
    const value = m[3] === '+Inf' ? Infinity : m[3] === '-Inf' ? -Infinity : Number(m[3]);
    if (Number.isNaN(value) && m[3] !== 'NaN') continue;
    out.push({ name: m[1], labels, value });
  }
  return out;
}

const CIRCUIT = ['closed', 'half_open', 'open'];

// What the admin page shows: disk use, per-collection documents and chunks, per-upstream LLM
// health, and HTTP request totals.
export function summarize(samples) {
  const by = (name) => samples.filter((s) => s.name === name);
  const collections = {};
  for (const [metric, field] of [['deepkb_documents', 'documents'], ['deepkb_chunks', 'chunks']]) {
    for (const s of by(metric)) {
      const c = s.labels.collection || '';
      (collections[c] ||= { collection: c })[field] = s.value;
    }
  }
  const upstreams = {};
  const perUpstream = [['deepkb_llm_circuit_state', 'circuit'], ['deepkb_llm_queue_depth', 'queue'],
    ['deepkb_llm_in_flight', 'inFlight'], ['deepkb_llm_concurrency_limit', 'limit']];
  for (const [metric, field] of perUpstream) {
    for (const s of by(metric)) {
      const u = s.labels.upstream || '';
      (upstreams[u] ||= { upstream: u })[field] = s.value;
    }
  }
  for (const u of Object.values(upstreams)) {
    if (u.circuit !== undefined) u.circuit = CIRCUIT[u.circuit] || String(u.circuit);
  }
  const requests = by('deepkb_http_requests_total');
  const disk = by('deepkb_disk_usage_ratio')[0];
  return {
    diskUsageRatio: disk ? disk.value : null,
    collections: Object.values(collections),
    upstreams: Object.values(upstreams),
    httpRequests: requests.reduce((a, s) => a + s.value, 0),
    httpErrors: requests.filter((s) => /^5/.test(s.labels.code || '')).reduce((a, s) => a + s.value, 0),
  };
}
