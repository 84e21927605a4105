// Starts what the UI tests drive: tests/fake_upstream (a scripted LLM engine) and a real
// `deepkb serve` on free loopback ports over a temporary data directory, plus headless Debian
// Chromium through playwright-core. Everything is stopped by stop().
//
// Environment (set by run_test.sh): DEEPKB_BIN, FAKE_UPSTREAM_BIN, UI_TEST_MODULES (the
// node_modules folder of setup.sh), UI_ARTIFACTS (where screenshots go), DEEPKB_CHROMIUM.
import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const env = (name) => {
  if (!process.env[name]) throw new Error(`${name} is not set (run tests/ui/run_test.sh)`);
  return process.env[name];
};

// Spawns `bin args`, resolves with {proc, match} once a stdout line matches `re` (15 s at most).
function startProcess(name, bin, args, re, logFile) {
  return new Promise((resolve, reject) => {
    const proc = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const timer = setTimeout(() => fail(new Error(`${name} did not start in 15 s:\n${out}`)), 15000);
    const fail = (e) => { clearTimeout(timer); proc.kill('SIGKILL'); reject(e); };
    const onData = (d) => {
      out += d;
      writeFileSync(logFile, out);
      const m = re.exec(out);
      if (m) { clearTimeout(timer); resolve({ proc, match: m }); }
    };
    proc.stdout.on('data', onData);
    proc.stderr.on('data', onData);
    proc.on('exit', (code) => fail(new Error(`${name} exited (${code}) before it was ready:\n${out}`)));
    proc.on('error', fail);
  });
}

function stopProcess(proc) {
  if (!proc || proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const kill = setTimeout(() => proc.kill('SIGKILL'), 5000);
    proc.removeAllListeners('exit');
    proc.on('exit', () => { clearTimeout(kill); resolve(); });
    proc.kill('SIGTERM');
  });
}

export async function startStack({ answer, tokenMs }) {
  const work = mkdtempSync(join(tmpdir(), 'deepkb_ui.'));
  const artifacts = env('UI_ARTIFACTS');
  mkdirSync(artifacts, { recursive: true });
  const s = { work, artifacts, procs: [] };
  try {
    const fake = await startProcess('fake_upstream', env('FAKE_UPSTREAM_BIN'),
      ['--answer', answer, '--token-ms', String(tokenMs)], /^port (\d+)/m, join(work, 'fake.log'));
    s.fake = fake.proc;
    s.procs.push(fake.proc);
    const data = join(work, 'data');
    const server = await startProcess('deepkb serve', env('DEEPKB_BIN'),
      ['--data-dir', data, '--log-level', 'warn', 'serve', '--listen', '127.0.0.1:0',
        '--upstream', `fake=http://127.0.0.1:${fake.match[1]},model=fake-model`,
        '--knowledge-alias', 'kb=fake-model,collection=docs', '--chat-timeout', '30'],
      /serving on (http:\/\/[0-9.]+:\d+)/, join(work, 'server.log'));
    s.procs.push(server.proc);
    s.url = server.match[1];
    s.adminKey = readFileSync(join(data, 'admin.key'), 'utf8').trim();

    const require = createRequire(join(env('UI_TEST_MODULES'), 'noop.js'));
    const { chromium } = require('playwright-core');
    s.browser = await chromium.launch({
      executablePath: process.env.DEEPKB_CHROMIUM || '/usr/bin/chromium',
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
  } catch (e) {
    await stopStack(s, true);
    throw e;
  }
  return s;
}

// Stops the fake upstream only (to test the "upstream down" paths).
export const stopUpstream = (s) => stopProcess(s.fake);

export async function stopStack(s, failed = false) {
  if (s.browser) await s.browser.close().catch(() => {});
  await Promise.all(s.procs.map(stopProcess));
  if (failed || process.exitCode) {
    for (const log of ['server.log', 'fake.log']) {
      try {
        const text = readFileSync(join(s.work, log), 'utf8').split('\n').slice(-40).join('\n');
        console.error(`---- ${log} (last 40 lines) ----\n${text}`);
      } catch { /* not started */ }
    }
  }
  rmSync(s.work, { recursive: true, force: true });
}

// An API call with a key (for set-up and for checking what the UI did).
export async function apiCall(s, key, method, path, body) {
  const res = await fetch(s.url + path, {
    method,
    headers: { Authorization: `Bearer ${key}`, ...(body ? { 'Content-Type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, json, text };
}
