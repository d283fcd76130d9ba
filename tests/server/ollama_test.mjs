// Drives a real `pocket serve` with the official `ollama` npm client (0.6.x): chat and generate
// (plain and streamed, system, context), embed, list, ps, version, format (JSON schema and
// "json"), errors and keep_alive unloading.
//
//   cd tests/server && POCKET_BINARY=../../build/pocket node ollama_test.mjs
//
// Expected values come from the request, the schema or the model files; the server's output is
// only compared with itself (streamed == non-streamed, token counts adding up).
import fs from 'node:fs';
import path from 'node:path';
import { Ollama } from 'ollama';
import { assert, assertEqual, runChecks, sharedPath, startServer } from './harness.mjs';
import { parseJson, validate } from './schema_check.mjs';

const STORIES = 'stories260K';
const QWEN = 'tiny-qwen2';
const EMBED = 'potion-base-4M-int8';
const files = {
  [STORIES]: sharedPath('models/stories260K.gguf'),
  [QWEN]: sharedPath('models/tiny/tiny-qwen2.gguf'),
  [EMBED]: sharedPath('models/embed/potion-base-4M-int8'),
};
const families = { [STORIES]: 'llama', [QWEN]: 'qwen2' };

const server = await startServer([
  '-m', files[STORIES], '-m', files[QWEN], '--embed-model', files[EMBED], '--parallel', '4', '-q',
]);
process.on('exit', () => { if (server.alive()) server.process.kill('SIGKILL'); });
const ollama = new Ollama({ host: server.url });

const OPTIONS = { temperature: 0, num_predict: 20 };
const chatReq = { model: STORIES, messages: [{ role: 'user', content: 'Tell me a story about a cat.' }], options: OPTIONS };

async function expectResponseError(promise, status, what) {
  try {
    await promise;
  } catch (e) {
    assertEqual(e && e.name, 'ResponseError', `${what}: error type (${e && e.message})`);
    assertEqual(e.status_code, status, `${what}: status_code (message: ${e.message})`);
    assert(typeof e.message === 'string' && e.message.length > 0, `${what}: empty message`);
    return e;
  }
  throw new Error(`${what}: the request succeeded, expected an HTTP ${status}`);
}

function checkFinal(r, numPredict, what) {
  assertEqual(r.done, true, `${what}: done`);
  assert(['stop', 'length'].includes(r.done_reason), `${what}: done_reason ${r.done_reason}`);
  assert(Number.isInteger(r.prompt_eval_count) && r.prompt_eval_count > 0, `${what}: prompt_eval_count ${r.prompt_eval_count}`);
  assert(Number.isInteger(r.eval_count) && r.eval_count >= 0, `${what}: eval_count ${r.eval_count}`);
  if (numPredict !== undefined) {
    assert(r.eval_count <= numPredict, `${what}: eval_count ${r.eval_count} > num_predict ${numPredict}`);
    if (r.done_reason === 'length') assertEqual(r.eval_count, numPredict, `${what}: length => num_predict tokens`);
  }
  for (const k of ['total_duration', 'load_duration', 'prompt_eval_duration', 'eval_duration'])
    assert(Number.isInteger(r[k]) && r[k] >= 0, `${what}: ${k} ${r[k]}`);
}


const productSchema = {
  type: 'object',
  properties: {
    color: { type: 'string', enum: ['red', 'green', 'blue'] },
    count: { type: 'integer', minimum: 1, maximum: 10 },
    in_stock: { type: 'boolean' },
    tags: { type: 'array', items: { type: 'string', maxLength: 12 }, maxItems: 3 },
  },
  required: ['color', 'count', 'in_stock', 'tags'],
  additionalProperties: false,
};

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const loadedNames = async () => (await ollama.ps()).models.map((m) => m.name);

let chatText = null;

