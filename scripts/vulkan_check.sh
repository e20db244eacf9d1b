#!/usr/bin/env bash
# The Vulkan variant package end to end (docs/gpu.md): builds the addon with the `vulkan` and
# `portable-cpu` features (its own target folder), packs it as llama-rerank-<platform>-vulkan
# beside the main package and the CPU package (the checkout's build), installs the three
# tarballs into an empty project, and runs scripts/vulkan_check.mjs there: with Mesa's software
# Vulkan device (lavapipe) the Vulkan variant must be picked and score within the stated
# tolerance; with no Vulkan device the CPU package must run, with the CPU build's scores bit for
# bit. Installs the Vulkan build tools and Mesa's Vulkan drivers from Debian when missing.
# Not part of `npm test`: a cold build compiles a few hundred shaders and every CPU module
# (51 minutes here on two shared cores, 29 of them CPU time).
#
#   bash scripts/vulkan_check.sh [--build-only]
#   LLAMA_RERANK_VULKAN_TARGET_DIR   the variant's cargo target folder
#                                    (default ~/.cache/llama-rerank-target-vulkan)
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
need_apt=()
command -v glslc >/dev/null 2>&1 || need_apt+=(glslc)
dpkg -s libvulkan-dev >/dev/null 2>&1 || need_apt+=(libvulkan-dev)
dpkg -s spirv-headers >/dev/null 2>&1 || need_apt+=(spirv-headers)
# lavapipe, the software Vulkan device the check runs on.
[ "${1:-}" = "--build-only" ] || dpkg -s mesa-vulkan-drivers >/dev/null 2>&1 || need_apt+=(mesa-vulkan-drivers)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "vulkan check: installing ${need_apt[*]}" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

# llama.cpp's Vulkan code uses VK_EXT_layer_settings (vk::LayerSettingEXT), which Debian 12's
# headers (1.3.239) and Ubuntu 22.04's predate. Then Debian 13's Vulkan headers (headers only:
# the system's loader stays) are unpacked into a cache folder and searched first.
if ! grep -rqs "struct LayerSettingEXT" /usr/include/vulkan/; then
  headers="$HOME/.cache/llama-rerank-vulkan-headers"
  if [ ! -f "$headers/usr/include/vulkan/vulkan.hpp" ]; then
    apt_dir="$(mktemp -d)"
    mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial"
    keyring=/usr/share/keyrings/debian-archive-keyring.gpg
    if [ ! -f "$keyring" ]; then
      DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq debian-archive-keyring >/dev/null
    fi
    echo "deb [signed-by=$keyring] http://deb.debian.org/debian trixie main" >"$apt_dir/sources.list"
    apt_opts=(-o "Dir::Etc::SourceList=$apt_dir/sources.list" -o Dir::Etc::SourceParts=/dev/null
      -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache" -o APT::Sandbox::User=root)
    apt-get "${apt_opts[@]}" update -qq
    (cd "$apt_dir" && apt-get "${apt_opts[@]}" download libvulkan-dev >/dev/null)
    rm -rf "$headers" && mkdir -p "$headers"
    dpkg-deb -x "$apt_dir"/libvulkan-dev_*.deb "$headers"
    rm -rf "$apt_dir"
  fi
  export CPLUS_INCLUDE_PATH="$headers/usr/include${CPLUS_INCLUDE_PATH:+:$CPLUS_INCLUDE_PATH}"
  echo "vulkan check: the system's Vulkan headers are too old; using header version $(awk '/define VK_HEADER_VERSION /{print $3}' "$headers/usr/include/vulkan/vulkan_core.h") from $headers" >&2
fi

# The variant: Vulkan, with the portable CPU side of the prebuilt CPU packages (ggml's CPU
# modules and its Vulkan module beside the addon, loaded at run time).
host="$(rustc -vV | sed -n 's/^host: //p')"
variant_target="${LLAMA_RERANK_VULKAN_TARGET_DIR:-$HOME/.cache/llama-rerank-target-vulkan}"
(
  export LLAMA_RERANK_CPU=portable
  eval "$(CARGO_TARGET_DIR="$variant_target" node lib/cpu_build.cjs --shell)"
  cargo build --release --locked --lib --features vulkan,portable-cpu --target "$host" >&2
)
[ "${1:-}" = "--build-only" ] && exit 0

# The CPU package: the checkout's own build (scripts/setup.sh), as `npm run package` packs it.
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
npm run --silent package -- "$work/tarballs" --no-build
CARGO_TARGET_DIR="$variant_target" node scripts/package.mjs "$work/tarballs" --variant vulkan \
  --addon "$variant_target/$host/release/libllama_rerank.so"

mkdir "$work/project"
echo '{ "name": "vulkan-check", "version": "1.0.0", "private": true }' >"$work/project/package.json"
(cd "$work/project" && npm install --no-audit --no-fund --loglevel=error "$work"/tarballs/*.tgz >&2)
echo "vulkan check: installed $(cd "$work/project" && node -p 'Object.keys(require("./package.json").dependencies).join(", ")')"
node scripts/vulkan_check.mjs "$work/project"
