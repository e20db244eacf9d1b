#!/usr/bin/env bash
# Prepares a fresh Debian machine and builds the addon: system packages (cmake, clang,
# libclang, haproxy) when missing, npm dependencies, then a release build of the native module.
# Idempotent: a second run only rebuilds what changed.
set -euo pipefail
cd "$(dirname "$0")/.."

if command -v apt-get >/dev/null 2>&1 && command -v dpkg >/dev/null 2>&1; then
  need_apt=()
  command -v cmake >/dev/null 2>&1 || need_apt+=(cmake)
  command -v clang >/dev/null 2>&1 || need_apt+=(clang)
  dpkg -s libclang-dev >/dev/null 2>&1 || need_apt+=(libclang-dev)
  command -v make >/dev/null 2>&1 || need_apt+=(make)
  command -v g++ >/dev/null 2>&1 || need_apt+=(g++)
  # HAProxy, for the load balancer test (__test__/load-balancer.test.mjs, deploy/haproxy.cfg).
  command -v haproxy >/dev/null 2>&1 || need_apt+=(haproxy)
  if [ ${#need_apt[@]} -gt 0 ]; then
    echo "setup: installing ${need_apt[*]}" >&2
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
  fi
else
  # macOS and Windows (the release workflow's runners): Xcode's or Visual Studio's compilers,
  # CMake and LLVM come with the system or the runner image.
  command -v cmake >/dev/null 2>&1 || { echo "setup: cmake is required (macOS: brew install cmake; Windows: winget install Kitware.CMake)" >&2; exit 1; }
fi

for tool in cargo node npm; do
  command -v "$tool" >/dev/null 2>&1 || { echo "setup: $tool is required (Rust toolchain and Node.js >= 20)" >&2; exit 1; }
done

# LLAMA_RERANK_CPU=native (default), portable or fixed, and the cargo settings that follow;
# builds live outside the clone, so a fresh clone (CI) reuses llama.cpp's compiled objects.
cpu_env="$(node lib/cpu_build.cjs --shell)"
eval "$cpu_env"

if [ -f package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
else
  npm install --no-audit --no-fund --loglevel=error
fi
if [ -n "$LLAMA_RERANK_CARGO_FEATURES" ]; then
  npm run --silent build -- --features "$LLAMA_RERANK_CARGO_FEATURES" >&2
else
  npm run --silent build >&2
fi
# A portable build's llama.cpp, ggml and CPU modules are shared libraries: beside the addon.
node lib/shared_libraries.mjs stage .
