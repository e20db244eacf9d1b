#!/usr/bin/env node
// node scripts/vulkan_check.mjs <vulkan-addon> [<cpu-addon>]
// Proves that a build with the `vulkan` feature scores as the CPU build does: every pair of
// every reranker fixture, scored by each addon in its own process, must agree within 1e-4, and
// both must match the transformers reference (fixtures/expected.json). Run by
// scripts/vulkan_check.sh, which builds the Vulkan addon; not part of the test suite (the
// Vulkan build takes a quarter of an hour on two cores).
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const SAME = 1e-4

if (process.argv[2] === '--score') {
  // Child: the addon comes from NAPI_RS_NATIVE_LIBRARY_PATH (napi-rs's loader override).
  const { loadModel } = await import(join(root, 'index.js'))
  const { files } = JSON.parse(readFileSync(join(root, 'fixtures', 'expected.json'), 'utf8'))
  const out = {}
  for (const [name, file] of Object.entries(files)) {
    if (!file.isReranker) continue
    const model = await loadModel(join(root, 'fixtures', name))
    const contexts = new Map()
    const scores = []
    for (const pair of file.pairs) {
      const size = pair.maxLength ?? file.nCtxTrain
      if (!contexts.has(size)) contexts.set(size, await model.createRankingContext({ contextSize: size }))
      scores.push(await contexts.get(size).rank(pair.query, pair.document, { instruction: pair.instruction ?? undefined }))
    }
    const { backend, gpuDevice, gpuLayers, layerCount, compiledGpuBackends, cpuFeatures } = model.info
    out[name] = { scores, info: { backend, gpuDevice, gpuLayers, layerCount, compiledGpuBackends, cpuFeatures } }
    await model.dispose()
  }
  console.log(JSON.stringify(out))
  process.exit(0)
}

// --report-only: print the table, do not fail (the software-Vulkan run: its shaders compute in
// half precision, so it is measured, not held to the CPU build's scores).
const reportOnly = process.argv.includes('--report-only')
const [vulkanAddon, cpuAddon = join(root, 'llama-rerank.linux-x64-gnu.node')] = process.argv.slice(2).filter((a) => !a.startsWith('--'))
if (!vulkanAddon) {
  console.error('usage: node scripts/vulkan_check.mjs <vulkan-addon.node> [<cpu-addon.node>]')
  process.exit(2)
}
const scoreWith = (addon) => {
  const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--score'], {
    encoding: 'utf8',
    env: { ...process.env, NAPI_RS_NATIVE_LIBRARY_PATH: resolve(addon) },
    maxBuffer: 64 << 20,
  })
  if (r.status !== 0) throw new Error(`scoring with ${addon} failed (${r.status ?? r.signal}):\n${r.stderr}`)
  return JSON.parse(r.stdout.trim().split('\n').at(-1))
}
const vulkan = scoreWith(vulkanAddon)
const cpu = scoreWith(cpuAddon)
const { files } = JSON.parse(readFileSync(join(root, 'fixtures', 'expected.json'), 'utf8'))

let failures = 0
console.log(`vulkan build: backends built ${JSON.stringify(Object.values(vulkan)[0].info.compiledGpuBackends)}`)
console.log('| fixture | pairs | backend used (vulkan build) | worst |vulkan - cpu| | worst |vulkan - reference| |')
console.log('|---|---|---|---|---|')
for (const [name, v] of Object.entries(vulkan)) {
  const c = cpu[name]
  const reference = files[name].pairs.map((p) => p.score)
  let worstSame = 0
  let worstRef = 0
  v.scores.forEach((s, i) => {
    if (!Number.isFinite(s)) failures++
    worstSame = Math.max(worstSame, Math.abs(s - c.scores[i]))
    worstRef = Math.max(worstRef, Math.abs(s - reference[i]))
  })
  if (!(worstSame <= SAME) || !v.info.compiledGpuBackends.includes('vulkan')) failures++
  const where = `${v.info.backend}${v.info.gpuDevice ? ` (${v.info.gpuDevice})` : ''}, ${v.info.gpuLayers}/${v.info.layerCount} layers offloaded`
  console.log(`| ${name} | ${v.scores.length} | ${where} | ${worstSame.toExponential(2)} | ${worstRef.toExponential(2)} |`)
}
if (reportOnly) process.exit(0)
console.log(
  failures === 0
    ? `vulkan check: the Vulkan build scores as the CPU build (every pair within ${SAME})`
    : `vulkan check: ${failures} failure(s)`,
)
process.exit(failures === 0 ? 0 : 1)
