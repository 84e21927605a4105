// Chat: a model or knowledge alias from GET /v1/models, answers streamed from
// /v1/chat/completions (SSE over fetch), a stop button, [n] citation markers that open the cited
// passage. The conversation lives in this module, so it survives switching pages (not a reload).
import { api, streamChat, ApiError } from './api.js';
import { h, fill, field, highlightTerms, setStatus, showError } from './dom.js';

const state = { messages: [], models: [], collections: [], model: '', collection: '' };
let controller = null;
let els = null;

export function reset() {
  if (controller) controller.abort();
  Object.assign(state, { messages: [], models: [], collections: [], model: '', collection: '' });
}

const isAlias = (m) => m && m.owned_by === 'deepkb' && m.knowledge;
const modelById = (id) => state.models.find((m) => m.id === id);

export function render(root) {
  const modelSelect = h('select', { id: 'chat-model', onchange: () => {
    state.model = modelSelect.value;
    syncKnowledge();
  } });
  const collSelect = h('select', { id: 'chat-collection', onchange: () => {
    state.collection = collSelect.value;
  } });
  const input = h('textarea', { id: 'chat-input', rows: 3, required: true,
    i18nAttrs: { placeholder: 'chat.placeholder' } });
  const send = h('button', { type: 'submit', id: 'chat-send', class: 'primary', i18n: 'chat.send' });
  const stop = h('button', { type: 'button', id: 'chat-stop', class: 'secondary', i18n: 'chat.stop',
    disabled: true, onclick: () => controller && controller.abort() });
  const clear = h('button', { type: 'button', id: 'chat-clear', class: 'secondary', i18n: 'chat.clear',
    onclick: () => { state.messages = []; renderConversation(); input.focus(); } });
  const form = h('form', { id: 'chat-form', class: 'chat-form' },
    h('label', { for: 'chat-input', class: 'sr-only', i18n: 'chat.question' }),
    input,
    h('div', { class: 'row' }, send, stop, clear));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const text = input.value.trim();
    if (!text || controller) return;
    input.value = '';
    ask(text);
  });
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      form.requestSubmit();
    }
  });
  const knowledgeRow = h('div', { class: 'field', id: 'chat-knowledge' },
    h('label', { for: 'chat-collection', i18n: 'chat.knowledge' }), collSelect);
  const panel = h('aside', { id: 'citation-panel', class: 'panel', hidden: true, tabindex: '-1',
    'aria-labelledby': 'citation-title' });
  panel.addEventListener('keydown', (e) => { if (e.key === 'Escape') closeCitation(); });

  els = {
    modelSelect, collSelect, knowledgeRow, input, send, stop, panel,
    conversation: h('ol', { id: 'conversation', class: 'conversation', 'aria-live': 'polite',
      'aria-relevant': 'additions text', 'aria-labelledby': 'chat-title' }),
    status: h('p', { id: 'chat-status' }),
    returnFocus: null,
  };
  fill(root,
    h('div', { class: 'chat-layout' },
      h('section', { class: 'chat-main' },
        h('h1', { id: 'chat-title', i18n: 'chat.title' }),
        h('div', { class: 'row wrap' },
          field('chat.model', modelSelect),
          knowledgeRow),
        els.conversation, els.status, form),
      panel));
  renderConversation();
  loadModels();
  input.focus();
}

async function loadModels() {
  try {
    const [models, colls] = await Promise.all([api('GET', '/v1/models'),
      api('GET', '/v1/collections')]);
    state.models = models.data || [];
    state.collections = (colls.collections || []).map((c) => c.name);
  } catch (e) {
    return showError(els.status, e);
  }
  const groups = [
    ['chat.aliases', state.models.filter(isAlias)],
    ['chat.upstreams', state.models.filter((m) => !isAlias(m))],
  ];
  fill(els.modelSelect, groups.filter(([, ms]) => ms.length).map(([label, ms]) =>
    h('optgroup', { i18nAttrs: { label } }, ms.map((m) => h('option', { value: m.id },
      isAlias(m) ? `${m.id} (${m.knowledge.collections.join(', ')})` : m.id)))));
  if (!modelById(state.model)) state.model = (state.models.find(isAlias) || state.models[0] || {}).id || '';
  els.modelSelect.value = state.model;
  fill(els.collSelect, h('option', { value: '', i18n: 'chat.noKnowledge' }),
    state.collections.map((c) => h('option', { value: c }, c)));
  syncKnowledge();
}

// The collection picker applies to plain models only (an alias names its own collections); the
// extractive model needs one.
function syncKnowledge() {
  const m = modelById(state.model);
  els.knowledgeRow.hidden = !m || isAlias(m);
  if (m && m.id === 'extractive' && !state.collection) state.collection = state.collections[0] || '';
  els.collSelect.value = state.collection;
}

function renderConversation() {
  if (!els) return;
  fill(els.conversation, state.messages.map(messageEl));
  if (!state.messages.length) {
    els.conversation.append(h('li', { class: 'empty', i18n: 'chat.empty' }));
  }
}

