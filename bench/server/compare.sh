#!/usr/bin/env bash
# Serving throughput of `pocket serve` beside llama-server on the same model file, measured in
# the same run: for each client count both servers are started in turn on a free loopback port
# with that many parallel slots, the same threads and the same total context, and
# bench/server/loadgen.py drives them; one combined table is printed at the end.
#
#   bench/server/compare.sh POCKET_BIN LLAMA_SERVER_BIN MODEL.gguf [options]
#
# Options (defaults in brackets):
#   --clients "1 4 8 16"   client counts; each gets its own server start with -np = clients
#   --np N                 instead, start each server once with N slots and run every count on it
#   --requests R [4]       requests per client
#   --max-tokens N [64]    tokens generated per request (ignore_eos, so exactly N)
#   --system-tokens S [1000]  shared system prompt length
#   --ctx-per-slot C [2048]   context per slot; both servers get C * slots in total
#   (pocket serve -c is per slot: it gets C; llama-server -c is the total: it gets C * slots)
#   --threads T [2]        -t for both servers
#   --warmup K [1]         concurrent warm-up requests before measuring (K = slots warms every slot)
#   --only pocket|llama    run one side only
#   --out DIR              where JSON results and server logs go [mktemp -d]
#   --pocket-args "..."    extra arguments for pocket serve
#   --llama-args "..."     extra arguments for llama-server
#
# The servers are started as
#   POCKET serve -m MODEL --port P --parallel N -c CTX -t T
#   LLAMA_SERVER -m MODEL --host 127.0.0.1 --port P -np N -c CTX -t T -tb T
# and are ready when GET /health answers 200.
set -euo pipefail

usage() { sed -n '2,28p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-2}"; }
[[ $# -ge 3 ]] || usage
POCKET=$1 LLAMA=$2 MODEL=$3
shift 3

HERE=$(cd "$(dirname "$0")" && pwd)
LOADGEN="$HERE/loadgen.py"
CLIENTS="1 4 8 16" NP="" REQUESTS=4 MAX_TOKENS=64 SYSTEM_TOKENS=1000 CTX_PER_SLOT=2048
POCKET_CTX_PER_SLOT=1 THREADS=2 WARMUP=1 ONLY="" OUT="" POCKET_ARGS="" LLAMA_ARGS=""
while [[ $# -gt 0 ]]; do
    case $1 in
        --clients) CLIENTS=$2; shift 2 ;;
        --np) NP=$2; shift 2 ;;
        --requests) REQUESTS=$2; shift 2 ;;
        --max-tokens) MAX_TOKENS=$2; shift 2 ;;
        --system-tokens) SYSTEM_TOKENS=$2; shift 2 ;;
        --ctx-per-slot) CTX_PER_SLOT=$2; shift 2 ;;
        --pocket-ctx-per-slot) POCKET_CTX_PER_SLOT=1; shift ;;
        --threads) THREADS=$2; shift 2 ;;
        --warmup) WARMUP=$2; shift 2 ;;
        --only) ONLY=$2; shift 2 ;;
        --out) OUT=$2; shift 2 ;;
        --pocket-args) POCKET_ARGS=$2; shift 2 ;;
        --llama-args) LLAMA_ARGS=$2; shift 2 ;;
        -h|--help) usage 0 ;;
        *) echo "unknown option: $1" >&2; usage ;;
    esac
done
[[ -f $MODEL ]] || { echo "no model file: $MODEL" >&2; exit 2; }
[[ $ONLY == llama || -x $POCKET ]] || { echo "not executable: $POCKET" >&2; exit 2; }
[[ $ONLY == pocket || -x $LLAMA ]] || { echo "not executable: $LLAMA" >&2; exit 2; }
OUT=${OUT:-$(mktemp -d /tmp/pocket-serve-bench.XXXXXX)}
mkdir -p "$OUT"

SERVER_PID=""
stop_server() {
    if [[ -n $SERVER_PID ]]; then
        kill "$SERVER_PID" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.2; done
        kill -9 "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
        SERVER_PID=""
    fi
}
trap stop_server EXIT
trap 'stop_server; exit 130' INT TERM

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

