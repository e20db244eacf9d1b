// GPU variant selection at load (lib/variant.cjs, docs/gpu.md), without a GPU build: a project
// whose node_modules holds llama-rerank (this checkout's files and addon) and a "Vulkan variant"
// package whose addon is a copy of the CPU addon. That copy has no GPU backend, so its probe
// finds no device: auto falls back to the CPU package; LLAMA_RERANK_BACKEND forces either one.
// Variant packages whose "addon" crashes or hangs stand for a broken driver: the probe runs in
// a child process, so they cost a fallback, not the process. Each case runs in its own process
// (the selection happens once, when the package loads), under the runtime running this file.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, before, test } from 'node:test'
import { sharedLibraries } from '../lib/shared_libraries.mjs'
import { expected, fixture, root } from './support/helpers.mjs'

const require = createRequire(import.meta.url)
const { platformSuffix } = require('../lib/platform.cjs')
const suffix = platformSuffix()
const cpuAddon = `llama-rerank.${suffix}.node`
const VULKAN = `llama-rerank-${suffix}-vulkan`
const CUDA = `llama-rerank-${suffix}-cuda`

// Three pairs of each kind of model.
const JOBS = ['qwen3-reranker-pooled.gguf', 'bert-reranker-stock.gguf'].map((name) => ({
  model: fixture(name),
  contextSize: expected[name].nCtxTrain,
  pairs: expected[name].pairs.filter((p) => p.maxLength === null && p.instruction === null).slice(0, 3),
}))

// Prints what loaded, why, and the scores; or the load error's code and message.
const PROBE = `
const fs = require('node:fs')
let lib
try {
  lib = require('llama-rerank')
} catch (error) {
  console.log(JSON.stringify({ code: error.code, message: error.message }))
  process.exit(0)
}
const addons = Object.keys(require.cache).filter((f) => f.endsWith('.node'))
;(async () => {
  const out = { scores: {}, addons }
  for (const job of JSON.parse(fs.readFileSync(process.argv[2], 'utf8'))) {
    const model = await lib.loadModel(job.model)
    const context = await model.createRankingContext({ contextSize: job.contextSize })
    out.variant = model.info.variant
    out.variantReason = model.info.variantReason
    out.scores[job.model] = []
    for (const p of job.pairs) out.scores[job.model].push(await context.rank(p.query, p.document))
    await model.dispose()
  }
  console.log(JSON.stringify(out))
})()
`

let work

/** A project with llama-rerank installed from this checkout, and `packages` beside it. */
function project(name, packages = {}) {
  const dir = path.join(work, name)
  const main = path.join(dir, 'node_modules', 'llama-rerank')
  mkdirSync(main, { recursive: true })
  for (const f of ['package.json', 'index.js', 'binding.js', 'compat.js', cpuAddon]) copyFileSync(path.join(root, f), path.join(main, f))
  cpSync(path.join(root, 'lib'), path.join(main, 'lib'), { recursive: true })
  // A portable build's llama.cpp, ggml and CPU modules go with its addon.
  for (const f of sharedLibraries()) copyFileSync(f, path.join(main, path.basename(f)))
  for (const [pkg, files] of Object.entries(packages)) {
    const at = path.join(dir, 'node_modules', pkg)
    mkdirSync(at, { recursive: true })
    for (const [file, content] of Object.entries(files)) {
      if (content.copyOf) copyFileSync(content.copyOf, path.join(at, file))
      else writeFileSync(path.join(at, file), typeof content === 'string' ? content : JSON.stringify(content))
    }
  }
  writeFileSync(path.join(dir, 'probe.cjs'), PROBE)
  writeFileSync(path.join(dir, 'jobs.json'), JSON.stringify(JOBS))
  return dir
}

/** A variant package whose addon is a copy of the CPU addon (with its libraries, if any). */
function copiedVariant(pkg) {
  const main = `llama-rerank.${suffix}-${pkg.endsWith('-cuda') ? 'cuda' : 'vulkan'}.node`
  const files = { 'package.json': { name: pkg, version: '0.1.0', main }, [main]: { copyOf: path.join(root, cpuAddon) } }
  for (const f of sharedLibraries()) files[path.basename(f)] = { copyOf: f }
  return files
}

/** A variant package whose "addon" writes `marker` and then `behaviour`s: crashes or hangs. */
const brokenVariant = (pkg, marker, behaviour) => ({
  'package.json': { name: pkg, version: '0.1.0', main: 'addon.js' },
  'addon.js': `require('node:fs').appendFileSync(${JSON.stringify(marker)}, 'probed\\n')\n${
    behaviour === 'crash' ? 'process.kill(process.pid, "SIGSEGV")' : 'setInterval(() => {}, 1 << 30)'
  }\n`,
})

