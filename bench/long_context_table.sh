#!/usr/bin/env bash
# Measures the long-context table of docs/BENCHMARKS.md: prompt speed at 512/2048/4096 tokens and
# generation at depth 32 and 4096 (16384 with --deep) for pocket (F16 and Q8_0 KV cache),
# llama.cpp and ik_llama.cpp on the same files, then prints the markdown table
# (bench/plot_long_context.py --markdown) and draws the curves when matplotlib is installed.
#
#   bench/long_context_table.sh [--deep] OUT_DIR POCKET LLAMA_BIN_DIR IK_BIN_DIR MODEL.gguf...
#
# LLAMA_BIN_DIR holds llama.cpp's llama-bench and llama-batched-bench (generation at depth, for
# versions whose llama-bench has no -d); IK_BIN_DIR ik_llama.cpp's llama-bench (run with -rtr 1).
# Each program runs under `chrt -f 10` where allowed (root), with 2 threads (THREADS to change).
# The programs take turns test by test (pp512 by all of them, then pp2048, ...), so a shared
# machine whose load drifts over the run moves all columns of a row alike; ROUNDS=N (default 1)
# repeats every test N times, the programs' order rotated each round, and the table gives medians.
# TESTS="pp512 pp4096 tg4096" and PROGRAMS="pocket ik" (of pocket, llama, ik, pocket-q8kv: pocket
# with a Q8_0 KV cache, generation tests only) narrow the run.
set -euo pipefail

deep=0
if [[ ${1:-} == --deep ]]; then
    deep=1
    shift
fi
if (($# < 5)); then
    sed -n '2,16p' "$0" >&2
    exit 2
fi
out=$1 pocket=$2 llama=$3 ik=$4
shift 4
threads=${THREADS:-2}
rounds=${ROUNDS:-1}
mkdir -p "$out"
rt=()
if chrt -f 10 true 2>/dev/null; then rt=(chrt -f 10); fi
depths=(32 4096)
((deep)) && depths+=(16384)

log() { echo "$(date -u +%T) $*" >&2; }

# One test of one program: run PROGRAM TEST MODEL FILE, TEST = pp<N> or tg<DEPTH>.
run() {
    local prog=$1 test=$2 model=$3 file=$4 n=${2#??}
    case $prog.$test in
        pocket.pp*)
            "${rt[@]}" "$pocket" bench -m "$model" -p "$n" -n 0 -r $((n <= 512 ? 2 : 1)) \
                -t "$threads" --json > "$file" ;;
        pocket.tg*)
            "${rt[@]}" "$pocket" bench -m "$model" -p 0 -n 64 -d "$n" -r 2 -t "$threads" --json \
                > "$file" ;;
        pocket-q8kv.tg*)
            "${rt[@]}" "$pocket" bench -m "$model" -p 0 -n 64 -d "$n" -r 2 -t "$threads" --json \
                --cache-type-k q8_0 --cache-type-v q8_0 > "$file" ;;
        llama.pp*)
            "${rt[@]}" "$llama/llama-bench" -m "$model" -p "$n" -n 0 -r 1 -t "$threads" -o json \
                > "$file" 2>/dev/null ;;
        llama.tg*)
            {
                echo "model: $model"
                "${rt[@]}" "$llama/llama-batched-bench" -m "$model" -c $((n + 1024)) -b 2048 \
                    -ub 512 -npp "$n" -ntg 64 -npl 1 -t "$threads" 2>/dev/null
            } > "$file" ;;
        ik.pp*)
            "${rt[@]}" "$ik/llama-bench" -m "$model" -p "$n" -n 0 -r 1 -rtr 1 -t "$threads" \
                -o json > "$file" 2>/dev/null ;;
        ik.tg*)
            "${rt[@]}" "$ik/llama-bench" -m "$model" -p 0 -n 0 -gp "$n,64" -r 1 -rtr 1 \
                -t "$threads" -o json > "$file" 2>/dev/null ;;
        *)
            echo "no way to run $prog for $test" >&2
            exit 2 ;;
    esac
}

# Names checked before the first (long) test rather than after the last.
for prog in ${PROGRAMS:-}; do
    [[ $prog =~ ^(pocket|pocket-q8kv|llama|ik)$ ]] ||
        { echo "PROGRAMS: unknown program '$prog' (pocket, pocket-q8kv, llama, ik)" >&2; exit 2; }
done
for test in ${TESTS:-}; do
    [[ $test =~ ^(pp|tg)[0-9]+$ ]] ||
        { echo "TESTS: '$test' is neither pp<tokens> nor tg<depth>" >&2; exit 2; }
done

declare -A label=([pocket]=pocket [pocket-q8kv]=pocket [llama]=llama.cpp [ik]=ik_llama.cpp)
inputs=()
for model in "$@"; do
    name=$(basename "$model" .gguf)
    if [[ -n ${TESTS:-} ]]; then
        read -ra tests <<< "$TESTS"
    else
        tests=(pp512 pp2048 pp4096)
        for d in "${depths[@]}"; do tests+=("tg$d"); done
    fi
    for ((r = 0; r < rounds; ++r)); do
        for test in "${tests[@]}"; do
            progs=()
            for prog in ${PROGRAMS:-pocket llama ik pocket-q8kv}; do
                [[ $prog == pocket-q8kv && $test != tg* ]] || progs+=("$prog")
            done
            n_progs=${#progs[@]}
            progs=("${progs[@]:r % n_progs}" "${progs[@]:0:r % n_progs}")
            log "$name $test round $((r + 1))/$rounds: ${progs[*]}"
            for prog in "${progs[@]}"; do
                ext=json
                [[ $prog.$test == llama.tg* ]] && ext=txt
                file="$out/$name.$prog.$test.r$r.$ext"
                run "$prog" "$test" "$model" "$file"
                inputs+=("${label[$prog]}=$file")
            done
        done
    done
done
log "done"

here=$(dirname "$0")
"$here/plot_long_context.py" --markdown "${inputs[@]}" | tee "$out/table.md"
if /usr/bin/python3 -c 'import matplotlib' 2>/dev/null; then  # the plot script's interpreter
    "$here/plot_long_context.py" "$out/long_context.png" "${inputs[@]}"
fi
