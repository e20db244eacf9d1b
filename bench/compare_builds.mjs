// Two builds of llama-rerank side by side: the speed cost (or gain) of a change to the engine.
//
//   node bench/compare_builds.mjs <baseline package dir> [--model bert|qwen3-pooled|qwen3-causal]
//        [--workload a|b] [--docs N] [--rounds N]
//
// The baseline is a directory holding an older build's index.js, binding.js and .node (for
// example a worktree of an older commit after `npm run build`). Both builds rank the same
// documents of a benchmark workload (bench/workloads.mjs) with 2 threads, alternately, the
// order reversed every other round, each in a freshly loaded model after a 2-document warm-up.
// Prints each time, the median docs/s ratio (current over baseline) and the CPU flags.

import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { buildWorkload } from './workloads.mjs'

const require = createRequire(import.meta.url)
const HERE = path.dirname(fileURLToPath(import.meta.url))
const MODELS = {
  'qwen3-pooled': { file: 'qwen3-reranker-0.6b-shape-pooled-q8_0.gguf', contextSize: 4096 },
  'qwen3-causal': { file: 'qwen3-reranker-0.6b-shape-causal-q8_0.gguf', contextSize: 4096 },
  bert: { file: 'bert-base-shape-reranker-f16.gguf', contextSize: 512 },
}

const argv = process.argv.slice(2)
if (!argv[0] || argv[0].startsWith('--')) {
  console.error('usage: node bench/compare_builds.mjs <baseline package dir> [--model M] [--workload a|b] [--docs N] [--rounds N]')
  process.exit(2)
}
const args = { baseline: path.resolve(argv[0]), model: 'qwen3-pooled', workload: 'a', docs: 40, rounds: 2 }
for (let i = 1; i < argv.length; i += 2) {
  const key = argv[i].replace(/^--/, '')
  if (!(key in args)) throw new Error(`unknown argument ${argv[i]}`)
  args[key] = typeof args[key] === 'number' ? Number(argv[i + 1]) : argv[i + 1]
}

const flags = (() => {
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('flags'))
    const set = new Set(line.split(':')[1].trim().split(/\s+/))
    return ['avx', 'avx2', 'fma', 'f16c', 'avx512f', 'avx512bw', 'avx512_vnni', 'avx_vnni'].filter((f) => set.has(f)).join(' ')
  } catch {
    return process.arch
  }
})()

const spec = MODELS[args.model]
const file = path.join(HERE, 'models', spec.file)
const builds = { baseline: require(args.baseline), current: require(path.resolve(HERE, '..')) }
const counterModel = await builds.current.loadModel(file)
const counter = await counterModel.createRankingContext({ contextSize: spec.contextSize, threads: 1 })
const empty = new Map()
const docTokens = (q, d) => {
  if (!empty.has(q)) empty.set(q, counter.calculateInputLength(q, ''))
  return counter.calculateInputLength(q, d) - empty.get(q)
}
const w = buildWorkload(args.workload, docTokens)
const docs = w.documents.slice(0, args.docs)
const pairTokens = docs.reduce((n, d) => n + counter.calculateInputLength(w.query, d), 0)
await counterModel.dispose()

console.log(`CPU: ${os.cpus()[0]?.model} (${os.cpus().length} threads); flags: ${flags}`)
console.log(`${args.model} (${spec.file}), workload (${args.workload}) ${w.name}: ${docs.length} documents, ${pairTokens} pair tokens`)
const times = { baseline: [], current: [] }
for (let r = 0; r < args.rounds; r++) {
  for (const name of r % 2 ? ['current', 'baseline'] : ['baseline', 'current']) {
    const model = await builds[name].loadModel(file)
    const ctx = await model.createRankingContext({ contextSize: spec.contextSize, threads: 2 })
    await ctx.rankAll(w.query, docs.slice(0, 2))
    const t = performance.now()
    await ctx.rankAll(w.query, docs)
    const s = (performance.now() - t) / 1000
    times[name].push(s)
    console.log(`  round ${r + 1} ${name.padEnd(8)} ${s.toFixed(2).padStart(7)} s  ${(docs.length / s).toFixed(3)} docs/s`)
    await model.dispose()
  }
}
const median = (a) => [...a].sort((x, y) => x - y)[(a.length - 1) >> 1]
console.log(`current / baseline docs/s (median of ${args.rounds}): ${(median(times.baseline) / median(times.current)).toFixed(3)}×`)