function run(dir, env = {}) {
  const clean = { ...process.env }
  for (const k of ['LLAMA_RERANK_BACKEND', 'NAPI_RS_NATIVE_LIBRARY_PATH', 'LLAMA_RERANK_PROBE_TIMEOUT_MS']) delete clean[k]
  const r = spawnSync(process.execPath, ['probe.cjs', 'jobs.json'], { cwd: dir, encoding: 'utf8', env: { ...clean, ...env } })
  assert.equal(r.status, 0, `exit ${r.status ?? r.signal}\n${r.stdout}\n${r.stderr}`)
  return JSON.parse(r.stdout.trim().split('\n').at(-1))
}

let cpuScores
let withCopy

before(() => {
  work = mkdtempSync(path.join(tmpdir(), 'llama-rerank-variant-'))
  // The CPU build's own scores: the checkout, with no variant package anywhere.
  const plain = run(project('plain'))
  assert.equal(plain.variant, 'cpu')
  assert.equal(plain.variantReason, `no GPU variant package is installed: the CPU package llama-rerank-${suffix}`)
  cpuScores = plain.scores
  withCopy = project('with-copy', { [VULKAN]: copiedVariant(VULKAN) })
})

after(() => {
  if (work) rmSync(work, { recursive: true, force: true })
})

test('auto: an installed variant that finds no device falls back to the CPU package, same scores bit for bit', () => {
  const out = run(withCopy)
  assert.equal(out.variant, 'cpu')
  assert.equal(out.variantReason, `${VULKAN} is installed but found no device: the CPU package llama-rerank-${suffix}`)
  assert.deepEqual(out.scores, cpuScores)
  assert.deepEqual(
    out.addons.map((f) => path.basename(f)),
    [cpuAddon],
  )
  // The reference scores, so that "the same" is not "the same wrong".
  for (const job of JOBS) {
    job.pairs.forEach((p, i) => assert.ok(Math.abs(out.scores[job.model][i] - p.score) <= 2e-3, `${job.model} pair ${i}`))
  }
})

test('LLAMA_RERANK_BACKEND=vulkan loads the variant package without probing it', () => {
  const out = run(withCopy, { LLAMA_RERANK_BACKEND: 'vulkan' })
  assert.equal(out.variant, 'vulkan')
  assert.equal(out.variantReason, `forced by LLAMA_RERANK_BACKEND=vulkan: ${VULKAN}, not probed`)
  assert.deepEqual(
    out.addons.map((f) => path.relative(withCopy, f)),
    [path.join('node_modules', VULKAN, `llama-rerank.${suffix}-vulkan.node`)],
  )
  assert.deepEqual(out.scores, cpuScores)
})

test('LLAMA_RERANK_BACKEND=cpu probes nothing; auto probes, and survives a variant that crashes or hangs', () => {
  const crashMarker = path.join(work, 'crash-probed')
  const crashing = project('crashing', { [VULKAN]: brokenVariant(VULKAN, crashMarker, 'crash') })
  const forcedCpu = run(crashing, { LLAMA_RERANK_BACKEND: 'CPU' })
  assert.equal(forcedCpu.variant, 'cpu')
  assert.equal(forcedCpu.variantReason, `forced by LLAMA_RERANK_BACKEND=cpu: the CPU package llama-rerank-${suffix}, no GPU variant probed`)
  assert.equal(existsSync(crashMarker), false, 'the variant was probed')
  assert.deepEqual(forcedCpu.scores, cpuScores)

  const auto = run(crashing)
  assert.equal(auto.variant, 'cpu')
  assert.match(auto.variantReason, new RegExp(`^${VULKAN} is installed but its device probe failed \\(SIGSEGV`))
  assert.equal(existsSync(crashMarker), true, 'the variant was not probed')
  assert.deepEqual(auto.scores, cpuScores)

  const hangMarker = path.join(work, 'hang-probed')
  const hanging = project('hanging', { [CUDA]: brokenVariant(CUDA, hangMarker, 'hang'), [VULKAN]: copiedVariant(VULKAN) })
  const timedOut = run(hanging, { LLAMA_RERANK_PROBE_TIMEOUT_MS: '1000' })
  assert.equal(timedOut.variant, 'cpu')
  assert.equal(
    timedOut.variantReason,
    `${CUDA} is installed but its device probe did not answer within 1000 ms; ${VULKAN} is installed but found no device: the CPU package llama-rerank-${suffix}`,
  )
  assert.equal(existsSync(hangMarker), true)
  assert.deepEqual(timedOut.scores, cpuScores)
})

