// Search playground: POST /v1/collections/{c}/search with every knob the API has, and each hit
// with its keyword rank, vector rank, score, highlight and source.
import { api, seg } from './api.js';
import { h, fill, field, marked, setStatus, showError } from './dom.js';

const last = { collection: '', query: '', mode: 'hybrid' };

export function render(root) {
  const coll = h('select', { id: 's-collection', required: true });
  const query = h('input', { id: 's-query', type: 'search', required: true, value: last.query,
    autocomplete: 'off' });
  const mode = h('select', { id: 's-mode' },
    ['hybrid', 'keyword', 'vector', 'auto'].map((m) => h('option', { value: m, i18n: `search.mode.${m}` })));
  mode.value = last.mode;
  const topK = h('input', { id: 's-topk', type: 'number', min: 1, max: 100, value: 10 });
  const method = h('select', { id: 's-fusion' },
    ['rrf', 'weighted'].map((m) => h('option', { value: m, i18n: `search.fusion.${m}` })));
  const rrfK = h('input', { id: 's-rrfk', type: 'number', min: 1, value: 60 });
  const kw = h('input', { id: 's-kw', type: 'number', min: 0, max: 1, step: 0.05, value: 0.5 });
  const vec = h('input', { id: 's-vec', type: 'number', min: 0, max: 1, step: 0.05, value: 0.5 });
  const filter = h('textarea', { id: 's-filter', rows: 2, spellcheck: 'false',
    placeholder: '{"doc_id": {"$in": ["guide.md"]}}' });
  const status = h('p', { id: 'search-status', 'aria-live': 'polite' });
  const results = h('ol', { id: 'hits', class: 'hits' });
  const form = h('form', { id: 'search-form', class: 'card' },
    h('div', { class: 'row wrap' },
      field('search.collection', coll),
      field('search.query', query, 'field grow'),
      field('search.mode', mode),
      field('search.topK', topK)),
    h('details', { class: 'advanced' }, h('summary', { i18n: 'search.advanced' }),
      h('div', { class: 'row wrap' },
        field('search.fusion', method), field('search.rrfK', rrfK),
        field('search.keywordWeight', kw), field('search.vectorWeight', vec)),
      h('div', { class: 'field' }, h('label', { for: 's-filter', i18n: 'search.filter' }), filter,
        h('p', { class: 'hint', i18n: 'search.filterHint' }))),
    h('button', { type: 'submit', class: 'primary', i18n: 'search.submit' }));
  fill(root, h('h1', { i18n: 'search.title' }), form, status, results);

  api('GET', '/v1/collections').then((r) => {
    const names = r.collections.map((c) => c.name);
    fill(coll, names.map((n) => h('option', { value: n }, n)));
    if (names.includes(last.collection)) coll.value = last.collection;
    if (!names.length) setStatus(status, 'info', 'search.noCollections');
  }, (e) => showError(status, e));

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const body = { query: query.value, mode: mode.value, top_k: Number(topK.value) || 10,
      fusion: { method: method.value, k: Number(rrfK.value) || 60,
        keyword_weight: Number(kw.value), vector_weight: Number(vec.value) } };
    if (filter.value.trim()) {
      try {
        body.filter = JSON.parse(filter.value);
      } catch (err) {
        filter.setAttribute('aria-invalid', 'true');
        return setStatus(status, 'error', 'search.badFilter', { message: err.message });
      }
    }
    filter.removeAttribute('aria-invalid');
    Object.assign(last, { collection: coll.value, query: query.value, mode: mode.value });
    results.replaceChildren();
    let r;
    try {
      r = await api('POST', `/v1/collections/${seg(coll.value)}/search`, body);
    } catch (err) {
      return showError(status, err);
    }
    setStatus(status, 'ok', 'search.summary', { n: r.hits.length, ms: Number(r.took_ms).toFixed(1),
      mode: r.mode || body.mode });
    fill(results, r.hits.map(hitEl));
  });
}

function hitEl(hit, i) {
  const rank = (key, v) => h('span', { class: 'pill' },
    h('span', { i18n: key }), `: ${v === undefined ? '—' : v}`);
  return h('li', { class: 'hit card' },
    h('div', { class: 'row between' },
      h('h2', { class: 'hit-title' }, `${i + 1}. ${hit.title || hit.doc_id}`),
      h('span', { class: 'row wrap' },
        rank('search.score', Number(hit.score).toFixed(4)),
        rank('search.keywordRank', hit.keyword_rank), rank('search.vectorRank', hit.vector_rank))),
    h('p', { class: 'hit-text' }, hit.highlight ? marked(hit.highlight) : hit.text),
    h('p', { class: 'meta-line' },
      h('span', {}, h('span', { i18n: 'search.source' }), `: ${hit.source || hit.doc_id}`),
      hit.page ? h('span', { i18n: 'kb.pageN', i18nVars: { n: hit.page } }) : '',
      hit.heading_path ? h('span', {}, hit.heading_path) : '',
      h('span', {}, `chunk ${hit.chunk_id}`)));
}
