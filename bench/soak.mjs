#!/usr/bin/env node
// Soak: many rank calls and create/dispose cycles of contexts and models in one process;
// reports RSS after warm-up and at the end. Prints one JSON line.
//   node --expose-gc bench/soak.mjs [--rank-calls 10000] [--cycles 200] [--model FILE] [--threads 1]
import { addon, parseOptions } from './common.mjs'

const { loadModel } = addon()
const values = parseOptions({
  'rank-calls': { type: 'string', default: '10000' },
  cycles: { type: 'string', default: '200' },
  // memory, not speed, is measured: one thread keeps a busy machine from stretching the run
  threads: { type: 'string', default: '1' },
})
const threads = Number(values.threads)
const rankCalls = Number(values['rank-calls'])
const cycles = Number(values.cycles)
const mb = () => process.memoryUsage().rss / 2 ** 20
const settle = async () => {
  for (let i = 0; i < 3; i++) {
    globalThis.gc?.()
    await new Promise((r) => setTimeout(r, 20))
  }
}

const docs = Array.from({ length: 20 }, (_, i) => `document ${i}: the history of the bicycle, part ${i}`)
async function rankPhase(context, n) {
  for (let i = 0; i < n; i += 10) {
    const batch = []
    for (let j = i; j < Math.min(n, i + 10); j++) batch.push(context.rank(`query ${j % 7}`, docs[j % docs.length]))
    for (const s of await Promise.all(batch)) if (!Number.isFinite(s)) throw new Error(`non-finite score ${s}`)
  }
}
async function cyclePhase(model, n) {
  for (let i = 0; i < n; i++) {
    const context = await model.createRankingContext({ contextSize: 512, threads })
    await context.rank('q', docs[i % docs.length])
    await context.dispose()
    const other = await loadModel(values.model)
    const c2 = await other.createRankingContext({ contextSize: 256, threads })
    await c2.rank('q', 'd')
    await other.dispose()
  }
}

const started = performance.now()
const model = await loadModel(values.model)
const context = await model.createRankingContext({ contextSize: 512, threads })
// warm-up: allocator pools, JIT, llama.cpp buffers
await rankPhase(context, Math.min(1000, rankCalls))
await cyclePhase(model, Math.min(20, cycles))
await settle()
const warm = mb()
let peak = warm
const sampler = setInterval(() => (peak = Math.max(peak, mb())), 50)
await rankPhase(context, rankCalls)
await cyclePhase(model, cycles)
clearInterval(sampler)
await settle()
const end = mb()
await model.dispose()
console.log(
  JSON.stringify({
    rankCalls,
    cycles,
    rssAfterWarmupMB: +warm.toFixed(1),
    rssEndMB: +end.toFixed(1),
    rssGrowthMB: +(end - warm).toFixed(1),
    peakRssMB: +Math.max(peak, end).toFixed(1),
    seconds: +((performance.now() - started) / 1000).toFixed(1),
  }),
)
