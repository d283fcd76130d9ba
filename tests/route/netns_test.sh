#!/usr/bin/env bash
# Hybrid routing from the terminal front ends (`pocket run`, `pocket chat`) inside a fresh network
# namespace that holds nothing but loopback, so "nothing leaves the machine" is checked where
# nothing else could be talking:
#   (a) without --cloud, pocket opens no network socket at all (strace, when it is installed)
#       and writes no audit log;
#   (b) with --route cloud, the "cloud" (a real `pocket serve --log-prompts` started inside the
#       namespace) receives the prompt with its e-mail address replaced by [EMAIL_1], the CLI
#       prints the answer and says the route on stderr, and the audit log verifies. (Re-hydration
#       of a cloud answer is checked through the server in tests/server/routing_test.mjs, where a
#       JSON schema makes the cloud answer with the placeholder; `pocket run` does not pass
#       --json-schema on to the cloud.)
#   (c) a dead cloud: the local model answers and stderr says why.
#
#   tests/route/netns_test.sh POCKET_BINARY [SHARED_DIR]
#
# Exit 77 (skipped) where a network namespace cannot be created (unprivileged user namespaces
# disabled, or a container without CAP_SYS_ADMIN).
set -euo pipefail

pocket=$(realpath "${1:?usage: netns_test.sh POCKET_BINARY [SHARED_DIR]}")
shared=$(realpath "${2:-${POCKET_SHARED_DIR:-$(dirname "$0")/../../../shared}}")

if [[ -z ${POCKET_NETNS_INNER:-} ]]; then
    for tool in unshare ip curl; do
        command -v "$tool" >/dev/null || { echo "SKIP: $tool is not installed"; exit 77; }
    done
    # Root may create the namespace directly; anyone else needs a user namespace as well.
    if [[ $(id -u) == 0 ]] && unshare -n true 2>/dev/null; then
        flags=(-n)
    elif unshare -rn true 2>/dev/null; then
        flags=(-rn)
    else
        echo "SKIP: cannot create a network namespace (unshare -n / unshare -rn not permitted)"
        exit 77
    fi
    POCKET_NETNS_INNER=1 exec unshare "${flags[@]}" "$0" "$pocket" "$shared"
fi

