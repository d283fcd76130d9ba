#!/usr/bin/env python3
"""Load generator for OpenAI-compatible chat servers (pocket serve, llama-server).

N client threads each send R streaming /v1/chat/completions requests, one after the other.
Every request carries the same long system prompt (about --system-tokens tokens, deterministic
English-like text) and its own short user prompt, with temperature 0, ignore_eos and max_tokens,
so each request generates exactly max_tokens tokens. Measured per request: time to first token
(first non-empty content delta, as the client sees it, queueing included), completion tokens
(from the usage chunk, else one per content chunk) and total time. Per run: aggregate generated
tokens/s = all completion tokens / wall time from the common start to the last answer, and the
p50/p99 time to first token. A warm-up request (not counted) comes first, so the system prompt
may already be cached when the measured requests start.

Where the server reports it (llama-server's `timings`, OpenAI's
`usage.prompt_tokens_details.cached_tokens`), the prompt tokens actually evaluated per request
are shown too: a server that shares the system prompt evaluates only the user turn.

Python 3 standard library only.

  loadgen.py --url http://127.0.0.1:8080 --clients 1,4,8,16 --requests 4 --max-tokens 64
  loadgen.py --url ... --clients 8 --json out.json      # machine-readable results
  loadgen.py --report a.json b.json ...                  # one combined table from --json files
"""

import argparse
import http.client
import json
import math
import random
import statistics
import sys
import threading
import time
import urllib.parse

# --------------------------------------------------------------------------------------------
# Prompts

_WORDS = (
    "the a an this that every each some many few other small large old new early late quiet "
    "busy bright dark warm cold open closed simple careful patient steady clear useful common "
    "river mountain valley village city harbor market garden library school station bridge road "
    "forest field island coast window door table letter record map lamp engine clock ledger "
    "farmer teacher sailor merchant doctor builder writer traveler student keeper captain clerk "
    "walks reads builds carries opens keeps finds follows watches writes counts repairs answers "
    "explains measures gathers sends checks prepares remembers describes compares arranges "
    "slowly carefully quickly often always rarely gently plainly together nearby again later "
    "morning evening winter summer season weather rain wind light stone water bread paper "
    "question answer reason method detail pattern number story journey lesson problem rule"
).split()

_TOPICS = (
    "a lighthouse", "a train timetable", "bread baking", "a chess opening", "tide tables",
    "a small bridge", "winter gardens", "a paper map", "bicycle repair", "a village market",
    "star charts", "river boats", "a clock tower", "mountain huts", "letter writing",
    "a quiet library", "honey bees", "a fishing harbor", "stone walls", "weather records",
)


def system_prompt_text(n_words, seed=1234):
    """Deterministic English-like text of n_words words in sentences of 8-17 words."""
    rng = random.Random(seed)
    out = ["You are a careful assistant. Use the following notes when you answer."]
    left = n_words
    while left > 0:
        k = min(left, rng.randint(8, 17))
        words = [rng.choice(_WORDS) for _ in range(k)]
        words[0] = words[0].capitalize()
        out.append(" ".join(words) + ".")
        left -= k
    return " ".join(out)


def user_prompt(client, index):
    topic = _TOPICS[(client * 7 + index * 3) % len(_TOPICS)]
    return (f"Request {index} from client {client}: write a few plain sentences about {topic}, "
            f"numbered from {client * 100 + index}.")


# --------------------------------------------------------------------------------------------
# HTTP

class Server:
    def __init__(self, url, timeout):
        u = urllib.parse.urlsplit(url if "://" in url else "http://" + url)
        if u.scheme != "http":
            raise SystemExit("only http:// URLs are supported")
        self.host = u.hostname or "127.0.0.1"
        self.port = u.port or 80
        self.prefix = u.path.rstrip("/")
        self.timeout = timeout

    def conn(self):
        return http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)

    def request(self, method, path, body=None):
        """Returns (status, parsed JSON or None)."""
        c = self.conn()
        try:
            data = None if body is None else json.dumps(body).encode()
            headers = {"Content-Type": "application/json"} if data is not None else {}
            c.request(method, self.prefix + path, body=data, headers=headers)
            r = c.getresponse()
            raw = r.read()
            try:
                return r.status, json.loads(raw) if raw else None
            except ValueError:
                return r.status, None
        finally:
            c.close()


def count_tokens(server, text):
    """Token count of text by the server's /tokenize, or None when it has none."""
    for body in ({"content": text, "add_special": False}, {"content": text}):
        try:
            status, js = server.request("POST", "/tokenize", body)
        except (OSError, http.client.HTTPException):
            return None
        if status == 200 and isinstance(js, dict) and isinstance(js.get("tokens"), list):
            return len(js["tokens"])
    return None


