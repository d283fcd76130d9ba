// `pocket serve --cache-type-k q8_0 --cache-type-v q8_0`: the scheduler's context holds a
// quantized KV cache, and generation through it behaves as with F16: greedy answers are the same
// whether requests run alone or side by side (slots forking a shared prompt's quantized pages),
// and close to the F16 server's.
//
//   cd tests/server && POCKET_BINARY=../../build/pocket node kv_cache_test.mjs
import { assert, assertEqual, runChecks, sharedPath, startServer } from './harness.mjs';

const model = sharedPath('models/stories260K.gguf');
const q8 = await startServer(['-m', model, '--parallel', '3', '--cache-type-k', 'q8_0',
  '--cache-type-v', 'q8_0']);
const f16 = await startServer(['-m', model]);
// runChecks stops the server it is given and exits the process: the other one goes then.
process.on('exit', () => {
  if (f16.alive()) f16.process.kill('SIGKILL');
});

async function complete(server, prompt, maxTokens = 48) {
  const res = await fetch(server.url + '/v1/completions', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'stories260K', prompt, max_tokens: maxTokens, temperature: 0 }),
  });
  assertEqual(res.status, 200, 'status');
  const body = await res.json();
  return body.choices[0].text;
}

const PROMPT = 'Once upon a time, there was a little girl named Lily. She loved to';

await runChecks([
  ['a quantized cache generates', async () => {
    const text = await complete(q8, PROMPT);
    assert(text.length > 20, `short answer: ${JSON.stringify(text)}`);
  }],
  ['side by side, the same greedy answer as alone', async () => {
    const alone = await complete(q8, PROMPT);
    const together = await Promise.all([complete(q8, PROMPT), complete(q8, PROMPT),
      complete(q8, PROMPT + ' play')]);
    assertEqual(together[0], alone, 'first of three');
    assertEqual(together[1], alone, 'second of three');
  }],
  ['the answer starts as the F16 cache\'s', async () => {
    // Q8_0 moves the logits by about a percent of their spread on this model: the first words
    // of a greedy answer agree; later ones may part where two tokens were nearly tied.
    const a = await complete(q8, PROMPT, 6);
    const b = await complete(f16, PROMPT, 6);
    assertEqual(a.split(' ').slice(0, 3), b.split(' ').slice(0, 3), 'first words');
  }],
], q8);  // stops q8; f16 is killed on exit
