#!/usr/bin/env python3
"""Calibrates the relevance threshold below which `pocket ask` says "I don't know".

Positives: SciFact test claims searched in the full SciFact corpus (their relevant abstract is
there). Negatives: (a) the same claims searched in the corpus with every relevant abstract of
the test claims removed ("answerable-looking but not in the index"), (b) NQ-open dev questions
(off-topic) searched in the full corpus. For each query the best hit's `relevance` is read from
/v1/rag/search of a `pocket serve` started with --rag-index full=DB --rag-index removed=DB2.

  bench/rag/ask_threshold.py --url http://127.0.0.1:PORT --queries queries.json --nq nq.json

queries.json: {"queries": [{"id", "text", "rel": [doc ids]}]}; nq.json: [question, ...]. The
script prints precision/recall of "answer" (best relevance >= t) per threshold and per mode.
"""
import argparse
import json
import urllib.request


def search(url, index, query, mode, k=5):
    body = json.dumps({"index": index, "query": query, "k": k, "mode": mode}).encode()
    req = urllib.request.Request(url + "/v1/rag/search", body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(req) as res:
        return json.load(res)["data"]


def best(hits):
    return max((h["relevance"] for h in hits), default=0.0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--queries", required=True)
    ap.add_argument("--nq", required=True)
    ap.add_argument("--modes", default="hybrid,bm25")
    args = ap.parse_args()
    queries = json.load(open(args.queries))["queries"]
    nq = json.load(open(args.nq))
    for mode in args.modes.split(","):
        pos, pos_hit, neg_removed, neg_nq = [], [], [], []
        for q in queries:
            hits = search(args.url, "full", q["text"], mode)
            pos.append(best(hits))
            # Whether a relevant abstract is among the hits (the answer is in the prompt).
            pos_hit.append(any(h["path"].split(".")[0] in q["rel"] for h in hits))
            neg_removed.append(best(search(args.url, "removed", q["text"], mode)))
        for question in nq:
            neg_nq.append(best(search(args.url, "full", question, mode)))
        print(f"mode {mode}: {len(pos)} positives (relevant abstract in the top 5 for "
              f"{sum(pos_hit)}), {len(neg_removed)} removed-doc negatives, {len(neg_nq)} NQ "
              f"negatives")
        print("  t     recall  FPR(removed)  FPR(nq)  precision(vs nq)  precision(vs removed+nq)")
        for i in range(5, 96, 5):
            t = i / 100
            tp = sum(r >= t for r in pos)
            fr = sum(r >= t for r in neg_removed)
            fn = sum(r >= t for r in neg_nq)
            prec = tp / (tp + fr + fn) if tp + fr + fn else 1.0
            prec_nq = tp / (tp + fn) if tp + fn else 1.0
            print(f"  {t:.2f}  {tp / len(pos):.3f}   {fr / len(neg_removed):.3f}         "
                  f"{fn / len(neg_nq):.3f}    {prec_nq:.3f}             {prec:.3f}")
        for name, xs in (("positives", pos), ("removed", neg_removed), ("nq", neg_nq)):
            s = sorted(xs)
            print(f"  {name}: best relevance p10 {s[len(s) // 10]:.3f} median "
                  f"{s[len(s) // 2]:.3f} p90 {s[9 * len(s) // 10]:.3f}")


if __name__ == "__main__":
    main()
