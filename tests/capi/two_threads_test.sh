#!/usr/bin/env bash
# Two sessions on two threads over one model through libpocket.so (capi_two_threads) must produce
# exactly what `pocket run` prints for the same prompts under greedy decoding.
#   two_threads_test.sh POCKET CAPI_TWO_THREADS MODEL
set -euo pipefail
pocket=$1 program=$2 model=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
n=40
a="Once upon a time, there was a little dog"
b="Lily and Tom went to the park. They saw"
"$pocket" run -m "$model" -p "$a" -n $n --temp 0 -q -t 1 >"$work/cli_a.txt"
"$pocket" run -m "$model" -p "$b" -n $n --temp 0 -q -t 1 >"$work/cli_b.txt"
[[ -s $work/cli_a.txt && -s $work/cli_b.txt ]] || { echo "pocket run printed nothing" >&2; exit 1; }
cmp -s "$work/cli_a.txt" "$work/cli_b.txt" && { echo "the two prompts gave the same text" >&2; exit 1; }
"$program" "$model" $n "$a" "$work/capi_a.txt" "$b" "$work/capi_b.txt"
status=0
for x in a b; do
    # `pocket run` ends its output with a newline that is not part of the generated text.
    printf '\n' >>"$work/capi_$x.txt"
    if ! cmp "$work/cli_$x.txt" "$work/capi_$x.txt"; then
        echo "prompt $x: C API and CLI differ" >&2
        echo "--- CLI:" >&2; cat "$work/cli_$x.txt" >&2
        echo "--- C API:" >&2; cat "$work/capi_$x.txt" >&2
        status=1
    fi
done
((status == 0)) && echo "OK: both threads match pocket run"
exit $status
