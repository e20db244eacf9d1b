#!/usr/bin/env node
// Client disconnect → free slot: how long after a client drops a long /v1/rerank request the
// server's only ranking context is free again. Starts the server in-process on 127.0.0.1 with
// one context, sends a long request (the benchmark's documents), drops the connection at a
// random moment of its scoring, and polls the server's count of running and waiting requests
// every millisecond until it is 0. Then checks that the next request is answered with 200.
// Prints one JSON line.
//   node bench/disconnect_latency.mjs [--model FILE] [--workload a|b] [--trials 20] [--threads 2]
import http from 'node:http'
import path from 'node:path'
import { startServer } from '../server/index.mjs'
import { addon, parseOptions, quantile, cpuFlags as readCpuFlags, workloadFor } from './common.mjs'

const { loadModel } = addon()
const values = parseOptions({
  workload: { type: 'string', default: 'b' },
  trials: { type: 'string', default: '20' },
  threads: { type: 'string', default: '2' },
})
const model = await loadModel(values.model)
const context = await model.createRankingContext({ contextSize: 4096, threads: Number(values.threads) })
const w = workloadFor(context, values.workload)
const server = await startServer({ contexts: [context], modelName: path.basename(values.model), modelInfo: model.info, port: 0 })

/** POSTs a body; resolves with the answer's arrival time, or gives the request to `hold`. */
function post(body, hold) {
  return new Promise((resolve, reject) => {
    const req = http.request(`${server.url}/v1/rerank`, { method: 'POST', headers: { 'content-type': 'application/json' } }, (res) => {
      res.resume()
      res.on('end', () => resolve({ status: res.statusCode, at: performance.now() }))
    })
    req.on('error', (e) => (hold ? resolve({ status: 'dropped', at: performance.now() }) : reject(e)))
    req.end(JSON.stringify(body))
    hold?.(req)
  })
}

let seed = 7
const rand = () => (seed = (seed * 48271) % 2147483647) / 2147483647
const releases = []
const small = { query: w.query, documents: [w.documents[0].slice(0, 200)] }
for (let t = 0; t < Number(values.trials); t++) {
  let request
  const start = Math.floor(rand() * w.documents.length)
  const long = post({ query: w.query, documents: [...w.documents.slice(start), ...w.documents.slice(0, start)] }, (r) => (request = r))
  await new Promise((r) => setTimeout(r, 500 + rand() * 3000))
  if (server.pending !== 1) throw new Error(`expected the long request to be running, pending ${server.pending}`)
  const droppedAt = performance.now()
  request.destroy()
  while (server.pending > 0) await new Promise((r) => setTimeout(r, 1))
  releases.push(performance.now() - droppedAt)
  await long
  const next = await post(small)
  if (next.status !== 200) throw new Error(`the request after a disconnect got ${next.status}`)
}
await server.close()
await model.dispose()

const cpuFlags = readCpuFlags()
const sorted = [...releases].sort((a, b) => a - b)
console.log(
  JSON.stringify({
    model: path.basename(values.model),
    workload: values.workload,
    cpuFlags,
    trials: releases.length,
    slotReleaseMsMedian: +quantile(sorted, 0.5).toFixed(1),
    slotReleaseMsP99: +quantile(sorted, 0.99).toFixed(1),
    slotReleaseMsMax: +sorted.at(-1).toFixed(1),
  }),
)
