#!/usr/bin/env node
// Abort latency: time from `controller.abort()` to the call's rejection, against the time
// one batch takes. Aborts at random moments of long rankAll calls. Prints one JSON line.
//   node scripts/abort_latency.mjs [--model FILE] [--trials 20] [--batch-size 512]
import { parseArgs } from 'node:util'
import { createRequire } from 'node:module'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const { loadModel } = createRequire(import.meta.url)(path.join(root, 'index.js'))
const { values } = parseArgs({
  options: {
    model: { type: 'string', default: path.join(root, 'fixtures', 'qwen3-reranker-pooled.gguf') },
    trials: { type: 'string', default: '20' },
    'batch-size': { type: 'string', default: '512' },
    threads: { type: 'string', default: '2' },
  },
})
const model = await loadModel(values.model)
const context = await model.createRankingContext({
  contextSize: 2048,
  batchSize: Number(values['batch-size']),
  threads: Number(values.threads),
})
const docs = Array.from({ length: 400 }, (_, i) => `passage ${i}: ` + 'the history of the bicycle and its riders. '.repeat(8))
let seed = 1
const rand = () => ((seed = (seed * 48271) % 2147483647) / 2147483647)

const latencies = []
const batchTimes = []
for (let t = 0; t < Number(values.trials); t++) {
  const controller = new AbortController()
  let last = null
  let seen = 0
  let abortedAt = null
  const call = context.rankAll('history of the bicycle', docs, {
    signal: controller.signal,
    onProgress: () => {
      const now = performance.now()
      if (last !== null && abortedAt === null) batchTimes.push(now - last)
      last = now
      seen++
    },
  })
  // abort at a random moment once two batches have passed
  while (seen < 2) await new Promise((r) => setTimeout(r, 1))
  await new Promise((r) => setTimeout(r, rand() * batchTimes.at(-1) * 2))
  abortedAt = performance.now()
  controller.abort()
  try {
    await call
    latencies.push(null)
  } catch (err) {
    if (err.name !== 'AbortError') throw err
    latencies.push(performance.now() - abortedAt)
  }
}
await model.dispose()
const measured = latencies.filter((x) => x !== null).sort((a, b) => a - b)
const sortedBatches = [...batchTimes].sort((a, b) => a - b)
const median = (xs) => xs[Math.floor(xs.length / 2)]
console.log(
  JSON.stringify({
    model: path.basename(values.model),
    trials: latencies.length,
    batchMsMedian: +median(sortedBatches).toFixed(2),
    batchMsMax: +sortedBatches.at(-1).toFixed(2),
    abortLatencyMsMedian: +median(measured).toFixed(2),
    abortLatencyMsMax: +measured.at(-1).toFixed(2),
    withinOneBatch: measured.at(-1) <= sortedBatches.at(-1),
  }),
)
