// Drives a real `pocket serve` with the official `openai` npm client (6.x): chat (plain, streamed,
// n, logprobs, stop, JSON schema, tools), completions, embeddings, models and errors.
//
//   cd tests/server && POCKET_BINARY=../../build/pocket node openai_test.mjs
//
// Expected values come from the request itself, the schema, or the model files (the embedding
// test recomputes vectors from the safetensors table); the server's own output is only compared
// with itself (streamed == non-streamed, same seed == same text).
import fs from 'node:fs';
import path from 'node:path';
import OpenAI from 'openai';
import { assert, assertEqual, runChecks, sharedPath, startServer } from './harness.mjs';
import { parseJson, validate } from './schema_check.mjs';

const STORIES = 'stories260K';
const QWEN = 'tiny-qwen2';
const EMBED = 'potion-base-4M-int8';
const embedDir = sharedPath('models/embed/potion-base-4M-int8');

const server = await startServer([
  '-m', sharedPath('models/stories260K.gguf'),
  '-m', sharedPath('models/tiny/tiny-qwen2.gguf'),
  '--embed-model', embedDir,
  '--parallel', '4', '-q',
]);
process.on('exit', () => { if (server.alive()) server.process.kill('SIGKILL'); });
const client = new OpenAI({ baseURL: server.url + '/v1', apiKey: 'x', maxRetries: 0, timeout: 60000 });

const userMsg = (content) => [{ role: 'user', content }];
const greedyReq = {
  model: STORIES,
  messages: userMsg('Once upon a time there was a little girl'),
  max_tokens: 24,
  temperature: 0,
};

async function expectError(promise, ErrorClass, what) {
  try {
    await promise;
  } catch (e) {
    assert(e instanceof ErrorClass,
      `${what}: expected ${ErrorClass.name}, got ${e && e.constructor && e.constructor.name}: ${e && e.message}`);
    return e;
  }
  throw new Error(`${what}: the request succeeded, expected ${ErrorClass.name}`);
}

function checkUsage(usage, maxTokens, what) {
  assert(usage, `${what}: no usage`);
  assert(Number.isInteger(usage.prompt_tokens) && usage.prompt_tokens > 0,
    `${what}: prompt_tokens ${usage.prompt_tokens}`);
  assert(Number.isInteger(usage.completion_tokens) && usage.completion_tokens >= 0,
    `${what}: completion_tokens ${usage.completion_tokens}`);
  assertEqual(usage.total_tokens, usage.prompt_tokens + usage.completion_tokens, `${what}: total_tokens`);
  if (maxTokens !== undefined)
    assert(usage.completion_tokens <= maxTokens,
      `${what}: completion_tokens ${usage.completion_tokens} > max_tokens ${maxTokens}`);
}

// A small hand-written validator for the schemas used below (object/string-enum/integer/

function expectStop(choice, what) {
  assert(choice.finish_reason !== 'length',
    `${what}: finish_reason 'length' — the grammar did not end the output within max_tokens ` +
    `(text so far: ${JSON.stringify(choice.message ? choice.message.content : choice.text)})`);
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

const weatherTool = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'Current weather at a place',
    parameters: {
      type: 'object',
      properties: {
        // maxLength keeps a random-weight model from writing one endless string.
        location: { type: 'string', maxLength: 24 },
        unit: { type: 'string', enum: ['celsius', 'fahrenheit'] },
      },
      required: ['location', 'unit'],
      additionalProperties: false,
    },
  },
};
const weatherMessages = userMsg('What is the weather in Paris?');

// Independent embedding reference: potion-base-4M (Model2Vec) embeds a text as the L2-normalised
// mean of the rows of its WordPiece tokens. For lowercase words that are whole tokens of the
// vocabulary, that is computed here straight from model.safetensors and tokenizer.json.
function embeddingReference(words) {
  const config = JSON.parse(fs.readFileSync(path.join(embedDir, 'config.json'), 'utf8'));
  const vocab = JSON.parse(fs.readFileSync(path.join(embedDir, 'tokenizer.json'), 'utf8')).model.vocab;
  const buf = fs.readFileSync(path.join(embedDir, 'model.safetensors'));
  const headerLen = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + headerLen).toString('utf8'));
  const t = header.embeddings;
  assert(t && t.dtype === 'I8', `safetensors: expected an I8 "embeddings" tensor, got ${JSON.stringify(t)}`);
  const [rows, dim] = t.shape;
  assertEqual(dim, config.hidden_dim, 'safetensors dim vs config.hidden_dim');
  const base = 8 + headerLen + t.data_offsets[0];
  const sum = new Float64Array(dim);
  for (const w of words) {
    const id = vocab[w];
    assert(Number.isInteger(id) && id < rows, `"${w}" is not a whole token of the vocabulary`);
    for (let j = 0; j < dim; j++) sum[j] += buf.readInt8(base + id * dim + j);
  }
  const norm = Math.hypot(...sum);
  return { dim, vector: Array.from(sum, (x) => x / norm) };
}

