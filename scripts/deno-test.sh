#!/usr/bin/env bash
# Runs the same test files as `npm run test:node`, under Deno 2, with Dawn loaded from the npm
# install (`--node-modules-dir=manual`). Type checking is done once by `npm run typecheck`.
set -euo pipefail
cd "$(dirname "$0")/.."
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"
mapfile -t files < <(find test packages/*/test -name '*.test.ts' 2>/dev/null | sort)
exec npx --no-install deno test -A --no-check --node-modules-dir=manual "$@" "${files[@]}"
