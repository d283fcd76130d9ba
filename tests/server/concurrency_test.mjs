// Concurrency of `pocket serve`: continuous batching gives each request the same greedy answer as
// when it runs alone; clients that disconnect mid-stream free their slots and leave the metrics
// consistent; a full queue answers 503 with Retry-After.
//
//   cd tests/server && POCKET_BINARY=../../build/pocket node concurrency_test.mjs
import { startServer, sharedPath, runChecks, assert, assertEqual } from './harness.mjs';

const model = sharedPath('models/stories260K.gguf');
const server = await startServer(['-m', model, '--parallel', '8', '-q']);
const url = server.url;

const PROMPTS = [
  'Once upon a time',
  'One day, a little boy named Tim',
  'The cat sat on the mat and',
  'Lily went to the park with her mom.',
  'There was a big red ball in the garden.',
  'Sam liked to play with his toy car.',
  'The sun was shining and the birds',
  'A little dog named Max',
  'In a small house there lived an old lady',
  'Tom and Sue wanted to build a tower.',
  'The girl found a shiny stone',
  'Mom said, "Do not touch the stove."',
  'Once there was a happy frog',
  'Ben had a new blue kite.',
  'The bird flew high in the sky',
  'Anna was sad because her doll',
];
const MAX_TOKENS = 48;

function completionBody(prompt, extra = {}) {
  return { prompt, max_tokens: MAX_TOKENS, temperature: 0, ignore_eos: true, ...extra };
}

async function postJson(path, body, init = {}) {
  return fetch(url + path, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
    ...init,
  });
}

// Reads a streaming completion: every SSE `data:` payload in order. onEvent (optional) sees each
// parsed event and may return false to stop reading (the caller then aborts).
async function readSse(res, onEvent) {
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  const events = [];
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      for (const line of block.split('\n')) {
        if (!line.startsWith('data: ')) continue;  // ": keep-alive" comments
        const data = line.slice(6);
        const event = data === '[DONE]' ? '[DONE]' : JSON.parse(data);
        events.push(event);
        if (onEvent && onEvent(event, events) === false) return { events, stopped: true, reader };
      }
    }
  }
  return { events, stopped: false, reader };
}

function streamText(events) {
  let text = '';
  for (const e of events) {
    if (e === '[DONE]' || e.error) continue;
    for (const c of e.choices) text += c.text ?? c.delta?.content ?? '';
  }
  return text;
}

async function metrics() {
  const res = await fetch(url + '/metrics');
  assertEqual(res.status, 200, '/metrics status');
  const text = await res.text();
  const values = new Map();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const sp = line.lastIndexOf(' ');
    values.set(line.slice(0, sp), Number(line.slice(sp + 1)));
  }
  return values;
}

function metric(m, name) {
  return m.get(name) ?? 0;
}

const COMPLETIONS_200 = 'pocket_requests_total{endpoint="/v1/completions",status="200"}';

