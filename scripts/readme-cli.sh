#!/usr/bin/env bash
# Runs README.md's "The CLI" commands exactly as written, one after another, in a fresh clone of
# this repository's HEAD (the working tree's README.md copied over it), and prints each command's
# exit code, time and last lines. About 15 minutes on a 2-core machine with lavapipe.
#   bash scripts/readme-cli.sh [scratch folder, default a new temporary one]
set -uo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-$(mktemp -d -t kdgpu-readme-XXXXXX)}
git clone -q "$src" "$dir/repo" || exit 1
cp "$src/README.md" "$dir/repo/README.md"
cd "$dir/repo"
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp}
failed=0
while IFS= read -r line; do
  [ -z "$line" ] && continue
  echo "=== \$ $line"
  t0=$(date +%s)
  bash -c "$line" >"$dir/out.txt" 2>&1
  rc=$?
  grep -v '^Warning: maxDynamic' "$dir/out.txt" | tail -n 6 | cut -c1-200
  echo "=== rc=$rc, $(($(date +%s) - t0)) s"
  [ "$rc" = 0 ] || failed=1
done < <(awk '/^## The CLI/{p=1} p&&/^```sh/{q=1;next} q&&/^```/{exit} q' README.md)
exit $failed