def fit_system_prompt(server, target, seed):
    """Text of about `target` tokens; (text, tokens, measured?)."""
    if target <= 0:
        return "", 0, True
    words = max(1, int(target / 1.25))
    n = count_tokens(server, system_prompt_text(words, seed))
    if n is None:
        # No /tokenize: about 1.25 tokens a word for this vocabulary of common words.
        return system_prompt_text(words, seed), int(words * 1.25), False
    for _ in range(6):
        if n == target or abs(n - target) <= max(2, target // 200):
            break
        words = max(1, int(round(words * target / max(n, 1))))
        n = count_tokens(server, system_prompt_text(words, seed))
    return system_prompt_text(words, seed), n, True


def model_name(server, wanted):
    if wanted:
        return wanted
    try:
        status, js = server.request("GET", "/v1/models")
        if status == 200 and js and js.get("data"):
            return js["data"][0].get("id") or "default"
    except (OSError, http.client.HTTPException, AttributeError):
        pass
    return "default"


def chat_stream(server, model, system, user, max_tokens, extra):
    """One streaming chat completion; returns a dict of measurements."""
    body = {
        "model": model,
        "messages": ([{"role": "system", "content": system}] if system else [])
        + [{"role": "user", "content": user}],
        "stream": True,
        "stream_options": {"include_usage": True},
        "temperature": 0,
        "max_tokens": max_tokens,
        "ignore_eos": True,
    }
    body.update(extra)
    res = {"ok": False, "ttft": None, "first_chunk": None, "tokens": 0, "chunks": 0,
           "usage": None, "timings": None, "finish": None, "error": None}
    c = server.conn()
    t0 = time.perf_counter()
    try:
        c.request("POST", server.prefix + "/v1/chat/completions", body=json.dumps(body).encode(),
                  headers={"Content-Type": "application/json", "Accept": "text/event-stream"})
        r = c.getresponse()
        if r.status != 200:
            res["error"] = f"HTTP {r.status}: {r.read()[:300]!r}"
            return res
        while True:
            line = r.readline()
            if not line:
                break
            line = line.strip()
            if not line.startswith(b"data:"):
                continue
            payload = line[5:].strip()
            if payload == b"[DONE]":
                break
            now = time.perf_counter()
            try:
                ev = json.loads(payload)
            except ValueError:
                continue
            if "error" in ev and not ev.get("choices"):
                res["error"] = str(ev["error"])[:300]
                break
            if ev.get("usage"):
                res["usage"] = ev["usage"]
            if ev.get("timings"):
                res["timings"] = ev["timings"]
            for ch in ev.get("choices") or []:
                if res["first_chunk"] is None:
                    res["first_chunk"] = now - t0
                d = ch.get("delta") or {}
                text = (d.get("content") or "") + (d.get("reasoning_content") or "")
                if text:
                    res["chunks"] += 1
                    if res["ttft"] is None:
                        res["ttft"] = now - t0
                if ch.get("finish_reason"):
                    res["finish"] = ch["finish_reason"]
        res["total"] = time.perf_counter() - t0
        u = res["usage"] or {}
        res["tokens"] = int(u.get("completion_tokens") or res["chunks"])
        if res["ttft"] is None:  # no visible text at all: fall back to the first choice chunk
            res["ttft"] = res["first_chunk"] if res["first_chunk"] is not None else res["total"]
        res["ok"] = res["tokens"] > 0
        if not res["ok"] and not res["error"]:
            res["error"] = "no tokens generated"
    except (OSError, http.client.HTTPException) as e:
        res["error"] = f"{type(e).__name__}: {e}"
    finally:
        c.close()
    return res


# --------------------------------------------------------------------------------------------
# A run

def percentile(xs, p):
    """Nearest-rank percentile (p in 0..100) of a non-empty list."""
    s = sorted(xs)
    k = max(0, min(len(s) - 1, math.ceil(p / 100.0 * len(s)) - 1))
    return s[k]


def prompt_evaluated(res):
    """Prompt tokens the server says it evaluated for this request (not taken from cache)."""
    t = res.get("timings") or {}
    if "prompt_n" in t:
        return int(t["prompt_n"])
    u = res.get("usage") or {}
    det = u.get("prompt_tokens_details") or {}
    if "prompt_tokens" in u and "cached_tokens" in det:
        return int(u["prompt_tokens"]) - int(det["cached_tokens"])
    return None


def run_level(server, model, system, clients, requests, max_tokens, extra, log):
    results = [[] for _ in range(clients)]
    barrier = threading.Barrier(clients + 1)

    def client(ci):
        barrier.wait()
        for ri in range(requests):
            results[ci].append(chat_stream(server, model, system, user_prompt(ci, ri),
                                           max_tokens, extra))

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    for t in threads:
        t.start()
    barrier.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0

    flat = [r for rs in results for r in rs]
    good = [r for r in flat if r["ok"]]
    errors = [r["error"] for r in flat if not r["ok"]]
    for e in errors[:3]:
        log(f"  error: {e}")
    tokens = sum(r["tokens"] for r in good)
    ttft = [r["ttft"] for r in good]
    short = [r for r in good if r["tokens"] != max_tokens]
    decode = [(r["tokens"] - 1) / (r["total"] - r["ttft"]) for r in good
              if r["tokens"] > 1 and r["total"] > r["ttft"]]
    pe = [prompt_evaluated(r) for r in good]
    pe = [x for x in pe if x is not None]
    ptoks = [int((r.get("usage") or {}).get("prompt_tokens", 0)) for r in good]
    return {
        "clients": clients,
        "requests": len(flat),
        "ok": len(good),
        "errors": len(errors),
        "not_max_tokens": len(short),
        "completion_tokens": tokens,
        "wall_s": wall,
        "agg_tok_s": tokens / wall if wall > 0 else 0.0,
        "ttft_p50_s": percentile(ttft, 50) if ttft else None,
        "ttft_p99_s": percentile(ttft, 99) if ttft else None,
        "ttft_mean_s": statistics.mean(ttft) if ttft else None,
        "per_request_decode_tok_s": statistics.mean(decode) if decode else None,
        "prompt_tokens_mean": statistics.mean(ptoks) if ptoks and any(ptoks) else None,
        "prompt_evaluated_mean": statistics.mean(pe) if pe else None,
        "prompt_evaluated_total": sum(pe) if pe else None,
    }


# --------------------------------------------------------------------------------------------
# Output

def fmt(x, spec, none="-"):
    return none if x is None else format(x, spec)


def table(runs, title_key=None):
    """runs: list of (label, level dict)."""
    hdr = ("server", "clients", "reqs", "agg tok/s", "TTFT p50 ms", "TTFT p99 ms",
           "tok/s/req", "prompt tok", "evaluated/req", "x 1-client", "errors")
    rows = []
    base = {}
    for label, lv in runs:
        if lv["clients"] == 1:
            base[label] = lv["agg_tok_s"]
    for label, lv in runs:
        b = base.get(label)
        rows.append((
            label, str(lv["clients"]), str(lv["requests"]), fmt(lv["agg_tok_s"], ".1f"),
            fmt(lv["ttft_p50_s"] and lv["ttft_p50_s"] * 1e3, ".0f"),
            fmt(lv["ttft_p99_s"] and lv["ttft_p99_s"] * 1e3, ".0f"),
            fmt(lv["per_request_decode_tok_s"], ".1f"),
            fmt(lv["prompt_tokens_mean"], ".0f"),
            fmt(lv["prompt_evaluated_mean"], ".0f"),
            fmt(lv["agg_tok_s"] / b if b else None, ".2f"),
            str(lv["errors"] + lv["not_max_tokens"]) if (lv["errors"] or lv["not_max_tokens"])
            else "0"))
    w = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(hdr)]
    line = lambda cells: "| " + " | ".join(c.rjust(w[i]) if i else c.ljust(w[i])
                                           for i, c in enumerate(cells)) + " |"
    out = [line(hdr), "|" + "|".join(("-" * (w[i] + 1) + ":") if i else "-" * (w[i] + 2)
                                    for i in range(len(hdr))) + "|"]
    out += [line(r) for r in rows]
    return "\n".join(out)


