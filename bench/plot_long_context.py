#!/usr/bin/python3
"""Plots prompt and generation speed against context length from benchmark JSON files.

    bench/plot_long_context.py OUT.png LABEL=FILE [LABEL=FILE ...]
    bench/plot_long_context.py --markdown LABEL=FILE [LABEL=FILE ...]

Each FILE is the output of `pocket bench --json` (one object, or an array with one object per
depth), of `llama-bench -o json` (llama.cpp and ik_llama.cpp: an array of tests; ik_llama.cpp's
`-gp P,G` rows count as generation at depth P), or the text of `llama-batched-bench -npl 1`
(older llama.cpp, whose llama-bench has no -d: its S_TG column is generation at depth PP; the
text must name the model, either in llama.cpp's "loaded meta data ... from PATH" log line or in a
first line "model: PATH"). LABEL names
the engine in the legend ("pocket", "llama.cpp", "ik_llama.cpp", ...). Lines are drawn per
(label, model file, KV cache type):
  left:  prompt tokens/s against the prompt length, for prompts measured at depth 0;
  right: generation tokens/s against the depth (tokens already in the cache).
--markdown prints the same points as a table instead: a row per model file and test, a column per
label (KV type appended when not F16), and the first label's ratio to each other label. A point
given more than once (repeated rounds) counts as the median of its values.
Plotting needs Debian's python3-matplotlib (apt install python3-matplotlib); used for
docs/BENCHMARKS.md, never by the tests.
"""
import json
import os
import re
import statistics
import sys
from collections import defaultdict


def batched_bench_rows(path, text):
    """Rows of llama-batched-bench's table: generation at depth PP (S_TG), prompt at PP (S_PP)."""
    model = None
    for line in text.splitlines():
        if line.startswith("model: "):
            model = os.path.basename(line[len("model: "):].strip())
        m = re.search(r"loaded meta data .* from (\S+)", line)
        if m and model is None:
            model = os.path.basename(m.group(1))
    if model is None:
        raise SystemExit(f"{path}: llama-batched-bench text without the model's name")
    rows = []
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 8 or not cells[0].isdigit():
            continue
        n_prompt, n_gen = int(cells[0]), int(cells[1])
        rows.append((model, "f16/f16", 0, n_gen, n_prompt, None, float(cells[7])))
    return rows


