// Batch invariance on the benchmark models: the same (query, document) pairs scored under
// every packing a caller can cause, compared with each document ranked alone.
//
//   node bench/invariance.mjs [--model qwen3-pooled|qwen3-causal|bert] [--docs N] [--long N]
//
// Packings: one call of every document, two calls of half, one call per document, 1 and 2
// threads, `sequences: 1`, a small `batchSize`, and a call where every document appears twice
// (the copies must be bit-identical). Documents: the first N of workload (a) plus the first
// `--long` of workload (b) (Qwen3 only: BERT's context cannot hold them). Prints the worst |Δ|
// per packing and the CPU flags; exits 1 when a packing is off by more than 1e-6 or a copy
// differs at all.

import { existsSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { buildWorkload } from './workloads.mjs'

const require = createRequire(import.meta.url)
const HERE = path.dirname(fileURLToPath(import.meta.url))
const ROOT = path.resolve(HERE, '..')
const MODELS = {
  'qwen3-pooled': { file: 'qwen3-reranker-0.6b-shape-pooled-q8_0.gguf', contextSize: 4096, long: true },
  'qwen3-causal': { file: 'qwen3-reranker-0.6b-shape-causal-q8_0.gguf', contextSize: 4096, long: true },
  bert: { file: 'bert-base-shape-reranker-f16.gguf', contextSize: 512, long: false },
}

function parse(argv) {
  const args = { models: [], docs: 16, long: 4 }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    if (a === '--model') args.models.push(argv[++i])
    else if (a === '--docs') args.docs = Number(argv[++i])
    else if (a === '--long') args.long = Number(argv[++i])
    else throw new Error(`unknown argument ${a}`)
  }
  if (args.models.length === 0) args.models = Object.keys(MODELS)
  return args
}

function cpuFlags() {
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('flags'))
    const flags = new Set(line.split(':')[1].trim().split(/\s+/))
    return ['avx', 'avx2', 'fma', 'f16c', 'avx512f', 'avx512bw', 'avx512vl', 'avx512_vnni', 'avx_vnni']
      .filter((f) => flags.has(f))
      .join(' ')
  } catch {
    return process.arch
  }
}

async function main() {
  const args = parse(process.argv.slice(2))
  const lr = require(ROOT)
  console.log(`CPU: ${os.cpus()[0]?.model} (${os.cpus().length} threads); flags: ${cpuFlags()}`)
  let failed = false
  for (const key of args.models) {
    const spec = MODELS[key]
    const file = path.join(HERE, 'models', spec.file)
    if (!existsSync(file)) throw new Error(`missing ${file}: run bench/make_models.py (npm run bench makes it)`)
    const model = await lr.loadModel(file)
    console.log(`\n${key}: ${spec.file}; cpuFeatures ${model.info.cpuFeatures?.join(' ')}`)
    const counter = await model.createRankingContext({ contextSize: spec.contextSize, threads: 1 })
    const base = new Map()
    const docTokens = (q, d) => {
      if (!base.has(q)) base.set(q, counter.calculateInputLength(q, ''))
      return counter.calculateInputLength(q, d) - base.get(q)
    }
    const a = buildWorkload('a', docTokens)
    const docs = a.documents.slice(0, args.docs)
    if (spec.long && args.long > 0) docs.push(...buildWorkload('b', docTokens).documents.slice(0, args.long))
    await counter.dispose()
    const query = a.query

    const make = (options) => model.createRankingContext({ contextSize: spec.contextSize, threads: 2, ...options })
    const time = async (fn) => {
      const t = performance.now()
      const r = await fn()
      return [r, (performance.now() - t) / 1000]
    }
    const ctx = await make({})
    const [alone, tAlone] = await time(async () => {
      const out = []
      for (const d of docs) out.push((await ctx.rankAll(query, [d]))[0])
      return out
    })
    const packings = [
      ['one call', () => ctx.rankAll(query, docs)],
      [
        'two calls',
        async () => [
          ...(await ctx.rankAll(query, docs.slice(0, docs.length >> 1))),
          ...(await ctx.rankAll(query, docs.slice(docs.length >> 1))),
        ],
      ],
      ['reversed order', async () => (await ctx.rankAll(query, [...docs].reverse())).reverse()],
      [
        '1 thread',
        async () => {
          const c = await make({ threads: 1 })
          try {
            return await c.rankAll(query, docs)
          } finally {
            await c.dispose()
          }
        },
      ],
      [
        'sequences 1',
        async () => {
          const c = await make({ sequences: 1 })
          try {
            return await c.rankAll(query, docs)
          } finally {
            await c.dispose()
          }
        },
      ],
      [
        'batchSize 128',
        async () => {
          const c = await make({ batchSize: 128 })
          try {
            return await c.rankAll(query, docs)
          } finally {
            await c.dispose()
          }
        },
      ],
    ]
    console.log(`${docs.length} documents; alone: ${tAlone.toFixed(1)} s`)
    for (const [name, fn] of packings) {
      const [scores, t] = await time(fn)
      const worst = Math.max(...scores.map((s, i) => Math.abs(s - alone[i])))
      const bad = !(worst <= 1e-6)
      failed ||= bad
      console.log(
        `  ${name.padEnd(16)} worst |Δ| vs alone ${worst.toExponential(2).padStart(9)}  ${t.toFixed(1).padStart(6)} s${bad ? '  FAIL' : ''}`,
      )
    }
    const [twice, tTwice] = await time(() =>
      ctx.rankAll(
        query,
        docs.flatMap((d) => [d, d]),
      ),
    )
    const copyDiff = Math.max(...docs.map((_, i) => Math.abs(twice[2 * i] - twice[2 * i + 1])))
    const vsAlone = Math.max(...docs.map((_, i) => Math.abs(twice[2 * i] - alone[i])))
    failed ||= copyDiff !== 0 || !(vsAlone <= 1e-6)
    console.log(
      `  ${'each twice'.padEnd(16)} worst |Δ| between copies ${copyDiff.toExponential(2)}, vs alone ${vsAlone.toExponential(2)}  ${tTwice.toFixed(1)} s`,
    )
    await ctx.dispose()
    await model.dispose()
  }
  process.exitCode = failed ? 1 : 0
}

main().catch((e) => {
  console.error(e)
  process.exit(2)
})