fail() {
    echo "FAIL: $*" >&2
    for f in "$work"/*.err "$work"/*.log; do
        [[ -f $f ]] && { echo "--- $f" >&2; cat "$f" >&2; }
    done
    exit 1
}

work=$(mktemp -d)
cloud_pid=
cleanup() {
    if [[ -n $cloud_pid ]]; then
        { kill -9 "$cloud_pid" && wait "$cloud_pid"; } 2>/dev/null
    fi
    rm -rf "$work"
}
trap cleanup EXIT

ip link set lo up
# A fresh namespace: loopback only, so any connection to anywhere else fails.
links=$(ip -o link show | awk -F': ' '{print $2}')
[[ $links == lo ]] || fail "the namespace has links besides lo: $links"
# The default audit log lives under $XDG_STATE_HOME: point it into the scratch folder.
export XDG_STATE_HOME=$work/state HOME=$work/home
mkdir -p "$HOME"

local_model=$shared/models/stories260K.gguf
cloud_model_file=$shared/models/tiny/tiny-llama-spm.gguf
cloud_model=tiny-llama-spm
email=alice.smith@example.com
prompt="Write to $email and say the order has shipped."

# --- (a) no --cloud: no socket, no audit log --------------------------------------------------
# Under strace when it works here (ptrace may be forbidden in a container): any AF_INET/AF_INET6
# socket, or a connect to one, is a network access. (glibc may use AF_UNIX sockets such as nscd's
# for user lookups: local IPC, not the network.)
trace=()
if command -v strace >/dev/null && strace -f -o /dev/null true 2>/dev/null; then
    trace=(strace -f -e 'trace=socket,connect')
fi
run_a() {  # name, then the command
    local name=$1
    shift
    if ((${#trace[@]})); then
        # LeakSanitizer cannot run under ptrace: leaks are checked by the untraced runs.
        ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
            "${trace[@]}" -o "$work/$name.trace" "$@"
    else
        "$@"
    fi
}
run_a a-run "$pocket" run -m "$local_model" -p "$prompt" -n 8 --temp 0 -q \
    >"$work/a-run.out" 2>"$work/a-run.err" || fail "(a) pocket run without --cloud failed"
printf '%s\n' "$prompt" | run_a a-chat "$pocket" chat -m "$local_model" -n 8 --temp 0 \
    >"$work/a-chat.out" 2>"$work/a-chat.err" || fail "(a) pocket chat without --cloud failed"
if ((${#trace[@]})); then
    for name in a-run a-chat; do
        grep -q '+++ exited with 0 +++' "$work/$name.trace" || fail "(a) strace did not see $name end"
        if grep -E 'AF_INET6?\b' "$work/$name.trace" >"$work/$name.inet"; then
            fail "(a) without --cloud, $name opened a network socket: $(cat "$work/$name.inet")"
        fi
    done
    echo "ok - (a) without --cloud: no AF_INET/AF_INET6 socket in run or chat (strace -f)"
else
    echo "note: strace is not usable here; (a) checks the audit log only"
fi
[[ -s $work/a-run.out && -s $work/a-chat.out ]] || fail "(a) no local answer on stdout"
if [[ -e $XDG_STATE_HOME/pocket/egress-audit.jsonl ]]; then
    fail "(a) without --cloud an audit log was written"
fi
echo "ok - (a) without --cloud: no audit log, answers on stdout"

# --- (b) --route cloud: the cloud sees [EMAIL_1], never the address ---------------------------
"$pocket" serve --port 0 -m "$cloud_model_file" --log-prompts 2>"$work/cloud.log" &
cloud_pid=$!
cloud_url=
for _ in $(seq 1 300); do
    cloud_url=$(grep -o 'listening on http://[^ ]*' "$work/cloud.log" | head -1 | cut -d' ' -f3 || true)
    [[ -n $cloud_url ]] && curl -sf "$cloud_url/health" >/dev/null && break
    kill -0 "$cloud_pid" 2>/dev/null || fail "the cloud server exited"
    sleep 0.1
done
[[ -n $cloud_url ]] || fail "the cloud server did not start"
cloud_args=(--cloud "$cloud_url/v1" --cloud-model "$cloud_model" --audit-log "$work/audit.jsonl")

"$pocket" run -m "$local_model" "${cloud_args[@]}" --route cloud -p "$prompt" -n 16 --temp 0 \
    >"$work/b-run.out" 2>"$work/b-run.err" || fail "(b) pocket run --route cloud failed"
grep -q '\[EMAIL_1\]' "$work/cloud.log" || fail "(b) the cloud's log has no [EMAIL_1]"
grep -q "$email" "$work/cloud.log" && fail "(b) the e-mail address reached the cloud"
[[ -s $work/b-run.out ]] || fail "(b) pocket run printed no answer"
grep -q '\[EMAIL' "$work/b-run.out" && fail "(b) a placeholder reached the user"
grep -Eq '^pocket: route cloud .*EMAIL 1' "$work/b-run.err" ||
    fail "(b) no 'pocket: route cloud (... EMAIL 1)' line on stderr: $(cat "$work/b-run.err")"
echo "ok - (b) pocket run --route cloud: the cloud saw [EMAIL_1], not the address; stderr: $(head -1 "$work/b-run.err")"

# The answer comes back re-hydrated: a schema whose only allowed value is the placeholder makes the
# cloud answer with it, and the user sees the address.
printf '%s' '{"type":"object","properties":{"to":{"type":"string","enum":["[EMAIL_1]"]}},"required":["to"]}' \
    >"$work/schema.json"
"$pocket" run -m "$local_model" "${cloud_args[@]}" --route cloud -p "$prompt" -n 48 --temp 0 \
    --json-schema "$work/schema.json" >"$work/b-json.out" 2>"$work/b-json.err" ||
    fail "(b) pocket run --json-schema --route cloud failed: $(cat "$work/b-json.err")"
grep -Eq "\"to\" *: *\"$email\"" "$work/b-json.out" ||
    fail "(b) the forced placeholder was not re-hydrated: $(cat "$work/b-json.out")"
echo "ok - (b) pocket run: the cloud answered [EMAIL_1], the user read $email"

before=$(grep -c '\[EMAIL_1\]' "$work/cloud.log")
printf '%s\n' "$prompt" | "$pocket" chat -m "$local_model" "${cloud_args[@]}" --route cloud \
    -n 8 --temp 0 >"$work/b-chat.out" 2>"$work/b-chat.err" || fail "(b) pocket chat --route cloud failed"
after=$(grep -c '\[EMAIL_1\]' "$work/cloud.log")
((after == before + 1)) || fail "(b) pocket chat: the cloud did not get one more redacted prompt"
grep -q "$email" "$work/cloud.log" && fail "(b) pocket chat: the e-mail address reached the cloud"
grep -q 'route cloud' "$work/b-chat.err" || fail "(b) pocket chat: no 'route cloud' line on stderr"
[[ -s $work/b-chat.out ]] || fail "(b) pocket chat printed nothing"
"$pocket" audit verify "$work/audit.jsonl" >"$work/verify.log" 2>&1 || fail "(b) the audit log does not verify"
grep -q 'OK: 6 entries' "$work/verify.log" || fail "(b) audit: $(cat "$work/verify.log")"
echo "ok - (b) pocket chat --route cloud: redacted; audit log: 3 requests, 3 outcomes, chain intact"

# --- (c) a dead cloud: local fallback, said on stderr ----------------------------------------
{ kill -9 "$cloud_pid" && wait "$cloud_pid"; } 2>/dev/null || true  # (quiet: no "Killed")
cloud_pid=
"$pocket" run -m "$local_model" "${cloud_args[@]}" --route cloud -p "Once upon a time" -n 8 --temp 0 \
    >"$work/c-run.out" 2>"$work/c-run.err" || fail "(c) pocket run with a dead cloud failed"
[[ -s $work/c-run.out ]] || fail "(c) no local answer on stdout"
# One line that says the cloud failed, why (curl's reason for the refused connection), and that
# the local model answered instead.
line=$(grep -Ei 'cloud.*fail' "$work/c-run.err" | head -1)
[[ -n $line ]] || fail "(c) stderr does not say the cloud failed: $(cat "$work/c-run.err")"
grep -Eiq 'connect|refused' <<<"$line" || fail "(c) the line does not say why: $line"
grep -Eiq 'local' <<<"$line" || fail "(c) the line does not say the local model answered: $line"
# The attempt is in the audit log with its outcome.
"$pocket" audit verify "$work/audit.jsonl" >"$work/verify.log" 2>&1 || fail "(c) the audit log does not verify"
grep -q 'OK: 8 entries' "$work/verify.log" || fail "(c) audit: $(cat "$work/verify.log")"
grep -q '"outcome":"connect failed' "$work/audit.jsonl" || fail "(c) no 'connect failed' outcome in the audit log"
echo "ok - (c) dead cloud: local answer, outcome audited; stderr: $line"

# Under --cloud-fallback fail the command fails, saying why, and prints no answer.
if "$pocket" run -m "$local_model" "${cloud_args[@]}" --route cloud --cloud-fallback fail \
    -p "Once upon a time" -n 8 --temp 0 >"$work/c-fail.out" 2>"$work/c-fail.err"; then
    fail "(c) --cloud-fallback fail with a dead cloud exited 0"
fi
[[ -s $work/c-fail.out ]] && fail "(c) --cloud-fallback fail printed an answer: $(cat "$work/c-fail.out")"
grep -Eiq 'cloud.*fail.*connect' "$work/c-fail.err" || fail "(c) --cloud-fallback fail: $(cat "$work/c-fail.err")"
echo "ok - (c) dead cloud with --cloud-fallback fail: exit non-zero; stderr: $(grep -Ei 'fail' "$work/c-fail.err" | head -1)"
echo "all passed"