def rows_of(path):
    """(model, kv, n_prompt, n_gen, depth, pp_tokens_per_s, tg_tokens_per_s) per measured row."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return batched_bench_rows(path, text)
    items = data if isinstance(data, list) else [data]
    rows = []
    for it in items:
        if "pp_tokens_per_s" in it or "tg_tokens_per_s" in it:  # pocket bench --json
            kv = f"{it.get('type_k', 'f16')}/{it.get('type_v', 'f16')}"
            rows.append((os.path.basename(it["model"]), kv, it.get("n_prompt", 0),
                         it.get("n_gen", 0), it.get("depth", 0), it.get("pp_tokens_per_s"),
                         it.get("tg_tokens_per_s")))
        elif "avg_ts" in it:  # llama-bench -o json: one test (pp or tg) per entry
            kv = f"{it.get('type_k', 'f16')}/{it.get('type_v', 'f16')}"
            n_prompt, n_gen = it.get("n_prompt", 0), it.get("n_gen", 0)
            depth = it.get("n_depth", 0)
            if "@pp" in it.get("test", ""):
                # ik_llama.cpp's -gp P,G: G tokens generated after a P-token prompt, only the
                # generation timed (its llama-bench has no -d): generation at depth P.
                depth, n_prompt = n_prompt, 0
            pp = it["avg_ts"] if n_gen == 0 else None
            tg = it["avg_ts"] if n_prompt == 0 else None
            rows.append((os.path.basename(it["model_filename"]), kv, n_prompt, n_gen,
                         depth, pp, tg))
        else:
            raise SystemExit(f"{path}: neither pocket bench nor llama-bench JSON")
    return rows


def collect(args):
    """Prompt and generation points per (label, model, kv), in the order the labels came. A point
    measured more than once (several rounds of bench/long_context_table.sh) is their median."""
    pp = defaultdict(lambda: defaultdict(list))  # (label, model, kv) -> {n_prompt: [tokens/s]}
    tg = defaultdict(lambda: defaultdict(list))  # (label, model, kv) -> {depth: [tokens/s]}
    for arg in args:
        label, path = arg.split("=", 1)
        for model, kv, n_prompt, n_gen, depth, pp_ts, tg_ts in rows_of(path):
            key = (label, model, kv)
            if pp_ts is not None and n_prompt > 0 and depth == 0:
                pp[key][n_prompt].append(pp_ts)
            if tg_ts is not None and n_gen > 0:
                tg[key][depth].append(tg_ts)

    def medians(series):
        return {key: {x: statistics.median(v) for x, v in points.items()}
                for key, points in series.items()}

    return medians(pp), medians(tg)


def print_markdown(args):
    pp, tg = collect(args)
    columns = []  # (label, kv) in first-seen order
    for arg in args:
        label = arg.split("=", 1)[0]
        for (l, _, kv) in list(pp) + list(tg):
            if l == label and (l, kv) not in columns:
                columns.append((l, kv))
    names = [l if kv == "f16/f16" else f"{l} (KV {kv})" for l, kv in columns]
    first = columns[0]
    others = [c for c in columns[1:] if c[0] != first[0]]
    print("| model | test | " + " | ".join(names + [f"{first[0]} ÷ {l}" for l, _ in others]) +
          " |")
    print("|---|---|" + "--:|" * (len(names) + len(others)))
    models = sorted({m for (_, m, _) in list(pp) + list(tg)})
    for model in models:
        tests = [("pp", n) for n in sorted({n for (l, m, kv), pts in pp.items() if m == model
                                             for n in pts})]
        tests += [("tg", d) for d in sorted({d for (l, m, kv), pts in tg.items() if m == model
                                              for d in pts})]
        for kind, x in tests:
            series = pp if kind == "pp" else tg
            values = [series.get((l, model, kv), {}).get(x) for l, kv in columns]
            cells = [f"{v:.1f}" if v is not None else "" for v in values]
            ratios = []
            base = values[0]
            for l, kv in others:
                v = series.get((l, model, kv), {}).get(x)
                ratios.append(f"{base / v:.2f}" if base is not None and v else "")
            name = f"pp{x}" if kind == "pp" else f"tg @ depth {x}"
            print(f"| {model} | {name} | " + " | ".join(cells + ratios) + " |")


def main(argv):
    if len(argv) >= 3 and argv[1] == "--markdown" and all("=" in a for a in argv[2:]):
        print_markdown(argv[2:])
        return
    if len(argv) < 3 or any("=" not in a for a in argv[2:]):
        raise SystemExit(__doc__)
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise SystemExit("matplotlib is missing: apt install python3-matplotlib "
                         "(and run this script with /usr/bin/python3)")
    pp, tg = collect(argv[2:])

    # One row of two panels per model file; a line per engine and KV cache type.
    models = sorted({model for (_, model, _) in list(pp) + list(tg)})
    fig, axes = plt.subplots(len(models), 2, figsize=(13, 4 * len(models)), squeeze=False)
    for row, model in enumerate(models):
        for ax, series, xlabel, title in (
                (axes[row][0], pp, "prompt tokens", "prompt processing (empty cache)"),
                (axes[row][1], tg, "tokens already in the cache (depth)", "generation at depth")):
            drawn = False
            for (label, m, kv), points in sorted(series.items()):
                if m != model:
                    continue
                xs = sorted(points)
                ax.plot(xs, [points[x] for x in xs], marker="o", label=f"{label} (KV {kv})")
                drawn = True
            # Symmetric log: depth 0 stays on the axis, powers of two spread evenly above 32.
            ax.set_xscale("symlog", base=2, linthresh=32)
            ax.set_xlabel(xlabel)
            ax.set_ylabel("tokens/s")
            ax.set_title(f"{model}: {title}", fontsize=9)
            ax.grid(True, which="both", alpha=0.3)
            if drawn:
                ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(argv[1], dpi=72)
    print(f"wrote {argv[1]}")


if __name__ == "__main__":
    main(sys.argv)