def ratio_lines(runs):
    """'a / b' aggregate throughput ratios per client count when there are two servers."""
    labels = []
    for label, _ in runs:
        if label not in labels:
            labels.append(label)
    if len(labels) != 2:
        return []
    a, b = labels
    by = {(l, lv["clients"]): lv for l, lv in runs}
    out = []
    for (l, c), lv in sorted(by.items(), key=lambda kv: kv[0][1]):
        if l == a and (b, c) in by and by[(b, c)]["agg_tok_s"]:
            out.append(f"{c:>3} clients: {a} / {b} aggregate tok/s = "
                       f"{lv['agg_tok_s'] / by[(b, c)]['agg_tok_s']:.2f}")
    return out


def report(files):
    runs = []
    notes = []
    for f in files:
        with open(f) as fh:
            js = json.load(fh)
        label = js.get("label") or js.get("url")
        for lv in js["levels"]:
            runs.append((label, lv))
        cfg = js["config"]
        notes.append(f"{label}: {js.get('url')} model={js.get('model')} "
                     f"system={cfg['system_tokens_measured']} tok "
                     f"({'measured' if cfg['system_tokens_exact'] else 'estimated'}), "
                     f"max_tokens={cfg['max_tokens']}, requests/client={cfg['requests']}, "
                     f"warm-up={int(cfg.get('warmup', 1))}"
                     + (f", server: {js['server_note']}" if js.get("server_note") else ""))
    print(table(runs))
    for l in ratio_lines(runs):
        print(l)
    for n in notes:
        print("  " + n)


