// Small DOM helpers. Everything the UI shows is built with createElement and text nodes: server
// data never goes through innerHTML, so document text cannot inject markup or script.
import { t } from './i18n.js';

// h('button', {class: 'primary', i18n: 'chat.send', onclick: fn}, child, ...)
// Attributes: `i18n` (translated text, kept up to date on language switch), `i18nVars`,
// `i18nAttrs` ({placeholder: 'key', 'aria-label': 'key'}), `on*` listeners, `dataset`,
// booleans (true sets the attribute, false omits it), anything else as an attribute.
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'i18n') {
      el.dataset.i18n = v;
    } else if (k === 'i18nVars') {
      el.dataset.i18nVars = JSON.stringify(v);
    } else if (k === 'i18nAttrs') {
      el.dataset.i18nAttrs = JSON.stringify(v);
    } else if (k === 'dataset') {
      Object.assign(el.dataset, v);
    } else if (k.startsWith('on') && typeof v === 'function') {
      el.addEventListener(k.slice(2), v);
    } else if (k === 'value') {
      el.value = v;
    } else {
      el.setAttribute(k, v === true ? '' : String(v));
    }
  }
  translate(el);
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

// Replaces the children of `el`.
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

// Applies the current language to `el` (when it carries data-i18n*), not to its descendants.
export function translate(el) {
  if (el.dataset.i18n) {
    const vars = el.dataset.i18nVars ? JSON.parse(el.dataset.i18nVars) : undefined;
    el.textContent = t(el.dataset.i18n, vars);
  }
  if (el.dataset.i18nAttrs) {
    for (const [attr, key] of Object.entries(JSON.parse(el.dataset.i18nAttrs))) {
      el.setAttribute(attr, t(key));
    }
  }
}

// Applies the current language to `root` and everything under it.
export function translateTree(root) {
  if (root.dataset) translate(root);
  root.querySelectorAll('[data-i18n], [data-i18n-attrs]').forEach(translate);
}

// Text with <mark>…</mark> spans (the search API's `highlight`) as text nodes and <mark>
// elements; any other markup stays literal text.
export function marked(text) {
  return withMarks(text, /<mark>([\s\S]*?)<\/mark>/g, (m) => m[1]);
}

// `text` split at the matches of global regex `re`: text pieces and <mark> elements holding
// inner(match).
function withMarks(text, re, inner) {
  const out = [];
  let last = 0;
  for (let m; (m = re.exec(text)); last = re.lastIndex) {
    if (m.index > last) out.push(text.slice(last, m.index));
    out.push(h('mark', {}, inner(m)));
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}

// `text` with every occurrence of the query's terms wrapped in <mark>: Latin/digit words of two
// or more characters, and CJK runs split into overlapping pairs (how the index itself matches).
export function highlightTerms(text, query) {
  const terms = new Set();
  for (const w of query.toLowerCase().match(/[\p{L}\p{N}]+/gu) || []) {
    if (/\p{Script=Han}/u.test(w)) {
      const chars = [...w].filter((c) => /\p{Script=Han}/u.test(c));
      for (let i = 0; i + 1 < chars.length; ++i) terms.add(chars[i] + chars[i + 1]);
    } else if (w.length >= 2) {
      terms.add(w);
    }
  }
  if (terms.size === 0) return [text];
  const escaped = [...terms].sort((a, b) => b.length - a.length)
    .map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  return withMarks(text, new RegExp(escaped.join('|'), 'giu'), (m) => m[0]);
}

// A table: columns = [{i18n: 'col.name'}...], rows = arrays of cells (nodes or text).
export function table(columns, rows, attrs = {}) {
  return h('div', { class: 'table-wrap' },
    h('table', attrs,
      h('thead', {}, h('tr', {}, columns.map((c) => h('th', { scope: 'col', i18n: c })))),
      h('tbody', {}, rows.map((r) => h('tr', {}, r.map((cell) => h('td', {}, cell)))))));
}

export function formatTime(v) {
  if (v === null || v === undefined || v === '') return '—';
  const d = typeof v === 'number' ? new Date(v) : new Date(String(v));
  return Number.isNaN(d.getTime()) ? String(v) : d.toLocaleString();
}

export function formatBytes(n) {
  if (!Number.isFinite(n)) return '—';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; ++i; }
  return `${i === 0 ? n : n.toFixed(1)} ${units[i]}`;
}

// A modal confirmation (<dialog>, so focus is trapped and Escape cancels). Resolves true/false.
export function confirmDialog(messageKey, vars) {
  return new Promise((resolve) => {
    const dlg = h('dialog', { class: 'confirm', 'aria-labelledby': 'confirm-text' },
      h('p', { id: 'confirm-text', i18n: messageKey, i18nVars: vars }),
      h('div', { class: 'row end' },
        h('button', { type: 'button', class: 'secondary', i18n: 'common.cancel',
          onclick: () => dlg.close('cancel') }),
        h('button', { type: 'button', class: 'danger', i18n: 'common.confirmDelete',
          onclick: () => dlg.close('ok') })));
    dlg.addEventListener('close', () => { dlg.remove(); resolve(dlg.returnValue === 'ok'); });
    document.body.append(dlg);
    dlg.showModal();
  });
}

// Asks `askKey` (confirmDialog); when confirmed runs `action`, reports `okKey` or the error in
// `status`, then calls `after` (e.g. to reload a list). `vars` fill both messages.
export async function confirmAndRun(status, askKey, okKey, vars, action, after) {
  if (!(await confirmDialog(askKey, vars))) return;
  try {
    await action();
    setStatus(status, 'ok', okKey, vars);
  } catch (e) {
    showError(status, e);
  }
  after();
}

// A status line (role=status/alert): kind 'ok' | 'error' | 'info'; message is an i18n key with
// vars, or raw text from the server when `raw` is set.
export function setStatus(el, kind, message, vars, raw = false) {
  el.classList.remove('ok', 'error', 'info');
  el.classList.add('status', kind);
  el.setAttribute('role', kind === 'error' ? 'alert' : 'status');
  if (raw) {
    delete el.dataset.i18n;
    el.textContent = message;
  } else {
    el.dataset.i18n = message;
    if (vars) el.dataset.i18nVars = JSON.stringify(vars); else delete el.dataset.i18nVars;
    translate(el);
  }
}

// An API failure as a status line: a sentence for the HTTP status in the user's language, then
// the server's own message (which says exactly what was wrong).
export function showError(el, err) {
  if (err && err.name === 'AbortError') return setStatus(el, 'info', 'error.aborted');
  const status = err && typeof err.status === 'number' ? err.status : -1;
  const known = [0, 400, 401, 403, 404, 409, 413, 415, 429, 503, 504, 507];
  const key = known.includes(status) ? `error.${status}` : 'error.other';
  setStatus(el, 'error', key, {
    status, message: (err && err.message) || String(err), retry: (err && err.retryAfter) || '?',
  });
}

// A labelled form control: <div class="field"><label for=id>…</label>control</div>.
export function field(key, control, cls = 'field') {
  return h('div', { class: cls }, h('label', { for: control.id, i18n: key }), control);
}
