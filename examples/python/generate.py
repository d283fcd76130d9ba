#!/usr/bin/env python3
"""Streams a generation, then a chat turn, with pocket's Python bindings.

    python3 generate.py MODEL PROMPT [EMBEDDER]

With an embedding model (e.g. a Model2Vec folder) it also embeds the prompt and prints the size.
"""
import sys

import pocket


def main() -> int:
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    model_path, prompt = sys.argv[1], sys.argv[2]
    print(f"pocket {pocket.version()} on {pocket.isa()}, {pocket.threads()} threads",
          file=sys.stderr)
    with pocket.Model(model_path) as model:
        print(f"{model.architecture}, {model.n_params} parameters", file=sys.stderr)
        session = pocket.Session(model)
        pieces = 0
        for piece in session.stream(prompt, max_tokens=40, temperature=0):
            print(piece, end="", flush=True)
            pieces += 1
        print()
        print(f"[{pieces} pieces streamed]", file=sys.stderr)
        reply = pocket.Session(model).chat("Tell me a story.", max_tokens=24, temperature=0)
        print(f"chat ({reply.finish}): {reply.text}")
    if len(sys.argv) > 3:
        with pocket.Embedder(sys.argv[3]) as embedder:
            print(f"embedding of {len(embedder.embed(prompt))} values", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
