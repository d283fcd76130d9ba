// Browser test of the web chat page of `pocket serve`, in headless Chromium via playwright-core.
//
//   node tests/server/browser_test.mjs          (starts its own server, as ctest does)
//   POCKET_SERVER_URL=http://127.0.0.1:8080 node tests/server/browser_test.mjs
//
// Environment:
//   POCKET_SERVER_URL        base URL of a running `pocket serve`; unset: a server with the shared
//                            stories260K model is started on a free port (tests/server/harness.mjs)
//   POCKET_MODEL             model id to pick (default: the first one the page lists)
//   POCKET_API_KEY           the server's API key, if it was started with one (entered through the page)
//   POCKET_BROWSER_THROTTLE  download bytes/s while the first answer streams (default 4000; 0 = off),
//                            so that a very fast model still streams visibly and can be stopped
//   POCKET_CHROMIUM          browser executable (default /usr/bin/chromium)
// Exit code 0 on success; otherwise a message naming the failed step. The whole run is bounded (55 s).
import { chromium } from 'playwright-core';
import { sharedPath, startServer } from './harness.mjs';

const ownServer = process.env.POCKET_SERVER_URL
  ? null
  : await startServer(['-m', sharedPath('models/stories260K.gguf'), '--parallel', '2', '-q']);
process.on('exit', () => { if (ownServer && ownServer.alive()) ownServer.process.kill('SIGKILL'); });
const BASE = (process.env.POCKET_SERVER_URL || ownServer.url).replace(/\/+$/, '');
const MODEL = process.env.POCKET_MODEL || '';
const API_KEY = process.env.POCKET_API_KEY || '';
const THROTTLE = Number(process.env.POCKET_BROWSER_THROTTLE ?? 4000);
const CHROMIUM = process.env.POCKET_CHROMIUM || '/usr/bin/chromium';
const TOTAL_MS = 55000;

const started = Date.now();
let browser = null;
let currentStep = 'start';

function fail(message) {
  console.error(`FAIL [${currentStep}] ${message}`);
  const b = browser;
  browser = null;
  const done = () => process.exit(1);
  if (b) b.close().then(done, done); else done();
  setTimeout(done, 3000).unref();
}
const watchdog = setTimeout(() => fail(`the test did not finish within ${TOTAL_MS / 1000} s`), TOTAL_MS);
process.on('unhandledRejection', (e) => fail(`unhandled: ${e && e.stack ? e.stack : e}`));

function check(cond, message) {
  if (!cond) throw new Error(message);
}
async function step(name, fn) {
  currentStep = name;
  const t = Date.now();
  try {
    await fn();
  } catch (e) {
    fail(e && e.message ? e.message : String(e));
    await new Promise(() => {}); // fail() exits
  }
  console.log(`ok - ${name} (${Date.now() - t} ms)`);
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

if (!BASE) {
  console.error('FAIL: set POCKET_SERVER_URL to the base URL of a running `pocket serve`');
  process.exit(2);
}
const origin = new URL(BASE).origin;

// Text of the last assistant message's content and its state.
const lastAssistant = () => {
  const all = document.querySelectorAll('#messages .message.assistant');
  const a = all[all.length - 1];
  if (!a) return null;
  const c = a.querySelector('.content');
  return { text: c ? c.textContent : '', state: a.dataset.state || '', full: a.textContent };
};

let page, context, cdp;
const pageErrors = [];
const foreignRequests = [];

await step('launch chromium', async () => {
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    timeout: 15000,
  });
  context = await browser.newContext({ viewport: { width: 1100, height: 800 } });
  context.setDefaultTimeout(10000);
  page = await context.newPage();
  page.on('pageerror', (e) => pageErrors.push(String(e && e.stack ? e.stack : e)));
  page.on('request', (r) => {
    const u = r.url();
    if (!u.startsWith('data:') && new URL(u).origin !== origin) foreignRequests.push(u);
  });
  cdp = await context.newCDPSession(page);
  await cdp.send('Network.enable');
});

await step('load the page', async () => {
  const res = await page.goto(BASE + '/', { waitUntil: 'load', timeout: 10000 });
  check(res && res.ok(), `GET / answered ${res && res.status()}`);
  check((res.headers()['content-type'] || '').includes('text/html'), `GET / content type ${res.headers()['content-type']}`);
  for (const id of ['message', 'send', 'stop', 'system', 'model', 'conversations', 'new-chat', 'messages']) {
    check(await page.locator('#' + id).count() === 1, `element #${id} missing`);
  }
  check(await page.evaluate(() => typeof window.pocketRenderMarkdown === 'function'),
    'window.pocketRenderMarkdown is not a function (app.js not loaded?)');
});

