// Entry point: language, sign-in, navigation and the hash router (#/chat, #/kb, #/kb/NAME,
// #/search, #/admin). What is shown follows GET /v1/whoami: the admin page only for admin keys,
// write controls only for admin and writer keys; a guest key (403 there) sees "no access".
import { api, session, ApiError } from './api.js';
import { h, fill, translateTree, setStatus, showError } from './dom.js';
import { initialLang, setLang, lang } from './i18n.js';
import * as chat from './chat.js';
import * as kb from './kb.js';
import * as search from './search.js';
import * as admin from './admin.js';

const VIEWS = {
  chat: { view: chat, label: 'nav.chat' },
  kb: { view: kb, label: 'nav.kb' },
  search: { view: search, label: 'nav.search' },
  admin: { view: admin, label: 'nav.admin', adminOnly: true },
};

const main = document.getElementById('main');
const nav = document.getElementById('nav');
const who = document.getElementById('who');
const signout = document.getElementById('signout');
const langSelect = document.getElementById('lang');
let current = { who: null };

function applyLang(code, remember) {
  setLang(code, remember);
  langSelect.value = lang();
  document.documentElement.lang = lang() === 'zh' ? 'zh-CN' : 'en';
  translateTree(document.body);
}

function showSignIn(messageKey) {
  current = { who: null };
  nav.hidden = true;
  signout.hidden = true;
  fill(who);
  const input = h('input', { id: 'api-key', type: 'password', autocomplete: 'off',
    spellcheck: 'false', required: true, 'aria-describedby': 'signin-help' });
  const status = h('p', { id: 'signin-status', 'aria-live': 'polite' });
  // No action/method target: submission is handled here, and CSP form-action 'none' stops the
  // browser from ever sending the key in a URL even if this handler did not run.
  const form = h('form', { id: 'signin', class: 'card narrow', method: 'post' },
    h('h1', { i18n: 'signin.title' }),
    h('label', { for: 'api-key', i18n: 'signin.key' }),
    input,
    h('p', { id: 'signin-help', class: 'hint', i18n: 'signin.help' }),
    h('button', { type: 'submit', class: 'primary', i18n: 'signin.submit' }),
    status);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const key = input.value.trim();
    if (key) signIn(key);
  });
  fill(main, form);
  if (messageKey) setStatus(status, 'error', messageKey);
  input.focus();
}

function showKeyWithoutAccess() {
  nav.hidden = true;
  signout.hidden = false;
  fill(main, h('section', { id: 'no-access-key', class: 'card narrow', role: 'alert' },
    h('h1', { i18n: 'noaccess.keyTitle' }),
    h('p', { i18n: 'noaccess.keyText' })));
}

async function signIn(key) {
  session.set(key);
  try {
    current = { who: await api('GET', '/v1/whoami') };
  } catch (e) {
    if (e instanceof ApiError && e.status === 403) return showKeyWithoutAccess();
    session.clear();
    if (e instanceof ApiError && e.status === 401) return showSignIn('signin.invalid');
    showSignIn();
    return showError(document.getElementById('signin-status'), e);
  }
  renderChrome();
  if (!location.hash || location.hash === '#') location.hash = '#/chat';
  else route();
}

function signOut() {
  session.clear();
  chat.reset();
  history.replaceState(null, '', location.pathname);
  showSignIn();
}

function renderChrome() {
  const w = current.who;
  nav.hidden = false;
  signout.hidden = false;
  fill(who, h('span', { class: 'badge', i18n: `role.${w.role}` }),
    w.collections.length ? ` ${w.collections.join(', ')}` : '');
  const links = Object.entries(VIEWS)
    .filter(([, v]) => !v.adminOnly || w.role === 'admin')
    .map(([name, v]) => h('a', { href: `#/${name}`, id: `nav-${name}`, i18n: v.label }));
  fill(nav, h('ul', {}, links.map((a) => h('li', {}, a))));
}

function route() {
  if (!current.who) return;
  const [name = 'chat', ...rest] = location.hash.replace(/^#\/?/, '').split('/');
  const entry = VIEWS[name] || VIEWS.chat;
  nav.querySelectorAll('a').forEach((a) => {
    if (a.id === `nav-${name}`) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  });
  const root = h('div', { class: `view view-${name}` });
  fill(main, root);
  if (entry.adminOnly && current.who.role !== 'admin') {
    root.append(h('section', { id: 'no-access', class: 'card narrow', role: 'alert' },
      h('h1', { i18n: 'noaccess.title' }), h('p', { i18n: 'noaccess.text' })));
    return;
  }
  entry.view.render(root, {
    who: current.who,
    canWrite: current.who.role === 'admin' || current.who.role === 'writer',
    arg: rest.map(decodeURIComponent).join('/'),
  });
}

langSelect.addEventListener('change', () => applyLang(langSelect.value, true));
// The skip link moves focus without touching the hash (which is the router's).
document.querySelector('.skip').addEventListener('click', (e) => {
  e.preventDefault();
  main.focus();
});
signout.addEventListener('click', signOut);
window.addEventListener('hashchange', () => {
  route();
  main.focus({ preventScroll: true });
});

applyLang(initialLang(), false);
if (session.key()) signIn(session.key());
else showSignIn();
