#!/usr/bin/env bash
# LoRA adapters through the Python bindings (python/pocket over the built libpocket.so): an
# adapter trained by `pocket finetune` gives, in a Python session, the greedy text of
# `pocket run --lora` and of the model `pocket merge-lora` writes; scale 0 and no adapter give the
# base model's; a model file as adapter and another model's adapter raise PocketError.
#   python_lora_test.sh POCKET LIBPOCKET_SO SOURCE_DIR SHARED_DIR
set -euo pipefail
pocket=$1 lib=$2 source=$3 shared=$4
model=$shared/models/stories260K.gguf
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

head -c 3000 "$shared/data/corpus/tinyshakespeare.txt" >"$work/data.txt"
# A high learning rate so that a few steps change the greedy text.
"$pocket" finetune -m "$model" --data "$work/data.txt" --ctx 32 --batch 2 --epochs 2 \
    --lora-rank 4 --lr 0.05 --seed 5 -t 1 -o "$work/adapter.gguf" >"$work/finetune.log" 2>&1 ||
    { cat "$work/finetune.log" >&2; exit 1; }
"$pocket" merge-lora -m "$model" --lora "$work/adapter.gguf" -o "$work/merged.gguf" --type f32 \
    >/dev/null 2>&1
run() { "$pocket" run -p "Once upon a time" -n 40 --temp 0 -q -t 1 "$@"; }
run -m "$model" --lora "$work/adapter.gguf" >"$work/adapted.txt"
run -m "$model" --lora "$work/adapter.gguf" --lora-scale 0.5 >"$work/half.txt"
run -m "$work/merged.gguf" >"$work/merged.txt"
run -m "$model" >"$work/base.txt"
cmp -s "$work/adapted.txt" "$work/merged.txt" ||
    { echo "pocket run --lora and the merged model differ" >&2; exit 1; }
if cmp -s "$work/adapted.txt" "$work/base.txt"; then
    echo "the adapter does not change the greedy text: the test would prove nothing" >&2
    exit 1
fi

PYTHONDONTWRITEBYTECODE=1 POCKET_LIBRARY=$lib PYTHONPATH=$source/python /usr/bin/python3 - "$model" "$work" <<'EOF'
import sys

import pocket

model_path, work = sys.argv[1], sys.argv[2]


def cli(name):
    # `pocket run` ends its output with one newline the generated text does not hold.
    with open(f"{work}/{name}.txt", encoding="utf-8") as f:
        text = f.read()
    assert text.endswith("\n"), repr(text)
    return text[:-1]


pocket.set_threads(1)
with pocket.Model(model_path) as model, pocket.Model(model_path) as other:
    session = pocket.Session(model)
    greedy = lambda: session.generate("Once upon a time", max_tokens=40, temperature=0).text
    assert greedy() == cli("base")

    adapter = model.load_adapter(f"{work}/adapter.gguf")
    session.set_adapters([(adapter, 1.0)])
    assert greedy() == cli("adapted"), (greedy(), cli("adapted"))
    assert greedy() == cli("merged")
    session.set_adapters([(pocket.Adapter(model, f"{work}/adapter.gguf"), 0.5)])
    assert greedy() == cli("half")
    session.set_adapters([(adapter, 0.0)])
    assert greedy() == cli("base")
    session.set_adapters([(adapter, 1.0)])
    adapter.close()  # the session keeps it
    assert greedy() == cli("adapted")
    session.set_adapters([])
    assert greedy() == cli("base")

    try:
        model.load_adapter(model_path)
        raise AssertionError("a model file loaded as an adapter")
    except pocket.PocketError as e:
        assert e.status == 3 and "not a LoRA adapter" in str(e), (e.status, str(e))
    try:
        session.set_adapters([(other.load_adapter(f"{work}/adapter.gguf"), 1.0)])
        raise AssertionError("another model's adapter was accepted")
    except pocket.PocketError as e:
        assert e.status == 1 and "another model" in str(e), (e.status, str(e))
    assert greedy() == cli("base")  # the failed call changed nothing
    session.close()
print("OK: Python adapters match pocket run --lora and the merged model")
EOF