function messageEl(m) {
  const li = h('li', { class: `msg msg-${m.role}` });
  m.el = li;
  const head = h('div', { class: 'msg-head' },
    h('span', { class: 'msg-role', i18n: m.role === 'user' ? 'chat.you' : 'chat.assistant' }));
  if (m.model) head.append(h('span', { class: 'badge' }, m.model));
  li.append(head);
  if (m.model === 'extractive') {
    li.append(h('p', { class: 'extractive-label', i18n: 'chat.extractive' }));
  }
  if (m.reasoning) {
    li.append(h('details', { class: 'reasoning' }, h('summary', { i18n: 'chat.reasoning' }),
      h('p', {}, m.reasoning)));
  }
  const content = h('div', { class: 'msg-content' });
  if (m.streaming) {
    li.setAttribute('aria-busy', 'true');
    content.append(m.content);
  } else {
    content.append(...withCitationButtons(m));
  }
  li.append(content);
  m.contentEl = content;
  for (const note of (m.knowledge && m.knowledge.notes) || []) {
    li.append(h('p', { class: 'note' }, note));
  }
  const cited = (m.citations || []).filter((c) => c.cited);
  if (cited.length) {
    li.append(h('div', { class: 'sources' }, h('span', { i18n: 'chat.sources' }),
      cited.map((c) => citeButton(m, c, `[${c.index}] ${c.title || c.doc_id}`))));
  }
  if (m.stopped) li.append(h('p', { class: 'status info', i18n: 'chat.stopped' }));
  if (m.error) {
    const p = h('p', { class: 'msg-error' });
    showError(p, m.error);
    li.append(p);
  }
  return li;
}

// The answer with each [n] that names a citation as a button opening that passage.
function withCitationButtons(m) {
  const byIndex = new Map((m.citations || []).map((c) => [c.index, c]));
  const out = [];
  let last = 0;
  const re = /\[(\d+)\]/g;
  for (let r; (r = re.exec(m.content));) {
    const c = byIndex.get(Number(r[1]));
    if (!c) continue;
    if (r.index > last) out.push(m.content.slice(last, r.index));
    out.push(citeButton(m, c, r[0]));
    last = re.lastIndex;
  }
  if (last < m.content.length) out.push(m.content.slice(last));
  return out;
}

function citeButton(m, c, label) {
  return h('button', { type: 'button', class: 'cite', 'data-cite': c.index,
    'aria-label': `${label} — ${c.title || c.doc_id}`,
    onclick: (e) => openCitation(m, c, e.currentTarget) }, label);
}

function openCitation(m, c, from) {
  const row = (key, value) => (value === undefined || value === null || value === '' ? null
    : [h('dt', { i18n: key }), h('dd', {}, String(value))]);
  fill(els.panel,
    h('div', { class: 'row between' },
      h('h2', { id: 'citation-title' }, `[${c.index}] ${c.title || c.doc_id}`),
      h('button', { type: 'button', class: 'secondary', id: 'citation-close', i18n: 'common.close',
        onclick: closeCitation })),
    h('dl', { class: 'meta' },
      row('cite.document', c.doc_id), row('cite.collection', c.kb ? `${c.kb}/${c.collection}` : c.collection),
      row('cite.source', c.source), row('cite.page', c.page),
      row('cite.score', typeof c.score === 'number' ? c.score.toFixed(3) : c.score)),
    h('blockquote', { id: 'citation-text' }, highlightTerms(c.text || '', m.question || '')));
  els.returnFocus = from;
  els.panel.hidden = false;
  els.panel.focus();
}

function closeCitation() {
  els.panel.hidden = true;
  if (els.returnFocus && els.returnFocus.isConnected) els.returnFocus.focus();
}

async function ask(text) {
  const history = state.messages
    .filter((m) => m.content && !m.error)
    .map((m) => ({ role: m.role, content: m.content }));
  const user = { role: 'user', content: text };
  const answer = { role: 'assistant', content: '', reasoning: '', question: text, streaming: true };
  if (!state.messages.length) els.conversation.replaceChildren();
  state.messages.push(user, answer);
  els.conversation.append(messageEl(user), messageEl(answer));
  setStatus(els.status, 'info', 'chat.thinking');

  const request = { model: state.model, messages: [...history, { role: 'user', content: text }] };
  const m = modelById(state.model);
  if (!isAlias(m) && state.collection) request.knowledge = { collections: [state.collection] };
  controller = new AbortController();
  els.send.disabled = true;
  els.stop.disabled = false;
  try {
    await streamChat(request, {
      signal: controller.signal,
      onChunk: (chunk) => {
        if (chunk.model && !answer.model) {
          answer.model = chunk.model;
          if (chunk.model === 'extractive') refresh(answer);
        }
        if (chunk.citations) answer.citations = chunk.citations;
        if (chunk.knowledge) answer.knowledge = chunk.knowledge;
        const delta = (chunk.choices && chunk.choices[0] && chunk.choices[0].delta) || {};
        if (delta.reasoning_content) {
          const first = !answer.reasoning;
          answer.reasoning += delta.reasoning_content;
          if (first) refresh(answer);
          else answer.el.querySelector('.reasoning p').textContent = answer.reasoning;
        }
        if (delta.content) {
          answer.content += delta.content;
          answer.contentEl.append(delta.content);
        }
      },
    });
  } catch (e) {
    if (e.name === 'AbortError') answer.stopped = true;
    else answer.error = e instanceof ApiError ? e : new ApiError(-1, 'internal', String(e));
  } finally {
    controller = null;
    answer.streaming = false;
    refresh(answer);
    els.send.disabled = false;
    els.stop.disabled = true;
    if (answer.error) setStatus(els.status, 'error', 'chat.failed');
    else if (answer.stopped) setStatus(els.status, 'info', 'chat.stopped');
    else setStatus(els.status, 'ok', 'chat.done');
  }
}

function refresh(m) {
  if (!m.el || !m.el.isConnected) return;
  const old = m.el;
  old.replaceWith(messageEl(m));
}
