// pocket web chat: plain ES2020, no dependencies, no external URLs.
// Model text is only ever put into the page with createElement/textContent (never innerHTML).
'use strict';
(() => {
  const $ = (id) => document.getElementById(id);
  const el = (tag, cls, text) => {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text;
    return e;
  };

  // ------------------------------------------------------------------ Markdown
  // A small block + inline Markdown renderer that builds DOM nodes. Supported: paragraphs,
  // headings, fenced code (with a copy button), lists (nested by indentation), block quotes,
  // tables, rules, **bold**, *italic*, ~~strike~~, `code`, [links](http...) and bare http(s) URLs.
  const MAX_DEPTH = 12;
  const FENCE_RE = /^ {0,3}(`{3,}|~{3,})[ \t]*([^\s`]*)[^`]*$/;
  const FENCE_CLOSE_RE = /^ {0,3}(`{3,}|~{3,})[ \t]*$/;
  const HEADING_RE = /^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$/;
  const HR_RE = /^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$/;
  const QUOTE_RE = /^ {0,3}> ?(.*)$/;
  const LIST_RE = /^([ \t]*)([-*+]|\d{1,9}[.)])[ \t]+(.*)$/;
  const TABLE_SEP_RE = /^ {0,3}\|?[ \t]*:?-+:?[ \t]*(?:\|[ \t]*:?-+:?[ \t]*)*\|?[ \t]*$/;
  const ESCAPABLE = '\\`*_{}[]()#+-.!>~|<';
  const AUTOLINK_RE = /https?:\/\/[^\s<>"'`]+/iy;

  const indentOf = (line) => {
    let w = 0;
    for (const ch of line) {
      if (ch === ' ') w++;
      else if (ch === '\t') w += 4 - (w % 4);
      else break;
    }
    return w;
  };
  const dedent = (line, n) => {
    let i = 0, w = 0;
    while (i < line.length && w < n && (line[i] === ' ' || line[i] === '\t')) {
      w += line[i] === '\t' ? 4 - (w % 4) : 1;
      i++;
    }
    return line.slice(i);
  };
  const isBlank = (line) => !/\S/.test(line);
  const startsBlock = (line) =>
    FENCE_RE.test(line) || /^ {0,3}#{1,6}(\s|$)/.test(line) || HR_RE.test(line) ||
    QUOTE_RE.test(line) || LIST_RE.test(line);

  function safeUrl(s) {
    try {
      const u = new URL(s);
      return u.protocol === 'http:' || u.protocol === 'https:' ? u.href : null;
    } catch (_) {
      return null;
    }
  }

  function makeLink(href, parent, labelText, depth) {
    const a = el('a');
    a.href = href;
    a.target = '_blank';
    a.rel = 'noopener noreferrer';
    if (labelText == null) a.textContent = href;
    else appendInline(a, labelText, depth + 1);
    parent.append(a);
  }

  // Finds the closing delimiter `mark` at or after `from`, not preceded by white space.
  function findClose(text, mark, from) {
    const c = mark[0];
    for (let j = from; j < text.length; j++) {
      if (text[j] === '\\') { j++; continue; }
      if (text[j] === '`') { // skip code spans
        let run = 1;
        while (text[j + run] === '`') run++;
        const end = text.indexOf('`'.repeat(run), j + run);
        if (end > 0) { j = end + run - 1; continue; }
      }
      if (!text.startsWith(mark, j) || /\s/.test(text[j - 1])) continue;
      if (mark.length === 1 && text[j + 1] === c) { // a double mark is not a single close
        while (text[j + 1] === c) j++;
        continue;
      }
      if (mark.length === 2) while (text[j + 2] === c) j++; // ***x*** closes as *(**x**)*
      if (c === '_' && /[\p{L}\p{N}]/u.test(text[j + mark.length] || '')) continue;
      return j;
    }
    return -1;
  }

  function parseLink(text, i) { // text[i] === '['
    let depth = 0, j = i;
    const limit = Math.min(text.length, i + 1000); // labels are short and on one line
    for (; j < limit; j++) {
      const ch = text[j];
      if (ch === '\n') return null;
      if (ch === '\\') j++;
      else if (ch === '[') depth++;
      else if (ch === ']' && --depth === 0) break;
    }
    if (j >= limit || text[j + 1] !== '(') return null;
    let k = j + 2, par = 0;
    for (; k < text.length; k++) {
      const ch = text[k];
      if (ch === '\n') return null;
      if (ch === '(') par++;
      else if (ch === ')') { if (par === 0) break; par--; }
    }
    if (k >= text.length) return null;
    let url = text.slice(j + 2, k).trim();
    if (url.startsWith('<')) url = url.slice(1, url.indexOf('>') > 0 ? url.indexOf('>') : undefined);
    else url = url.split(/\s/)[0];
    return { label: text.slice(i + 1, j), url, end: k + 1 };
  }

  function appendInline(parent, text, depth) {
    let buf = '';
    const flush = () => { if (buf) { parent.append(document.createTextNode(buf)); buf = ''; } };
    const push = (node) => { flush(); parent.append(node); };
    const n = text.length;
    const dead = new Set();
    let i = 0;
    while (i < n) {
      const c = text[i];
      if (c === '\\' && i + 1 < n && ESCAPABLE.includes(text[i + 1])) {
        buf += text[i + 1]; i += 2; continue;
      }
      if (c === '\n') { push(el('br')); i++; continue; }
      if (c === '`') {
        let run = 1;
        while (text[i + run] === '`') run++;
        const close = text.indexOf('`'.repeat(run), i + run);
        if (close > 0 && text[close + run] !== '`') {
          let code = text.slice(i + run, close).replace(/\n/g, ' ');
          if (code.length > 2 && code[0] === ' ' && code[code.length - 1] === ' ') code = code.slice(1, -1);
          push(el('code', null, code));
          i = close + run;
        } else {
          buf += '`'.repeat(run); i += run;
        }
        continue;
      }
      if ((c === '*' || c === '_' || c === '~') && depth < MAX_DEPTH) {
        const dbl = text[i + 1] === c;
        const mark = dbl ? c + c : c;
        const start = i + mark.length;
        const intraword = c === '_' && /[\p{L}\p{N}]/u.test(text[i - 1] || '');
        if ((c !== '~' || dbl) && !intraword && start < n && !/\s/.test(text[start])) {
          const end = dead.has(mark) ? -1 : findClose(text, mark, start);
          if (end < 0) dead.add(mark); // no later opener can find a closer either
          if (end > start) {
            const node = el(c === '~' ? 'del' : dbl ? 'strong' : 'em');
            appendInline(node, text.slice(start, end), depth + 1);
            push(node);
            i = end + mark.length;
            continue;
          }
        }
        buf += mark; i += mark.length; continue;
      }
      if ((c === '[' || (c === '!' && text[i + 1] === '[')) && depth < MAX_DEPTH) {
        const at = c === '!' ? i + 1 : i;
        const link = parseLink(text, at);
        if (link) {
          const href = safeUrl(link.url);
          if (href) { // images are shown as links: nothing is fetched from elsewhere
            flush();
            makeLink(href, parent, link.label || href, depth);
          } else {
            buf += text.slice(i, link.end); // not http(s): shown literally, never a link
          }
          i = link.end;
          continue;
        }
      }
      if ((c === 'h' || c === 'H') && !/[\p{L}\p{N}]/u.test(text[i - 1] || '')) {
        AUTOLINK_RE.lastIndex = i;
        const m = AUTOLINK_RE.exec(text);
        if (m) {
          let url = m[0].replace(/[.,;:!?'"]+$/, '');
          while (url.endsWith(')') && (url.match(/\(/g) || []).length < (url.match(/\)/g) || []).length) url = url.slice(0, -1);
          const href = safeUrl(url);
          if (href) {
            flush();
            makeLink(href, parent, null, depth);
            parent.lastChild.textContent = url;
            i += url.length;
            continue;
          }
        }
      }
      buf += c; i++;
    }
    flush();
  }

  function codeBlock(code, lang) {
    const wrap = el('div', 'code-block');
    const bar = el('div', 'code-bar');
    bar.append(el('span', 'code-lang', lang || 'code'));
    const btn = el('button', 'copy', 'Copy');
    btn.type = 'button';
    btn.setAttribute('aria-label', 'Copy code');
    btn.addEventListener('click', () => {
      copyText(code).then(
        () => { btn.textContent = 'Copied'; },
        () => { btn.textContent = 'Copy failed'; });
      setTimeout(() => { btn.textContent = 'Copy'; }, 1500);
    });
    bar.append(btn);
    const pre = el('pre');
    pre.append(el('code', null, code));
    wrap.append(bar, pre);
    return wrap;
  }

  function splitRow(line) {
    let s = line.trim();
    if (s.startsWith('|')) s = s.slice(1);
    if (s.endsWith('|') && !s.endsWith('\\|')) s = s.slice(0, -1);
    return s.split(/(?<!\\)\|/).map((cell) => cell.trim());
  }

  function renderBlocks(lines, parent, depth) {
    const n = lines.length;
    let i = 0;
    while (i < n) {
      const line = lines[i];
      let m;
      if (isBlank(line)) { i++; continue; }
      if (depth > MAX_DEPTH) { // pathological nesting: the rest as plain text
        parent.append(el('p', null, lines.slice(i).join('\n')));
        return;
      }
      if ((m = FENCE_RE.exec(line))) {
        const fence = m[1], indent = indentOf(line), body = [];
        i++;
        while (i < n) {
          const c = FENCE_CLOSE_RE.exec(lines[i]);
          if (c && c[1][0] === fence[0] && c[1].length >= fence.length) break;
          body.push(dedent(lines[i], indent));
          i++;
        }
        i++; // closing fence (an unclosed fence runs to the end, as while streaming)
        parent.append(codeBlock(body.join('\n'), m[2]));
        continue;
      }
      if (/^ {0,3}#{1,6}(\s|$)/.test(line) && (m = HEADING_RE.exec(line))) {
        const h = el('h' + m[1].length);
        appendInline(h, m[2] || '', 0);
        parent.append(h);
        i++;
        continue;
      }
      if (HR_RE.test(line)) { parent.append(el('hr')); i++; continue; }
      if (line.includes('|') && i + 1 < n && lines[i + 1].includes('|') && TABLE_SEP_RE.test(lines[i + 1])) {
        const head = splitRow(line);
        const aligns = splitRow(lines[i + 1]).map((s) =>
          s.endsWith(':') ? (s.startsWith(':') ? 'center' : 'right') : s.startsWith(':') ? 'left' : '');
        const table = el('table'), thead = el('thead'), tbody = el('tbody');
        const row = (cells, tag) => {
          const tr = el('tr');
          head.forEach((_, k) => {
            const cell = el(tag);
            if (aligns[k]) cell.style.textAlign = aligns[k];
            appendInline(cell, cells[k] || '', 1);
            tr.append(cell);
          });
          return tr;
        };
        thead.append(row(head, 'th'));
        i += 2;
        while (i < n && !isBlank(lines[i]) && lines[i].includes('|')) tbody.append(row(splitRow(lines[i++]), 'td'));
        table.append(thead, tbody);
        const wrap = el('div', 'table-wrap');
        wrap.append(table);
        parent.append(wrap);
        continue;
      }
      if (QUOTE_RE.test(line)) {
        const inner = [];
        while (i < n && (m = QUOTE_RE.exec(lines[i]))) { inner.push(m[1]); i++; }
        const bq = el('blockquote');
        renderBlocks(inner, bq, depth + 1);
        parent.append(bq);
        continue;
      }
      if ((m = LIST_RE.exec(line))) {
        const ordered = /\d/.test(m[2]);
        const base = indentOf(m[1]);
        const list = el(ordered ? 'ol' : 'ul');
        if (ordered && parseInt(m[2], 10) !== 1) list.start = parseInt(m[2], 10);
        while (i < n) {
          const im = LIST_RE.exec(lines[i]);
          if (!im || indentOf(im[1]) > base + 1 || /\d/.test(im[2]) !== ordered) break;
          const contentIndent = indentOf(im[1]) + im[2].length + 1;
          const item = [im[3]];
          i++;
          while (i < n) {
            const l = lines[i];
            if (isBlank(l)) {
              let k = i + 1;
              while (k < n && isBlank(lines[k])) k++;
              if (k < n && indentOf(lines[k]) > base) { item.push(''); i++; continue; }
              break;
            }
            if (indentOf(l) > base) { item.push(dedent(l, contentIndent)); i++; continue; }
            if (startsBlock(l)) break;
            item.push(l); i++; // lazy continuation of the item's paragraph
          }
          const li = el('li');
          renderBlocks(item, li, depth + 1);
          list.append(li);
          let k = i; // a blank line between items keeps the list going
          while (k < n && isBlank(lines[k])) k++;
          if (k < n && k > i && LIST_RE.test(lines[k])) i = k;
        }
        parent.append(list);
        continue;
      }
      const para = [line];
      i++;
      while (i < n && !isBlank(lines[i]) && !startsBlock(lines[i])) {
        if (lines[i].includes('|') && i + 1 < n && TABLE_SEP_RE.test(lines[i + 1]) && lines[i + 1].includes('|')) break;
        para.push(lines[i]);
        i++;
      }
      const p = el('p');
      appendInline(p, para.map((l) => l.trim()).join('\n'), 0);
      parent.append(p);
    }
  }

  function renderMarkdown(text) {
    const root = el('div', 'md');
    renderBlocks(String(text == null ? '' : text).replace(/\r\n?/g, '\n').split('\n'), root, 0);
    return root;
  }
  window.pocketRenderMarkdown = renderMarkdown;

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) return navigator.clipboard.writeText(text);
    return new Promise((resolve, reject) => { // plain-http pages on a LAN address
      const ta = el('textarea');
      ta.value = text;
      ta.setAttribute('readonly', '');
      ta.className = 'offscreen';
      document.body.append(ta);
      ta.select();
      const ok = document.execCommand('copy');
      ta.remove();
      (ok ? resolve : reject)();
    });
  }

  // ------------------------------------------------------------------ state
  const KEYS = {
    convs: 'pocket.conversations', current: 'pocket.current',
    apiKey: 'pocket.apiKey', model: 'pocket.model',
  };
  const store = {
    get(k, fallback) {
      try { const v = localStorage.getItem(k); return v == null ? fallback : JSON.parse(v); } catch (_) { return fallback; }
    },
    set(k, v) {
      try { localStorage.setItem(k, JSON.stringify(v)); return true; } catch (e) {
        setStatus('Could not save to browser storage: ' + e.message);
        return false;
      }
    },
  };
  const newId = () => Date.now().toString(36) + Math.random().toString(36).slice(2, 8);
  const NEW_TITLE = 'New chat';

  let convs = [];
  let currentId = null;
  let streaming = null; // {conv, msg, controller, node}
  let saveTimer = 0;

  function loadState() {
    const list = store.get(KEYS.convs, []);
    convs = Array.isArray(list) ? list.filter((c) => c && typeof c.id === 'string' && Array.isArray(c.messages)) : [];
    for (const c of convs) {
      for (const m of c.messages) {
        if (m.state === 'streaming') m.state = 'stopped'; // the page was closed mid-answer
      }
    }
    currentId = store.get(KEYS.current, null);
    if (!convs.some((c) => c.id === currentId)) currentId = convs.length ? sorted()[0].id : null;
  }
  function saveNow() {
    clearTimeout(saveTimer);
    saveTimer = 0;
    store.set(KEYS.convs, convs);
    store.set(KEYS.current, currentId);
  }
  function saveSoon() {
    if (!saveTimer) saveTimer = setTimeout(saveNow, 500);
  }
  const sorted = () => convs.slice().sort((a, b) => (b.updated || 0) - (a.updated || 0));
  const currentConv = () => convs.find((c) => c.id === currentId) || null;
  function createConv() {
    const c = { id: newId(), title: NEW_TITLE, system: '', created: Date.now(), updated: Date.now(), messages: [] };
    convs.push(c);
    currentId = c.id;
    return c;
  }

  // ------------------------------------------------------------------ rendering
  const ui = {};
  function setStatus(text) { if (ui.status) ui.status.textContent = text || ''; }

  function renderSidebar() {
    ui.conversations.textContent = '';
    for (const c of sorted()) {
      const li = el('li', c.id === currentId ? 'current' : '');
      const open = el('button', 'conv-open', c.title || NEW_TITLE);
      open.type = 'button';
      open.dataset.id = c.id;
      if (c.id === currentId) open.setAttribute('aria-current', 'true');
      open.addEventListener('click', () => selectConv(c.id));
      const del = el('button', 'conv-delete', '\u00d7');
      del.type = 'button';
      del.dataset.id = c.id;
      del.title = 'Delete conversation';
      del.setAttribute('aria-label', 'Delete conversation: ' + (c.title || NEW_TITLE));
      del.addEventListener('click', () => deleteConv(c.id));
      li.append(open, del);
      ui.conversations.append(li);
    }
  }

  function formatStats(s) {
    if (!s) return '';
    const parts = [(s.estimated ? '\u2248' : '') + s.tokens + (s.tokens === 1 ? ' token' : ' tokens')];
    if (s.tps > 0) parts.push(s.tps.toFixed(1) + ' tok/s');
    if (s.ttft > 0) parts.push((s.ttft / 1000).toFixed(2) + ' s to first token');
    return parts.join(' \u00b7 ');
  }

  function fillMessage(node, msg) {
    node.textContent = '';
    node.dataset.state = msg.state || 'done';
    node.append(el('div', 'role', msg.role === 'user' ? 'You' : 'Assistant'));
    if (msg.reasoning) {
      const d = el('details', 'reasoning');
      d.append(el('summary', null, 'Reasoning'), el('div', 'reasoning-text', msg.reasoning));
      node.append(d);
    }
    const content = el('div', 'content');
    if (msg.role === 'user') content.textContent = msg.content;
    else content.append(renderMarkdown(msg.content));
    node.append(content);
    if (msg.state === 'streaming') node.setAttribute('aria-busy', 'true');
    else node.removeAttribute('aria-busy');
    if (msg.error) node.append(el('div', 'error-text', msg.error));
    const notes = [];
    if (msg.state === 'stopped') notes.push('stopped');
    if (msg.finish === 'length') notes.push('length limit reached');
    const stats = formatStats(msg.stats);
    if (stats) notes.push(stats);
    if (notes.length) node.append(el('div', 'stats', notes.join(' \u00b7 ')));
  }

  function messageNode(msg) {
    const node = el('div', 'message ' + (msg.role === 'user' ? 'user' : 'assistant') + (msg.error ? ' error' : ''));
    fillMessage(node, msg);
    return node;
  }

  const nearBottom = () => ui.messages.scrollHeight - ui.messages.scrollTop - ui.messages.clientHeight < 80;
  const toBottom = () => { ui.messages.scrollTop = ui.messages.scrollHeight; };

  function renderMessages() {
    const conv = currentConv();
    ui.messages.textContent = '';
    ui.system.value = conv ? conv.system || '' : '';
    autosize(ui.system);
    if (!conv || !conv.messages.length) {
      ui.messages.append(el('p', 'empty', 'Ask anything. Everything runs on this machine.'));
      return;
    }
    for (const m of conv.messages) {
      const node = messageNode(m);
      if (streaming && m === streaming.msg) streaming.node = node;
      ui.messages.append(node);
    }
    toBottom();
  }

  let frame = 0;
  function updateStreamingSoon() {
    if (frame) return;
    frame = requestAnimationFrame(() => {
      frame = 0;
      if (!streaming || !streaming.node || !streaming.node.isConnected) return;
      const stick = nearBottom();
      fillMessage(streaming.node, streaming.msg);
      if (stick) toBottom();
    });
  }

  function setBusy(busy) {
    ui.send.disabled = busy;
    ui.stop.disabled = !busy;
    ui.messages.setAttribute('aria-busy', busy ? 'true' : 'false');
  }

  function autosize(ta) {
    ta.style.height = 'auto';
    ta.style.height = Math.min(ta.scrollHeight + 2, 240) + 'px';
  }

  // ------------------------------------------------------------------ actions
  function selectConv(id) {
    currentId = id;
    saveNow();
    renderSidebar();
    renderMessages();
    document.body.classList.remove('sidebar-open');
    ui.toggle.setAttribute('aria-expanded', 'false');
    if (window.matchMedia('(min-width: 721px)').matches) ui.message.focus();
  }

  function newChat() {
    const cur = currentConv();
    if (cur && !cur.messages.length && !(cur.system || '').trim()) { // reuse an empty one
      selectConv(cur.id);
      return;
    }
    createConv();
    selectConv(currentId);
  }

  function deleteConv(id) {
    if (streaming && streaming.conv.id === id) streaming.controller.abort();
    convs = convs.filter((c) => c.id !== id);
    if (currentId === id) currentId = convs.length ? sorted()[0].id : null;
    saveNow();
    renderSidebar();
    renderMessages();
  }

  function authHeaders(extra) {
    const h = Object.assign({}, extra);
    const key = store.get(KEYS.apiKey, '');
    if (key) h.Authorization = 'Bearer ' + key;
    return h;
  }

  async function errorText(res) {
    let detail = '';
    try {
      const body = await res.text();
      try {
        const j = JSON.parse(body);
        detail = (j && j.error && (j.error.message || (typeof j.error === 'string' && j.error))) || body;
      } catch (_) { detail = body; }
    } catch (_) { /* no body */ }
    detail = String(detail || res.statusText || '').slice(0, 2000);
    if (res.status === 401) {
      openKeyDialog();
      detail += ' (set the API key with the "API key" button)';
    }
    return 'Error ' + res.status + (detail ? ': ' + detail : '');
  }

  // Yields the data of each server-sent event.
  async function* sseData(body) {
    const reader = body.getReader();
    const decoder = new TextDecoder();
    let buf = '';
    let data = [];
    for (;;) {
      const { value, done } = await reader.read();
      buf += done ? decoder.decode() : decoder.decode(value, { stream: true });
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        let line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.endsWith('\r')) line = line.slice(0, -1);
        if (line === '') {
          if (data.length) yield data.join('\n');
          data = [];
        } else if (line.startsWith('data:')) {
          data.push(line.slice(line[5] === ' ' ? 6 : 5));
        } // comments (":") and other fields are ignored
      }
      if (done) break;
    }
    if (buf.startsWith('data:')) data.push(buf.slice(buf[5] === ' ' ? 6 : 5));
    if (data.length) yield data.join('\n');
  }

  function historyFor(conv) {
    const out = [];
    const sys = (conv.system || '').trim();
    if (sys) out.push({ role: 'system', content: sys });
    for (const m of conv.messages) {
      if (m.role === 'assistant' && !m.content) continue; // failed or empty answers
      out.push({ role: m.role, content: m.content });
    }
    return out;
  }

  async function send() {
    if (streaming) return;
    const text = ui.message.value;
    if (!text.trim()) return;
    const conv = currentConv() || createConv();
    conv.system = ui.system.value;
    conv.messages.push({ role: 'user', content: text });
    if (!conv.title || conv.title === NEW_TITLE) conv.title = text.trim().replace(/\s+/g, ' ').slice(0, 48);
    conv.updated = Date.now();
    const messages = historyFor(conv);
    const msg = { role: 'assistant', content: '', state: 'streaming' };
    conv.messages.push(msg);
    ui.message.value = '';
    autosize(ui.message);
    const controller = new AbortController();
    streaming = { conv, msg, controller, node: null };
    saveNow();
    setBusy(true);
    renderSidebar();
    renderMessages();

    const model = ui.model.value || undefined;
    const t0 = performance.now();
    let tFirst = 0, tLast = 0, chunks = 0, usageTokens = null;
    try {
      const res = await fetch('v1/chat/completions', {
        method: 'POST',
        headers: authHeaders({ 'Content-Type': 'application/json', Accept: 'text/event-stream' }),
        body: JSON.stringify({ model, messages, stream: true, stream_options: { include_usage: true } }),
        signal: controller.signal,
      });
      if (!res.ok) throw new Error(await errorText(res));
      const type = res.headers.get('Content-Type') || '';
      if (type.includes('application/json')) { // a server that ignored stream: true
        const j = await res.json();
        const ch = j.choices && j.choices[0];
        msg.content = (ch && ch.message && ch.message.content) || '';
        tFirst = tLast = performance.now();
        if (j.usage) usageTokens = j.usage.completion_tokens;
      } else {
        for await (const data of sseData(res.body)) {
          if (data === '[DONE]') break;
          let obj;
          try { obj = JSON.parse(data); } catch (_) { continue; }
          if (obj.error) throw new Error('Error: ' + (obj.error.message || JSON.stringify(obj.error)));
          const ch = obj.choices && obj.choices[0];
          if (ch) {
            const d = ch.delta || {};
            const piece = (d.content || '') + (d.reasoning_content || '');
            if (piece) {
              tLast = performance.now();
              if (!tFirst) tFirst = tLast;
              chunks++;
            }
            if (d.content) msg.content += d.content;
            if (d.reasoning_content) msg.reasoning = (msg.reasoning || '') + d.reasoning_content;
            if (ch.finish_reason) msg.finish = ch.finish_reason;
            if (piece) { updateStreamingSoon(); saveSoon(); }
          }
          if (obj.usage && typeof obj.usage.completion_tokens === 'number') usageTokens = obj.usage.completion_tokens;
        }
      }
      msg.state = 'done';
    } catch (e) {
      if (controller.signal.aborted) {
        msg.state = 'stopped';
      } else {
        msg.state = 'error';
        msg.error = e instanceof TypeError ? 'Network error: ' + e.message : e.message || String(e);
      }
    }
    const tokens = usageTokens != null ? usageTokens : chunks;
    if (tokens > 0) {
      msg.stats = {
        tokens,
        estimated: usageTokens == null,
        tps: tokens > 1 && tLast > tFirst ? ((tokens - 1) * 1000) / (tLast - tFirst) : 0,
        ttft: tFirst ? tFirst - t0 : 0,
      };
    }
    conv.updated = Date.now();
    const node = streaming.node;
    streaming = null;
    if (frame) { cancelAnimationFrame(frame); frame = 0; }
    saveNow();
    setBusy(false);
    if (node && node.isConnected) {
      fillMessage(node, msg);
      node.classList.toggle('error', !!msg.error);
      if (nearBottom() || msg.error) toBottom();
    }
  }

  function stop() {
    if (streaming) streaming.controller.abort();
  }

  async function loadModels() {
    const sel = ui.model;
    const wanted = store.get(KEYS.model, '');
    try {
      const res = await fetch('v1/models', { headers: authHeaders() });
      if (!res.ok) throw new Error(await errorText(res));
      const j = await res.json();
      const ids = ((j && j.data) || []).map((m) => m && m.id).filter((id) => typeof id === 'string');
      sel.textContent = '';
      for (const id of ids) {
        const o = el('option', null, id);
        o.value = id;
        sel.append(o);
      }
      if (!ids.length) sel.append(el('option', null, '(no models)'));
      if (ids.includes(wanted)) sel.value = wanted;
      setStatus('');
    } catch (e) {
      sel.textContent = '';
      const o = el('option', null, '(unavailable)');
      o.value = '';
      sel.append(o);
      setStatus('Could not list models: ' + (e.message || e));
    }
  }

  function openKeyDialog() {
    ui.keyInput.value = store.get(KEYS.apiKey, '');
    ui.keyDialog.returnValue = '';
    if (!ui.keyDialog.open && ui.keyDialog.showModal) ui.keyDialog.showModal();
  }

  // ------------------------------------------------------------------ wiring
  function init() {
    for (const id of ['messages', 'message', 'send', 'stop', 'system', 'model', 'conversations', 'status']) ui[id] = $(id);
    ui.toggle = $('toggle-sidebar');
    ui.keyDialog = $('api-key-dialog');
    ui.keyInput = $('api-key-input');

    loadState();
    renderSidebar();
    renderMessages();
    setBusy(false);

    $('composer').addEventListener('submit', (e) => { e.preventDefault(); send(); });
    ui.message.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); send(); }
      if (e.key === 'Escape' && streaming) { e.preventDefault(); stop(); }
    });
    ui.message.addEventListener('input', () => autosize(ui.message));
    ui.stop.addEventListener('click', stop);
    ui.system.addEventListener('input', () => {
      autosize(ui.system);
      let conv = currentConv();
      if (!conv) { conv = createConv(); renderSidebar(); }
      conv.system = ui.system.value;
      saveSoon();
    });
    ui.model.addEventListener('change', () => store.set(KEYS.model, ui.model.value));
    $('new-chat').addEventListener('click', newChat);
    ui.toggle.addEventListener('click', () => {
      const open = document.body.classList.toggle('sidebar-open');
      ui.toggle.setAttribute('aria-expanded', open ? 'true' : 'false');
    });
    const closeSidebar = () => {
      if (!document.body.classList.contains('sidebar-open')) return;
      document.body.classList.remove('sidebar-open');
      ui.toggle.setAttribute('aria-expanded', 'false');
    };
    document.querySelector('main').addEventListener('click', (e) => { if (!ui.toggle.contains(e.target)) closeSidebar(); });
    document.addEventListener('keydown', (e) => { if (e.key === 'Escape') closeSidebar(); });
    $('api-key-button').addEventListener('click', openKeyDialog);
    ui.keyDialog.addEventListener('close', () => {
      const v = ui.keyDialog.returnValue;
      if (v === 'save') store.set(KEYS.apiKey, ui.keyInput.value.trim());
      else if (v === 'clear') { try { localStorage.removeItem(KEYS.apiKey); } catch (_) { /* ignore */ } }
      if (v === 'save' || v === 'clear') loadModels();
    });
    window.addEventListener('storage', (e) => { // another tab changed the conversations
      if (e.key === KEYS.convs && !streaming) { loadState(); renderSidebar(); renderMessages(); }
    });
    window.addEventListener('pagehide', () => { if (saveTimer) saveNow(); });

    loadModels();
    if (window.matchMedia('(min-width: 721px)').matches) ui.message.focus();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
