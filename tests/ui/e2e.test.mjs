// End-to-end tests of the web UI: headless Chromium (playwright-core) against a real
// `deepkb serve` whose LLM upstream is tests/fake_upstream. The steps build on each other (one
// server, one knowledge base) and run in order. Screenshots go to $UI_ARTIFACTS.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { join } from 'node:path';
import { apiCall, startStack, stopStack, stopUpstream } from './harness.mjs';

const ANSWER = 'The Kestrel ferry docks at bay seven [1]. Its cargo limit is in the manual too.';
const FERRY = '# Kestrel Ferry Manual\n\nThe Kestrel orbital ferry docks at bay seven every ' +
  'Tuesday. Its maximum cargo load is 412 kilograms.\n';
const TEA = '茶园管理手册\n\n龙井茶园每年三月开始采摘新茶。鲜叶必须在四小时内送到炒茶车间。\n';

let s;
let page;
const problems = [];  // console errors, page errors, CSP violations: must stay empty

const shot = (name) => page.screenshot({ path: join(s.artifacts, `${name}.png`), fullPage: true });
const text = (sel) => page.locator(sel).innerText();

async function newPage(viewport = { width: 1280, height: 860 }) {
  if (page) await page.context().close();
  const ctx = await s.browser.newContext({ viewport, locale: 'en-US' });
  page = await ctx.newPage();
  page.setDefaultTimeout(10000);
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`); });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  await page.goto(s.url + '/');
}

async function signIn(key) {
  await page.fill('#api-key', key);
  await page.press('#api-key', 'Enter');
}

async function signOut() {
  await page.click('#signout');
  await page.waitForSelector('#signin');
}

before(async () => {
  s = await startStack({ answer: ANSWER, tokenMs: 40 });
  await newPage();
});

after(async () => {
  if (s) await stopStack(s);
});

test('static files: CSP, nosniff, ETag revalidation; the API still needs a key', async () => {
  const res = await fetch(s.url + '/');
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type'), /^text\/html/);
  assert.match(res.headers.get('content-security-policy'), /default-src 'self'/);
  assert.doesNotMatch(res.headers.get('content-security-policy'), /unsafe-inline|unsafe-eval/);
  assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
  const etag = res.headers.get('etag');
  assert.match(etag, /^"[0-9a-f]{32}"$/);
  const again = await fetch(s.url + '/', { headers: { 'If-None-Match': etag } });
  assert.equal(again.status, 304);
  const js = await fetch(s.url + '/ui/js/app.js');
  assert.equal(js.status, 200);
  assert.match(js.headers.get('content-type'), /^text\/javascript/);
  assert.notEqual(js.headers.get('etag'), etag);
  assert.equal((await fetch(s.url + '/ui/js/nope.js')).status, 404);
  assert.equal((await fetch(s.url + '/ui/../kb.db')).status, 404);
  assert.equal((await fetch(s.url + '/v1/whoami')).status, 401);
  assert.equal((await fetch(s.url + '/v1/collections')).status, 401);
});

test('sign in: a wrong key is refused, the admin key gets every page, the key never enters the URL', async () => {
  await signIn('dkb_0123456789abcdef_' + '0'.repeat(64));
  await page.waitForSelector('#signin-status.error');
  assert.match(await text('#signin-status'), /not accepted/);
  await shot('signin');
  await signIn(s.adminKey);
  await page.waitForSelector('#nav-admin');
  for (const id of ['#nav-chat', '#nav-kb', '#nav-search', '#nav-admin']) {
    assert.equal(await page.locator(id).count(), 1, id);
  }
  assert.ok(!page.url().includes(s.adminKey.slice(4, 20)));
  assert.equal(await page.evaluate(() => sessionStorage.getItem('deepkb.apiKey')), s.adminKey);
  assert.equal(await page.evaluate(() => localStorage.getItem('deepkb.apiKey')), null);
  // A reload keeps the session (sessionStorage), without asking again.
  await page.reload();
  await page.waitForSelector('#nav-admin');
});

test('knowledge bases: create a collection, upload by file picker and by drag and drop', async () => {
  await page.click('#nav-kb');
  await page.fill('#new-collection', 'docs');
  await page.click('#create-collection button[type=submit]');
  await page.waitForSelector('#collections-table a.coll-link:text("docs")');
  await page.click('a.coll-link:text("docs")');
  await page.waitForSelector('#dropzone');

  await page.setInputFiles('#upload-input', [
    { name: 'kestrel-ferry.md', mimeType: 'text/markdown', buffer: Buffer.from(FERRY) },
    { name: 'longjing-tea.txt', mimeType: 'text/plain', buffer: Buffer.from(TEA) },
  ]);
  await page.waitForSelector('#upload-list li[data-file="longjing-tea.txt"][data-status]');
  assert.equal(await page.getAttribute('#upload-list li[data-file="kestrel-ferry.md"]', 'data-status'), 'created');
  assert.match(await text('#upload-list li[data-file="kestrel-ferry.md"] .result'), /added \(\d+ chunks\)/);
  assert.equal(await page.locator('#upload-list li[data-file="kestrel-ferry.md"] progress').evaluate((p) => p.value), 1);

  // Drag and drop: a DataTransfer with two files dropped on the zone; the broken PDF fails with
  // its reason, the same markdown again is "unchanged", a new file is added.
  await page.evaluate(([ferry]) => {
    const dt = new DataTransfer();
    dt.items.add(new File(['%PDF-1.4 this is not really a PDF'], 'broken.pdf', { type: 'application/pdf' }));
    dt.items.add(new File([ferry], 'kestrel-ferry.md', { type: 'text/markdown' }));
    dt.items.add(new File(['a scratch note'], 'scratch.txt', { type: 'text/plain' }));
    const zone = document.getElementById('dropzone');
    zone.dispatchEvent(new DragEvent('dragover', { dataTransfer: dt, bubbles: true, cancelable: true }));
    zone.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
  }, [FERRY]);
  await page.waitForSelector('#upload-list li[data-file="broken.pdf"][data-status="failed"]');
  assert.match(await text('#upload-list li[data-file="broken.pdf"] .result'), /failed: .+/);
  await page.waitForSelector('#upload-list li[data-file="kestrel-ferry.md"][data-status="unchanged"]');

  await page.waitForSelector('#upload-list li[data-file="scratch.txt"][data-status="created"]');

  // The documents list; deleting one asks first (Cancel keeps it); its filter; a document's chunks.
  const rows = page.locator('#documents-table tbody tr');
  await page.waitForFunction(() => document.querySelectorAll('#documents-table tbody tr').length === 3);
  await page.click('button.danger[data-doc="scratch.txt"]');
  await page.click('dialog.confirm button.secondary');
  assert.equal(await rows.count(), 3);
  await page.click('button.danger[data-doc="scratch.txt"]');
  assert.match(await text('dialog.confirm'), /Delete document “scratch\.txt”/);
  await page.click('dialog.confirm button.danger');
  await page.waitForSelector('#docs-status.ok');
  await page.waitForFunction(() => document.querySelectorAll('#documents-table tbody tr').length === 2);
  await page.fill('#doc-filter', 'tea');
  assert.equal(await page.locator('#documents-table tbody tr').count(), 1);
  await page.fill('#doc-filter', '');
  await page.click('button[data-doc="kestrel-ferry.md"]:text("Chunks")');
  await page.waitForSelector('#chunks:not([hidden]) .chunk-text');
  assert.match(await text('#chunks'), /bay seven/);
  await shot('kb-collection');

  await page.click('#nav-kb');
  await page.waitForSelector('#collections-table');
  const row = page.locator('#collections-table tbody tr', { hasText: 'docs' });
  assert.equal(await row.locator('td').nth(1).innerText(), '2');
  await shot('knowledge-bases');

  // Deleting a collection, confirmed in a modal dialog.
  await page.fill('#new-collection', 'scratch');
  await page.click('#create-collection button[type=submit]');
  await page.waitForSelector('button[data-collection="scratch"]');
  await page.click('button[data-collection="scratch"]');
  assert.match(await text('dialog.confirm'), /Delete collection “scratch”/);
  await page.keyboard.press('Escape');  // the dialog's cancel
  assert.equal(await page.locator('button[data-collection="scratch"]').count(), 1);
  await page.click('button[data-collection="scratch"]');
  await page.click('dialog.confirm button.danger');
  await page.waitForSelector('#kb-status.ok');
  await page.waitForSelector('button[data-collection="scratch"]', { state: 'detached' });
  assert.equal((await apiCall(s, s.adminKey, 'GET', '/v1/collections/scratch')).status, 404);
});

test('search playground: hits with ranks, score, highlight and source', async () => {
  await page.click('#nav-search');
  await page.waitForSelector('#s-collection option[value="docs"]', { state: 'attached' });
  await page.fill('#s-query', 'Kestrel cargo');
  await page.selectOption('#s-mode', 'keyword');
  await page.click('#search-form button[type=submit]');
  await page.waitForSelector('#hits li.hit');
  const first = page.locator('#hits li.hit').first();
  assert.match(await first.innerText(), /Kestrel Ferry Manual/);
  assert.match(await first.innerText(), /keyword rank: 1/);
  assert.match(await first.innerText(), /source: kestrel-ferry\.md/);
  assert.ok(await first.locator('mark').count() > 0, 'highlighted terms');
  assert.match(await text('#search-status'), /hits in .* ms \(keyword\)/);
  // A malformed filter is caught before it is sent.
  await page.click('.advanced summary');
  await page.fill('#s-filter', '{"doc_id": ');
  await page.click('#search-form button[type=submit]');
  await page.waitForSelector('#search-status.error');
  await page.fill('#s-filter', '{"doc_id": {"$in": ["longjing-tea.txt"]}}');
  await page.fill('#s-query', '龙井 采摘');
  await page.selectOption('#s-mode', 'hybrid');
  await page.click('#search-form button[type=submit]');
  await page.waitForSelector('#search-status.ok');
  assert.equal(await page.locator('#hits li.hit').count(), 1);
  assert.match(await text('#hits'), /longjing-tea\.txt/);
  await shot('search');
});

test('chat: streamed answer, clickable citation opens the passage, stop button, keyboard', async () => {
  await page.click('#nav-chat');
  await page.waitForSelector('#chat-model option[value="kb"]', { state: 'attached' });
  assert.equal(await page.inputValue('#chat-model'), 'kb');
  assert.equal(await page.isVisible('#chat-knowledge'), false, 'an alias names its own collections');
  await page.fill('#chat-input', 'Where does the Kestrel ferry dock?');
  await page.press('#chat-input', 'Enter');  // Enter sends
  // While streaming: partial text shown, stop enabled, the message marked busy.
  await page.waitForFunction(() => {
    const m = document.querySelector('.msg-assistant[aria-busy="true"] .msg-content');
    return m && m.textContent.length > 0;
  });
  assert.equal(await page.isEnabled('#chat-stop'), true);
  const partial = await text('.msg-assistant .msg-content');
  assert.ok(partial.length < ANSWER.length, `partial "${partial}"`);
  await page.waitForSelector('#chat-status.ok');
  const answer = page.locator('.msg-assistant').last();
  assert.match(await answer.innerText(), /docks at bay seven/);
  assert.equal(await page.isEnabled('#chat-stop'), false);
  assert.equal(await page.getAttribute('#conversation', 'aria-live'), 'polite');

  const cite = answer.locator('.msg-content button.cite[data-cite="1"]');
  await cite.click();
  await page.waitForSelector('#citation-panel:not([hidden])');
  assert.match(await text('#citation-title'), /\[1\] Kestrel Ferry Manual/);
  assert.match(await text('#citation-text'), /docks at bay seven/);
  assert.ok(await page.locator('#citation-text mark').count() > 0, 'question terms highlighted');
  assert.match(await text('#citation-panel'), /kestrel-ferry\.md/);
  await shot('chat-citation');
  await page.keyboard.press('Escape');  // closes the panel, focus back on the marker
  await page.waitForSelector('#citation-panel[hidden]', { state: 'attached' });
  assert.equal(await page.evaluate(() => document.activeElement.dataset.cite), '1');

  // A follow-up, stopped while it streams; the conversation keeps both turns.
  await page.fill('#chat-input', 'And the cargo limit?');
  await page.click('#chat-send');
  await page.waitForFunction(() => {
    const m = document.querySelector('.msg-assistant[aria-busy="true"] .msg-content');
    return m && m.textContent.length > 0;
  });
  await page.click('#chat-stop');
  await page.waitForSelector('.msg-assistant:last-child .status.info');
  await page.waitForSelector('#chat-status.info');
  assert.match(await text('#chat-status'), /Stopped/);
  assert.equal(await page.locator('#conversation .msg-user').count(), 2);
  await shot('chat');
});

test('admin: create a key (shown once), revoke it; audit log, sync and health', async () => {
  await page.click('#nav-admin');
  await page.selectOption('#key-role', 'reader');
  await page.fill('#key-scope', 'docs');
  await page.click('#key-form button[type=submit]');
  await page.waitForSelector('#new-key-value');
  const key = await page.inputValue('#new-key-value');
  assert.match(key, /^dkb_/);
  const who = await apiCall(s, key, 'GET', '/v1/whoami');
  assert.equal(who.status, 200);
  assert.deepEqual(who.json.collections, ['docs']);
  const row = page.locator('#keys-table tbody tr', { hasText: who.json.key_id });
  await row.waitFor();
  assert.match(await row.innerText(), /reader/);
  // Shown once: after "Done" the key is nowhere on the page, and the list never has it.
  await page.click('#new-key button:text("Done")');
  assert.ok(!(await page.content()).includes(key));

  await row.locator('button:text("Revoke")').click();
  await page.click('dialog.confirm button.danger');
  await page.locator('#keys-table tbody tr', { hasText: who.json.key_id }).filter({ hasText: 'revoked' }).waitFor();
  assert.equal((await apiCall(s, key, 'GET', '/v1/whoami')).status, 401);

  await page.click('#admin-audit button[type=submit]');
  await page.waitForSelector('#audit-table td:text("key.revoke")');
  await page.waitForSelector('#admin-sync .section-status:not(:empty), #sync-table');
  await page.waitForSelector('#readyz.ok');
  await page.waitForSelector('#metrics-collections td:text("docs")');
  await page.waitForSelector('#upstreams-table td:text("fake")');
  assert.match(await text('#upstreams-table'), /closed/);
  assert.match(await text('#disk-ratio'), /%/);
  await shot('admin');
});

test('a reader key: no admin page, no write controls; a guest key: no access at all', async () => {
  const reader = (await apiCall(s, s.adminKey, 'POST', '/v1/keys', { role: 'reader' })).json.key;
  const guest = (await apiCall(s, s.adminKey, 'POST', '/v1/keys', { role: 'guest' })).json.key;
  await signOut();
  assert.equal(await page.evaluate(() => sessionStorage.getItem('deepkb.apiKey')), null);
  await signIn(reader);
  await page.waitForSelector('#nav-kb');
  assert.equal(await page.locator('#nav-admin').count(), 0);
  await page.click('#nav-kb');
  await page.waitForSelector('#collections-table');
  assert.equal(await page.locator('#create-collection').count(), 0);
  assert.equal(await page.locator('#collections-table button:text("Delete")').count(), 0);
  await page.click('a.coll-link:text("docs")');
  await page.waitForSelector('#documents-table');
  assert.equal(await page.locator('#dropzone').count(), 0);
  await page.evaluate(() => { location.hash = '#/admin'; });
  await page.waitForSelector('#no-access');
  assert.equal(await page.locator('#keys-table').count(), 0);
  await shot('reader-no-access');

  await signOut();
  await signIn(guest);
  await page.waitForSelector('#no-access-key');
  assert.match(await text('#no-access-key'), /no access/);
  await signOut();
});

test('Chinese interface, switchable and remembered', async () => {
  await page.selectOption('#lang', 'zh');
  assert.equal(await text('#signin h1'), '登录');
  assert.equal(await page.getAttribute('html', 'lang'), 'zh-CN');
  await signIn(s.adminKey);
  await page.waitForSelector('#nav-chat');
  assert.equal(await text('#nav-chat'), '对话');
  assert.equal(await text('#nav-kb'), '知识库');
  await page.click('#nav-kb');
  await page.waitForSelector('#collections-table');
  assert.equal(await text('#collections-table th:first-child'), '名称');
  await shot('knowledge-bases-zh');
  await page.reload();
  await page.waitForSelector('#nav-chat');
  assert.equal(await text('#nav-chat'), '对话');
  await page.selectOption('#lang', 'en');
  assert.equal(await text('#nav-chat'), 'Chat');
});

test('keyboard: the skip link comes first and moves focus to the content, keeping the page', async () => {
  await page.evaluate(() => { location.hash = '#/search'; });
  await page.reload();  // a fresh page: sequential focus starts at the top
  await page.waitForSelector('#search-form');
  const focused = () => page.evaluate(() => document.activeElement.id || document.activeElement.className);
  await page.keyboard.press('Tab');
  assert.equal(await focused(), 'skip');
  await page.keyboard.press('Tab');  // the brand is not a stop; the first nav link is
  assert.equal(await focused(), 'nav-chat');
  await page.keyboard.press('Shift+Tab');
  await page.keyboard.press('Enter');
  assert.equal(await focused(), 'main');
  assert.match(page.url(), /#\/search$/);
  await page.keyboard.press('Tab');  // from the content's start to its first control
  assert.equal(await focused(), 's-collection');
});

test('phone screen: no horizontal scrolling on the main pages', async () => {
  await newPage({ width: 390, height: 844 });
  await signIn(s.adminKey);
  for (const view of ['chat', 'kb', 'search', 'admin']) {
    await page.evaluate((v) => { location.hash = `#/${v}`; }, view);
    await page.waitForSelector(`.view-${view} h1`);
    await page.waitForTimeout(200);
    const overflow = await page.evaluate(() =>
      document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.ok(overflow <= 0, `${view} overflows by ${overflow}px`);
    await shot(`phone-${view}`);
  }
});

