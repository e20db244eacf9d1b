# Sourced by scripts/setup.sh and scripts/test.sh: which CPU kernels the build compiles, from
# LLAMA_RERANK_CPU, and the cargo settings that follow from it.
#
#   native (default)  for this machine's CPU: rustc and llama.cpp get every SIMD extension it
#                     has (AVX2, AVX-512, VNNI, dotprod, SVE, …), through -C target-cpu=native
#                     (.cargo/config.toml), which llama-cpp-sys-2 turns into GGML_NATIVE. The
#                     addon runs only on CPUs like this one.
#   portable          what the prebuilt packages ship: ggml's CPU backend once per CPU level
#                     (x86-64: x64, sse42, sandybridge, haswell, skylakex, icelake, alderlake,
#                     sapphirerapids, zen4, …; arm64: armv8.0 … armv9.2) as modules beside the
#                     addon, the best for the running CPU picked at load (cargo feature
#                     portable-cpu). Builds into its own CARGO_TARGET_DIR. Linux and macOS.
#   fixed             one kernel set for every CPU: ggml's default for the target (x86-64: up to
#                     AVX2, FMA, F16C), without AVX-512. What the Windows package ships, since a
#                     portable build there cannot yet find its CPU modules.
#
# Sets LLAMA_RERANK_CARGO_FEATURES (a cargo feature list, maybe empty) and CARGO_TARGET_DIR.
LLAMA_RERANK_CPU="${LLAMA_RERANK_CPU:-native}"
case "$LLAMA_RERANK_CPU" in
  native)
    LLAMA_RERANK_CARGO_FEATURES=""
    export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/llama-rerank-target}"
    ;;
  portable)
    # An empty RUSTFLAGS overrides .cargo/config.toml's target-cpu=native.
    export RUSTFLAGS=""
    LLAMA_RERANK_CARGO_FEATURES="portable-cpu"
    export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/llama-rerank-target-portable}"
    ;;
  fixed)
    export RUSTFLAGS=""
    LLAMA_RERANK_CARGO_FEATURES=""
    export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/llama-rerank-target-fixed}"
    ;;
  *)
    echo "LLAMA_RERANK_CPU must be native, portable or fixed, not \"$LLAMA_RERANK_CPU\"" >&2
    exit 2
    ;;
esac
export LLAMA_RERANK_CPU LLAMA_RERANK_CARGO_FEATURES
