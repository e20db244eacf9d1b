#!/usr/bin/env node
// A portable build (LLAMA_RERANK_CPU=portable, cargo feature portable-cpu) links llama.cpp and
// ggml as shared libraries and builds ggml's CPU backend as one module per CPU level. The addon
// finds the libraries in its own folder (rpath $ORIGIN / @loader_path) and loads the best CPU
// module from there, so they travel with it: beside the `.node` in a checkout, inside the
// platform package when packed.
//
//   node lib/shared_libraries.mjs stage <dir>   copy this build's libraries and modules
//                                               into <dir> (a native build: remove any
//                                               left there by an earlier portable build)
//   node lib/shared_libraries.mjs list          print the files `stage` would copy
//
// The build is found as setup.sh leaves it: CARGO_TARGET_DIR (default per LLAMA_RERANK_CPU,
// lib/cpu_build.cjs), host target triple, release profile.
import { copyFileSync, existsSync, readdirSync, rmSync, statSync } from 'node:fs'
import { createRequire } from 'node:module'
import { basename, join, resolve } from 'node:path'

const { cpuBuild, hostTriple } = createRequire(import.meta.url)('./cpu_build.cjs')

const SHARED = /^(lib)?(llama(?!_rerank)|ggml)[-\w.]*\.(so(\.\d+)*|dylib|dll)$/

/** The libraries and CPU modules of the portable build, or [] for a native build. */
export function sharedLibraries(env = process.env) {
  const { cpu, targetDir } = cpuBuild(env)
  if (cpu !== 'portable') return []
  const host = hostTriple()
  // `napi build` passes --target, cargo test and plain builds do not. llama-cpp-sys-2 installs
  // the libraries into its OUT_DIR (lib/, or bin/ for Windows DLLs) and the CPU modules into
  // OUT_DIR/backends (GGML_BACKEND_DIR); its hard links in the release folder are dangling
  // symlinks. The newest build wins.
  const outDirs = [join(targetDir, host ?? '', 'release', 'build'), join(targetDir, 'release', 'build')]
    .filter((d) => existsSync(d))
    .flatMap((build) =>
      readdirSync(build)
        .filter((d) => d.startsWith('llama-cpp-sys-2-'))
        .map((d) => join(build, d, 'out')),
    )
    .filter((out) => existsSync(join(out, 'backends')) && readdirSync(join(out, 'backends')).some((f) => /ggml-cpu-/.test(f)))
    .sort((a, b) => statSync(join(b, 'backends')).mtimeMs - statSync(join(a, 'backends')).mtimeMs)
  if (!outDirs.length) throw new Error(`no portable build in ${targetDir} (run LLAMA_RERANK_CPU=portable bash scripts/setup.sh)`)
  const out = outDirs[0]
  // llama-common is llama.cpp's helper library, which the addon does not link.
  const files = (dir) =>
    existsSync(dir)
      ? readdirSync(dir)
          .filter((f) => SHARED.test(f) && !/llama-common/.test(f))
          .map((f) => join(dir, f))
      : []
  const libraries = [...files(join(out, 'lib')), ...files(join(out, 'lib64')), ...files(join(out, 'bin'))]
  const modules = files(join(out, 'backends'))
  const byName = new Map()
  for (const f of [...libraries, ...modules]) byName.set(basename(f), f)
  // A versioned library comes as libX.so -> libX.so.0 -> libX.so.0.26.0 (macOS: libX.dylib,
  // libX.0.dylib, libX.0.26.0.dylib); the loader asks for the soname, libX.so.0 (libX.0.dylib).
  const soname = (name) => /\.so\.\d+$/.test(name) || (/\.\d+\.dylib$/.test(name) && !/\.\d+\.\d+\.dylib$/.test(name))
  const base = (name) => name.replace(/(\.\d+)+\.dylib$/, '.dylib').replace(/\.so(\.\d+)+$/, '.so')
  const withSoname = new Set([...byName.keys()].filter(soname).map(base))
  return [...byName.entries()].filter(([name]) => !withSoname.has(base(name)) || soname(name)).map(([, f]) => f)
}

function stage(dir) {
  const files = sharedLibraries()
  const names = new Set(files.map((f) => basename(f)))
  for (const f of readdirSync(dir)) {
    if (SHARED.test(f) && !names.has(f)) rmSync(join(dir, f), { force: true })
  }
  for (const f of files) copyFileSync(f, join(dir, basename(f)))
  if (files.length) process.stderr.write(`shared libraries: ${files.length} files beside the addon in ${dir}\n`)
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith('shared_libraries.mjs')) {
  const [command, dir] = process.argv.slice(2)
  if (command === 'stage' && dir) stage(resolve(dir))
  else if (command === 'list') for (const f of sharedLibraries()) console.log(f)
  else {
    console.error('usage: node lib/shared_libraries.mjs stage <dir> | list')
    process.exit(2)
  }
}