const norm = (v) => Math.sqrt(v.reduce((s, x) => s + x * x, 0));
const maxDiff = (a, b) => a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i])), 0);

let greedyText = null;
async function greedy() {
  if (greedyText === null) {
    const r = await client.chat.completions.create(greedyReq);
    greedyText = r.choices[0].message.content;
  }
  return greedyText;
}

const checks = [
  ['chat: content, finish_reason, usage', async () => {
    const r = await client.chat.completions.create(greedyReq);
    assertEqual(r.object, 'chat.completion', 'object');
    assertEqual(r.model, STORIES, 'model');
    assert(typeof r.id === 'string' && r.id.length > 0, 'id');
    assertEqual(r.choices.length, 1, 'choices');
    const c = r.choices[0];
    assertEqual(c.index, 0, 'index');
    assertEqual(c.message.role, 'assistant', 'role');
    assert(typeof c.message.content === 'string' && c.message.content.length > 0,
      `content should be a non-empty string, got ${JSON.stringify(c.message.content)}`);
    assert(['stop', 'length'].includes(c.finish_reason), `finish_reason ${c.finish_reason}`);
    checkUsage(r.usage, greedyReq.max_tokens, 'usage');
    if (c.finish_reason === 'length') assertEqual(r.usage.completion_tokens, greedyReq.max_tokens, 'length => max_tokens');
    greedyText = c.message.content;
  }],

  ['chat: greedy (temperature 0) twice gives the same text', async () => {
    const a = await greedy();
    const b = (await client.chat.completions.create(greedyReq)).choices[0].message.content;
    assertEqual(b, a, 'second greedy answer');
  }],

  ['chat: a seed with temperature 0.9 reproduces; other seeds vary', async () => {
    const req = (seed) => ({ ...greedyReq, temperature: 0.9, seed, max_tokens: 32 });
    const [a, b] = await Promise.all([client.chat.completions.create(req(1234)), client.chat.completions.create(req(1234))]);
    assertEqual(b.choices[0].message.content, a.choices[0].message.content, 'same seed, same text');
    const others = await Promise.all([5, 6, 7].map((s) => client.chat.completions.create(req(s))));
    const texts = new Set([a, ...others].map((r) => r.choices[0].message.content));
    assert(texts.size >= 2, `four different seeds at temperature 0.9 all gave ${JSON.stringify([...texts])}`);
  }],

  ['chat stream + include_usage: deltas == non-streamed greedy text; usage chunk last', async () => {
    const expected = await greedy();
    const stream = await client.chat.completions.create({ ...greedyReq, stream: true, stream_options: { include_usage: true } });
    let text = '', role = null, finish = null, usage = null, chunks = 0, afterUsage = 0;
    for await (const chunk of stream) {
      chunks++;
      assertEqual(chunk.object, 'chat.completion.chunk', 'chunk object');
      if (usage) afterUsage++;
      if (chunk.usage) {
        usage = chunk.usage;
        assertEqual(chunk.choices.length, 0, 'the usage chunk has no choices');
      }
      for (const c of chunk.choices) {
        if (c.delta.role) role = c.delta.role;
        if (c.delta.content) text += c.delta.content;
        if (c.finish_reason) finish = c.finish_reason;
      }
    }
    assert(chunks > 2, `only ${chunks} chunks`);
    assertEqual(role, 'assistant', 'role delta');
    assertEqual(text, expected, 'streamed text');
    assert(['stop', 'length'].includes(finish), `finish_reason ${finish}`);
    checkUsage(usage, greedyReq.max_tokens, 'stream usage');
    assertEqual(afterUsage, 0, 'chunks after the usage chunk');
  }],

  ['chat: client.chat.completions.stream() helper', async () => {
    assert(typeof client.chat.completions.stream === 'function', 'this client has no chat.completions.stream()');
    const expected = await greedy();
    const stream = client.chat.completions.stream({ ...greedyReq, stream_options: { include_usage: true } });
    let events = '';
    stream.on('content', (delta) => { events += delta; });
    const final = await stream.finalChatCompletion();
    assertEqual(final.choices[0].message.content, expected, 'final content');
    assertEqual(events, expected, 'content events');
    checkUsage(final.usage, greedyReq.max_tokens, 'helper usage');
  }],

  ['chat: n=3 with temperature 1 and a seed gives 3 choices', async () => {
    const r = await client.chat.completions.create({ ...greedyReq, n: 3, temperature: 1, seed: 42, max_tokens: 16 });
    assertEqual(r.choices.map((c) => c.index), [0, 1, 2], 'choice indices');
    for (const c of r.choices) {
      assert(typeof c.message.content === 'string' && c.message.content.length > 0, `choice ${c.index} content`);
      assert(['stop', 'length'].includes(c.finish_reason), `choice ${c.index} finish_reason ${c.finish_reason}`);
    }
    checkUsage(r.usage, 3 * 16, 'n=3 usage');
    const again = await client.chat.completions.create({ ...greedyReq, n: 3, temperature: 1, seed: 42, max_tokens: 16 });
    assertEqual(again.choices.map((c) => c.message.content), r.choices.map((c) => c.message.content), 'n=3 with the same seed again');
  }],

  ['chat: logprobs with top_logprobs 3', async () => {
    const r = await client.chat.completions.create({ ...greedyReq, max_tokens: 10, logprobs: true, top_logprobs: 3 });
    const c = r.choices[0];
    assert(c.logprobs && Array.isArray(c.logprobs.content), `logprobs.content missing: ${JSON.stringify(c.logprobs)}`);
    const entries = c.logprobs.content;
    assertEqual(entries.length, r.usage.completion_tokens, 'one logprobs entry per generated token');
    assertEqual(entries.map((e) => e.token).join(''), c.message.content, 'tokens concatenate to the content');
    for (const [i, e] of entries.entries()) {
      assert(typeof e.token === 'string', `entry ${i}: token`);
      assert(e.logprob <= 0 && Number.isFinite(e.logprob), `entry ${i}: logprob ${e.logprob}`);
      assertEqual(e.bytes, [...Buffer.from(e.token, 'utf8')], `entry ${i}: bytes`);
      assertEqual(e.top_logprobs.length, 3, `entry ${i}: number of alternatives`);
      for (let k = 0; k < 3; k++) {
        const alt = e.top_logprobs[k];
        assert(alt.logprob <= 0, `entry ${i} alt ${k}: logprob ${alt.logprob} > 0`);
        if (k > 0) assert(alt.logprob <= e.top_logprobs[k - 1].logprob, `entry ${i}: alternatives not sorted`);
      }
      const sumP = e.top_logprobs.reduce((s, a) => s + Math.exp(a.logprob), 0);
      assert(sumP <= 1 + 1e-4, `entry ${i}: top probabilities sum to ${sumP}`);
      // Greedy: the chosen token is the most likely one.
      assertEqual(e.top_logprobs[0].token, e.token, `entry ${i}: greedy token is top-1`);
      assert(Math.abs(e.top_logprobs[0].logprob - e.logprob) < 1e-4, `entry ${i}: top-1 logprob ${e.top_logprobs[0].logprob} vs ${e.logprob}`);
    }
  }],

  ['chat: stop strings end the answer before them', async () => {
    const long = (await client.chat.completions.create({ ...greedyReq, max_tokens: 48 })).choices[0].message.content;
    // A piece from the middle of the greedy answer becomes the stop string.
    assert(long.length >= 12, `greedy answer too short to pick a stop string: ${JSON.stringify(long)}`);
    const stop = long.slice(Math.floor(long.length / 2), Math.floor(long.length / 2) + 4);
    const cut = long.indexOf(stop);
    assert(cut > 0, `stop string ${JSON.stringify(stop)} is at ${cut} in ${JSON.stringify(long)}`);
    const r = await client.chat.completions.create({ ...greedyReq, max_tokens: 48, stop: [stop, 'zzzqqq'] });
    const text = r.choices[0].message.content;
    assert(!text.includes(stop), `answer contains the stop string ${JSON.stringify(stop)}: ${JSON.stringify(text)}`);
    assertEqual(text, long.slice(0, cut), 'answer is the greedy text up to the stop string');
    assertEqual(r.choices[0].finish_reason, 'stop', 'finish_reason');
    const s = await client.chat.completions.create({ ...greedyReq, max_tokens: 48, stop, stream: true });
    let streamed = '';
    for await (const chunk of s) for (const c of chunk.choices) streamed += c.delta.content || '';
    assertEqual(streamed, text, 'streamed answer with the stop string');
  }],

  ['completions: text, stream, two prompts', async () => {
    const req = { model: STORIES, prompt: 'Once upon a time', max_tokens: 20, temperature: 0 };
    const r = await client.completions.create(req);
    assertEqual(r.object, 'text_completion', 'object');
    assertEqual(r.choices.length, 1, 'choices');
    const text = r.choices[0].text;
    assert(typeof text === 'string' && text.length > 0, `text ${JSON.stringify(text)}`);
    assert(['stop', 'length'].includes(r.choices[0].finish_reason), `finish_reason ${r.choices[0].finish_reason}`);
    checkUsage(r.usage, 20, 'completions usage');

    const s = await client.completions.create({ ...req, stream: true, stream_options: { include_usage: true } });
    let streamed = '', usage = null;
    for await (const chunk of s) {
      if (chunk.usage) usage = chunk.usage;
      for (const c of chunk.choices) streamed += c.text;
    }
    assertEqual(streamed, text, 'streamed completion');
    checkUsage(usage, 20, 'streamed completions usage');

    const two = await client.completions.create({ ...req, prompt: ['Once upon a time', 'The dog'] });
    assertEqual(two.choices.length, 2, 'choices for 2 prompts');
    assertEqual(two.choices.map((c) => c.index).sort(), [0, 1], 'indices');
    const byIndex = Object.fromEntries(two.choices.map((c) => [c.index, c.text]));
    assertEqual(byIndex[0], text, 'choice 0 (same prompt as before, greedy)');
    assert(typeof byIndex[1] === 'string' && byIndex[1].length > 0, 'choice 1 text');
    checkUsage(two.usage, 40, 'two-prompt usage');
  }],

  ['embeddings: dimension, unit norm, base64 == float, matches the model table', async () => {
    const ref = embeddingReference(['hello', 'world']);
    const texts = ['hello world', 'hello world', 'the cat sat on the mat'];
    // The client asks for base64 by default and decodes it into numbers.
    const b64 = await client.embeddings.create({ model: 'text-embedding-3-small', input: texts });
    assertEqual(b64.model, EMBED, 'an unknown embedding model falls back to --embed-model');
    const flt = await client.embeddings.create({ model: EMBED, input: texts, encoding_format: 'float' });
    assertEqual(b64.data.length, 3, 'base64 data length');
    assertEqual(flt.data.length, 3, 'float data length');
    for (const [i, d] of b64.data.entries()) {
      assertEqual(d.index, i, 'index');
      assert(Array.isArray(d.embedding), `data[${i}].embedding is ${typeof d.embedding}`);
      assertEqual(d.embedding.length, ref.dim, `data[${i}] dimension`);
      assert(Math.abs(norm(d.embedding) - 1) < 1e-3, `data[${i}] norm ${norm(d.embedding)}`);
      const diff = maxDiff(d.embedding, flt.data[i].embedding);
      assert(diff < 1e-6, `data[${i}]: base64 and float differ by ${diff}`);
    }
    assertEqual(b64.data[1].embedding, b64.data[0].embedding, 'same text, same vector');
    assert(maxDiff(b64.data[0].embedding, b64.data[2].embedding) > 1e-2, 'different texts give different vectors');
    const refDiff = maxDiff(b64.data[0].embedding, ref.vector);
    assert(refDiff < 1e-4, `"hello world" differs from mean(row hello, row world) by ${refDiff}`);
    assert(b64.usage.prompt_tokens > 0, `usage ${JSON.stringify(b64.usage)}`);

    const one = await client.embeddings.create({ model: EMBED, input: 'hello world' });
    assert(maxDiff(one.data[0].embedding, ref.vector) < 1e-4, 'single-string input');
    const short = await client.embeddings.create({ model: EMBED, input: 'hello world', dimensions: 32 });
    assertEqual(short.data[0].embedding.length, 32, 'dimensions: 32');
    assert(Math.abs(norm(short.data[0].embedding) - 1) < 1e-3, 'shortened vector is unit length');
  }],

  ['models.list() has the three models', async () => {
    const ids = [];
    for await (const m of client.models.list()) ids.push(m.id);
    for (const id of [STORIES, QWEN, EMBED]) assert(ids.includes(id), `models.list() lacks ${id}: ${JSON.stringify(ids)}`);
    const m = await client.models.retrieve(QWEN);
    assertEqual(m.id, QWEN, 'models.retrieve');
  }],

  ['response_format json_schema (strict) on tiny-qwen2', async () => {
    for (const [temperature, seed] of [[0, undefined], [1, 7], [1, 8]]) {
      const r = await client.chat.completions.create({
        model: QWEN,
        messages: userMsg('Describe a product as JSON.'),
        max_tokens: 200,
        temperature,
        seed,
        response_format: { type: 'json_schema', json_schema: { name: 'product', strict: true, schema: productSchema } },
      });
      const c = r.choices[0];
      const what = `json_schema (temperature ${temperature}, seed ${seed})`;
      expectStop(c, what);
      assertEqual(c.finish_reason, 'stop', `${what}: finish_reason`);
      validate(parseJson(c.message.content, what), productSchema);
    }
  }],

  ['response_format json_object on tiny-qwen2', async () => {
    const r = await client.chat.completions.create({
      model: QWEN, messages: userMsg('json please'), max_tokens: 200, temperature: 0,
      response_format: { type: 'json_object' },
    });
    const c = r.choices[0];
    expectStop(c, 'json_object');
    const v = parseJson(c.message.content, 'json_object');
    assert(typeof v === 'object' && v !== null && !Array.isArray(v), `json_object gave ${c.message.content}`);
  }],

  ['tools: forced get_weather call, then the tool result round trip', async () => {
    const r = await client.chat.completions.create({
      model: QWEN, messages: weatherMessages, tools: [weatherTool], max_tokens: 200, temperature: 0,
      tool_choice: { type: 'function', function: { name: 'get_weather' } },
    });
    const c = r.choices[0];
    assertEqual(c.finish_reason, 'tool_calls', 'finish_reason');
    const calls = c.message.tool_calls;
    assert(Array.isArray(calls) && calls.length >= 1, `tool_calls: ${JSON.stringify(c.message)}`);
    const call = calls[0];
    assertEqual(call.type, 'function', 'call type');
    assert(typeof call.id === 'string' && call.id.length > 0, 'call id');
    assertEqual(call.function.name, 'get_weather', 'function name');
    validate(parseJson(call.function.arguments, 'arguments'), weatherTool.function.parameters, 'arguments');

    const back = await client.chat.completions.create({
      model: QWEN, max_tokens: 16, temperature: 0, tools: [weatherTool],
      messages: [
        ...weatherMessages,
        { role: 'assistant', content: null, tool_calls: [call] },
        { role: 'tool', tool_call_id: call.id, content: '{"temp":21}' },
      ],
    }).withResponse();
    assertEqual(back.response.status, 200, 'status of the follow-up');
    const m = back.data.choices[0].message;
    assertEqual(m.role, 'assistant', 'follow-up role');
    assert(typeof m.content === 'string' || Array.isArray(m.tool_calls), `follow-up message ${JSON.stringify(m)}`);
    assert(back.data.usage.prompt_tokens > r.usage.prompt_tokens,
      `follow-up prompt (${back.data.usage.prompt_tokens} tokens) should be longer than the first (${r.usage.prompt_tokens})`);
  }],

  ['tools: streamed tool-call deltas assemble to valid arguments', async () => {
    const stream = await client.chat.completions.create({
      model: QWEN, messages: weatherMessages, tools: [weatherTool], max_tokens: 200, temperature: 0, stream: true,
      tool_choice: { type: 'function', function: { name: 'get_weather' } },
    });
    const calls = [];
    let finish = null, fragments = 0;
    for await (const chunk of stream) {
      for (const c of chunk.choices) {
        if (c.finish_reason) finish = c.finish_reason;
        for (const d of c.delta.tool_calls || []) {
          assert(Number.isInteger(d.index), `tool call delta without index: ${JSON.stringify(d)}`);
          if (!calls[d.index]) {
            assert(d.id && d.function && d.function.name,
              `the first delta of call ${d.index} must carry id and name: ${JSON.stringify(d)}`);
            calls[d.index] = { id: d.id, name: d.function.name, arguments: '' };
          } else {
            assert(!d.function || !d.function.name, `call ${d.index}: name sent twice`);
          }
          if (d.function && d.function.arguments) {
            calls[d.index].arguments += d.function.arguments;
            fragments++;
          }
        }
      }
    }
    assertEqual(finish, 'tool_calls', 'finish_reason');
    assert(calls.length >= 1 && calls[0], 'no tool call streamed');
    assertEqual(calls[0].name, 'get_weather', 'streamed name');
    assert(fragments >= 2, `arguments came in ${fragments} fragment(s); expected them streamed`);
    for (const call of calls) validate(parseJson(call.arguments, 'streamed arguments'), weatherTool.function.parameters, 'streamed arguments');
  }],

  ['tools: tool_choice "required"', async () => {
    const other = { type: 'function', function: { name: 'get_time', parameters: { type: 'object', properties: { zone: { type: 'string', enum: ['UTC', 'CET'] } }, required: ['zone'] } } };
    const r = await client.chat.completions.create({
      model: QWEN, messages: weatherMessages, tools: [weatherTool, other], max_tokens: 200, temperature: 0,
      tool_choice: 'required',
    });
    const c = r.choices[0];
    assertEqual(c.finish_reason, 'tool_calls', 'finish_reason');
    assert(Array.isArray(c.message.tool_calls) && c.message.tool_calls.length >= 1, `tool_calls: ${JSON.stringify(c.message)}`);
    for (const call of c.message.tool_calls) {
      const tool = [weatherTool, other].find((t) => t.function.name === call.function.name);
      assert(tool, `call of an unknown tool ${call.function.name}`);
      validate(parseJson(call.function.arguments, 'arguments'), tool.function.parameters, `${call.function.name} arguments`);
    }
  }],

  ['errors: unknown model -> NotFoundError 404', async () => {
    const e = await expectError(client.chat.completions.create({ ...greedyReq, model: 'no-such-model' }), OpenAI.NotFoundError, 'unknown model');
    assertEqual(e.status, 404, 'status');
    assert(/no-such-model/.test(e.message), `message should name the model: ${e.message}`);
  }],

  ['errors: prompt longer than the context -> BadRequestError context_length_exceeded', async () => {
    const e = await expectError(client.chat.completions.create({ ...greedyReq, messages: userMsg('word '.repeat(5000)) }),
      OpenAI.BadRequestError, 'over-long prompt');
    assertEqual(e.status, 400, 'status');
    assertEqual(e.code, 'context_length_exceeded', 'code');
  }],

  ['errors: temperature "hot" -> BadRequestError naming the field', async () => {
    const e = await expectError(client.chat.completions.create({ ...greedyReq, temperature: 'hot' }), OpenAI.BadRequestError, 'bad type');
    assert(/temperature/.test(e.message), `message should name temperature: ${e.message}`);
    assertEqual(e.param, 'temperature', 'param');
    const e2 = await expectError(client.chat.completions.create({ ...greedyReq, max_tokens: -5 }), OpenAI.BadRequestError, 'negative max_tokens');
    assert(/max_tokens/.test(e2.message), `message should name max_tokens: ${e2.message}`);
  }],

  ['errors: --api-key server: wrong key -> AuthenticationError, right key works', async () => {
    const keyed = await startServer(['-m', sharedPath('models/stories260K.gguf'), '--api-key', 'secret', '--parallel', '1', '-q']);
    try {
      const bad = new OpenAI({ baseURL: keyed.url + '/v1', apiKey: 'wrong', maxRetries: 0 });
      const e = await expectError(bad.chat.completions.create(greedyReq), OpenAI.AuthenticationError, 'wrong key');
      assertEqual(e.status, 401, 'status');
      const good = new OpenAI({ baseURL: keyed.url + '/v1', apiKey: 'secret', maxRetries: 0 });
      const r = await good.chat.completions.create(greedyReq);
      assertEqual(r.choices[0].message.content, await greedy(), 'same greedy answer from the keyed server');
      const ids = [];
      for await (const m of good.models.list()) ids.push(m.id);
      assertEqual(ids, [STORIES], 'models of the keyed server');
    } finally {
      await keyed.stop();
    }
  }],

  ['server still alive', async () => {
    assert(server.alive(), 'the server process exited');
  }],
];

await runChecks(checks, server);