async function waitIdle(timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs;
  let m;
  for (;;) {
    m = await metrics();
    if (metric(m, 'pocket_slots_busy') === 0 && metric(m, 'pocket_queue_depth') === 0) return m;
    if (Date.now() > deadline) {
      throw new Error(
        `server not idle ${timeoutMs} ms after the clients finished: pocket_slots_busy ` +
          `${metric(m, 'pocket_slots_busy')}, pocket_queue_depth ${metric(m, 'pocket_queue_depth')}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

await runChecks(
  [
    [
      '16 simultaneous greedy streams each equal the same request served alone',
      async () => {
        const before = await metrics();
        const streamed = await Promise.all(
          PROMPTS.map(async (prompt, i) => {
            const res = await postJson(
              '/v1/completions',
              completionBody(prompt, { stream: true, stream_options: { include_usage: true } }));
            assertEqual(res.status, 200, `stream ${i} status`);
            assert(
              (res.headers.get('content-type') || '').startsWith('text/event-stream'),
              `stream ${i}: content-type ${res.headers.get('content-type')}`);
            const { events } = await readSse(res);
            assertEqual(events[events.length - 1], '[DONE]', `stream ${i} ends with [DONE]`);
            const errors = events.filter((e) => e !== '[DONE]' && e.error);
            assert(errors.length === 0, `stream ${i} carried an error: ${JSON.stringify(errors)}`);
            const finish = events.filter((e) => e !== '[DONE]' && e.choices?.[0]?.finish_reason);
            assertEqual(finish.map((e) => e.choices[0].finish_reason), ['length'],
                        `stream ${i} finish reasons`);
            const usage = events.filter((e) => e !== '[DONE]' && e.usage);
            assertEqual(usage.length, 1, `stream ${i}: usage chunks`);
            assertEqual(usage[0].usage.completion_tokens, MAX_TOKENS, `stream ${i} completion_tokens`);
            return streamText(events);
          }));
        const mismatches = [];
        for (let i = 0; i < PROMPTS.length; ++i) {
          const res = await postJson('/v1/completions', completionBody(PROMPTS[i]));
          assertEqual(res.status, 200, `alone ${i} status`);
          const body = await res.json();
          assertEqual(body.usage.completion_tokens, MAX_TOKENS, `alone ${i} completion_tokens`);
          const alone = body.choices[0].text;
          if (alone !== streamed[i]) {
            mismatches.push(
              `prompt ${i} ${JSON.stringify(PROMPTS[i])}:\n    batched: ${JSON.stringify(streamed[i])}` +
                `\n    alone:   ${JSON.stringify(alone)}`);
          }
        }
        assert(mismatches.length === 0,
               `${mismatches.length} batched answers differ from the answer alone:\n  ` +
                 mismatches.join('\n  '));
        const after = await waitIdle();
        assertEqual(metric(after, COMPLETIONS_200) - metric(before, COMPLETIONS_200), 32,
                    'completions counted with status 200');
        assertEqual(metric(after, 'pocket_generated_tokens_total') -
                      metric(before, 'pocket_generated_tokens_total'),
                    32 * MAX_TOKENS, 'generated tokens counted');
      },
    ],
    [
      'half of 8 streams disconnect mid-stream: the rest finish, slots free, metrics add up',
      async () => {
        const LONG = 400;
        const before = await metrics();
        const n = 8;
        const controllers = [];
        let readyCount = 0;
        let releaseAll;
        const allReady = new Promise((r) => { releaseAll = r; });
        const runs = [];
        for (let i = 0; i < n; ++i) {
          const controller = new AbortController();
          controllers.push(controller);
          runs.push((async () => {
            const res = await postJson(
              '/v1/completions',
              completionBody(PROMPTS[i], {
                max_tokens: LONG, stream: true, stream_options: { include_usage: true },
              }),
              { signal: controller.signal });
            assertEqual(res.status, 200, `long stream ${i} status`);
            const cancel = i % 2 === 1;
            let counted = false;
            try {
              const { events, stopped, reader } = await readSse(res, (e, all) => {
                // A few events from each before anything is cancelled.
                if (!counted && all.length >= 3) {
                  counted = true;
                  if (++readyCount === n) releaseAll();
                  if (cancel) return false;
                }
                return true;
              });
              if (stopped) {
                await allReady;
                controller.abort();
                reader.cancel().catch(() => {});
                return { cancelled: true, received: events.length };
              }
              const usage = events.find((e) => e !== '[DONE]' && e.usage);
              assert(usage, `long stream ${i}: no usage chunk`);
              const finish = events.filter((e) => e !== '[DONE]' && e.choices?.[0]?.finish_reason);
              assertEqual(finish.map((e) => e.choices[0].finish_reason), ['length'],
                          `long stream ${i} finish reasons`);
              assertEqual(events[events.length - 1], '[DONE]', `long stream ${i} ends with [DONE]`);
              return { cancelled: false, completion: usage.usage.completion_tokens };
            } catch (e) {
              if (cancel && controller.signal.aborted) return { cancelled: true };
              throw e;
            }
          })());
        }
        const results = await Promise.all(runs);
        const finished = results.filter((r) => !r.cancelled);
        assertEqual(finished.length, 4, 'streams that finished');
        for (const r of finished) assertEqual(r.completion, LONG, 'finished stream completion_tokens');
        const finishedSum = finished.reduce((a, r) => a + r.completion, 0);

        // A disconnected stream frees its slot first; its HTTP handler notices the closed
        // connection and is counted in pocket_requests_total a moment later, so wait for both.
        let after = await waitIdle(5000);
        for (const deadline = Date.now() + 5000;
          metric(after, COMPLETIONS_200) - metric(before, COMPLETIONS_200) < n && Date.now() < deadline;) {
          await new Promise((r) => setTimeout(r, 100));
          after = await metrics();
        }
        const generated = metric(after, 'pocket_generated_tokens_total') -
                          metric(before, 'pocket_generated_tokens_total');
        assert(generated >= finishedSum,
               `pocket_generated_tokens_total grew by ${generated}, less than the ${finishedSum} ` +
                 'tokens of the finished streams');
        // Each cancelled stream had sent at least 3 events (tokens) before it was cancelled.
        assert(generated - finishedSum >= 4 * 3,
               `pocket_generated_tokens_total grew by ${generated}, only ${generated - finishedSum} ` +
                 'more than the finished streams: the cancelled streams\' tokens were not counted');
        assert(generated - finishedSum < 4 * 150,
               `the 4 cancelled streams generated ${generated - finishedSum} tokens in all: ` +
                 'cancellation did not stop them promptly');
        assertEqual(metric(after, COMPLETIONS_200) - metric(before, COMPLETIONS_200), n,
                    'every stream, cancelled or not, counted in pocket_requests_total (200)');
        const ttft = 'pocket_time_to_first_token_seconds_count';
        assertEqual(metric(after, ttft) - metric(before, ttft), n,
                    `${ttft} growth (all ${n} requests produced a token)`);

        const res = await postJson('/v1/completions', completionBody(PROMPTS[0], { max_tokens: 8 }));
        assertEqual(res.status, 200, 'a request after the disconnects');
        const body = await res.json();
        assertEqual(body.usage.completion_tokens, 8, 'its completion_tokens');
      },
    ],
    [
      '--parallel 1 --queue 2: a burst of 6 gets 503 with Retry-After for what does not fit',
      async () => {
        const small = await startServer(['-m', model, '--parallel', '1', '--queue', '2', '-q']);
        try {
          const results = await Promise.all(
            Array.from({ length: 6 }, async (_, i) => {
              const res = await fetch(small.url + '/v1/completions', {
                method: 'POST',
                headers: { 'Content-Type': 'application/json' },
                body: JSON.stringify(completionBody(PROMPTS[i], { max_tokens: 300 })),
              });
              const text = await res.text();
              return { i, status: res.status, retryAfter: res.headers.get('retry-after'), text };
            }));
          const statuses = results.map((r) => r.status);
          for (const r of results) {
            assert(r.status === 200 || r.status === 503,
                   `request ${r.i}: status ${r.status}, want 200 or 503: ${r.text}`);
            if (r.status === 503) {
              assert(r.retryAfter && /^\d+$/.test(r.retryAfter) && Number(r.retryAfter) > 0,
                     `request ${r.i}: 503 without a valid Retry-After (${r.retryAfter})`);
              const body = JSON.parse(r.text);
              assert(body.error && typeof body.error.message === 'string' &&
                       body.error.type === 'server_error' && 'param' in body.error &&
                       'code' in body.error,
                     `request ${r.i}: 503 body is not an OpenAI error: ${r.text}`);
            } else {
              assertEqual(JSON.parse(r.text).usage.completion_tokens, 300,
                          `request ${r.i} completion_tokens`);
            }
          }
          // One runs, two wait; the other three do not fit (a request finishes far later than
          // the burst arrives: 300 tokens).
          assertEqual(statuses.filter((s) => s === 200).length, 3,
                      `requests served (statuses ${statuses})`);
          assertEqual(statuses.filter((s) => s === 503).length, 3,
                      `requests refused (statuses ${statuses})`);
          const res = await fetch(small.url + '/health');
          assertEqual(res.status, 200, 'health after the burst');
        } catch (e) {
          console.error('--- --parallel 1 server log ---\n' + small.log());
          throw e;
        } finally {
          await small.stop();
        }
      },
    ],
  ],
  server);
