// Admin (admin keys only; app.js shows "no access" to others): API keys, the audit log, sync
// peers and node health (/readyz, the doctor checks and a summary of /metrics).
import { api, apiText, seg, ApiError } from './api.js';
import { h, fill, field, table, formatTime, confirmAndRun, setStatus, showError } from './dom.js';
import { parsePrometheus, summarize } from './metrics.js';

export function render(root) {
  const section = (id, key) => {
    const body = h('div', { class: 'section-body' });
    const status = h('p', { class: 'section-status', 'aria-live': 'polite' });
    root.append(h('section', { id, class: 'card', 'aria-labelledby': `${id}-title` },
      h('h2', { id: `${id}-title`, i18n: key }), status, body));
    return { body, status };
  };
  fill(root, h('h1', { i18n: 'admin.title' }));
  keys(section('admin-keys', 'admin.keys'));
  audit(section('admin-audit', 'admin.audit'));
  sync(section('admin-sync', 'admin.sync'));
  health(section('admin-health', 'admin.health'));
}

function keys({ body, status }) {
  const role = h('select', { id: 'key-role' },
    ['reader', 'writer', 'admin', 'guest'].map((r) => h('option', { value: r, i18n: `role.${r}` })));
  const scope = h('input', { id: 'key-scope', autocomplete: 'off', placeholder: 'docs, manuals' });
  const expires = h('input', { id: 'key-expires', autocomplete: 'off', placeholder: '90d' });
  const shown = h('div', { id: 'new-key', 'aria-live': 'polite' });
  const list = h('div', { id: 'keys-list' });
  const form = h('form', { id: 'key-form', class: 'row wrap end' },
    field('admin.role', role),
    field('admin.scope', scope, 'field grow'),
    field('admin.expires', expires),
    h('button', { type: 'submit', class: 'primary', i18n: 'admin.createKey' }));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const req = { role: role.value };
    const cs = scope.value.split(/[\s,]+/).filter(Boolean);
    if (cs.length) req.collections = cs;
    if (expires.value.trim()) req.expires = expires.value.trim();
    let k;
    try {
      k = await api('POST', '/v1/keys', req);
    } catch (err) {
      return showError(status, err);
    }
    form.reset();
    const value = h('input', { id: 'new-key-value', readonly: true, value: k.key,
      'aria-labelledby': 'new-key-label', class: 'mono' });
    fill(shown, h('div', { class: 'once', role: 'alert' },
      h('p', { id: 'new-key-label' }, h('strong', { i18n: 'admin.keyOnce' })),
      h('div', { class: 'row' }, value,
        h('button', { type: 'button', class: 'secondary', i18n: 'admin.copy', onclick: async (ev) => {
          value.select();
          try { await navigator.clipboard.writeText(k.key); setStatus(status, 'ok', 'admin.copied'); }
          catch { setStatus(status, 'info', 'admin.copyManually'); }
          ev.currentTarget.focus();
        } }),
        h('button', { type: 'button', class: 'secondary', i18n: 'admin.hideKey',
          onclick: () => fill(shown) }))));
    value.focus();
    value.select();
    load();
  });
  body.append(form, shown, list);

  async function load() {
    let r;
    try {
      r = await api('GET', '/v1/keys');
    } catch (e) {
      return showError(status, e);
    }
    fill(list, table(['admin.keyId', 'admin.role', 'admin.scope', 'admin.created', 'admin.expires',
      'admin.state', ''], r.keys.map((k) => [
      h('code', {}, k.id),
      h('span', { i18n: `role.${k.role}` }),
      k.collections.length ? k.collections.join(', ') : h('span', { i18n: 'admin.allCollections' }),
      formatTime(k.created), k.expires ? formatTime(k.expires) : h('span', { i18n: 'admin.never' }),
      h('span', { class: `state-${k.active ? 'active' : 'inactive'}`,
        i18n: k.revoked ? 'admin.revoked' : k.active ? 'admin.active' : 'admin.expired' }),
      k.active ? h('button', { type: 'button', class: 'danger small', i18n: 'admin.revoke',
        dataset: { key: k.id },
        onclick: () => confirmAndRun(status, 'admin.confirmRevoke', 'admin.revokedKey', { id: k.id },
          () => api('DELETE', `/v1/keys/${seg(k.id)}`), load) }) : '',
    ]), { id: 'keys-table' }));
  }
  load();
}

