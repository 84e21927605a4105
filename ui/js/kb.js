// Knowledge bases: collections (counts, create, delete) at #/kb; one collection at #/kb/NAME with
// upload (file picker or drag and drop; one request per file, so each has its own progress bar
// and result), its documents (filter, load more, delete) and a document's chunks.
import { api, seg, uploadFile } from './api.js';
import { h, fill, field, table, formatBytes, formatTime, confirmAndRun, setStatus, showError } from './dom.js';

export function render(root, ctx) {
  if (ctx.arg) return renderCollection(root, ctx, ctx.arg);
  const status = h('p', { id: 'kb-status', 'aria-live': 'polite' });
  const list = h('div', { id: 'collections' });
  fill(root, h('h1', { i18n: 'kb.title' }));
  if (ctx.canWrite) root.append(createForm(status, () => load()));
  root.append(status, list);

  async function load() {
    let cs;
    try {
      cs = (await api('GET', '/v1/collections')).collections;
    } catch (e) {
      return showError(status, e);
    }
    if (!cs.length) return fill(list, h('p', { class: 'empty', i18n: 'kb.none' }));
    fill(list, table(['kb.name', 'kb.documents', 'kb.chunks', 'kb.embedder', ''],
      cs.map((c) => [
        h('a', { href: `#/kb/${seg(c.name)}`, class: 'coll-link' }, c.name),
        String(c.documents), String(c.chunks), c.embedder,
        ctx.canWrite ? h('button', { type: 'button', class: 'danger small', i18n: 'common.delete',
          dataset: { collection: c.name },
          onclick: () => confirmAndRun(status, 'kb.confirmDeleteCollection', 'kb.deleted',
            { name: c.name }, () => api('DELETE', `/v1/collections/${seg(c.name)}`), load) }) : '',
      ]), { id: 'collections-table' }));
  }
  load();
}

function createForm(status, done) {
  const name = h('input', { id: 'new-collection', required: true, pattern: '[A-Za-z0-9_][A-Za-z0-9_.\\-]*',
    maxlength: 64, autocomplete: 'off' });
  const embedder = h('input', { id: 'new-embedder', placeholder: 'ngram-hash', autocomplete: 'off' });
  const chunk = h('input', { id: 'new-chunk-tokens', type: 'number', min: 32, max: 8192, step: 1 });
  const form = h('form', { id: 'create-collection', class: 'card row wrap end' },
    field('kb.newName', name),
    field('kb.embedder', embedder),
    field('kb.chunkTokens', chunk),
    h('button', { type: 'submit', class: 'primary', i18n: 'kb.create' }));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const body = { name: name.value.trim() };
    if (embedder.value.trim()) body.embedder = embedder.value.trim();
    if (chunk.value) body.chunk_tokens = Number(chunk.value);
    try {
      await api('POST', '/v1/collections', body);
      setStatus(status, 'ok', 'kb.created', { name: body.name });
      form.reset();
    } catch (err) {
      showError(status, err);
    }
    done();
  });
  return form;
}

