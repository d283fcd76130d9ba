// Malformed and hostile requests to `pocket serve`: each gets the right status and an error body
// in the API's shape, and the server keeps serving: broken JSON, wrong field types, deep
// nesting, invalid UTF-8, wrong content types, unknown routes and models, huge bodies and
// headers, garbage on the wire, over-long prompts, slow-loris and half-open connections, a client
// that never reads, and the API key.
//
//   cd tests/server && POCKET_BINARY=../../build/pocket node robustness_test.mjs
import net from 'node:net';
import { startServer, sharedPath, runChecks, assert, assertEqual } from './harness.mjs';

const model = sharedPath('models/stories260K.gguf');
const server = await startServer(['-m', model, '--parallel', '4', '-q']);
const url = server.url;
const { hostname: host, port } = new URL(url);
const MAX_BODY = 16 << 20;  // the default --max-body (16 MiB)
const READ_TIMEOUT_S = 15;  // ServerOptions::read_timeout; `pocket serve` has no option for it

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---- raw sockets --------------------------------------------------------------------------

// Sends `parts` (strings or Buffers; a number pauses that many ms) on a fresh connection and
// reads one HTTP response. Resolves {status, headers, body, closed, timedOut, ms, error}: once a
// whole response (by Content-Length) arrived, when the server closes, or after timeoutMs.
function rawRequest(parts, { timeoutMs = 10000, target = { host, port } } = {}) {
  return new Promise((resolve) => {
    const started = Date.now();
    const socket = net.connect(target.port, target.host);
    let data = Buffer.alloc(0);
    let settled = false;
    let writeError = null;
    const finish = (extra) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ ...parseResponse(data), ms: Date.now() - started, writeError, ...extra });
    };
    const timer = setTimeout(() => finish({ timedOut: true }), timeoutMs);
    socket.on('data', (chunk) => {
      data = Buffer.concat([data, chunk]);
      const r = parseResponse(data);
      if (r.complete) finish({ closed: false });
    });
    socket.on('error', (e) => { writeError = e.code || String(e); });
    socket.on('close', () => finish({ closed: true }));
    socket.on('connect', async () => {
      for (const part of parts) {
        if (settled || socket.destroyed) break;
        if (typeof part === 'number') {
          await sleep(part);
          continue;
        }
        // Waits for the kernel to take each part, so a large body is not buffered in node.
        if (!socket.write(part)) {
          await new Promise((r) => {
            const done = () => {
              socket.off('drain', done);
              socket.off('close', done);
              r();
            };
            socket.on('drain', done);
            socket.on('close', done);
          });
        }
      }
    });
  });
}

function parseResponse(buf) {
  const text = buf.toString('latin1');
  const end = text.indexOf('\r\n\r\n');
  if (end < 0) return { status: null, headers: {}, body: '', complete: false, raw: text };
  const lines = text.slice(0, end).split('\r\n');
  const m = lines[0].match(/^HTTP\/1\.[01] (\d{3})/);
  const headers = {};
  for (const line of lines.slice(1)) {
    const c = line.indexOf(':');
    if (c > 0) headers[line.slice(0, c).trim().toLowerCase()] = line.slice(c + 1).trim();
  }
  const bodyBytes = buf.subarray(Buffer.byteLength(text.slice(0, end + 4), 'latin1'));
  const length = headers['content-length'] !== undefined ? Number(headers['content-length']) : null;
  const complete = length !== null && bodyBytes.length >= length;
  return {
    status: m ? Number(m[1]) : null,
    headers,
    body: bodyBytes.toString('utf8'),
    complete,
    raw: text.slice(0, 300),
  };
}

// ---- error shapes ---------------------------------------------------------------------------

function parseJson(text, what) {
  try {
    return JSON.parse(text);
  } catch {
    throw new Error(`${what}: the body is not JSON: ${JSON.stringify(text.slice(0, 300))}`);
  }
}