function audit({ body, status }) {
  const action = h('input', { id: 'audit-action', autocomplete: 'off', placeholder: 'key.create' });
  const list = h('div', { id: 'audit-list' });
  const more = h('button', { type: 'button', class: 'secondary', hidden: true, i18n: 'common.more',
    onclick: () => load(true) });
  const form = h('form', { class: 'row wrap end' },
    field('admin.action', action),
    h('button', { type: 'submit', class: 'secondary', i18n: 'admin.refresh' }));
  form.addEventListener('submit', (e) => { e.preventDefault(); load(); });
  body.append(form, list, more);
  let events = [];
  let before = null;

  async function load(next = false) {
    const q = new URLSearchParams({ limit: '50' });
    if (action.value.trim()) q.set('action', action.value.trim());
    if (next && before) q.set('before', String(before));
    let r;
    try {
      r = await api('GET', `/v1/audit?${q}`);
    } catch (e) {
      return showError(status, e);
    }
    events = next ? events.concat(r.events) : r.events;
    before = r.next_before;
    more.hidden = !before;
    fill(list, table(['admin.time', 'admin.keyId', 'admin.action', 'admin.resource', 'admin.result',
      'admin.client', 'admin.detail'], events.map((e) => [formatTime(e.time_ms), e.key_id || '—',
      e.action, e.resource, e.result, e.client, e.detail]), { id: 'audit-table' }));
  }
  load();
}

// GET /v1/sync/status is newer than this page may be: a 404 means the node has no sync
// configured (or does not have the route yet), which is not an error.
function sync({ body, status }) {
  api('GET', '/v1/sync/status').then((r) => {
    const peers = Array.isArray(r) ? r : r.peers || [];
    if (!peers.length) return setStatus(status, 'info', 'admin.syncNone');
    const cols = [...new Set(peers.flatMap((p) => Object.keys(p)))];
    const cell = (v) => (v === null || v === undefined ? '—'
      : typeof v === 'object' ? JSON.stringify(v) : String(v));
    fill(body, h('div', { class: 'table-wrap' }, h('table', { id: 'sync-table' },
      h('thead', {}, h('tr', {}, cols.map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, peers.map((p) => h('tr', {}, cols.map((c) => h('td', {}, cell(p[c])))))))));
  }, (e) => {
    if (e instanceof ApiError && e.status === 404) setStatus(status, 'info', 'admin.syncNotConfigured');
    else showError(status, e);
  });
}

function health({ body, status }) {
  const ready = h('p', { id: 'readyz' });
  const disk = h('div', { id: 'disk' });
  const colls = h('div', { id: 'metrics-collections' });
  const ups = h('div', { id: 'metrics-upstreams' });
  const doctor = h('div', { id: 'doctor' });
  const refresh = h('button', { type: 'button', class: 'secondary', i18n: 'admin.refresh',
    onclick: () => load() });
  body.append(refresh, ready, disk, colls, ups, doctor);

  async function load() {
    fetch('/readyz', { cache: 'no-store' }).then((r) => {
      setStatus(ready, r.ok ? 'ok' : 'error', r.ok ? 'admin.ready' : 'admin.notReady');
    }, () => setStatus(ready, 'error', 'admin.notReady'));
    try {
      const m = summarize(parsePrometheus(await apiText('/metrics')));
      const pct = m.diskUsageRatio === null ? '—' : `${(m.diskUsageRatio * 100).toFixed(1)}%`;
      fill(disk, h('dl', { class: 'meta' },
        h('dt', { i18n: 'admin.disk' }), h('dd', { id: 'disk-ratio' },
          m.diskUsageRatio === null ? '—' : h('meter', { min: 0, max: 1, low: 0.8, high: 0.9,
            optimum: 0, value: m.diskUsageRatio, 'aria-label': pct }), ` ${pct}`),
        h('dt', { i18n: 'admin.httpRequests' }), h('dd', {}, String(m.httpRequests)),
        h('dt', { i18n: 'admin.httpErrors' }), h('dd', {}, String(m.httpErrors))));
      fill(colls, h('h3', { i18n: 'admin.indexes' }), table(['kb.name', 'kb.documents', 'kb.chunks'],
        m.collections.map((c) => [c.collection, String(c.documents ?? '—'), String(c.chunks ?? '—')])));
      fill(ups, h('h3', { i18n: 'admin.upstreams' }), m.upstreams.length
        ? table(['admin.upstream', 'admin.circuit', 'admin.queue', 'admin.inFlight', 'admin.limit'],
          m.upstreams.map((u) => [u.upstream, h('span', { class: `circuit-${u.circuit}`,
            i18n: `admin.circuit.${u.circuit}` }), String(u.queue ?? '—'), String(u.inFlight ?? '—'),
          String(u.limit ?? '—')]), { id: 'upstreams-table' })
        : h('p', { class: 'empty', i18n: 'admin.noUpstreams' }));
    } catch (e) {
      showError(status, e);
    }
    try {
      const d = await api('GET', '/v1/admin/doctor');
      fill(doctor, h('h3', { i18n: 'admin.doctor' }), table(['admin.check', 'admin.result',
        'admin.detail'], d.checks.map((c) => [c.check, h('span', { class: `check-${String(c.status).toLowerCase()}` }, c.status),
        [c.detail, c.fix ? h('div', { class: 'hint' }, c.fix) : '']])));
    } catch (e) {
      if (!(e instanceof ApiError && e.status === 404)) showError(status, e);
    }
  }
  load();
}
