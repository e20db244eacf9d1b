#!/usr/bin/env bash
# Builds the addon with the `vulkan` feature (its own target folder) and checks that it scores
# every fixture pair as the CPU build does (scripts/vulkan_check.mjs). On a machine with no GPU,
# llama.cpp finds no Vulkan device and runs on the CPU; with one, the layers go to it.
# Installs the Vulkan build tools on Debian when missing. Not part of `npm test`: the Vulkan
# build compiles a few hundred shaders (15-20 minutes on two cores).
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v glslc >/dev/null 2>&1 || need_apt+=(glslc)
dpkg -s libvulkan-dev >/dev/null 2>&1 || need_apt+=(libvulkan-dev)
dpkg -s spirv-headers >/dev/null 2>&1 || need_apt+=(spirv-headers)
if [ ${#need_apt[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
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
      SUDO=""
      [ "$(id -u)" -ne 0 ] && SUDO="sudo"
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

# The CPU addon to compare with: the checkout's own build.
[ -f llama-rerank.linux-x64-gnu.node ] || npm run --silent build >&2

export CARGO_TARGET_DIR="${LLAMA_RERANK_VULKAN_TARGET_DIR:-$HOME/.cache/llama-rerank-target-vulkan}"
cargo build --release --locked --lib --features vulkan >&2
addon="$(mktemp -d)/llama-rerank.vulkan.node"
cp "$CARGO_TARGET_DIR/release/libllama_rerank.so" "$addon"
# llama.cpp skips CPU-type Vulkan devices, so this runs on the CPU backend: it must score
# exactly as the CPU build.
node scripts/vulkan_check.mjs "$addon" llama-rerank.linux-x64-gnu.node

# With Mesa's software Vulkan device (lavapipe, apt-get install mesa-vulkan-drivers) the
# Vulkan shaders themselves run, on the CPU: measured and printed, not held to 1e-4.
if ls /usr/share/vulkan/icd.d/lvp_icd.* >/dev/null 2>&1; then
  echo "vulkan check: the same pairs on lavapipe (Vulkan shaders on the CPU; report only):"
  GGML_VK_VISIBLE_DEVICES=0 node scripts/vulkan_check.mjs "$addon" llama-rerank.linux-x64-gnu.node --report-only
fi