// {"error": {"message", "type", "param", "code"}}, all four keys present.
function assertOpenAiError(text, what) {
  const body = parseJson(text, what);
  const e = body && body.error;
  assert(e && typeof e === 'object' && typeof e.message === 'string' && e.message.length > 0 &&
           typeof e.type === 'string' && 'param' in e && 'code' in e,
         `${what}: not an OpenAI error body: ${text.slice(0, 300)}`);
  return e;
}

// {"error": "..."}
function assertOllamaError(text, what) {
  const body = parseJson(text, what);
  assert(body && typeof body.error === 'string' && body.error.length > 0,
         `${what}: not an Ollama error body: ${text.slice(0, 300)}`);
  return body.error;
}

async function post(path, body, headers = { 'Content-Type': 'application/json' }) {
  const res = await fetch(url + path, { method: 'POST', headers, body });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

// ---- the table of malformed requests ----------------------------------------------------------

const CHAT = '/v1/chat/completions';
const COMPLETIONS = '/v1/completions';
const user = [{ role: 'user', content: 'hi' }];
const chat = (extra) => JSON.stringify({ messages: user, max_tokens: 4, ...extra });
const completion = (extra) => JSON.stringify({ prompt: 'Once', max_tokens: 4, ...extra });

// [name, path, body (string or Buffer), expected status, param/message check (optional)]
const badRequests = [
  ['truncated JSON', CHAT, '{"messages": [{"role": "user", "content": "hi"', 400],
  ['truncated JSON (half a string)', CHAT, '{"messages": "ab', 400],
  ['empty body', CHAT, '', 400],
  ['body null', CHAT, 'null', 400],
  ['body []', CHAT, '[]', 400],
  ['body "x"', CHAT, '"x"', 400],
  ['body 42', COMPLETIONS, '42', 400],
  ['trailing garbage after the object', CHAT, chat() + ' xyz', 400],
  ['NaN literal', CHAT, '{"messages": [], "temperature": NaN}', 400],
  ['single-quoted JSON', CHAT, "{'messages': []}", 400],
  ['temperature "hot"', CHAT, chat({ temperature: 'hot' }), 400, 'temperature'],
  ['temperature 5 (out of range)', CHAT, chat({ temperature: 5 }), 400, 'temperature'],
  ['top_p -1', CHAT, chat({ top_p: -1 }), 400, 'top_p'],
  ['presence_penalty 10', CHAT, chat({ presence_penalty: 10 }), 400, 'presence_penalty'],
  ['max_tokens -5', CHAT, chat({ max_tokens: -5 }), 400, 'max_tokens'],
  ['max_tokens 2.5', CHAT, chat({ max_tokens: 2.5 }), 400, 'max_tokens'],
  ['max_tokens 1e400', CHAT, chat().replace('"max_tokens":4', '"max_tokens":1e400'), 400,
   'max_tokens'],
  ['max_tokens 99999999999999999999', CHAT,
   chat().replace('"max_tokens":4', '"max_tokens":99999999999999999999'), 400, 'max_tokens'],
  ['max_tokens "10"', CHAT, chat({ max_tokens: '10' }), 400, 'max_tokens'],
  ['messages a string', CHAT, JSON.stringify({ messages: 'hi' }), 400, 'messages'],
  ['messages an object', CHAT, JSON.stringify({ messages: { role: 'user' } }), 400, 'messages'],
  ['messages missing', CHAT, JSON.stringify({ max_tokens: 4 }), 400, 'messages'],
  ['messages empty', CHAT, JSON.stringify({ messages: [] }), 400, 'messages'],
  ['message without role', CHAT, JSON.stringify({ messages: [{ content: 'hi' }] }), 400,
   'messages[0].role'],
  ['role "wizard"', CHAT, JSON.stringify({ messages: [{ role: 'wizard', content: 'hi' }] }), 400,
   'messages[0].role'],
  ['content 42', CHAT, JSON.stringify({ messages: [{ role: 'user', content: 42 }] }), 400,
   'messages[0].content'],
  ['message is a string', CHAT, JSON.stringify({ messages: ['hi'] }), 400, 'messages[0]'],
  ['content part of type image_url', CHAT,
   JSON.stringify({ messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'x' } }] }] }),
   400, 'messages[0].content[0].type'],
  ['stop 17', CHAT, chat({ stop: 17 }), 400, 'stop'],
  ['stop [1, 2]', CHAT, chat({ stop: [1, 2] }), 400, 'stop[0]'],
  ['n 1000', CHAT, chat({ n: 1000 }), 400, 'n'],
  ['n 0', CHAT, chat({ n: 0 }), 400, 'n'],
  ['top_logprobs 99', CHAT, chat({ logprobs: true, top_logprobs: 99 }), 400, 'top_logprobs'],
  ['logit_bias {"abc": 1}', CHAT, chat({ logit_bias: { abc: 1 } }), 400, 'logit_bias'],
  ['logit_bias value 1000', CHAT, chat({ logit_bias: { 5: 1000 } }), 400, 'logit_bias'],
  ['seed "x"', CHAT, chat({ seed: 'x' }), 400, 'seed'],
  ['stream "yes"', CHAT, chat({ stream: 'yes' }), 400, 'stream'],
  ['stream_options 5', CHAT, chat({ stream: true, stream_options: 5 }), 400, 'stream_options'],
  ['response_format type "yaml"', CHAT, chat({ response_format: { type: 'yaml' } }), 400,
   'response_format'],
  ['response_format a string', CHAT, chat({ response_format: 'json' }), 400, 'response_format'],
  ['json_schema with unsupported keyword "pattern"', CHAT,
   chat({
     response_format: {
       type: 'json_schema',
       json_schema: { name: 'x', schema: { type: 'string', pattern: '^a+$' } },
     },
   }),
   400, /pattern/],
  ['tools not an array', CHAT, chat({ tools: 'x' }), 400, 'tools'],
  ['tool_choice for an unknown function', CHAT,
   chat({
     tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object' } } }],
     tool_choice: { type: 'function', function: { name: 'g' } },
   }),
   400, /tool_choice/],
  ['model 42', CHAT, chat({ model: 42 }), 400, 'model'],
  ['completions: prompt missing', COMPLETIONS, JSON.stringify({ max_tokens: 4 }), 400, 'prompt'],
  ['completions: prompt 42', COMPLETIONS, completion({ prompt: 42 }), 400, 'prompt'],
  ['completions: prompt {}', COMPLETIONS, completion({ prompt: {} }), 400, 'prompt'],
  ['completions: token id out of range', COMPLETIONS, completion({ prompt: [99999999] }), 400,
   'prompt[0]'],
  ['completions: negative token id', COMPLETIONS, completion({ prompt: [-1] }), 400, 'prompt[0]'],
  ['completions: logprobs 99', COMPLETIONS, completion({ logprobs: 99 }), 400, 'logprobs'],
  ['completions: echo "x"', COMPLETIONS, completion({ echo: 'x' }), 400, 'echo'],
  ['embeddings: input 42', '/v1/embeddings', JSON.stringify({ input: 42 }), 400, 'input'],
  ['deep nesting: 10000 [', CHAT, '['.repeat(10000), 400],
  ['deep nesting: 10000 {"a":', CHAT, '{"a":'.repeat(10000) + '1' + '}'.repeat(10000), 400],
  ['deep nesting inside a field', CHAT,
   '{"messages": ' + '['.repeat(10000) + ']'.repeat(10000) + '}', 400],
  ['many small fields (100k keys)', CHAT,
   '{' + Array.from({ length: 100000 }, (_, i) => `"k${i}":${i}`).join(',') + '}', 400,
   'messages'],
];