function renderCollection(root, ctx, name) {
  const status = h('p', { id: 'docs-status', 'aria-live': 'polite' });
  const docs = h('div', { id: 'documents' });
  const chunks = h('section', { id: 'chunks', class: 'panel', hidden: true, tabindex: '-1',
    'aria-labelledby': 'chunks-title' });
  const filter = h('input', { id: 'doc-filter', type: 'search', autocomplete: 'off',
    i18nAttrs: { placeholder: 'kb.filterPlaceholder' } });
  const more = h('button', { type: 'button', id: 'docs-more', class: 'secondary', hidden: true,
    i18n: 'common.more', onclick: () => load(true) });
  let all = [];
  let cursor = null;

  fill(root,
    h('p', {}, h('a', { href: '#/kb', i18n: 'kb.back' })),
    h('h1', {}, name),
    ctx.canWrite ? uploader(name, () => load()) : '',
    h('h2', { i18n: 'kb.documentsTitle' }),
    field('kb.filter', filter),
    status, docs, more, chunks);
  filter.addEventListener('input', () => show());

  async function load(next = false) {
    try {
      const q = new URLSearchParams({ limit: '100' });
      if (next && cursor) q.set('cursor', cursor);
      const r = await api('GET', `/v1/collections/${seg(name)}/documents?${q}`);
      all = next ? all.concat(r.documents) : r.documents;
      cursor = r.next_cursor;
    } catch (e) {
      return showError(status, e);
    }
    more.hidden = !cursor;
    show();
  }

  function show() {
    const f = filter.value.trim().toLowerCase();
    const rows = all.filter((d) => !f || d.id.toLowerCase().includes(f) ||
      (d.title || '').toLowerCase().includes(f));
    if (!rows.length) return fill(docs, h('p', { class: 'empty', i18n: all.length ? 'kb.noMatch' : 'kb.noDocuments' }));
    fill(docs, table(['kb.docId', 'kb.docTitle', 'kb.chunks', 'kb.size', 'kb.updated', ''],
      rows.map((d) => [d.id, d.title || '—', String(d.chunks), formatBytes(d.size_bytes),
        formatTime(d.updated_at),
        h('span', { class: 'row' },
          h('button', { type: 'button', class: 'secondary small', i18n: 'kb.viewChunks',
            dataset: { doc: d.id }, onclick: (e) => showChunks(d, e.currentTarget) }),
          ctx.canWrite ? h('button', { type: 'button', class: 'danger small', i18n: 'common.delete',
            dataset: { doc: d.id }, onclick: () => removeDoc(d) }) : '')]),
      { id: 'documents-table' }));
  }

  const removeDoc = (d) => confirmAndRun(status, 'kb.confirmDeleteDocument', 'kb.docDeleted',
    { id: d.id }, () => api('DELETE', `/v1/collections/${seg(name)}/documents/${seg(d.id)}`), load);

  async function showChunks(d, from) {
    let doc;
    try {
      doc = await api('GET', `/v1/collections/${seg(name)}/documents/${seg(d.id)}?chunks=true`);
    } catch (e) {
      return showError(status, e);
    }
    const close = () => { chunks.hidden = true; if (from.isConnected) from.focus(); };
    fill(chunks,
      h('div', { class: 'row between' },
        h('h2', { id: 'chunks-title', i18n: 'kb.chunksOf', i18nVars: { id: d.id } }),
        h('button', { type: 'button', class: 'secondary', i18n: 'common.close', onclick: close })),
      h('ol', { class: 'chunk-list' }, (doc.chunk_list || []).map((c) => h('li', {},
        h('div', { class: 'meta-line' },
          `#${c.ordinal}`,
          c.page ? h('span', { i18n: 'kb.pageN', i18nVars: { n: c.page } }) : '',
          c.heading_path ? h('span', {}, c.heading_path) : '',
          h('span', { i18n: 'kb.tokensN', i18nVars: { n: c.tokens } })),
        h('p', { class: 'chunk-text' }, c.text)))));
    chunks.onkeydown = (e) => { if (e.key === 'Escape') close(); };
    chunks.hidden = false;
    chunks.focus();
  }

  load();
}

// The upload area: a drop zone that is also a label for the (visually hidden) file input, so a
// click, Enter/Space on the input, or a drop all pick files.
function uploader(collection, done) {
  const input = h('input', { id: 'upload-input', type: 'file', multiple: true, class: 'file-input' });
  const list = h('ul', { id: 'upload-list', class: 'upload-list', 'aria-live': 'polite' });
  const zone = h('label', { for: 'upload-input', id: 'dropzone', class: 'dropzone' },
    h('strong', { i18n: 'kb.dropTitle' }), h('span', { i18n: 'kb.dropHint' }));
  const start = (files) => { if (files.length) uploadAll([...files], list, collection).then(done); };
  input.addEventListener('change', () => { start(input.files); input.value = ''; });
  for (const ev of ['dragenter', 'dragover']) {
    zone.addEventListener(ev, (e) => { e.preventDefault(); zone.classList.add('over'); });
  }
  zone.addEventListener('dragleave', () => zone.classList.remove('over'));
  zone.addEventListener('drop', (e) => {
    e.preventDefault();
    zone.classList.remove('over');
    start(e.dataTransfer.files);
  });
  return h('section', { class: 'card', 'aria-labelledby': 'upload-title' },
    h('h2', { id: 'upload-title', i18n: 'kb.upload' }), input, zone, list);
}

// Uploads one file at a time (each its own request: its own progress and result).
async function uploadAll(files, list, collection) {
  const items = files.map((f) => {
    const bar = h('progress', { max: 1, value: 0, 'aria-label': f.name });
    const result = h('span', { class: 'result', i18n: 'kb.waiting' });
    const li = h('li', { dataset: { file: f.name } }, h('span', { class: 'file-name' }, f.name), bar, result);
    list.append(li);
    return { f, bar, result, li };
  });
  for (const it of items) {
    try {
      const r = await uploadFile(collection, it.f, (x) => { it.bar.value = x; });
      it.li.dataset.status = r.status;
      if (r.status === 'failed') {
        it.result.removeAttribute('data-i18n');
        setStatus(it.result, 'error', 'kb.fileFailed', { message: r.error ? r.error.message : '' });
      } else {
        setStatus(it.result, 'ok', `kb.file.${r.status}`, { chunks: r.chunks });
      }
    } catch (e) {
      it.li.dataset.status = 'failed';
      showError(it.result, e);
    }
  }
}
