#!/usr/bin/env node
// node scripts/vulkan_check.mjs <project>
// The Vulkan variant as a user gets it: <project> has llama-rerank, its CPU package and
// llama-rerank-<platform>-vulkan installed from their tarballs (scripts/vulkan_check.sh makes
// it). Each case loads llama-rerank in its own process, with the environment of the case, and
// scores every pair of every reranker fixture:
//   lavapipe             Mesa's software Vulkan device, named by GGML_VK_VISIBLE_DEVICES=0:
//                        the Vulkan variant must be picked, with its layers on llvmpipe, and
//                        score within VULKAN_TOLERANCE of the CPU package and of transformers
//   lavapipe, unnamed    the same driver without GGML_VK_VISIBLE_DEVICES: llama.cpp skips
//                        CPU-type devices, so the probe finds none and the CPU package runs
//   no Vulkan device     no Vulkan driver (VK_ICD_FILENAMES / VK_DRIVER_FILES point nowhere):
//                        the CPU package, bit for bit the CPU build's scores
//   forced, no device    LLAMA_RERANK_BACKEND=vulkan without a driver: the Vulkan variant on
//                        its portable CPU kernels
// and prints a table, the probe's cost (auto against LLAMA_RERANK_BACKEND=cpu, load only), CPU
// flags and load. Exits 1 when a case does not hold.
import { spawnSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
// Measured with lavapipe (docs/gpu.md): llama.cpp's Vulkan shaders keep activations in half
// precision in places, so scores move by about 1e-3; 3e-3 leaves room for other drivers.
const VULKAN_TOLERANCE = 3e-3
const REFERENCE_TOLERANCE = 3e-3

const project = resolve(process.argv[2] ?? '')
if (!process.argv[2]) {
  console.error('usage: node scripts/vulkan_check.mjs <project with llama-rerank and its Vulkan variant installed>')
  process.exit(2)
}
const { files } = JSON.parse(readFileSync(join(root, 'fixtures', 'expected.json'), 'utf8'))
const jobs = Object.entries(files)
  .filter(([, f]) => f.isReranker)
  .map(([name, f]) => ({
    name,
    model: join(root, 'fixtures', name),
    pairs: f.pairs.map((p) => ({
      query: p.query,
      document: p.document,
      instruction: p.instruction,
      size: p.maxLength ?? f.nCtxTrain,
      score: p.score,
    })),
  }))
writeFileSync(join(project, 'jobs.json'), JSON.stringify(jobs))
writeFileSync(
  join(project, 'score.cjs'),
  `const started = performance.now()
const lib = require('llama-rerank')
const loadMs = performance.now() - started
const jobs = JSON.parse(require('node:fs').readFileSync('jobs.json', 'utf8'))
;(async () => {
  const out = { loadMs, models: {} }
  for (const job of process.argv[2] === 'load-only' ? [] : jobs) {
    const model = await lib.loadModel(job.model)
    const contexts = new Map()
    const scores = []
    for (const p of job.pairs) {
      if (!contexts.has(p.size)) contexts.set(p.size, await model.createRankingContext({ contextSize: p.size }))
      scores.push(await contexts.get(p.size).rank(p.query, p.document, { instruction: p.instruction ?? undefined }))
    }
    const { variant, variantReason, backend, gpuDevice, gpuLayers, layerCount, cpuBuild, cpuVariant } = model.info
    out.models[job.name] = { scores, info: { variant, variantReason, backend, gpuDevice, gpuLayers, layerCount, cpuBuild, cpuVariant } }
    await model.dispose()
  }
  console.log(JSON.stringify(out))
})()
`,
)

const base = { ...process.env }
for (const k of ['LLAMA_RERANK_BACKEND', 'GGML_VK_VISIBLE_DEVICES', 'VK_ICD_FILENAMES', 'VK_DRIVER_FILES', 'NAPI_RS_NATIVE_LIBRARY_PATH'])
  delete base[k]
const noDriver = { VK_ICD_FILENAMES: '/nonexistent/icd.json', VK_DRIVER_FILES: '/nonexistent/icd.json' }

function score(env, mode = 'score') {
  const r = spawnSync(process.execPath, ['score.cjs', mode], {
    cwd: project,
    encoding: 'utf8',
    env: { ...base, ...env },
    maxBuffer: 64 << 20,
  })
  if (r.status !== 0) throw new Error(`scoring failed (${r.status ?? r.signal}) with ${JSON.stringify(env)}:\n${r.stderr}`)
  return JSON.parse(r.stdout.trim().split('\n').at(-1))
}

const flags = (readFileSync('/proc/cpuinfo', 'utf8').match(/^flags\s*:(.*)$/m)?.[1] ?? '')
  .split(' ')
  .filter((f) => /^(avx|avx2|fma|f16c|avx512f|avx512bw|avx512_vnni|avx512_bf16|amx_tile)$/.test(f))
console.log(`machine: ${cpus()[0]?.model}, ${cpus().length} threads; CPU flags ${flags.join(' ')}`)
const loadavg = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')

const cpu = score({ LLAMA_RERANK_BACKEND: 'cpu' })
const cases = [
  {
    name: 'lavapipe (GGML_VK_VISIBLE_DEVICES=0)',
    env: { GGML_VK_VISIBLE_DEVICES: '0' },
    variant: 'vulkan',
    backend: 'Vulkan',
    device: /llvmpipe/,
    within: VULKAN_TOLERANCE,
  },
  { name: 'lavapipe, not named', env: {}, variant: 'cpu', backend: 'CPU', device: null, within: 0 },
  { name: 'no Vulkan device', env: noDriver, variant: 'cpu', backend: 'CPU', device: null, within: 0 },
  {
    name: 'forced vulkan, no device',
    env: { ...noDriver, LLAMA_RERANK_BACKEND: 'vulkan' },
    variant: 'vulkan',
    backend: 'CPU',
    device: null,
    within: null,
  },
]

let failures = 0
console.log('')
console.log(
  '| case | variant | backend (device) | cpu kernels | worst \\|Δ\\| vs CPU package | worst \\|Δ\\| vs transformers | pairs | load avg |',
)
console.log('|---|---|---|---|---|---|---|---|')
const reasons = []
for (const c of cases) {
  const run = score(c.env)
  let worstCpu = 0
  let worstRef = 0
  let pairs = 0
  const models = Object.values(run.models)
  for (const job of jobs) {
    const got = run.models[job.name].scores
    got.forEach((s, i) => {
      pairs++
      if (!Number.isFinite(s)) failures++
      worstCpu = Math.max(worstCpu, Math.abs(s - cpu.models[job.name].scores[i]))
      worstRef = Math.max(worstRef, Math.abs(s - job.pairs[i].score))
    })
  }
  const info = models[0].info
  const ok =
    models.every(
      (m) =>
        m.info.variant === c.variant &&
        m.info.backend === c.backend &&
        (c.device ? c.device.test(m.info.gpuDevice ?? '') : !m.info.gpuDevice),
    ) &&
    (c.within === null || worstCpu <= c.within) &&
    worstRef <= REFERENCE_TOLERANCE
  if (!ok) failures++
  reasons.push(`${c.name}: ${info.variantReason}`)
  console.log(
    `| ${c.name} | ${info.variant} | ${info.backend}${info.gpuDevice ? ` (${info.gpuDevice}), ${info.gpuLayers}/${info.layerCount} layers` : ''} | ${info.cpuBuild}${info.cpuVariant ? ` (${info.cpuVariant})` : ''} | ${worstCpu === 0 ? '0 (bit-identical)' : worstCpu.toExponential(2)} | ${worstRef.toExponential(2)} | ${pairs} | ${loadavg()} |${ok ? '' : ' FAILED'}`,
  )
}
console.log('')
for (const r of reasons) console.log(`variantReason, ${r}`)

// The probe's cost: loading llama-rerank with auto (probe included) against cpu (no probe).
const median = (xs) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const ms = (env) => median(Array.from({ length: 5 }, () => score(env, 'load-only').loadMs))
const cpuMs = ms({ LLAMA_RERANK_BACKEND: 'cpu' })
const withDevice = ms({ GGML_VK_VISIBLE_DEVICES: '0' })
const withoutDevice = ms(noDriver)
console.log('')
console.log(`require('llama-rerank'), median of 5 (load avg ${loadavg()}):`)
console.log(`  LLAMA_RERANK_BACKEND=cpu (no probe): ${cpuMs.toFixed(0)} ms`)
console.log(`  auto, probe finds lavapipe: ${withDevice.toFixed(0)} ms (the Vulkan variant then loads in process)`)
console.log(`  auto, probe finds no device: ${withoutDevice.toFixed(0)} ms`)
console.log('')
console.log(failures === 0 ? 'vulkan check: every case holds' : `vulkan check: ${failures} failure(s)`)
process.exit(failures === 0 ? 0 : 1)