// Invalid UTF-8 inside a JSON string value.
const utf8Cases = [
  ['lone continuation byte 0x80', [0x80]],
  ['overlong C0 AF', [0xc0, 0xaf]],
  ['overlong E0 80 AF', [0xe0, 0x80, 0xaf]],
  ['UTF-16 surrogate ED A0 80', [0xed, 0xa0, 0x80]],
  ['F5 lead byte', [0xf5, 0x80, 0x80, 0x80]],
  ['FF byte', [0xff]],
  ['truncated sequence E2 82', [0xe2, 0x82]],
  ['code point above U+10FFFF: F4 90 80 80', [0xf4, 0x90, 0x80, 0x80]],
];
for (const [name, bytes] of utf8Cases) {
  const body = Buffer.concat([
    Buffer.from('{"messages": [{"role": "user", "content": "a'),
    Buffer.from(bytes),
    Buffer.from('b"}], "max_tokens": 4}'),
  ]);
  badRequests.push([`invalid UTF-8: ${name}`, CHAT, body, 400, /UTF-8/]);
}

function badRequestCheck([name, path, body, status, expect]) {
  return [`${name} -> ${status}`, async () => {
    const r = await post(path, body);
    assertEqual(r.status, status, `${name}: status (body ${r.text.slice(0, 200)})`);
    const e = assertOpenAiError(r.text, name);
    if (typeof expect === 'string') {
      assert(e.param === expect || e.message.includes(expect),
             `${name}: the error names neither param nor field '${expect}': ${r.text.slice(0, 300)}`);
    } else if (expect instanceof RegExp) {
      assert(expect.test(e.message), `${name}: message does not match ${expect}: ${e.message}`);
    }
  }];
}

