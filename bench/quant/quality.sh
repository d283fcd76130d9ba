#!/usr/bin/env bash
# Quantization quality table for docs/QUANTIZATION.md: for each model and type, the file size, bits
# per weight, perplexity over ppl-text.txt (n_ctx 128), and KL divergence / top-1 agreement against
# the F32 model, for pocket's quantizer without and with an importance matrix and, when a llama.cpp
# build is given, for llama-quantize on the same source file and the same calibration text. Every
# file is evaluated by the same program (pocket perplexity --kld-base), so only the quantizers
# differ.
#
#   bench/quant/quality.sh POCKET_BIN SHARED_DIR [LLAMA_BIN_DIR] > table.md
#
# The importance matrices come from the first 100 chunks of 128 tokens of WikiText-2
# (data/lm/wikitext-2-raw-test.txt): `pocket imatrix` for pocket, `llama-imatrix` for llama.cpp.
set -euo pipefail
POCKET=$1 SHARED=$2 LLAMA=${3:-}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
TEXT=$SHARED/reference/ppl-text.txt
CALIB=$SHARED/data/lm/wikitext-2-raw-test.txt
TYPES="Q8_0 Q6_K Q5_K_M Q5_K_S Q5_0 Q5_1 Q4_K_M Q4_K_S Q4_0 Q4_1 Q3_K_M Q3_K_S Q2_K IQ4_NL IQ4_XS"

measure() {  # FILE -> "size_bytes ppl kld_mean same_top_percent"
    local f=$1 json
    json=$("$POCKET" perplexity -m "$f" --kld-base "$WORK/base.bin" -c 128 --json 2>/dev/null)
    python3 - "$f" "$json" <<'PY'
import json, os, sys
j = json.loads(sys.argv[2]); k = j["kld"]
top = k["same_top_percent"]
print(os.path.getsize(sys.argv[1]), "%.4f" % j["ppl"], "%.6f" % k["mean"], "%.2f" % top)
PY
}

bpw() {  # FILE -> bits per weight: tensor data bytes (file size - data offset) over parameters
    "$POCKET" info "$1" --json 2>/dev/null | python3 -c '
import json, sys
j = json.load(sys.stdin)
print("%.2f" % (8 * (j["file_size"] - j["data_offset"]) / j["n_params"]))' 2>/dev/null || echo "-"
}

for model in models/stories260K.gguf models/tiny/tiny-llama-spm.gguf; do
    src=$SHARED/$model
    name=$(basename "$model" .gguf)
    "$POCKET" perplexity -m "$src" -f "$TEXT" -c 128 --save-logits "$WORK/base.bin" >/dev/null 2>&1
    "$POCKET" imatrix -m "$src" -f "$CALIB" -c 128 --chunks 100 -o "$WORK/pocket.dat" >/dev/null 2>&1
    if [[ -n $LLAMA ]]; then
        "$LLAMA/llama-imatrix" -m "$src" -f "$CALIB" -c 128 -b 128 --chunks 100 -t 2 \
            -o "$WORK/llama.dat" --output-format dat >/dev/null 2>&1 || true
    fi
    read -r size ppl kld top < <(measure "$src")
    echo
    echo "#### $name (F32 source: $(numfmt --to=iec "$size")B, ppl $ppl over ppl-text.txt, n_ctx 128)"
    echo
    echo "| type | quantizer | imatrix | size | bits/weight | ppl | mean KLD | same top-1 % |"
    echo "|---|---|---|--:|--:|--:|--:|--:|"
    for t in $TYPES; do
        for q in pocket pocket+imatrix llama llama+imatrix; do
            out=$WORK/$name.$t.$q.gguf
            case $q in
                pocket) "$POCKET" quantize "$src" "$out" "$t" >/dev/null 2>&1 || continue ;;
                pocket+imatrix)
                    "$POCKET" quantize "$src" "$out" "$t" --imatrix "$WORK/pocket.dat" >/dev/null 2>&1 || continue ;;
                llama)
                    [[ -n $LLAMA ]] || continue
                    "$LLAMA/llama-quantize" "$src" "$out" "$t" 2 >/dev/null 2>&1 || { echo "| $t | llama-quantize | no | fails | | | | |"; continue; } ;;
                llama+imatrix)
                    [[ -n $LLAMA && -f $WORK/llama.dat ]] || continue
                    "$LLAMA/llama-quantize" --imatrix "$WORK/llama.dat" "$src" "$out" "$t" 2 >/dev/null 2>&1 || { echo "| $t | llama-quantize | yes | fails | | | | |"; continue; } ;;
            esac
            read -r size ppl kld top < <(measure "$out")
            who=${q%%+*}; [[ $who == llama ]] && who=llama-quantize
            im=no; [[ $q == *imatrix ]] && im=yes
            echo "| $t | $who | $im | $(numfmt --to=iec "$size")B | $(bpw "$out") | $ppl | $kld | $top |"
            rm -f "$out"
        done
    done
done