wait_health() {  # port pid log
    python3 - "$1" "$2" "$3" <<'EOF'
import http.client, os, sys, time
port, pid, log = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
t0 = time.time()
while time.time() - t0 < 600:
    try:
        os.kill(pid, 0)
    except OSError:
        sys.exit(f"server exited before it was ready; see {log}")
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        c.request("GET", "/health")
        if c.getresponse().status == 200:
            print(f"  ready after {time.time() - t0:.1f} s", file=sys.stderr)
            sys.exit(0)
    except (OSError, http.client.HTTPException):
        pass
    time.sleep(0.25)
sys.exit(f"server not ready after 600 s; see {log}")
EOF
}

LLAMA_VERSION=""
if [[ $ONLY != pocket ]]; then
    LLAMA_VERSION=$("$LLAMA" --version 2>&1 | grep -m1 -i version || true)
fi
POCKET_VERSION=""
if [[ $ONLY != llama ]]; then
    POCKET_VERSION=$("$POCKET" --version 2>&1 | head -1 || true)
fi

# start_server SIDE SLOTS -> sets SERVER_PID, PORT
start_server() {
    local side=$1 np=$2 ctx log
    PORT=$(free_port)
    log="$OUT/$side-np$np.log"
    if [[ $side == pocket ]]; then
        if [[ $POCKET_CTX_PER_SLOT == 1 ]]; then ctx=$CTX_PER_SLOT; else ctx=$((CTX_PER_SLOT * np)); fi
        # shellcheck disable=SC2086
        set -- "$POCKET" serve -m "$MODEL" --port "$PORT" --parallel "$np" -c "$ctx" -t "$THREADS" $POCKET_ARGS
    else
        ctx=$((CTX_PER_SLOT * np))
        # shellcheck disable=SC2086
        set -- "$LLAMA" -m "$MODEL" --host 127.0.0.1 --port "$PORT" -np "$np" -c "$ctx" \
            -t "$THREADS" -tb "$THREADS" $LLAMA_ARGS
    fi
    echo "$side: $*" | tee -a "$OUT/commands.txt" >&2
    "$@" >"$log" 2>&1 &
    SERVER_PID=$!
    wait_health "$PORT" "$SERVER_PID" "$log"
}

# measure SIDE SLOTS "CLIENT COUNTS"
measure() {
    local side=$1 np=$2 counts=$3 note
    if [[ $side == pocket ]]; then note="pocket $POCKET_VERSION"; else note="llama-server $LLAMA_VERSION"; fi
    start_server "$side" "$np"
    for c in $counts; do
        python3 "$LOADGEN" --url "http://127.0.0.1:$PORT" --clients "$c" --requests "$REQUESTS" \
            --max-tokens "$MAX_TOKENS" --system-tokens "$SYSTEM_TOKENS" --warmup "$WARMUP" \
            --label "$([[ $side == llama ]] && echo llama-server || echo pocket)" \
            --server-note "$note, -np $np, -t $THREADS" \
            --json "$OUT/$side-c$c.json" >>"$OUT/loadgen-$side.txt"
    done
    stop_server
}

SIDES="pocket llama"
[[ -n $ONLY ]] && SIDES=$ONLY
echo "results and server logs in $OUT" >&2
if [[ -n $NP ]]; then
    for side in $SIDES; do measure "$side" "$NP" "$CLIENTS"; done
else
    # One client count at a time, both servers in turn, so slow drifts of the machine hit both.
    for c in $CLIENTS; do
        for side in $SIDES; do measure "$side" "$c" "$c"; done
    done
fi

FILES=()
for side in $SIDES; do for c in $CLIENTS; do FILES+=("$OUT/$side-c$c.json"); done; done
{
    echo "model: $MODEL ($(du -h "$MODEL" | cut -f1)), threads $THREADS, ctx/slot $CTX_PER_SLOT," \
         "requests/client $REQUESTS, max_tokens $MAX_TOKENS, system prompt ~$SYSTEM_TOKENS tokens"
    python3 "$LOADGEN" --report "${FILES[@]}"
} | tee "$OUT/table.md"
