#!/usr/bin/env bash
# The whole test suite: the napi-free Rust core (cargo test), then the Node addon (node:test).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/llama-rerank-target}"
cargo test --release --no-default-features --quiet
node --test --test-concurrency=1 __test__/