# --------------------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", default="http://127.0.0.1:8080", help="server base URL")
    ap.add_argument("-c", "--clients", default="1,4,8,16",
                    help="concurrent clients, or a comma-separated list run one after the other")
    ap.add_argument("-r", "--requests", type=int, default=4, help="requests per client")
    ap.add_argument("-n", "--max-tokens", type=int, default=64, help="tokens generated a request")
    ap.add_argument("--system-tokens", type=int, default=1000,
                    help="length of the shared system prompt in tokens (0: none)")
    ap.add_argument("--seed", type=int, default=1234, help="seed of the system prompt text")
    ap.add_argument("--model", default=None, help="model name sent (default: first of /v1/models)")
    ap.add_argument("--label", default=None, help="name of this server in the table")
    ap.add_argument("--server-note", default="", help="free text stored with the results")
    ap.add_argument("--warmup", type=int, default=1,
                    help="concurrent warm-up requests before measuring, not counted (0: none); "
                         "as many as the server has slots puts the system prompt in every slot")
    ap.add_argument("--no-warmup", action="store_true", help="same as --warmup 0")
    ap.add_argument("--timeout", type=float, default=900.0, help="socket timeout in seconds")
    ap.add_argument("--extra", default=None, help="JSON object merged into every request body")
    ap.add_argument("--json", metavar="FILE", default=None, help="write results as JSON ('-': stdout)")
    ap.add_argument("--report", nargs="+", metavar="JSON", default=None,
                    help="print one combined table from --json files and exit")
    a = ap.parse_args()

    if a.report:
        report(a.report)
        return 0

    log = lambda s: print(s, file=sys.stderr, flush=True)
    server = Server(a.url, a.timeout)
    levels = [int(x) for x in str(a.clients).split(",") if x.strip()]
    extra = json.loads(a.extra) if a.extra else {}
    model = model_name(server, a.model)
    label = a.label or f"{server.host}:{server.port}"

    system, sys_tokens, exact = fit_system_prompt(server, a.system_tokens, a.seed)
    log(f"{label}: model {model!r}, system prompt {sys_tokens} tokens "
        f"({'by /tokenize' if exact else 'estimated'}), {len(system)} chars")

    n_warm = 0 if a.no_warmup else max(0, a.warmup)
    warm = [None] * n_warm

    def warm_one(i):
        warm[i] = chat_stream(server, model, system, f"Warm-up {i}: say hello.",
                              min(8, a.max_tokens), extra)

    ths = [threading.Thread(target=warm_one, args=(i,)) for i in range(n_warm)]
    for t in ths:
        t.start()
    for t in ths:
        t.join()
    for w in warm:
        if not w["ok"]:
            log(f"warm-up failed: {w['error']}")
            return 1
        log(f"warm-up: {w['tokens']} tokens, TTFT {w['ttft'] * 1e3:.0f} ms, "
            f"total {w['total'] * 1e3:.0f} ms, prompt evaluated {prompt_evaluated(w)}")

    out_levels = []
    for n in levels:
        log(f"{label}: {n} clients x {a.requests} requests x {a.max_tokens} tokens ...")
        lv = run_level(server, model, system, n, a.requests, a.max_tokens, extra, log)
        log(f"  {lv['agg_tok_s']:.1f} tok/s aggregate, TTFT p50 "
            f"{fmt(lv['ttft_p50_s'] and lv['ttft_p50_s'] * 1e3, '.0f')} ms p99 "
            f"{fmt(lv['ttft_p99_s'] and lv['ttft_p99_s'] * 1e3, '.0f')} ms, wall {lv['wall_s']:.1f} s")
        out_levels.append(lv)

    print(table([(label, lv) for lv in out_levels]))
    result = {
        "label": label, "url": a.url, "model": model, "server_note": a.server_note,
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "config": {"requests": a.requests, "max_tokens": a.max_tokens,
                   "system_tokens_target": a.system_tokens, "system_tokens_measured": sys_tokens,
                   "system_tokens_exact": exact, "seed": a.seed, "warmup": n_warm,
                   "extra": extra},
        "levels": out_levels,
    }
    if a.json:
        text = json.dumps(result, indent=2)
        if a.json == "-":
            print(text)
        else:
            with open(a.json, "w") as fh:
                fh.write(text + "\n")
    bad = sum(lv["errors"] for lv in out_levels)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
