// The HTTP API as the UI uses it. The key lives in sessionStorage (gone when the tab closes) and
// travels only in the Authorization header — never in a URL.
const KEY = 'deepkb.apiKey';

export const session = {
  key: () => sessionStorage.getItem(KEY),
  set: (k) => sessionStorage.setItem(KEY, k),
  clear: () => sessionStorage.removeItem(KEY),
};

// An HTTP error with the contract's error body: status, code (canonical), message (the server's).
export class ApiError extends Error {
  constructor(status, code, message, retryAfter) {
    super(message);
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
  }
}

async function errorFrom(res) {
  let code = 'unknown';
  let message = res.statusText;
  try {
    const body = await res.json();
    if (body && body.error) ({ code = code, message = message } = body.error);
  } catch { /* not JSON: keep the status text */ }
  return new ApiError(res.status, code, message, res.headers.get('Retry-After'));
}

function headers(extra = {}) {
  const h = { ...extra };
  const k = session.key();
  if (k) h.Authorization = `Bearer ${k}`;
  return h;
}

// fetch + the error shape; network failures become ApiError with status 0.
async function send(method, path, { body, signal, accept } = {}) {
  const init = { method, signal, headers: headers(accept ? { Accept: accept } : {}), cache: 'no-store' };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, 'network', e.message);
  }
  if (!res.ok) throw await errorFrom(res);
  return res;
}

export async function api(method, path, body) {
  const res = await send(method, path, { body });
  return res.status === 204 ? null : res.json();
}

export async function apiText(path) {
  return (await send('GET', path)).text();
}

// Path segment encoding for collection names and document ids (ids may hold '/').
export const seg = (s) => encodeURIComponent(s);

// Server-Sent Events: feed text in arbitrary pieces, get back the `data` of each complete event
// (multi-line data joined with '\n'; comments and other fields ignored; \n, \r\n, \r line ends).
export class SseParser {
  constructor() { this.buf = ''; this.data = []; }

  push(text) {
    this.buf += text;
    const events = [];
    for (;;) {
      const m = /\r\n|\r|\n/.exec(this.buf);
      if (!m) break;
      // A lone '\r' at the end may be the first half of '\r\n': wait for more.
      if (m[0] === '\r' && m.index === this.buf.length - 1) break;
      const line = this.buf.slice(0, m.index);
      this.buf = this.buf.slice(m.index + m[0].length);
      if (line === '') {
        if (this.data.length) events.push(this.data.join('\n'));
        this.data = [];
      } else if (line.startsWith('data:')) {
        this.data.push(line.slice(line[5] === ' ' ? 6 : 5));
      }
    }
    return events;
  }
}

// POST /v1/chat/completions with stream: true. Calls onChunk(obj) for every chunk; resolves when
// [DONE] arrives; rejects with ApiError for an HTTP error or an error object inside the stream,
// with AbortError when `signal` fires.
export async function streamChat(request, { signal, onChunk }) {
  const res = await send('POST', '/v1/chat/completions',
    { body: { ...request, stream: true }, signal, accept: 'text/event-stream' });
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  const sse = new SseParser();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) throw new ApiError(502, 'unavailable', 'the answer stream ended before [DONE]');
    for (const data of sse.push(value)) {
      if (data === '[DONE]') { reader.cancel().catch(() => {}); return; }
      const obj = JSON.parse(data);
      if (obj.error) throw new ApiError(500, obj.error.code || 'internal', obj.error.message || '');
      onChunk(obj);
    }
  }
}

// Multipart upload of one file with progress (XMLHttpRequest: fetch has no upload progress).
// onProgress(fraction 0..1). Resolves with the per-file result of the upload route.
export function uploadFile(collection, file, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', `/v1/collections/${seg(collection)}/documents`);
    const k = session.key();
    if (k) xhr.setRequestHeader('Authorization', `Bearer ${k}`);
    xhr.responseType = 'json';
    xhr.upload.addEventListener('progress', (e) => {
      if (e.lengthComputable) onProgress(e.loaded / e.total);
    });
    xhr.addEventListener('load', () => {
      const body = xhr.response;
      if (xhr.status >= 200 && xhr.status < 300 && body && body.results) {
        onProgress(1);
        resolve(body.results[0]);
      } else {
        const e = (body && body.error) || {};
        reject(new ApiError(xhr.status, e.code || 'unknown', e.message || xhr.statusText,
          xhr.getResponseHeader('Retry-After')));
      }
    });
    xhr.addEventListener('error', () => reject(new ApiError(0, 'network', 'network error')));
    const form = new FormData();
    form.append('file', file, file.name);
    xhr.send(form);
  });
}