// ---- the rest -------------------------------------------------------------------------------

async function metricsValue(name) {
  const res = await fetch(url + '/metrics');
  const text = await res.text();
  const line = text.split('\n').find((l) => l.startsWith(name + ' '));
  assert(line, `/metrics has no ${name}`);
  return Number(line.slice(name.length + 1));
}

async function healthWithin(ms, what) {
  const started = Date.now();
  const res = await fetch(url + '/health', { signal: AbortSignal.timeout(ms + 3000) });
  const took = Date.now() - started;
  assertEqual(res.status, 200, `${what}: /health status`);
  assert(took < ms, `${what}: /health took ${took} ms (want < ${ms})`);
}

const longWords = Array.from({ length: 1500 }, (_, i) => `word${i}`).join(' ');

// Started at once, checked at the end: they take the server's read timeout.
const halfOpen = Array.from({ length: 4 }, () => rawRequest(
  [`POST ${COMPLETIONS} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n` +
     'Content-Length: 1000\r\n\r\n{"prompt":'],
  { timeoutMs: (READ_TIMEOUT_S + 10) * 1000 }));
const halfOpenStarted = Date.now();
// Declares 100 MB and sends 4 MB: refused with 413 (by httplib, once its read times out).
const declaredHuge = rawRequest(
  [`POST ${CHAT} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n` +
     `Content-Length: ${100 << 20}\r\n\r\n`,
   ...Array.from({ length: 4 }, () => Buffer.alloc(1 << 20, 0x20))],
  { timeoutMs: (READ_TIMEOUT_S + 10) * 1000 });

const checks = badRequests.map(badRequestCheck);

