// Local RAG over HTTP against a real `pocket serve --rag-index docs=DB`: POST /v1/rag/search
// (hit shape, k, modes, 4xx for bad input, no paths from requests), GET /v1/rag/indexes, and the
// `pocket.rag` extension of /v1/chat/completions through the official `openai` client (citations
// in the response and in the stream, the deterministic "I don't know" when nothing is relevant).
//
//   cd tests/server && POCKET_BINARY=../../build/pocket node rag_test.mjs
//
// The models are tiny (stories260K), so answers mean nothing: this checks the plumbing.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import OpenAI from 'openai';
import { assert, assertEqual, pocketBinary, runChecks, sharedPath, startServer } from './harness.mjs';

// A small lexical (BM25) index of three documents.
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'pocket-rag-test-'));
const docs = path.join(work, 'docs');
fs.mkdirSync(docs);
fs.writeFileSync(path.join(docs, 'volcanoes.md'),
  '# Volcanoes\n\n## Eruptions\n\nA volcano erupts when magma rises through the crust. ' +
  'Basaltic magma is runny; rhyolitic magma is thick and erupts explosively.\n');
fs.writeFileSync(path.join(docs, 'bread.md'),
  '# Bread\n\n## Baking\n\nSourdough bread rises with wild yeast and lactic acid bacteria. ' +
  'Bake the loaf at 230 degrees for forty minutes.\n');
fs.writeFileSync(path.join(docs, 'tides.txt'),
  'Tides are caused by the gravity of the moon and the sun pulling on the oceans.\n');
const db = path.join(work, 'index.sqlite');
execFileSync(pocketBinary(), ['index', docs, '--db', db], { stdio: 'ignore' });

const server = await startServer([
  '-m', sharedPath('models/stories260K.gguf'),
  '--rag-index', `docs=${db}`,
  '-q',
]);
process.on('exit', () => {
  if (server.alive()) server.process.kill('SIGKILL');
  fs.rmSync(work, { recursive: true, force: true });
});
const client = new OpenAI({ baseURL: server.url + '/v1', apiKey: 'x', maxRetries: 0, timeout: 60000 });