test('upstream down: a knowledge alias answers extractively (labelled), a plain model errors clearly', async () => {
  await stopUpstream(s);
  await page.evaluate(() => { location.hash = '#/chat'; });
  await page.waitForSelector('#chat-model option[value="kb"]', { state: 'attached' });
  await page.fill('#chat-input', 'Where does the Kestrel ferry dock?');
  await page.click('#chat-send');
  await page.waitForSelector('#chat-status.ok, #chat-status.error', { timeout: 20000 });
  const answer = page.locator('.msg-assistant').last();
  assert.equal(await answer.locator('.extractive-label').count(), 1, await answer.innerText());
  assert.ok(await answer.locator('button.cite').count() > 0);

  await page.selectOption('#chat-model', 'fake-model');
  assert.equal(await page.isVisible('#chat-knowledge'), true, 'a plain model may retrieve');
  await page.fill('#chat-input', 'Hello?');
  await page.click('#chat-send');
  await page.waitForSelector('.msg-assistant:last-child .msg-error', { timeout: 20000 });
  assert.match(await text('.msg-assistant:last-child .msg-error'), /unavailable/i);
  await shot('phone-chat-upstream-down');
});

test('no console errors, page errors or CSP violations', () => {
  // Failed fetches the tests caused on purpose (401 for a wrong key, 403 for the guest key, 404 for a node without sync, 503 upstream) are logged by
  // Chromium as resource errors; anything else is a bug.
  const real = problems.filter((p) => !/Failed to load resource: the server responded with a status of (401|403|404|503)/.test(p));
  assert.deepEqual(real, []);
});