checks.push(
  ['Content-Type text/html -> 415', async () => {
    const r = await post(CHAT, chat(), { 'Content-Type': 'text/html' });
    assertEqual(r.status, 415, 'text/html status');
    assertOpenAiError(r.text, 'text/html');
  }],
  ['Content-Type multipart/form-data -> 415', async () => {
    const form = new FormData();
    form.append('messages', 'hi');
    const res = await fetch(url + CHAT, { method: 'POST', body: form });
    const text = await res.text();
    assertEqual(res.status, 415, 'multipart status');
    assertOpenAiError(text, 'multipart');
  }],
  ['Content-Type application/x-www-form-urlencoded -> 415', async () => {
    const r = await post(CHAT, 'a=b', { 'Content-Type': 'application/x-www-form-urlencoded' });
    assertEqual(r.status, 415, 'urlencoded status');
    assertOpenAiError(r.text, 'urlencoded');
  }],
  ['Ollama: Content-Type text/html -> 415 with {"error": "..."}', async () => {
    const r = await post('/api/chat', '{}', { 'Content-Type': 'text/html' });
    assertEqual(r.status, 415, '/api/chat text/html status');
    assertOllamaError(r.text, '/api/chat text/html');
  }],
  ['unknown route GET /nope -> 404 JSON error', async () => {
    const res = await fetch(url + '/nope');
    assertEqual(res.status, 404, 'GET /nope status');
    assertOpenAiError(await res.text(), 'GET /nope');
  }],
  ['unknown route POST /v1/nope -> 404 JSON error', async () => {
    const r = await post('/v1/nope', chat());
    assertEqual(r.status, 404, 'POST /v1/nope status');
    assertOpenAiError(r.text, 'POST /v1/nope');
  }],
  ['unknown Ollama route POST /api/nope -> 404 {"error": "..."}', async () => {
    const r = await post('/api/nope', '{}');
    assertEqual(r.status, 404, 'POST /api/nope status');
    assertOllamaError(r.text, 'POST /api/nope');
  }],
  ['unknown model -> 404 model_not_found', async () => {
    const r = await post(CHAT, chat({ model: 'no-such-model' }));
    assertEqual(r.status, 404, 'unknown model status');
    const e = assertOpenAiError(r.text, 'unknown model');
    assertEqual(e.code, 'model_not_found', 'unknown model code');
  }],
  ['GET /v1/models/no-such-model -> 404', async () => {
    const res = await fetch(url + '/v1/models/no-such-model');
    assertEqual(res.status, 404, 'status');
    assertOpenAiError(await res.text(), 'GET /v1/models/no-such-model');
  }],
  ['Ollama: unknown model -> 404 {"error": "..."}', async () => {
    const r = await post('/api/chat', JSON.stringify({ model: 'no-such-model', messages: user }));
    assertEqual(r.status, 404, '/api/chat unknown model status');
    assertOllamaError(r.text, '/api/chat unknown model');
  }],
  ['GET on a POST route -> 404/405 JSON error', async () => {
    const res = await fetch(url + CHAT);
    assert(res.status === 404 || res.status === 405, `GET ${CHAT}: status ${res.status}`);
    assertOpenAiError(await res.text(), `GET ${CHAT}`);
  }],
  ['DELETE /v1/models -> 404/405 JSON error', async () => {
    const res = await fetch(url + '/v1/models', { method: 'DELETE' });
    assert(res.status === 404 || res.status === 405, `DELETE /v1/models: status ${res.status}`);
    assertOpenAiError(await res.text(), 'DELETE /v1/models');
  }],
  ['Ollama /api/chat: bad JSON -> 400 {"error": "..."}', async () => {
    const r = await post('/api/chat', '{"model": ');
    assertEqual(r.status, 400, 'status');
    assertOllamaError(r.text, '/api/chat bad JSON');
  }],
  ['Ollama /api/generate: options.temperature "hot" -> 400 {"error": "..."}', async () => {
    const r = await post('/api/generate',
                         JSON.stringify({ model: 'stories260K', prompt: 'Once', options: { temperature: 'hot' } }));
    assertEqual(r.status, 400, 'status');
    const msg = assertOllamaError(r.text, '/api/generate temperature');
    assert(msg.includes('temperature'), `the message does not name the field: ${msg}`);
  }],
  ['Ollama /api/chat: messages 5 -> 400 {"error": "..."}', async () => {
    const r = await post('/api/chat', JSON.stringify({ model: 'stories260K', messages: 5 }));
    assertEqual(r.status, 400, 'status');
    const msg = assertOllamaError(r.text, '/api/chat messages 5');
    assert(msg.includes('messages'), `the message does not name the field: ${msg}`);
  }],
  ['Ollama /api/generate: invalid UTF-8 -> 400 {"error": "..."}', async () => {
    const body = Buffer.concat([Buffer.from('{"prompt": "a'), Buffer.from([0xc0, 0xaf]),
                                Buffer.from('"}')]);
    const r = await post('/api/generate', body);
    assertEqual(r.status, 400, 'status');
    assertOllamaError(r.text, '/api/generate invalid UTF-8');
  }],
  ['completions: prompt longer than the context -> 400 context_length_exceeded', async () => {
    const r = await post(COMPLETIONS, completion({ prompt: longWords }));
    assertEqual(r.status, 400, `status (body ${r.text.slice(0, 200)})`);
    const e = assertOpenAiError(r.text, 'long prompt');
    assertEqual(e.code, 'context_length_exceeded', 'code');
    assertEqual(e.type, 'invalid_request_error', 'type');
    assert(/maximum context length is \d+ tokens/.test(e.message), `message: ${e.message}`);
  }],
  ['chat: messages longer than the context -> 400 context_length_exceeded', async () => {
    const r = await post(CHAT, chat({ messages: [{ role: 'user', content: longWords }] }));
    assertEqual(r.status, 400, `status (body ${r.text.slice(0, 200)})`);
    const e = assertOpenAiError(r.text, 'long chat');
    assertEqual(e.code, 'context_length_exceeded', 'code');
  }],
  ['chat: streaming, messages longer than the context -> 400 before the stream', async () => {
    const r = await post(CHAT, chat({ stream: true, messages: [{ role: 'user', content: longWords }] }));
    assertEqual(r.status, 400, `status (body ${r.text.slice(0, 200)})`);
    assertEqual(assertOpenAiError(r.text, 'long chat stream').code, 'context_length_exceeded', 'code');
  }],
  ['Ollama /api/generate: prompt longer than the context -> 400 {"error": "..."}', async () => {
    const r = await post('/api/generate',
                         JSON.stringify({ model: 'stories260K', prompt: longWords, stream: false }));
    assertEqual(r.status, 400, `status (body ${r.text.slice(0, 200)})`);
    const msg = assertOllamaError(r.text, '/api/generate long prompt');
    assert(/context length/.test(msg), `the message is not about the context length: ${msg}`);
  }],
  ['malformed request line "GARBAGE" -> 400', async () => {
    const r = await rawRequest(['GARBAGE\r\n\r\n']);
    assertEqual(r.status, 400, `status (raw ${JSON.stringify(r.raw)})`);
    assertOpenAiError(r.body, 'GARBAGE');
  }],
  ['request line with an unknown method -> 400/404/405', async () => {
    const r = await rawRequest(['BREW /v1/models HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n']);
    assert([400, 404, 405].includes(r.status), `status ${r.status} (raw ${JSON.stringify(r.raw)})`);
  }],
  ['HTTP/9.9 -> 400 (or a clean answer)', async () => {
    const r = await rawRequest(['GET /health HTTP/9.9\r\nHost: x\r\nConnection: close\r\n\r\n']);
    assert(r.status === 400 || r.status === 505 || r.status === 200,
           `status ${r.status} (raw ${JSON.stringify(r.raw)})`);
  }],
  ['header line without a colon -> 400 (httplib 0.11 skips the line: 200 accepted)', async () => {
    const r = await rawRequest(['GET /health HTTP/1.1\r\nHost: x\r\nthis is not a header\r\n\r\n']);
    assert(r.status === 400 || r.status === 200, `status ${r.status} (raw ${JSON.stringify(r.raw)})`);
  }],
  ['huge header line (100 KB) -> 400/431', async () => {
    const r = await rawRequest(
      [`GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(100000)}\r\nConnection: close\r\n\r\n`]);
    assert(r.status === 400 || r.status === 431, `status ${r.status} (raw ${JSON.stringify(r.raw)})`);
  }],
  ['huge URI (20 KB) -> 414', async () => {
    const r = await rawRequest([`GET /v1/models?${'a'.repeat(20000)} HTTP/1.1\r\nHost: x\r\n\r\n`]);
    assertEqual(r.status, 414, `status (raw ${JSON.stringify(r.raw)})`);
  }],
  ['Content-Length "abc" -> 400', async () => {
    const r = await rawRequest([`POST ${CHAT} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n` +
                                'Content-Length: abc\r\nConnection: close\r\n\r\n{}']);
    assert(r.status === 400 || r.status === 411, `status ${r.status} (raw ${JSON.stringify(r.raw)})`);
  }],
  ['bad chunked encoding -> 400', async () => {
    const r = await rawRequest([`POST ${CHAT} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n` +
                                'Transfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\n{}\r\n0\r\n\r\n']);
    assertEqual(r.status, 400, `status (raw ${JSON.stringify(r.raw)})`);
  }],
  ['a body over --max-body with its Content-Length -> 413', async () => {
    // Sends the whole 17 MiB: the server answers once it has read (and dropped) it.
    const body = Buffer.alloc(MAX_BODY + (1 << 20), 0x20);
    const r = await post(CHAT, body);
    assertEqual(r.status, 413, 'status');
    assertOpenAiError(r.text, '17 MiB body');
  }],
  ['a chunked upload over --max-body -> 413', async () => {
    const chunk = Buffer.alloc(1 << 20, 0x20);
    const parts = [`POST ${CHAT} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n` +
                   'Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n'];
    for (let i = 0; i < 20; ++i) parts.push(`${chunk.length.toString(16)}\r\n`, chunk, '\r\n');
    parts.push('0\r\n\r\n');
    const r = await rawRequest(parts, { timeoutMs: 30000 });
    assertEqual(r.status, 413,
                `a 20 MiB chunked body with --max-body 16 MiB: status (raw ${JSON.stringify(r.raw)})`);
  }],
  ['after the malformed requests: /health 200 and a completion works', async () => {
    assert(server.alive(), 'the server process exited');
    await healthWithin(2000, 'after malformed requests');
    const r = await post(COMPLETIONS, completion({ temperature: 0 }));
    assertEqual(r.status, 200, `completion status (${r.text.slice(0, 200)})`);
    assertEqual(JSON.parse(r.text).usage.completion_tokens, 4, 'completion_tokens');
  }],
  ['slow-loris: 20 sockets sending a header byte every 500 ms do not stall others', async () => {
    const header = `GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ${'s'.repeat(40)}\r\nConnection: close\r\n`;
    const sockets = [];
    let stop = false;
    const drips = Array.from({ length: 20 }, async () => {
      const s = net.connect(Number(port), host);
      s.on('error', () => {});
      sockets.push(s);
      await new Promise((r) => s.once('connect', r));
      for (let i = 0; i < header.length && !stop && !s.destroyed; ++i) {
        s.write(header[i]);
        await sleep(500);
      }
    });
    try {
      const started = Date.now();
      let served = 0;
      while (Date.now() - started < 10000) {
        await healthWithin(2000, `during slow-loris (${Math.round((Date.now() - started) / 1000)} s)`);
        const r = await post(COMPLETIONS, completion({ temperature: 0 }));
        assertEqual(r.status, 200, 'completion during slow-loris');
        ++served;
        await sleep(250);
      }
      assert(served >= 10, `only ${served} requests served in 10 s of slow-loris`);
    } finally {
      stop = true;
      for (const s of sockets) s.destroy();
      await Promise.all(drips);
    }
  }],
  ['a streaming client that never reads does not block others', async () => {
    const socket = net.connect(Number(port), host);
    socket.on('error', () => {});
    await new Promise((r) => socket.once('connect', r));
    socket.pause();  // never read: the server's writes pile up
    const body = JSON.stringify({
      messages: user, max_tokens: 400, ignore_eos: true, stream: true, logprobs: true,
      top_logprobs: 20,
    });
    socket.write(`POST ${CHAT} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n` +
                 `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
    try {
      await sleep(300);
      for (let i = 0; i < 5; ++i) {
        await healthWithin(2000, 'while a client does not read');
        const started = Date.now();
        const r = await post(COMPLETIONS, completion({ temperature: 0, max_tokens: 8 }));
        assertEqual(r.status, 200, 'completion while a client does not read');
        assert(Date.now() - started < 5000, `a completion took ${Date.now() - started} ms`);
      }
    } finally {
      socket.destroy();
    }
  }],
  ['half-open: Content-Length 1000 with 10 bytes sent; others served, the read times out', async () => {
    await healthWithin(2000, 'with half-open connections');
    const results = await Promise.all(halfOpen);
    const waited = Date.now() - halfOpenStarted;
    for (const [i, r] of results.entries()) {
      assert(!r.timedOut, `half-open socket ${i}: still open after ${waited} ms ` +
                            `(read timeout ${READ_TIMEOUT_S} s)`);
      // httplib answers a body that stops arriving with 400 (or just closes).
      assert(r.status === null || r.status === 400 || r.status === 408,
             `half-open socket ${i}: status ${r.status} (raw ${JSON.stringify(r.raw)})`);
      assert(r.ms >= (READ_TIMEOUT_S - 1) * 1000,
             `half-open socket ${i}: answered after ${r.ms} ms, before the read timeout`);
    }
  }],
  ['declared Content-Length 100 MB, 4 MB sent -> 413, server up', async () => {
    const r = await declaredHuge;
    assertEqual(r.status, 413, `status (raw ${JSON.stringify(r.raw)}, ${r.ms} ms, ` +
                               `timed out: ${!!r.timedOut}, write error: ${r.writeError})`);
    assertOpenAiError(r.body, '100 MB declared');
    await healthWithin(2000, 'after the 100 MB body');
  }],
  ['at the end: alive, /health 200, no busy slot, empty queue', async () => {
    assert(server.alive(), 'the server process exited');
    await healthWithin(2000, 'at the end');
    const deadline = Date.now() + 5000;
    let busy, queued;
    for (;;) {
      busy = await metricsValue('pocket_slots_busy');
      queued = await metricsValue('pocket_queue_depth');
      if ((busy === 0 && queued === 0) || Date.now() > deadline) break;
      await sleep(100);
    }
    assertEqual(busy, 0, 'pocket_slots_busy');
    assertEqual(queued, 0, 'pocket_queue_depth');
  }],
  ['--api-key: missing, wrong and Basic -> 401 with WWW-Authenticate; Bearer works; / and /health public',
   async () => {
     const keyed = await startServer(['-m', model, '-q', '--api-key', 'k']);
     try {
       const body = completion({ temperature: 0 });
       const cases = [
         ['no Authorization', {}],
         ['wrong key', { Authorization: 'Bearer wrong' }],
         ['key with a suffix', { Authorization: 'Bearer kk' }],
         ['empty bearer', { Authorization: 'Bearer ' }],
         ['Basic scheme', { Authorization: 'Basic ' + Buffer.from('user:k').toString('base64') }],
         ['the key without a scheme', { Authorization: 'k' }],
       ];
       for (const [name, auth] of cases) {
         for (const path of [COMPLETIONS, '/v1/models', '/api/tags', '/metrics']) {
           const res = await fetch(keyed.url + path, {
             method: path === COMPLETIONS ? 'POST' : 'GET',
             headers: { 'Content-Type': 'application/json', ...auth },
             body: path === COMPLETIONS ? body : undefined,
           });
           const text = await res.text();
           assertEqual(res.status, 401, `${name} on ${path}: status`);
           assert(res.headers.get('www-authenticate'),
                  `${name} on ${path}: 401 without WWW-Authenticate`);
           if (path.startsWith('/api/')) assertOllamaError(text, `${name} on ${path}`);
           else if (path !== '/metrics') assertOpenAiError(text, `${name} on ${path}`);
         }
       }
       const ok = await fetch(keyed.url + COMPLETIONS, {
         method: 'POST',
         headers: { 'Content-Type': 'application/json', Authorization: 'Bearer k' },
         body,
       });
       assertEqual(ok.status, 200, `Bearer k: status (${await ok.text()})`);
       const models = await fetch(keyed.url + '/v1/models', { headers: { Authorization: 'Bearer k' } });
       assertEqual(models.status, 200, 'Bearer k on /v1/models');
       for (const path of ['/', '/health']) {
         const res = await fetch(keyed.url + path);
         assertEqual(res.status, 200, `${path} without a key`);
       }
     } catch (e) {
       console.error('--- --api-key server log ---\n' + keyed.log());
       throw e;
     } finally {
       await keyed.stop();
     }
   }],
);

await runChecks(checks, server);
