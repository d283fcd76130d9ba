#!/usr/bin/env bash
# Measures the long-context table of docs/BENCHMARKS.md: prompt speed at 512/2048/4096 tokens and
# generation at depth 32 and 4096 (16384 with --deep) for pocket (F16 and Q8_0 KV cache),
# llama.cpp and ik_llama.cpp, one program after the other on the same files, then prints the
# markdown table (bench/plot_long_context.py --markdown) and draws the curves when matplotlib is
# installed.
#
#   bench/long_context_table.sh OUT_DIR POCKET LLAMA_BIN_DIR IK_BIN_DIR MODEL.gguf...
#
# LLAMA_BIN_DIR holds llama.cpp's llama-bench and llama-batched-bench (generation at depth, for
# versions whose llama-bench has no -d); IK_BIN_DIR ik_llama.cpp's llama-bench (run with -rtr 1).
# Each program runs under `chrt -f 10` where allowed (root), with 2 threads (THREADS to change).
# Nothing else should run meanwhile: every number is a single run of a shared machine.
set -euo pipefail

deep=0
if [[ ${1:-} == --deep ]]; then
    deep=1
    shift
fi
if (($# < 5)); then
    sed -n '2,13p' "$0" >&2
    exit 2
fi
out=$1 pocket=$2 llama=$3 ik=$4
shift 4
threads=${THREADS:-2}
mkdir -p "$out"
rt=()
if chrt -f 10 true 2>/dev/null; then rt=(chrt -f 10); fi
depths=32,4096
npp=32,4096
if ((deep)); then
    depths=32,4096,16384
    npp=32,4096,16384
fi

log() { echo "$(date -u +%T) $*" >&2; }

inputs=()
for model in "$@"; do
    name=$(basename "$model" .gguf)
    log "$name: pocket prompts"
    for p in 512 2048 4096; do
        reps=1
        ((p == 512)) && reps=2
        "${rt[@]}" "$pocket" bench -m "$model" -p "$p" -n 0 -r "$reps" -t "$threads" --json \
            > "$out/$name.pocket.pp$p.json"
        inputs+=("pocket=$out/$name.pocket.pp$p.json")
    done
    log "$name: pocket generation at depth ($depths), F16 and Q8_0 KV"
    "${rt[@]}" "$pocket" bench -m "$model" -p 0 -n 64 -d "$depths" -r 2 -t "$threads" --json \
        > "$out/$name.pocket.tg.json"
    "${rt[@]}" "$pocket" bench -m "$model" -p 0 -n 64 -d "$depths" -r 2 -t "$threads" --json \
        --cache-type-k q8_0 --cache-type-v q8_0 > "$out/$name.pocket.tg-q8.json"
    inputs+=("pocket=$out/$name.pocket.tg.json" "pocket=$out/$name.pocket.tg-q8.json")

    log "$name: llama.cpp"
    "${rt[@]}" "$llama/llama-bench" -m "$model" -p 512,2048,4096 -n 0 -r 1 -t "$threads" -o json \
        > "$out/$name.llama.pp.json" 2>/dev/null
    {
        echo "model: $model"
        "${rt[@]}" "$llama/llama-batched-bench" -m "$model" -c 20000 -b 2048 -ub 512 \
            -npp "$npp" -ntg 64 -npl 1 -t "$threads" 2>/dev/null
    } > "$out/$name.llama.tg.txt"
    inputs+=("llama.cpp=$out/$name.llama.pp.json" "llama.cpp=$out/$name.llama.tg.txt")

    log "$name: ik_llama.cpp"
    gp=()
    IFS=, read -ra ds <<< "$depths"
    for d in "${ds[@]}"; do gp+=(-gp "$d,64"); done
    "${rt[@]}" "$ik/llama-bench" -m "$model" -p 512,2048,4096 -n 0 -r 1 -rtr 1 -t "$threads" \
        -o json > "$out/$name.ik.pp.json" 2>/dev/null
    "${rt[@]}" "$ik/llama-bench" -m "$model" -p 0 -n 0 "${gp[@]}" -r 1 -rtr 1 -t "$threads" \
        -o json > "$out/$name.ik.tg.json" 2>/dev/null
    inputs+=("ik_llama.cpp=$out/$name.ik.pp.json" "ik_llama.cpp=$out/$name.ik.tg.json")
done
log "done"

here=$(dirname "$0")
"$here/plot_long_context.py" --markdown "${inputs[@]}" | tee "$out/table.md"
if python3 -c 'import matplotlib' 2>/dev/null; then
    "$here/plot_long_context.py" "$out/long_context.png" "${inputs[@]}"
fi
