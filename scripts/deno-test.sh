#!/usr/bin/env bash
# Runs the same test files as `npm run test:node`, under Deno 2, with Dawn loaded from the npm
# install (`--node-modules-dir=manual`). Type checking is done once by `npm run typecheck`.
#
# One exception to "the exit code is Deno's": Deno on lavapipe sometimes aborts *while exiting*,
# after its summary says every test passed (glibc: "corrupted size vs. prev_size in fastbins",
# SIGABRT, exit 134; 2 of 4 full runs on 2026-12-06, none in isolation of any file tried; see
# README, Known issues). That case is reported loudly and counted as a pass; an abort before the
# summary, or any failed test, still fails the run.
set -uo pipefail
cd "$(dirname "$0")/.."
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"
mapfile -t files < <(find test packages/*/test -name '*.test.ts' 2>/dev/null | sort)
log=$(mktemp)
trap 'rm -f "$log"' EXIT
npx --no-install deno test -A --no-check --node-modules-dir=manual "$@" "${files[@]}" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
if [ "$rc" -eq 134 ] && sed 's/\x1b\[[0-9;]*m//g' "$log" | grep -qE '^ok \| [0-9]+ passed.* \| 0 failed'; then
  echo "deno-test: all tests passed, then Deno aborted while exiting (SIGABRT in native teardown, a known issue: README, Known issues); counted as a pass" >&2
  rc=0
fi
exit "$rc"
