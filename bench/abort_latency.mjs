#!/usr/bin/env node
// Abort latency: time from `controller.abort()` to the call's rejection, against the time one
// decode call takes. Aborts long rankAll calls at random moments, then checks that the aborted
// context still scores bit-identically to a fresh one. Prints one JSON line.
//   node bench/abort_latency.mjs [--model FILE] [--workload a|b] [--trials 30] [--threads 2]
// --workload: the benchmark's documents (bench/workloads.mjs; b = 300-900-token QMD-like
// chunks); without it, 400 short passages.
import path from 'node:path'
import { addon, parseOptions, quantile, cpuFlags as readCpuFlags, workloadFor } from './common.mjs'

const { loadModel } = addon()
const values = parseOptions({
  workload: { type: 'string' },
  trials: { type: 'string', default: '30' },
  'batch-size': { type: 'string' },
  threads: { type: 'string', default: '2' },
})
const options = {
  contextSize: 4096,
  threads: Number(values.threads),
  ...(values['batch-size'] ? { batchSize: Number(values['batch-size']) } : {}),
}
const model = await loadModel(values.model)
const context = await model.createRankingContext(options)

let query = 'history of the bicycle'
let docs = Array.from({ length: 400 }, (_, i) => `passage ${i}: ` + 'the history of the bicycle and its riders. '.repeat(8))
if (values.workload) {
  const w = workloadFor(context, values.workload)
  query = w.query
  docs = w.documents
}

let seed = 1
const rand = () => (seed = (seed * 48271) % 2147483647) / 2147483647
const latencies = []
const batchTimes = []
for (let t = 0; t < Number(values.trials); t++) {
  const controller = new AbortController()
  let last = null
  let seen = 0
  let abortedAt = null
  // a different slice each trial, so that aborts land in different documents
  const start = Math.floor(rand() * docs.length)
  const call = context.rankAll(query, [...docs.slice(start), ...docs.slice(0, start)], {
    signal: controller.signal,
    onProgress: () => {
      const now = performance.now()
      if (last !== null && abortedAt === null) batchTimes.push(now - last)
      last = now
      seen++
    },
  })
  // abort at a random moment of a decode, once one has been timed
  while (seen < 2) await new Promise((r) => setTimeout(r, 1))
  await new Promise((r) => setTimeout(r, rand() * batchTimes.at(-1)))
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

// the aborted context is intact: the same scores as a fresh context, to the bit
const probe = docs.slice(0, 3)
const after = await context.rankAll(query, probe)
const fresh = await model.createRankingContext(options)
const reference = await fresh.rankAll(query, probe)
await model.dispose()

const cpuFlags = readCpuFlags()
const measured = latencies.filter((x) => x !== null).sort((a, b) => a - b)
const sortedBatches = [...batchTimes].sort((a, b) => a - b)
console.log(
  JSON.stringify({
    model: path.basename(values.model),
    workload: values.workload ?? 'short passages',
    cpuFlags,
    trials: latencies.length,
    aborted: measured.length,
    decodeMsMedian: +quantile(sortedBatches, 0.5).toFixed(1),
    decodeMsMax: +sortedBatches.at(-1).toFixed(1),
    abortLatencyMsMedian: +quantile(measured, 0.5).toFixed(1),
    abortLatencyMsP99: +quantile(measured, 0.99).toFixed(1),
    abortLatencyMsMax: +measured.at(-1).toFixed(1),
    scoresAfterAbortBitIdentical: after.every((s, i) => s === reference[i]),
  }),
)