if (API_KEY) {
  await step('enter the API key', async () => {
    // Without a key the model list answers 401 and the page opens the key dialog by itself.
    await page.waitForFunction(() => document.querySelector('#api-key-dialog').open ||
      document.querySelector('#status').textContent !== '' || document.querySelector('#model').value !== '',
    null, { timeout: 10000 });
    if (!(await page.evaluate(() => document.querySelector('#api-key-dialog').open))) await page.click('#api-key-button');
    await page.fill('#api-key-input', API_KEY);
    await page.click('#api-key-save');
    check(await page.evaluate(() => JSON.parse(localStorage.getItem('pocket.apiKey'))) === API_KEY, 'key not stored');
  });
}

let model = '';
await step('pick the model', async () => {
  await page.waitForFunction(() => {
    const s = document.querySelector('#model');
    return s && s.options.length > 0 && s.options[0].value !== '';
  }, null, { timeout: 10000 }).catch(async () => {
    const status = await page.textContent('#status');
    throw new Error(`the model list did not load from /v1/models: ${status || '(no status)'}`);
  });
  const ids = await page.$$eval('#model option', (os) => os.map((o) => o.value));
  model = MODEL || ids[0];
  check(ids.includes(model), `model ${model} not among ${JSON.stringify(ids)}`);
  await page.selectOption('#model', model);
});

const PROMPT = 'Tell me a long story about a little dragon who learns to fly.';
const SYSTEM = 'You are a storyteller.';
let partial = '';

await step('send a message; the answer streams', async () => {
  await page.fill('#system', SYSTEM);
  if (THROTTLE > 0) {
    await cdp.send('Network.emulateNetworkConditions',
      { offline: false, latency: 0, downloadThroughput: THROTTLE, uploadThroughput: -1 });
  }
  // Record every distinct length of the streaming answer, from inside the page.
  await page.evaluate(() => {
    window.__lengths = [];
    const box = document.querySelector('#messages');
    new MutationObserver(() => {
      const all = box.querySelectorAll('.message.assistant');
      const a = all[all.length - 1];
      if (!a || a.dataset.state !== 'streaming') return;
      const len = (a.querySelector('.content') || a).textContent.length;
      const l = window.__lengths;
      if (len > 0 && l[l.length - 1] !== len) l.push(len);
    }).observe(box, { childList: true, subtree: true, characterData: true, attributes: true });
  });
  await page.fill('#message', PROMPT);
  await page.click('#send');
  await page.waitForFunction((p) => {
    const u = document.querySelectorAll('#messages .message.user');
    return u.length === 1 && u[0].textContent.includes(p);
  }, PROMPT, { timeout: 5000 });
  check(await page.inputValue('#message') === '', 'the message box was not cleared after sending');
  check(await page.isDisabled('#send'), '#send should be disabled while streaming');
  check(await page.isEnabled('#stop'), '#stop should be enabled while streaming');
  // First text (the model may need to load), then at least two more changes while still streaming.
  await page.waitForFunction(() => window.__lengths.length >= 1, null, { timeout: 20000 }).catch(async () => {
    throw new Error(`no streamed text appeared within 20 s; last assistant message: ${JSON.stringify(await page.evaluate(lastAssistant))}`);
  });
  await page.waitForFunction(() => window.__lengths.length >= 3, null, { timeout: 15000 }).catch(async () => {
    throw new Error(`the answer did not grow twice while streaming: lengths ${JSON.stringify(await page.evaluate(() => window.__lengths))}, ` +
      `message ${JSON.stringify(await page.evaluate(lastAssistant))}`);
  });
  const a = await page.evaluate(lastAssistant);
  check(a.state === 'streaming', `the answer finished before it could be stopped (state ${a.state}); ` +
    'raise POCKET_BROWSER_THROTTLE or use a model that answers at length');
  const l = await page.evaluate(() => window.__lengths);
  check(l[0] < l[l.length - 1], `the answer did not grow: ${JSON.stringify(l)}`);
});

