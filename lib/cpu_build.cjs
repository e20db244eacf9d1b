#!/usr/bin/env node
// Which CPU kernels a source build compiles, chosen with LLAMA_RERANK_CPU, and the cargo
// settings that follow from it. The one definition for every script that builds or finds a
// build: lib/install.cjs, lib/shared_libraries.mjs, scripts/package.mjs, bench/run.mjs,
// e2e/install.test.mjs, and the shell scripts scripts/setup.sh and scripts/test.sh through
//
//   eval "$(node lib/cpu_build.cjs --shell)"
//
// which exports LLAMA_RERANK_CPU, LLAMA_RERANK_CARGO_FEATURES (a comma-separated cargo feature
// list, maybe empty), RUSTFLAGS and CARGO_TARGET_DIR, or exits with 2 on an unknown value.
//
//   native (default)  for this machine's CPU: rustc and llama.cpp get every SIMD extension it
//                     has (AVX2, AVX-512, VNNI, dotprod, SVE, …), through -C target-cpu=native,
//                     which llama-cpp-sys-2 turns into GGML_NATIVE. The addon runs only on CPUs
//                     like this one.
//   portable          what the prebuilt packages ship: ggml's CPU backend once per CPU level
//                     (x86-64: x64, sse42, sandybridge, haswell, skylakex, icelake, alderlake,
//                     sapphirerapids, zen4, …; arm64: armv8.0 … armv9.2) as modules beside the
//                     addon, the best for the running CPU picked at load (cargo feature
//                     portable-cpu). Linux and macOS.
//   fixed             one kernel set for every CPU: ggml's default for the target (x86-64: up to
//                     AVX2, FMA, F16C), without AVX-512. What the Windows package ships, since a
//                     portable build there cannot yet find its CPU modules.
//
// Each has its own default CARGO_TARGET_DIR under ~/.cache, outside the clone, so that a fresh
// clone (CI) reuses llama.cpp's compiled objects and the three never overwrite each other.
'use strict'

const { spawnSync } = require('node:child_process')
const os = require('node:os')
const path = require('node:path')

const BUILDS = {
  native: { features: [], targetDir: 'llama-rerank-target', label: "this machine's CPU" },
  portable: { features: ['portable-cpu'], targetDir: 'llama-rerank-target-portable', label: 'any CPU (portable)' },
  fixed: { features: [], targetDir: 'llama-rerank-target-fixed', label: 'a fixed kernel set' },
}

/**
 * The build LLAMA_RERANK_CPU asks for. Throws on an unknown value.
 * @returns {{ cpu: 'native'|'portable'|'fixed', features: string[], rustflags: string, targetDir: string, label: string }}
 */
function cpuBuild(env = process.env) {
  const cpu = (env.LLAMA_RERANK_CPU || 'native').toLowerCase()
  if (!Object.hasOwn(BUILDS, cpu)) {
    throw new Error(`LLAMA_RERANK_CPU must be native, portable or fixed, not "${env.LLAMA_RERANK_CPU}"`)
  }
  const build = BUILDS[cpu]
  // Set in the environment, RUSTFLAGS replaces .cargo/config.toml's flags, and a package
  // installed from the registry has no .cargo: the flag goes in explicitly, after the caller's,
  // unless they name a target CPU already. So the settings of an environment that already has
  // them (test.sh's, when e2e packs) come out the same: the same flags, no rebuild.
  const own = env.RUSTFLAGS || ''
  const rustflags = cpu === 'native' && !/target-cpu=/.test(own) ? [own, '-C target-cpu=native'].filter(Boolean).join(' ') : own
  return {
    cpu,
    features: build.features,
    rustflags,
    // A caller's CARGO_TARGET_DIR as given, as cargo reads it (under Git Bash on Windows a /c/…
    // path must reach cargo unresolved).
    targetDir: env.CARGO_TARGET_DIR || path.join(os.homedir(), '.cache', build.targetDir),
    label: build.label,
  }
}

/** The host's target triple (`rustc -vV`), as `napi build` passes it with --target; null without rustc. */
function hostTriple() {
  const out = spawnSync('rustc', ['-vV'], { encoding: 'utf8' }).stdout || ''
  return /^host: (.+)$/m.exec(out)?.[1] ?? null
}

const shellQuote = (s) => `'${String(s).replace(/'/g, `'\\''`)}'`

if (require.main === module) {
  if (process.argv[2] !== '--shell') {
    process.stderr.write('usage: node lib/cpu_build.cjs --shell\n')
    process.exit(2)
  }
  let build
  try {
    build = cpuBuild()
  } catch (e) {
    process.stderr.write(`${e.message}\n`)
    process.exit(2)
  }
  const vars = {
    LLAMA_RERANK_CPU: build.cpu,
    LLAMA_RERANK_CARGO_FEATURES: build.features.join(','),
    RUSTFLAGS: build.rustflags,
    CARGO_TARGET_DIR: build.targetDir,
  }
  for (const [k, v] of Object.entries(vars)) process.stdout.write(`export ${k}=${shellQuote(v)}\n`)
}

module.exports = { cpuBuild, hostTriple }
