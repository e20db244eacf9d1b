#!/usr/bin/env node
// npm run package -- <dir> [--no-build]
// Writes into <dir> the tarballs `npm install llama-rerank` fetches on this machine: the main
// package and this platform's prebuilt package (llama-rerank-<platform>), built from the
// current checkout, then prints their sizes. --no-build packs the addon already built by
// `npm run build` (scripts/setup.sh).
//
// npm run package -- <dir> --variant vulkan|cuda --addon <file>
// Packs a GPU variant package (npm/<platform>-<variant>, docs/gpu.md) instead: the addon
// <file> of a build with that cargo feature and portable-cpu, with the shared libraries, CPU
// modules and GPU module of that build (found as lib/shared_libraries.mjs finds them: set
// CARGO_TARGET_DIR to its target folder). Builds nothing.
import { execFileSync, spawnSync } from 'node:child_process'
import {
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { basename, dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { sharedLibraries } from '../lib/shared_libraries.mjs'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const { platformSuffix } = createRequire(import.meta.url)('../lib/platform.cjs')
const { cpuBuild } = createRequire(import.meta.url)('../lib/cpu_build.cjs')
const args = process.argv.slice(2)
const GPU_VARIANT_DIR = /-(vulkan|cuda)$/
// npm is npm.cmd on Windows, which only a shell runs.
const shell = process.platform === 'win32'
const outDir = args.find((a, i) => !a.startsWith('--') && !['--variant', '--addon'].includes(args[i - 1]))
if (!outDir) {
  console.error('usage: npm run package -- <dir> [--no-build] | <dir> --variant vulkan|cuda --addon <file>')
  process.exit(2)
}
const out = resolve(outDir)
mkdirSync(out, { recursive: true })

const main = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))
const suffix = platformSuffix()
const platformDir = join(root, 'npm', suffix)
if (!existsSync(platformDir)) {
  console.error(`package: no npm/${suffix} package: this machine's platform is not one of package.json's napi.targets`)
  process.exit(1)
}
// The published main package lists every platform package (napi-rs's prepublish step does the
// same); they stay out of the repository's package.json, where npm ci would look them up. Each
// must be at the main package's version.
// The GPU variant packages (npm/<platform>-vulkan, -cuda) are not among them: a user adds one.
const optionalDependencies = {}
for (const dir of readdirSync(join(root, 'npm')).sort()) {
  const manifest = JSON.parse(readFileSync(join(root, 'npm', dir, 'package.json'), 'utf8'))
  if (manifest.version !== main.version) {
    console.error(`package: ${manifest.name} is at ${manifest.version}, not ${main.version}: run npm version (scripts/sync-versions.mjs)`)
    process.exit(1)
  }
  if (!GPU_VARIANT_DIR.test(dir)) optionalDependencies[manifest.name] = main.version
}

/** npm pack in `dir` into `out`; returns the tarball's name and its file list. */
function pack(dir) {
  const [info] = JSON.parse(
    execFileSync('npm', ['pack', '--json', '--pack-destination', out], {
      cwd: dir,
      shell,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
    }),
  )
  return info
}

const printSize = (p) => {
  const file = join(out, p.filename)
  console.log(
    `${file}\t${(statSync(file).size / 1e6).toFixed(2)} MB packed\t${(p.unpackedSize / 1e6).toFixed(2)} MB unpacked\t${p.entryCount} files`,
  )
}

