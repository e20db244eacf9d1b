#!/usr/bin/env node
// Load test of `llama-rerank serve`: starts the server on a fixture model (on 127.0.0.1 only),
// drives it with autocannon for a while with many connections and a mix of valid requests in
// every request shape, samples the server's RSS every second, and prints requests, errors by
// status, p50/p99 latency and RSS first/last/max.
//
// Exit 1 when anything failed other than a 503 with Retry-After (the one refusal a loaded
// server may give), when an answer was not what its request asks for, or when memory grew from
// the 10th second to the end (a leak under load). Memory is judged in two parts, because V8
// reserves more heap (young-generation semi-spaces) for a while under a high allocation rate,
// which raises RSS without a leak: the native part (RSS minus V8's reserved heap: the addon,
// llama.cpp, buffers) may grow by at most 10% (or 8 MiB), and the V8 heap in use by 16 MiB.
//
//   node bench/load_test.mjs [--duration 60] [--connections 32] [--model F] [--contexts 2]
//                              [--threads 1] [--queue-timeout 5000]
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import autocannon from 'autocannon'
import { parseOptions, root } from './common.mjs'

const args = parseOptions({
  duration: { type: 'string', default: '60' },
  connections: { type: 'string', default: '32' },
  contexts: { type: 'string', default: '2' },
  threads: { type: 'string', default: '1' },
  'queue-timeout': { type: 'string', default: '5000' },
})
const duration = Number(args.duration)
const connections = Number(args.connections)
const NATIVE_GROWTH_LIMIT = 0.1
const NATIVE_GROWTH_FLOOR = 8 * 1024 * 1024
const HEAP_USED_GROWTH_LIMIT = 16 * 1024 * 1024
const RSS_BASELINE_SECOND = 10

// ---------------------------------------------------------------------------------------------
// The server

/** Starts `llama-rerank serve` on a free loopback port; resolves { child, url } once it listens. */
function startServer(apiKey) {
  const cli = path.join(root, 'bin', 'llama-rerank.mjs')
  const child = spawn(
    process.execPath,
    [
      cli,
      'serve',
      '--host',
      '127.0.0.1',
      '--port',
      '0',
      '--model',
      args.model,
      '--contexts',
      args.contexts,
      '--threads',
      args.threads,
      '--queue-timeout',
      args['queue-timeout'],
      // One JSON line per request on stderr would be read and kept for nothing, and would make
      // the numbers differ from those taken before the access log existed.
      '--access-log',
      'off',
    ],
    { env: { ...process.env, LLAMA_RERANK_API_KEY: apiKey }, stdio: ['ignore', 'ignore', 'pipe'] },
  )
  let stderr = ''
  const exited = new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal })))
  const listening = new Promise((resolve, reject) => {
    child.stderr.setEncoding('utf8').on('data', (d) => {
      stderr += d
      const m = stderr.match(/ on (http:\/\/[^\s]+) with/)
      if (m) resolve(m[1])
    })
    exited.then(({ code }) => reject(new Error(`the server exited with ${code} before listening:\n${stderr}`)))
  })
  return listening.then((url) => ({ child, url, exited, stderr: () => stderr }))
}

/** The resident set size of a process in bytes, from /proc (Linux), else from ps. */
function rssOf(pid) {
  try {
    const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]
    return Number(kb) * 1024
  } catch {
    return null
  }
}