async function post(route, body) {
  const res = await fetch(server.url + route, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

async function expectApiError(promise, status) {
  try {
    await promise;
  } catch (e) {
    assertEqual(e.status, status, 'status');
    return e;
  }
  throw new Error(`expected a ${status}`);
}

const ragChat = (content, rag = {}) => ({
  model: 'stories260K',
  messages: [{ role: 'user', content }],
  max_tokens: 8,
  temperature: 0,
  pocket: { rag: { index: 'docs', k: 3, mode: 'bm25', ...rag } },
});

await runChecks([
  ['search returns hits with file, page, heading, score, relevance, snippet, text', async () => {
    const { status, body } = await post('/v1/rag/search',
      { index: 'docs', query: 'how does magma erupt from a volcano', k: 2, mode: 'bm25' });
    assertEqual(status, 200, 'status');
    assertEqual(body.index, 'docs', 'index');
    assertEqual(body.mode, 'bm25', 'mode');
    assert(body.data.length >= 1 && body.data.length <= 2, `hits: ${body.data.length}`);
    const top = body.data[0];
    assertEqual(top.rank, 1, 'rank');
    assertEqual(top.path, 'volcanoes.md', 'top path');
    for (const key of ['page', 'heading', 'score', 'relevance', 'snippet', 'text', 'chunk_id'])
      assert(key in top, `hit has ${key}`);
    assert(top.relevance >= 0 && top.relevance <= 1, `relevance ${top.relevance}`);
    assert(top.text.includes('magma'), 'text is the chunk');
    for (let i = 1; i < body.data.length; i++)
      assert(body.data[i - 1].score >= body.data[i].score, 'ranked by score');
  }],
  ['GET /v1/rag/indexes lists the configured index', async () => {
    const res = await fetch(server.url + '/v1/rag/indexes');
    const body = await res.json();
    assertEqual(body.data.map((d) => d.name), ['docs'], 'names');
    assertEqual(body.data[0].documents, 3, 'documents');
  }],
  ['bad search input is a 4xx with an OpenAI-shaped error', async () => {
    const cases = [
      [{ index: 'nope', query: 'x' }, 404],
      [{ index: db, query: 'x' }, 404],  // a path is not an index name
      [{ index: 'docs' }, 400],
      [{ index: 'docs', query: '   ' }, 400],
      [{ index: 'docs', query: 'x', k: 100000 }, 400],
      [{ index: 'docs', query: 'x', k: 0 }, 400],
      [{ index: 'docs', query: 'x', mode: 'psychic' }, 400],
      [{ index: 'docs', query: 42 }, 400],
    ];
    for (const [body, want] of cases) {
      const res = await post('/v1/rag/search', body);
      assertEqual(res.status, want, `status for ${JSON.stringify(body)}`);
      assert(typeof res.body.error?.message === 'string' && res.body.error.message.length > 0,
        `error message for ${JSON.stringify(body)}`);
    }
    const unknown = await post('/v1/rag/search', { index: 'nope', query: 'x' });
    assert(unknown.body.error.message.includes('docs'), 'the error names the configured indexes');
  }],
  ['chat with pocket.rag returns the citation map', async () => {
    const r = await client.chat.completions.create(ragChat('What makes a volcano erupt explosively?'));
    assertEqual(r.choices.length, 1, 'choices');
    assert(typeof r.choices[0].message.content === 'string', 'content');
    assert(r.usage.prompt_tokens > 0, 'the model was called');
    const rag = r.pocket?.rag;
    assert(rag, 'pocket.rag in the response');
    assertEqual(rag.index, 'docs', 'index');
    assertEqual(rag.answered, true, 'answered');
    assert(rag.citations.length >= 1, 'citations');
    assertEqual(rag.citations[0].n, 1, 'numbered from 1');
    assertEqual(rag.citations[0].path, 'volcanoes.md', 'top source');
    for (const key of ['page', 'heading', 'relevance', 'score', 'cited'])
      assert(key in rag.citations[0], `citation has ${key}`);
  }],
  ['streamed chat with pocket.rag carries the citations in the first and last chunks', async () => {
    const stream = await client.chat.completions.create({
      ...ragChat('What makes a volcano erupt explosively?'), stream: true,
    });
    let text = '';
    let first = null;
    let last = null;
    for await (const chunk of stream) {
      if (!first) first = chunk;
      if (chunk.choices[0]?.finish_reason) last = chunk;
      text += chunk.choices[0]?.delta?.content ?? '';
    }
    assert(first?.pocket?.rag?.citations?.length >= 1, 'citations in the first chunk');
    assertEqual(first.pocket.rag.citations[0].path, 'volcanoes.md', 'top source');
    assert(last?.pocket?.rag?.citations?.length >= 1, 'citations in the last chunk');
    const plain = await client.chat.completions.create(ragChat('What makes a volcano erupt explosively?'));
    assertEqual(text, plain.choices[0].message.content, 'streamed == non-streamed (greedy)');
  }],
  ['nothing relevant: a fixed "I don\'t know" without the model, streamed or not', async () => {
    const req = ragChat('quantum chromodynamics of gluon plasma', { min_relevance: 0.99 });
    const r = await client.chat.completions.create(req);
    assert(r.choices[0].message.content.startsWith("I don't know"), r.choices[0].message.content);
    assertEqual(r.choices[0].finish_reason, 'stop', 'finish');
    assertEqual(r.usage.prompt_tokens, 0, 'no prompt evaluated');
    assertEqual(r.pocket.rag.answered, false, 'answered');
    assertEqual(r.pocket.rag.citations, [], 'no citations');
    const stream = await client.chat.completions.create({ ...req, stream: true });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
    assertEqual(text, r.choices[0].message.content, 'streamed the same');
    // A query with no lexical match at all has no hits: the same answer at the default threshold.
    const none = await client.chat.completions.create(ragChat('zzzqqq xxyyzz'));
    assert(none.choices[0].message.content.startsWith("I don't know"), 'no hits');
  }],
  ['bad pocket.rag input is a 4xx', async () => {
    await expectApiError(client.chat.completions.create(ragChat('x', { index: 'nope' })), 404);
    await expectApiError(client.chat.completions.create(ragChat('x', { index: db })), 404);
    await expectApiError(client.chat.completions.create(ragChat('x', { k: 1000 })), 400);
    await expectApiError(client.chat.completions.create(ragChat('x', { mode: 'nope' })), 400);
    await expectApiError(client.chat.completions.create(ragChat('x', { min_relevance: 2 })), 400);
  }],
  ['chat without pocket.rag is unchanged', async () => {
    const r = await client.chat.completions.create({
      model: 'stories260K', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 4,
    });
    assert(!('pocket' in r), 'no pocket field');
  }],
], server);
