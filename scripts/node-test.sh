#!/usr/bin/env bash
# Runs every *.test.ts under test/ and packages/*/test/ with Node's test runner through tsx.
# (Node 20's --test takes no globs, so the file list is built here, the same as deno-test.sh.)
set -euo pipefail
cd "$(dirname "$0")/.."
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"
mapfile -t files < <(find test packages/*/test -name '*.test.ts' 2>/dev/null | sort)
exec node --import tsx --test --test-concurrency=1 "$@" "${files[@]}"