await step('stop keeps the partial answer', async () => {
  await page.click('#stop', { timeout: 2000 }).catch(() => {
    throw new Error('could not click #stop: the answer probably finished first; ' +
      'raise POCKET_BROWSER_THROTTLE or use a model that answers at length');
  });
  await page.waitForFunction(() => {
    const all = document.querySelectorAll('#messages .message.assistant');
    return all.length && all[all.length - 1].dataset.state !== 'streaming';
  }, null, { timeout: 5000 });
  if (THROTTLE > 0) {
    await cdp.send('Network.emulateNetworkConditions',
      { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
  }
  const a = await page.evaluate(lastAssistant);
  check(a.state === 'stopped', `state after stop is ${a.state}, expected stopped (${a.full})`);
  check(a.text.trim().length > 0, 'the partial answer was lost on stop');
  check(await page.isEnabled('#send'), '#send is not enabled again after stop');
  check(await page.isDisabled('#stop'), '#stop is still enabled after stop');
  await sleep(800);
  const b = await page.evaluate(lastAssistant);
  check(b.text === a.text, `the answer kept growing after stop: ${a.text.length} -> ${b.text.length} characters`);
  check(/stopped/.test(b.full), 'no "stopped" note on the stopped answer');
  partial = a.text;
});

await step('the conversation survives a reload', async () => {
  await page.reload({ waitUntil: 'load', timeout: 10000 });
  await page.waitForSelector('#messages .message.assistant', { timeout: 5000 });
  const users = await page.$$eval('#messages .message.user .content', (ns) => ns.map((n) => n.textContent));
  check(users.length === 1 && users[0] === PROMPT, `user messages after reload: ${JSON.stringify(users)}`);
  const a = await page.evaluate(lastAssistant);
  check(a.text === partial, `assistant text after reload differs:\n  before: ${JSON.stringify(partial)}\n  after:  ${JSON.stringify(a.text)}`);
  check(a.state === 'stopped', `assistant state after reload: ${a.state}`);
  check(await page.inputValue('#system') === SYSTEM, 'the system prompt was not restored');
  const convs = await page.$$eval('#conversations li', (ls) => ls.length);
  check(convs === 1, `expected 1 conversation in #conversations, found ${convs}`);
  const cur = await page.$eval('#conversations [aria-current="true"]', (n) => n.textContent).catch(() => '');
  check(PROMPT.startsWith(cur.slice(0, 20)) && cur.length > 0, `current conversation title: ${JSON.stringify(cur)}`);
  check(await page.$eval('#model', (s) => s.value) === model || MODEL === '', 'the model choice was not kept');
});

await step('the Markdown renderer never interprets HTML', async () => {
  const r = await page.evaluate(async () => {
    const src = '<img src=x onerror="window.__xss=1">\n```js\n<b>x</b>\n```\n\n' +
      '# Title\n\n**bold** *it* `code` [ok](https://example.com/a) [bad](javascript:window.__xss=2) ' +
      '<script>window.__xss=3</script>\n\n- one\n- two\n\n1. first\n2. second';
    const node = window.pocketRenderMarkdown(src);
    const host = document.createElement('div');
    host.id = 'md-host';
    host.append(node);
    document.body.append(host);
    await new Promise((res) => setTimeout(res, 300)); // an <img> would have fired onerror by now
    const pre = node.querySelector('pre code');
    return {
      isNode: node instanceof Node,
      imgs: document.querySelectorAll('img').length,
      scripts: node.querySelectorAll('script, b, iframe, [onerror]').length,
      xss: typeof window.__xss,
      text: node.textContent,
      code: pre ? pre.textContent : null,
      copy: !!node.querySelector('.code-block button'),
      h1: node.querySelector('h1') ? node.querySelector('h1').textContent : null,
      strong: node.querySelector('strong') ? node.querySelector('strong').textContent : null,
      em: node.querySelector('em') ? node.querySelector('em').textContent : null,
      inlineCode: [...node.querySelectorAll('code')].map((c) => c.textContent),
      links: [...node.querySelectorAll('a')].map((a) => a.getAttribute('href')),
      uls: node.querySelectorAll('ul > li').length,
      ols: node.querySelectorAll('ol > li').length,
    };
  });
  check(r.isNode, 'pocketRenderMarkdown did not return a Node');
  check(r.imgs === 0, `an <img> element was created (${r.imgs})`);
  check(r.scripts === 0, 'HTML elements from the text were created');
  check(r.xss === 'undefined', 'window.__xss was set: HTML was interpreted');
  check(r.text.includes('<img src=x onerror="window.__xss=1">'), `the HTML is not shown literally: ${JSON.stringify(r.text)}`);
  check(r.code === '<b>x</b>', `the fenced code block content is ${JSON.stringify(r.code)}`);
  check(r.copy, 'the code block has no copy button');
  check(r.h1 === 'Title' && r.strong === 'bold' && r.em === 'it', `headings/bold/italic: ${JSON.stringify(r)}`);
  check(r.inlineCode.includes('code'), 'inline code not rendered');
  check(r.links.length === 1 && r.links[0] === 'https://example.com/a', `links: ${JSON.stringify(r.links)}`);
  check(r.text.includes('[bad](javascript:window.__xss=2)'), 'a javascript: link was not shown literally');
  check(r.uls === 2 && r.ols === 2, `lists: ${r.uls} bullet items, ${r.ols} numbered items`);
  await page.evaluate(() => document.getElementById('md-host').remove());
});

await step('a new chat with HTML in the message stays literal', async () => {
  await page.click('#new-chat');
  await page.waitForFunction(() => document.querySelectorAll('#messages .message').length === 0, null, { timeout: 3000 });
  const html = 'Repeat exactly: <img src=x onerror="window.__xss=1"> <script>window.__xss=2</script> <b>bold?</b>';
  await page.fill('#message', html);
  await page.press('#message', 'Enter'); // Enter sends
  await page.waitForFunction((h) => {
    const u = document.querySelector('#messages .message.user .content');
    return u && u.textContent === h;
  }, html, { timeout: 5000 });
  // Wait for the answer to finish (or stop it after 12 s: we only need what arrived). It may
  // finish between the wait's end and the click (a slow build, e.g. the sanitizer pass, answers in
  // about that time), and Stop is enabled only while an answer streams: click it only if it is.
  const answered = () => {
    const a = document.querySelector('#messages .message.assistant');
    return a && a.dataset.state !== 'streaming';
  };
  const finished = await page.waitForFunction(answered, null, { timeout: 12000 }).then(() => true, () => false);
  if (!finished) {
    if (await page.isEnabled('#stop')) await page.click('#stop', { timeout: 2000 }).catch(() => {});
    await page.waitForFunction(answered, null, { timeout: 8000 });
  }
  await sleep(300);
  const r = await page.evaluate(() => ({
    imgs: document.querySelectorAll('img').length,
    elems: document.querySelectorAll('#messages script, #messages b, #messages iframe').length,
    xss: typeof window.__xss,
    state: document.querySelector('#messages .message.assistant').dataset.state,
    full: document.querySelector('#messages .message.assistant').textContent,
  }));
  check(r.imgs === 0 && r.elems === 0, 'HTML from the conversation became elements');
  check(r.xss === 'undefined', 'window.__xss was set');
  check(r.state !== 'error', `the server answered with an error: ${r.full}`);
  if (r.state === 'done') check(/tok\/s|tokens?/.test(r.full), `no token statistics on the finished answer: ${r.full}`);
  const convs = await page.$$eval('#conversations li', (ls) => ls.length);
  check(convs === 2, `expected 2 conversations, found ${convs}`);
});

await step('server errors are shown in the conversation', async () => {
  // The error path is the page's, so the error itself comes from an intercepted request.
  await page.route('**/v1/chat/completions', (route) => route.fulfill({
    status: 500, contentType: 'application/json',
    body: JSON.stringify({ error: { message: 'simulated failure for the browser test', type: 'server_error' } }),
  }));
  await page.fill('#message', 'This request fails.');
  await page.click('#send');
  await page.waitForFunction(() => {
    const all = document.querySelectorAll('#messages .message.assistant');
    return all.length === 2 && all[1].dataset.state === 'error';
  }, null, { timeout: 5000 });
  const text = await page.$eval('#messages .message.assistant:last-child', (n) => n.textContent);
  check(text.includes('simulated failure for the browser test') && text.includes('500'), `error shown as ${JSON.stringify(text)}`);
  check(await page.isEnabled('#send'), '#send not enabled after an error');
  await page.unroute('**/v1/chat/completions');
});

await step('delete a conversation', async () => {
  await page.click('#conversations [aria-current="true"] ~ .conv-delete');
  const convs = await page.$$eval('#conversations li', (ls) => ls.length);
  check(convs === 1, `expected 1 conversation after delete, found ${convs}`);
  const users = await page.$$eval('#messages .message.user .content', (ns) => ns.map((n) => n.textContent));
  check(users.length === 1 && users[0] === PROMPT, `the remaining conversation is not the first one: ${JSON.stringify(users)}`);
});

await step('no page errors, nothing fetched from elsewhere', async () => {
  check(pageErrors.length === 0, `uncaught errors in the page:\n  ${pageErrors.join('\n  ')}`);
  check(foreignRequests.length === 0, `requests to other origins: ${foreignRequests.join(', ')}`);
});

clearTimeout(watchdog);
const b = browser;
browser = null;
await b.close();
console.log(`browser test passed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
if (ownServer) await ownServer.stop();
process.exit(0);