const checks = [
  ['chat: non-stream', async () => {
    const r = await ollama.chat({ ...chatReq, stream: false });
    assertEqual(r.model, STORIES, 'model');
    assertEqual(r.message.role, 'assistant', 'role');
    assert(typeof r.message.content === 'string' && r.message.content.length > 0, `content ${JSON.stringify(r.message.content)}`);
    assert(!Number.isNaN(Date.parse(r.created_at)), `created_at ${r.created_at}`);
    checkFinal(r, OPTIONS.num_predict, 'chat');
    chatText = r.message.content;
    const again = await ollama.chat({ ...chatReq, stream: false });
    assertEqual(again.message.content, chatText, 'greedy chat twice');
  }],

  ['chat: stream concatenates to the non-stream greedy answer', async () => {
    const parts = await ollama.chat({ ...chatReq, stream: true });
    let text = '', last = null, n = 0, doneParts = 0;
    for await (const part of parts) {
      n++;
      assertEqual(part.model, STORIES, 'part model');
      text += part.message.content;
      if (part.done) doneParts++;
      last = part;
    }
    assert(n >= 3, `only ${n} parts`);
    assertEqual(doneParts, 1, 'exactly one part with done: true');
    assertEqual(last.done, true, 'the last part is the done part');
    checkFinal(last, OPTIONS.num_predict, 'chat stream final part');
    assertEqual(text, chatText, 'streamed chat text');
  }],

  ['generate: non-stream, stream and system', async () => {
    const req = { model: STORIES, prompt: 'Once upon a time', options: OPTIONS };
    const r = await ollama.generate({ ...req, stream: false });
    assert(typeof r.response === 'string' && r.response.length > 0, `response ${JSON.stringify(r.response)}`);
    checkFinal(r, OPTIONS.num_predict, 'generate');
    assert(Array.isArray(r.context) && r.context.length > 0, 'context');
    assertEqual(r.context.length, r.prompt_eval_count + r.eval_count, 'context = prompt + answer tokens');

    const parts = await ollama.generate({ ...req, stream: true });
    let text = '', last = null;
    for await (const part of parts) { text += part.response; last = part; }
    assertEqual(text, r.response, 'streamed generate text');
    checkFinal(last, OPTIONS.num_predict, 'generate stream final part');
    assertEqual(last.context, r.context, 'streamed context');

    const sys = await ollama.generate({ ...req, system: 'You are a storyteller who writes about dragons.', stream: false });
    checkFinal(sys, OPTIONS.num_predict, 'generate with system');
    assert(sys.prompt_eval_count > r.prompt_eval_count + 5,
      `system prompt not counted: ${sys.prompt_eval_count} vs ${r.prompt_eval_count} tokens without it`);
  }],

  ['generate: the returned context continues the conversation', async () => {
    const first = await ollama.generate({ model: STORIES, prompt: 'Lily had a red ball.', options: OPTIONS, stream: false });
    checkFinal(first, OPTIONS.num_predict, 'first');
    const alone = await ollama.generate({ model: STORIES, prompt: 'What did Lily do next?', options: OPTIONS, stream: false });
    const next = await ollama.generate({ model: STORIES, prompt: 'What did Lily do next?', context: first.context, options: OPTIONS, stream: false });
    checkFinal(next, OPTIONS.num_predict, 'continued');
    assertEqual(next.prompt_eval_count, first.context.length + alone.prompt_eval_count,
      'continued prompt = previous context + the new prompt');
    assertEqual(next.context.slice(0, first.context.length), first.context, 'the new context starts with the old one');
    assertEqual(next.context.length, next.prompt_eval_count + next.eval_count, 'new context length');
  }],

  ['embed: input array -> embeddings', async () => {
    const r = await ollama.embed({ model: EMBED, input: ['hello world', 'hello world', 'the cat sat on the mat'] });
    assertEqual(r.model, EMBED, 'model');
    const dim = JSON.parse(fs.readFileSync(path.join(files[EMBED], 'config.json'), 'utf8')).hidden_dim;
    assertEqual(r.embeddings.length, 3, 'number of embeddings');
    for (const [i, v] of r.embeddings.entries()) {
      assertEqual(v.length, dim, `embedding ${i} dimension`);
      const n = Math.hypot(...v);
      assert(Math.abs(n - 1) < 1e-3, `embedding ${i} norm ${n}`);
    }
    assertEqual(r.embeddings[1], r.embeddings[0], 'same text, same vector');
    assert(r.embeddings[0].some((x, i) => Math.abs(x - r.embeddings[2][i]) > 1e-2), 'different texts differ');
    assert(r.prompt_eval_count > 0, `prompt_eval_count ${r.prompt_eval_count}`);
    const one = await ollama.embed({ model: EMBED, input: 'hello world' });
    assertEqual(one.embeddings.length, 1, 'single input');
    assert(one.embeddings[0].every((x, i) => Math.abs(x - r.embeddings[0][i]) < 1e-6), 'single input = batched input');
  }],

  ['list(): models with details', async () => {
    const { models } = await ollama.list();
    for (const name of [STORIES, QWEN, EMBED]) {
      const m = models.find((x) => x.name === name || x.name === name + ':latest');
      assert(m, `list() lacks ${name}: ${JSON.stringify(models.map((x) => x.name))}`);
      assert(m.details && typeof m.details === 'object', `${name}: details`);
      assert(typeof m.digest === 'string' && /^[0-9a-f]{64}$/.test(m.digest), `${name}: digest ${m.digest}`);
      assert(!Number.isNaN(Date.parse(m.modified_at)), `${name}: modified_at ${m.modified_at}`);
      if (families[name]) {
        assertEqual(m.details.family, families[name], `${name}: details.family`);
        assertEqual(m.details.format, 'gguf', `${name}: details.format`);
        assertEqual(m.size, fs.statSync(files[name]).size, `${name}: size = file size`);
        assert(typeof m.details.quantization_level === 'string' && m.details.quantization_level.length > 0,
          `${name}: quantization_level ${m.details.quantization_level}`);
      }
    }
  }],

  ['ps() shows loaded models; version()', async () => {
    await ollama.chat({ ...chatReq, stream: false });
    const { models } = await ollama.ps();
    const m = models.find((x) => x.name === STORIES);
    assert(m, `ps() lacks ${STORIES} after use: ${JSON.stringify(models.map((x) => x.name))}`);
    assert(m.size > 0, `ps size ${m.size}`);
    assert(!Number.isNaN(Date.parse(m.expires_at)), `expires_at ${m.expires_at}`);
    assertEqual(m.details.family, 'llama', 'ps details.family');
    assert((await loadedNames()).includes(EMBED), 'the embedding model used above is loaded');
    const v = await ollama.version();
    assert(typeof v.version === 'string' && /^\d+\.\d+\.\d+/.test(v.version), `version ${JSON.stringify(v)}`);
  }],

  ['format: JSON schema on tiny-qwen2', async () => {
    for (const options of [{ temperature: 0, num_predict: 200 }, { temperature: 1, seed: 7, num_predict: 200 }]) {
      const r = await ollama.chat({
        model: QWEN, messages: [{ role: 'user', content: 'Describe a product as JSON.' }],
        format: productSchema, options, stream: false,
      });
      const what = `format schema ${JSON.stringify(options)}`;
      assert(r.done_reason !== 'length', `${what}: done_reason 'length' — the grammar did not end within num_predict: ${JSON.stringify(r.message.content)}`);
      assertEqual(r.done_reason, 'stop', `${what}: done_reason`);
      validate(parseJson(r.message.content, what), productSchema);
    }
    const g = await ollama.generate({
      model: QWEN, prompt: 'Describe a product as JSON.', format: productSchema,
      options: { temperature: 1, seed: 11, num_predict: 200 }, stream: false,
    });
    assertEqual(g.done_reason, 'stop', 'generate format: done_reason');
    validate(parseJson(g.response, 'generate format'), productSchema);
  }],

  ['format: "json" on tiny-qwen2', async () => {
    const r = await ollama.chat({
      model: QWEN, messages: [{ role: 'user', content: 'json please' }], format: 'json',
      options: { temperature: 0, num_predict: 200 }, stream: false,
    });
    assert(r.done_reason !== 'length', `format json: done_reason 'length': ${JSON.stringify(r.message.content)}`);
    parseJson(r.message.content, 'format json');
  }],

  ['errors: unknown model -> ResponseError 404', async () => {
    const e = await expectResponseError(ollama.chat({ ...chatReq, model: 'no-such-model', stream: false }), 404, 'unknown model (chat)');
    assert(/no-such-model/.test(e.message), `message should name the model: ${e.message}`);
    await expectResponseError(ollama.generate({ model: 'no-such-model', prompt: 'hi', stream: false }), 404, 'unknown model (generate)');
    // A streamed request fails before the stream starts.
    await expectResponseError((async () => { for await (const _ of await ollama.chat({ ...chatReq, model: 'no-such-model', stream: true })); })(),
      404, 'unknown model (chat stream)');
  }],

  ['errors: bad option type -> 400', async () => {
    const e = await expectResponseError(ollama.chat({ ...chatReq, options: { temperature: 'hot' }, stream: false }), 400, 'options.temperature "hot"');
    assert(/temperature/.test(e.message), `message should name temperature: ${e.message}`);
    const e2 = await expectResponseError(ollama.generate({ model: STORIES, prompt: 'hi', options: { num_predict: 'many' }, stream: false }), 400, 'options.num_predict "many"');
    assert(/num_predict/.test(e2.message), `message should name num_predict: ${e2.message}`);
  }],

  ['keep_alive 0 with an empty prompt unloads the model', async () => {
    await ollama.generate({ model: QWEN, prompt: 'hi', options: { num_predict: 2 }, stream: false });
    assert((await loadedNames()).includes(QWEN), `${QWEN} should be loaded after use`);
    const r = await ollama.generate({ model: QWEN, prompt: '', keep_alive: 0, stream: false });
    assertEqual(r.done, true, 'done');
    let names = await loadedNames();
    for (let i = 0; i < 40 && names.includes(QWEN); i++) {
      await sleep(100);
      names = await loadedNames();
    }
    assert(!names.includes(QWEN), `${QWEN} still listed by ps() 4 s after keep_alive 0: ${JSON.stringify(names)}`);
    assert(names.includes(STORIES), `unloading ${QWEN} should leave ${STORIES} loaded: ${JSON.stringify(names)}`);
    // And it loads again on the next use.
    const again = await ollama.generate({ model: QWEN, prompt: 'hi', options: { num_predict: 2 }, stream: false });
    checkFinal(again, 2, 'after reload');
  }],

  ['server still alive', async () => {
    assert(server.alive(), 'the server process exited');
  }],
];

await runChecks(checks, server);
