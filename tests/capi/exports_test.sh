#!/usr/bin/env bash
# libpocket.so exports the C API and nothing else: every defined dynamic symbol starts with
# pocket_, and every function include/pocket.h declares is among them. Also checks the SONAME.
#   exports_test.sh LIBPOCKET_SO POCKET_H
set -euo pipefail
lib=$1 header=$2
exported=$(nm -D --defined-only "$lib" | awk '{print $NF}' | sort -u)
[[ -n $exported ]] || { echo "no dynamic symbols in $lib" >&2; exit 1; }
foreign=$(grep -v '^pocket_' <<<"$exported" || true)
if [[ -n $foreign ]]; then
    echo "$lib exports symbols outside the C API:" >&2
    head -20 <<<"$foreign" >&2
    exit 1
fi
declared=$(grep -o 'POCKET_API [^(]*(' "$header" | grep -o 'pocket_[a-z0-9_]*($' | tr -d '(' | sort -u)
[[ $(wc -l <<<"$declared") -ge 30 ]] || { echo "found too few declarations in $header" >&2; exit 1; }
missing=$(comm -23 <(echo "$declared") <(echo "$exported"))
if [[ -n $missing ]]; then
    echo "declared in $header but not exported by $lib:" >&2
    echo "$missing" >&2
    exit 1
fi
soname=$(objdump -p "$lib" | awk '$1 == "SONAME" {print $2}')
[[ $soname =~ ^libpocket\.so\.[0-9]+$ ]] || { echo "unexpected SONAME '$soname'" >&2; exit 1; }
echo "OK: $(wc -l <<<"$exported") pocket_* symbols, all $(wc -l <<<"$declared") declared ones, SONAME $soname"