/** The server's V8 heap, used and reserved, from its /metrics. */
async function heapOf(url, apiKey) {
  const text = await (await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${apiKey}` } })).text()
  const read = (name) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN)
  return { used: read('nodejs_heap_size_used_bytes'), total: read('nodejs_heap_size_total_bytes') }
}

// ---------------------------------------------------------------------------------------------
// The requests: every shape, each answer checked

function requestMix(apiKey) {
  const headers = { 'content-type': 'application/json', authorization: `Bearer ${apiKey}` }
  const { files } = JSON.parse(readFileSync(path.join(root, 'fixtures', 'expected.json'), 'utf8'))
  const pairs = files['qwen3-reranker-pooled.gguf'].pairs.filter((p) => p.instruction === null && p.maxLength === null)
  const queries = [...new Set(pairs.map((p) => p.query))]
  const docsOf = (q) => pairs.filter((p) => p.query === q).map((p) => p.document)
  const filler = ' Paris is a city in France, on the Seine.'.repeat(4)

  const rerank = (route, body, check) => ({ method: 'POST', path: route, headers, body: JSON.stringify(body), check })
  const hasResults = (n) => (json) =>
    json.object === 'list' && json.results.length === n && json.results.every((r) => r.relevance_score >= 0 && r.relevance_score <= 1)
  const teiRanks = (n) => (json) =>
    Array.isArray(json) && json.length === n && json.every((r, i) => i === 0 || json[i - 1].score >= r.score)

  const mix = []
  queries.forEach((query, i) => {
    const documents = docsOf(query)
    const longer = documents.map((d) => d + filler)
    mix.push(rerank('/v1/rerank', { query, documents, top_n: 2 }, hasResults(Math.min(2, documents.length))))
    mix.push(rerank('/rerank', { query, texts: longer, return_text: true, truncate: true }, teiRanks(documents.length)))
    mix.push(rerank('/v2/rerank', { query, documents, return_documents: true }, hasResults(documents.length)))
    if (i % 2 === 0) {
      mix.push(
        rerank('/v1/rerank', { query, documents: longer, instruction: 'Find passages about geography' }, hasResults(documents.length)),
      )
    }
  })
  mix.push({ method: 'GET', path: '/v1/models', headers, check: (json) => json.data?.length === 1 })
  mix.push({ method: 'GET', path: '/health', check: (json) => json.status === 'ok' })
  return mix
}

// ---------------------------------------------------------------------------------------------

const mib = (bytes) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`

async function main() {
  const apiKey = randomBytes(24).toString('base64url')
  const server = await startServer(apiKey)
  const pid = server.child.pid
  console.log(
    `load test: ${server.url}, ${args.model.replace(root + path.sep, '')}, ${args.contexts} contexts × ${args.threads} thread(s), ` +
      `${connections} connections, ${duration} s, queue timeout ${args['queue-timeout']} ms`,
  )

  const statuses = new Map() // status → count
  const failures = new Map() // what → count
  const fail = (what) => failures.set(what, (failures.get(what) ?? 0) + 1)
  const requests = requestMix(apiKey).map(({ check, ...request }) => ({
    ...request,
    onResponse(status, body, _context, headers) {
      statuses.set(status, (statuses.get(status) ?? 0) + 1)
      if (status === 503) {
        if (!/^[1-9]\d*$/.test(headers['retry-after'] ?? '')) fail('503 without Retry-After')
        return
      }
      if (status !== 200) return fail(`${status} ${request.method} ${request.path}: ${body.slice(0, 160)}`)
      try {
        if (!check(JSON.parse(body))) fail(`a wrong answer on ${request.path}: ${body.slice(0, 160)}`)
      } catch (error) {
        fail(`not JSON on ${request.path}: ${error.message}`)
      }
    },
  }))

  const rss = []
  const heap = [] // the server's V8 heap every 5 s from the baseline on, from its /metrics
  const started = Date.now()
  const sampler = setInterval(() => {
    const bytes = rssOf(pid)
    const second = Math.round((Date.now() - started) / 1000)
    if (bytes !== null) rss.push({ second, bytes })
    if (second >= RSS_BASELINE_SECOND && (heap.length === 0 || second - heap.at(-1).second >= 5)) {
      heapOf(server.url, apiKey).then(
        (h) => heap.push({ second, rss: bytes, ...h }),
        () => {},
      )
    }
  }, 1000)
  rss.push({ second: 0, bytes: rssOf(pid) })

  const result = await autocannon({ url: server.url, connections, duration, requests, timeout: 60 })
  clearInterval(sampler)
  const endSecond = Math.round((Date.now() - started) / 1000)
  const endRss = rssOf(pid)
  heap.push({ second: endSecond, rss: endRss, ...(await heapOf(server.url, apiKey)) })
  rss.push({ second: endSecond, bytes: endRss })

  server.child.kill('SIGTERM')
  const { code } = await server.exited
  if (code !== 0) fail(`the server exited with ${code} after SIGTERM`)

  // Report
  const total = [...statuses.values()].reduce((a, b) => a + b, 0)
  const errors = [...statuses].filter(([s]) => s !== 200).sort(([a], [b]) => a - b)
  const samples = rss.filter((s) => s.bytes !== null)
  const baseline = samples.find((s) => s.second >= RSS_BASELINE_SECOND) ?? samples[0]
  const last = samples.at(-1)
  const max = Math.max(...samples.map((s) => s.bytes))
  const growth = (last.bytes - baseline.bytes) / baseline.bytes
  console.log(
    `requests: ${total} answered (${(total / duration).toFixed(1)}/s), ${result.errors} connection errors, ${result.timeouts} timeouts`,
  )
  console.log(`errors by status: ${errors.length ? errors.map(([s, n]) => `${s}: ${n}`).join(', ') : 'none'}`)
  console.log(`latency: p50 ${result.latency.p50} ms, p99 ${result.latency.p99} ms, max ${result.latency.max} ms`)
  console.log(
    `RSS: first ${mib(samples[0].bytes)}, at ${baseline.second} s ${mib(baseline.bytes)}, last ${mib(last.bytes)}, max ${mib(max)}; ` +
      `growth from ${baseline.second} s to the end ${(growth * 100).toFixed(1)}%`,
  )
  const points = heap.filter((h) => h.rss !== null && Number.isFinite(h.total)).sort((a, b) => a.second - b.second)
  console.log('memory (s: RSS = native + V8 reserved; V8 used):')
  for (const h of points)
    console.log(`  ${String(h.second).padStart(3)} s: ${mib(h.rss)} = ${mib(h.rss - h.total)} + ${mib(h.total)}; used ${mib(h.used)}`)
  if (result.errors > 0) fail(`${result.errors} connection errors`)
  if (result.timeouts > 0) fail(`${result.timeouts} timeouts`)
  if (total === 0) fail('no request was answered')
  if (points.length < 2 || points[0].second < RSS_BASELINE_SECOND) {
    console.log(`memory growth not judged: the run is shorter than ${RSS_BASELINE_SECOND} s`)
  } else {
    const [first, end] = [points[0], points.at(-1)]
    const native = (h) => h.rss - h.total
    const nativeGrowth = native(end) - native(first)
    const nativeLimit = Math.max(NATIVE_GROWTH_FLOOR, native(first) * NATIVE_GROWTH_LIMIT)
    console.log(
      `native memory ${first.second} s → ${end.second} s: ${mib(native(first))} → ${mib(native(end))} (limit +${mib(nativeLimit)}); ` +
        `V8 used ${mib(first.used)} → ${mib(end.used)} (limit +${mib(HEAP_USED_GROWTH_LIMIT)}); V8 reserved ${mib(first.total)} → ${mib(end.total)} (not judged)`,
    )
    if (nativeGrowth > nativeLimit)
      fail(`native memory (RSS minus V8's heap) grew by ${mib(nativeGrowth)} from ${first.second} s to the end`)
    if (end.used - first.used > HEAP_USED_GROWTH_LIMIT)
      fail(`the V8 heap in use grew by ${mib(end.used - first.used)} from ${first.second} s to the end`)
  }
  if (failures.size) {
    console.log('FAILED:')
    for (const [what, n] of failures) console.log(`  ${n} × ${what}`)
    return 1
  }
  console.log('OK: every answer was a 200 with the right shape, or a 503 with Retry-After')
  return 0
}

main().then(
  (code) => (process.exitCode = code),
  (error) => {
    console.error(`load test: ${error.stack ?? error}`)
    process.exitCode = 1
  },
)
