#!/usr/bin/env bash
# Compiles every package to ESM JavaScript + declarations in packages/*/dist (what the npm tarballs
# ship; development in the repo runs the sources and needs no build). In graph order, because each
# package type-checks against its dependencies' dist/*.d.ts through node_modules.
set -euo pipefail
cd "$(dirname "$0")/.."
order=(tensor tokenizer models losses train)
for p in "${order[@]}"; do
  rm -rf "packages/$p/dist"
  npx --no-install tsc -p "packages/$p/tsconfig.build.json"
done
node scripts/build-finish.mjs "${order[@]}"
echo "build: packages/{$(IFS=,; echo "${order[*]}")}/dist"
