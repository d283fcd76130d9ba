#!/usr/bin/env bash
# pocket as a user installs and uses it: `cmake --install` into a temporary prefix, then the
# examples built against that copy with find_package(pocket) and with pkg-config, and the Python
# example run on the installed bindings; each must print what `pocket run` prints (greedy).
#   install_test.sh BUILD_DIR SOURCE_DIR SHARED_DIR
set -euo pipefail
build=$1 source=$2 shared=$3
model=$shared/models/stories260K.gguf
embedder=$shared/models/embed/potion-base-4M-int8
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix
prompt="Once upon a time"

cmake --install "$build" --prefix "$prefix" >"$work/install.log"
lib=$(find "$prefix" -name 'libpocket.so.0' -print -quit)
[[ -n $lib ]] || { echo "no libpocket.so.0 installed" >&2; cat "$work/install.log" >&2; exit 1; }
libdir=$(dirname "$lib")
for f in "$prefix/bin/pocket" "$prefix/include/pocket.h" "$libdir/libpocket.so" "$libdir/libpocket.a" \
    "$libdir/pkgconfig/pocket.pc" "$libdir/cmake/pocket/pocketConfig.cmake" \
    "$libdir/cmake/pocket/pocketCppTargets.cmake" "$libdir/libpocket_server.a" \
    "$prefix/lib/python3/dist-packages/pocket/__init__.py" "$prefix/share/man/man1/pocket.1"; do
    [[ -e $f ]] || { echo "not installed: $f" >&2; exit 1; }
done
grep -q '^\.TH POCKET 1' "$prefix/share/man/man1/pocket.1"
grep -q '^\.SS pocket serve' "$prefix/share/man/man1/pocket.1"

"$prefix/bin/pocket" run -m "$model" -p "$prompt" -n 24 --temp 0 -q -t 1 >"$work/cli24.txt"
"$prefix/bin/pocket" run -m "$model" -p "$prompt" -n 40 --temp 0 -q -t 1 >"$work/cli40.txt"
# `pocket run` ends its output with a newline the examples do not print.
expect24=$(cat "$work/cli24.txt") expect40=$(cat "$work/cli40.txt")

echo "== find_package(pocket)"
cmake -S "$source/examples" -B "$work/examples" -DCMAKE_PREFIX_PATH="$prefix" \
    -DCMAKE_BUILD_TYPE=Release >"$work/configure.log" || { cat "$work/configure.log" >&2; exit 1; }
cmake --build "$work/examples" >"$work/build.log" || { cat "$work/build.log" >&2; exit 1; }
got=$("$work/examples/generate" "$model" "$prompt" 24 2>/dev/null)
[[ $got == "$expect24" ]] || { printf 'C example: %q\nCLI:       %q\n' "$got" "$expect24" >&2; exit 1; }
[[ -x "$work/examples/session" ]] || { echo "the C++ API example was not built" >&2; cat "$work/configure.log" >&2; exit 1; }
got=$("$work/examples/session" "$model" "$prompt" 24 2>"$work/session.err")
[[ $got == "$expect24" ]] || { printf 'C++ API example: %q\nCLI:             %q\n' "$got" "$expect24" >&2; exit 1; }
grep -q 'generated, finish length' "$work/session.err"
for h in pocket/model/load.h pocket/generate/session.h pocket/rag/retriever.h pocket/server/server.h; do
    [[ -f "$prefix/include/$h" ]] || { echo "public header not installed: $h" >&2; exit 1; }
done
# Internal headers stay inside the source tree.
if find "$prefix/include" -path '*kernels*' -o -name 'page_buffer.h' -o -name 'synth.h' | grep -q .; then
    echo "an internal header was installed" >&2; exit 1
fi
"$work/examples/chat" "$model" "Hello!" "Tell me more." >"$work/chat.txt"
tail -1 "$work/chat.txt" | /usr/bin/python3 -c '
import json, sys
c = json.load(sys.stdin)
assert [m["role"] for m in c["messages"]] == ["user", "assistant", "user", "assistant"], c
assert c["messages"][2]["content"] == "Tell me more.", c'
grep -q 'reused\]' "$work/chat.txt"

echo "== pkg-config"
export PKG_CONFIG_PATH=$libdir/pkgconfig
flags=$(pkg-config --cflags --libs pocket)
[[ $(pkg-config --modversion pocket) == "$("$prefix/bin/pocket" --version | awk '{print $2}')" ]]
gcc -std=c99 -Wall -Wextra -Werror -pedantic "$source/examples/c/generate.c" $flags \
    -Wl,-rpath,"$libdir" -o "$work/generate-pc"
got=$("$work/generate-pc" "$model" "$prompt" 24 2>/dev/null)
[[ $got == "$expect24" ]] || { printf 'pkg-config build: %q\n' "$got" >&2; exit 1; }

echo "== Python"
PYTHONPATH=$prefix/lib/python3/dist-packages /usr/bin/python3 "$source/examples/python/generate.py" \
    "$model" "$prompt" "$embedder" >"$work/py.txt" 2>"$work/py.err" || { cat "$work/py.err" >&2; exit 1; }
streamed=$(head -c ${#expect40} "$work/py.txt")
[[ $streamed == "$expect40" ]] || { printf 'Python stream: %q\nCLI:           %q\n' "$streamed" "$expect40" >&2; exit 1; }
grep -q '^chat (' "$work/py.txt"
grep -q 'embedding of 128 values' "$work/py.err"
grep -Eq '\[[0-9]+ pieces streamed\]' "$work/py.err"
pieces=$(grep -Eo '\[[0-9]+ pieces' "$work/py.err" | grep -Eo '[0-9]+')
((pieces > 1)) || { echo "the Python stream came in one piece" >&2; exit 1; }
echo "OK: installed package used through CMake, pkg-config and Python"