const variantIndex = args.indexOf('--variant')
if (variantIndex !== -1) {
  const variant = args[variantIndex + 1]
  const addonIndex = args.indexOf('--addon')
  const addonFile = addonIndex !== -1 ? resolve(args[addonIndex + 1] ?? '') : null
  const dir = join(root, 'npm', `${suffix}-${variant}`)
  if (!['vulkan', 'cuda'].includes(variant) || !existsSync(dir)) {
    console.error(`package: --variant must be vulkan or cuda, with an npm/${suffix}-<variant> package (got ${variant})`)
    process.exit(2)
  }
  if (!addonFile || !existsSync(addonFile)) {
    console.error(`package: --variant ${variant} needs --addon <file>, the addon built with --features ${variant},portable-cpu`)
    process.exit(2)
  }
  // The variant's CPU side is the portable build: its libraries, CPU modules and GPU module.
  const libraries = sharedLibraries({ ...process.env, LLAMA_RERANK_CPU: 'portable' })
  if (!libraries.some((f) => new RegExp(`ggml-${variant}\\.`).test(basename(f)))) {
    console.error(`package: no ggml-${variant} module among the build's libraries (${libraries.map((f) => basename(f)).join(', ')})`)
    process.exit(1)
  }
  const stage = mkdtempSync(join(tmpdir(), 'llama-rerank-pack-'))
  try {
    cpSync(dir, stage, { recursive: true })
    const manifest = JSON.parse(readFileSync(join(stage, 'package.json'), 'utf8'))
    copyFileSync(addonFile, join(stage, manifest.main))
    for (const f of libraries) copyFileSync(f, join(stage, basename(f)))
    manifest.files = [manifest.main, ...libraries.map((f) => basename(f))]
    writeFileSync(join(stage, 'package.json'), JSON.stringify(manifest, null, 2) + '\n')
    printSize(pack(stage))
  } finally {
    rmSync(stage, { recursive: true, force: true })
  }
  process.exit(0)
}

if (!args.includes('--no-build')) {
  // The build LLAMA_RERANK_CPU asks for (lib/cpu_build.cjs), as setup.sh builds it.
  const cpu = cpuBuild()
  const features = cpu.features.length ? ['--', '--features', cpu.features.join(',')] : []
  const env = { ...process.env, RUSTFLAGS: cpu.rustflags, CARGO_TARGET_DIR: cpu.targetDir }
  const build = spawnSync('npm', ['run', '--silent', 'build', ...features], {
    cwd: root,
    shell,
    env,
    stdio: ['ignore', 'inherit', 'inherit'],
  })
  if (build.status !== 0) process.exit(build.status ?? 1)
  const staged = spawnSync(process.execPath, [join(root, 'lib', 'shared_libraries.mjs'), 'stage', root], {
    cwd: root,
    stdio: ['ignore', 'inherit', 'inherit'],
  })
  if (staged.status !== 0) process.exit(staged.status ?? 1)
}
const addon = `llama-rerank.${suffix}.node`
if (!existsSync(join(root, addon))) {
  console.error(`package: ${addon} is missing: run npm run build`)
  process.exit(1)
}

// The platform package: its manifest and README with the addon beside them.
const stage = mkdtempSync(join(tmpdir(), 'llama-rerank-pack-'))
try {
  cpSync(platformDir, stage, { recursive: true })
  copyFileSync(join(root, addon), join(stage, addon))
  // A portable build (LLAMA_RERANK_CPU=portable): llama.cpp, ggml and the CPU modules travel
  // beside the addon, where it looks for them.
  const libraries = sharedLibraries().map((f) => basename(f))
  if (libraries.length) {
    for (const f of libraries) copyFileSync(join(root, f), join(stage, f))
    const manifest = JSON.parse(readFileSync(join(stage, 'package.json'), 'utf8'))
    manifest.files = [...manifest.files, ...libraries]
    writeFileSync(join(stage, 'package.json'), JSON.stringify(manifest, null, 2) + '\n')
  }
  const platformPack = pack(stage)

  // The main package: the files npm would pack from the checkout, with the manifest completed.
  const mainStage = join(stage, 'main')
  const [listing] = JSON.parse(
    execFileSync('npm', ['pack', '--dry-run', '--json'], { cwd: root, shell, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }),
  )
  for (const { path: file } of listing.files) {
    mkdirSync(dirname(join(mainStage, file)), { recursive: true })
    copyFileSync(join(root, file), join(mainStage, file))
  }
  writeFileSync(join(mainStage, 'package.json'), JSON.stringify({ ...main, optionalDependencies }, null, 2) + '\n')
  const mainPack = pack(mainStage)

  // What must never ship: tests, fixtures, benchmarks, build outputs.
  const banned =
    /^(__test__|tests|fixtures|bench|e2e|target|node_modules|examples|\.github|\.ci)\/|\.node$|\.gguf$|\.so(\.\d+)*$|\.dylib$|\.dll$/
  const leaked = mainPack.files.map((f) => f.path).filter((p) => banned.test(p))
  if (leaked.length) {
    console.error(`package: the main tarball would ship ${leaked.join(', ')}`)
    process.exit(1)
  }
  for (const p of [mainPack, platformPack]) printSize(p)
} finally {
  rmSync(stage, { recursive: true, force: true })
}