test("worker threads load the main thread's choice without probing again", () => {
  const marker = path.join(work, 'worker-probed')
  const dir = project('workers', { [VULKAN]: brokenVariant(VULKAN, marker, 'crash') })
  // The main thread loads llama-rerank (one probe), then two workers do, one after the other.
  writeFileSync(
    path.join(dir, 'workers.cjs'),
    `const { Worker, isMainThread, parentPort } = require('node:worker_threads')
const lib = require('llama-rerank')
const info = async () => {
  const model = await lib.loadModel(process.argv[2] ?? require('node:worker_threads').workerData)
  const { variant, variantReason } = model.info
  await model.dispose()
  return { variant, variantReason }
}
if (isMainThread) {
  ;(async () => {
    const main = await info()
    const workers = []
    for (let i = 0; i < 2; i++) {
      workers.push(await new Promise((resolve, reject) => {
        const w = new Worker(__filename, { workerData: process.argv[2] })
        w.once('message', resolve)
        w.once('error', reject)
      }))
    }
    console.log(JSON.stringify({ main, workers, after: await info() }))
  })()
} else {
  info().then((r) => parentPort.postMessage(r))
}
`,
  )
  const clean = { ...process.env }
  for (const k of ['LLAMA_RERANK_BACKEND', 'NAPI_RS_NATIVE_LIBRARY_PATH', 'LLAMA_RERANK_PROBE_TIMEOUT_MS']) delete clean[k]
  const r = spawnSync(process.execPath, ['workers.cjs', JOBS[1].model], { cwd: dir, encoding: 'utf8', env: clean })
  assert.equal(r.status, 0, `exit ${r.status ?? r.signal}\n${r.stdout}\n${r.stderr}`)
  const out = JSON.parse(r.stdout.trim().split('\n').at(-1))
  assert.equal(out.main.variant, 'cpu')
  assert.match(out.main.variantReason, new RegExp(`^${VULKAN} is installed but its device probe failed \\(SIGSEGV`))
  assert.deepEqual(out.workers, [out.main, out.main])
  assert.deepEqual(out.after, out.main)
  assert.equal(readFileSync(marker, 'utf8'), 'probed\n', 'probed once, by the main thread')
})

test('an unknown LLAMA_RERANK_BACKEND, or a forced variant that is not installed, is a typed error', () => {
  const bogus = run(withCopy, { LLAMA_RERANK_BACKEND: 'opencl' })
  assert.equal(bogus.code, 'ERR_UNKNOWN_BACKEND')
  assert.equal(bogus.message, 'LLAMA_RERANK_BACKEND must be one of auto, cpu, cuda, vulkan, not "opencl"')
  const missing = run(withCopy, { LLAMA_RERANK_BACKEND: 'cuda' })
  assert.equal(missing.code, 'ERR_BACKEND_NOT_INSTALLED')
  assert.match(missing.message, new RegExp(`^LLAMA_RERANK_BACKEND=cuda, but ${CUDA} is not installed: npm install ${CUDA}`))
  // A variant whose addon does not load (here not an addon at all): auto's probe says so and
  // falls back; forced, it is ERR_BACKEND_LOAD, with the loader's error as the cause.
  const garbage = project('garbage', {
    [VULKAN]: { 'package.json': { name: VULKAN, version: '0.1.0', main: 'bad.node' }, 'bad.node': 'not an addon' },
  })
  const auto = run(garbage)
  assert.equal(auto.variant, 'cpu')
  assert.match(auto.variantReason, new RegExp(`^${VULKAN} is installed but its device probe failed \\(exit code 1: .+\\): the CPU package`))
  const forced = run(garbage, { LLAMA_RERANK_BACKEND: 'vulkan' })
  assert.equal(forced.code, 'ERR_BACKEND_LOAD')
  assert.match(forced.message, /^llama-rerank: the vulkan variant \(.+bad\.node\) did not load: /)
  // The same in a project without any variant: auto and cpu load, vulkan does not.
  const plain = path.join(work, 'plain')
  assert.equal(run(plain, { LLAMA_RERANK_BACKEND: 'vulkan' }).code, 'ERR_BACKEND_NOT_INSTALLED')
  assert.equal(run(plain, { LLAMA_RERANK_BACKEND: '' }).variant, 'cpu')
})
