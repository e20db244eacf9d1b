#!/usr/bin/env node
// Scaling table of `llama-rerank serve` behind HAProxy: 1, 2 and 3 servers behind
// deploy/haproxy.cfg, and one server asked directly (what HAProxy costs), under a closed loop
// of --concurrency clients sending the same kind of request. Prints, per setup, requests/s,
// documents/s, p50/p99 latency, failures and score mismatches (every answer is compared bit
// for bit with one server's answer to the same request), with the CPU flags and /proc/loadavg
// beside each result, then a markdown table (also written to --out).
//
//   node bench/scaling.mjs [--model bench/models/bert-base-shape-reranker-f16.gguf]
//       [--documents 16] [--min-tokens 100] [--max-tokens 200] [--concurrency 6]
//       [--duration 90] [--cores 2] [--context-size 512] [--setups direct,1,2,3] [--out FILE]
//
// Threads: the servers share --cores cores: one server gets --cores threads, two get
// cores/2 each, three get max(1, floor(cores/3)) each (on 2 cores: 1 thread each, 3 threads on
// 2 cores). Each server has one context. HAProxy runs with the shipped file, its `server` lines
// cut to the number of servers (the file names three). Needs haproxy (scripts/setup.sh) and the
// benchmark models (bench/make_models.py; see bench/README.md).
import { spawn, spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { freePort, haproxyStats } from '../__test__/support/loopback.mjs'
import { addon, cpuFlags, parseOptions, quantile, root, workloadFor } from './common.mjs'
import { WORKLOADS } from './workloads.mjs'

const args = parseOptions({
  documents: { type: 'string', default: '16' },
  'min-tokens': { type: 'string', default: '100' },
  'max-tokens': { type: 'string', default: '200' },
  concurrency: { type: 'string', default: '6' },
  duration: { type: 'string', default: '90' },
  cores: { type: 'string', default: '2' },
  'context-size': { type: 'string', default: '512' },
  setups: { type: 'string', default: 'direct,1,2,3' },
  out: { type: 'string', default: path.join(root, 'bench', '.work', 'scaling.md') },
})
if (args.model === path.join(root, 'fixtures', 'qwen3-reranker-pooled.gguf')) {
  args.model = path.join(root, 'bench', 'models', 'bert-base-shape-reranker-f16.gguf')
}
const CONCURRENCY = Number(args.concurrency)
const DURATION_MS = Number(args.duration) * 1000
const CORES = Number(args.cores)
const CLI = path.join(root, 'bin', 'llama-rerank.mjs')
const loadavg = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')

// ---------------------------------------------------------------------------------------------
// The requests: 3 requests of --documents documents each, drawn from the benchmark's seeded
// prose and cut to --min-tokens..--max-tokens tokens of this model's tokenizer.

WORKLOADS.scaling = {
  name: 'scaling',
  documents: 3 * Number(args.documents),
  minTokens: Number(args['min-tokens']),
  maxTokens: Number(args['max-tokens']),
  seed: 0x5ca1e,
  style: 'prose',
  query: WORKLOADS.a.query,
}
const lr = addon()
const model = await lr.loadModel(args.model)
const sizing = await model.createRankingContext({ contextSize: Number(args['context-size']), threads: 1 })
const workload = workloadFor(sizing, 'scaling')
await sizing.dispose?.()
await model.dispose()
const per = Number(args.documents)
const REQUESTS = [0, 1, 2].map((k) => ({ query: workload.query, documents: workload.documents.slice(k * per, (k + 1) * per) }))
const tokens = workload.docTokens
const meanTokens = tokens.reduce((a, b) => a + b, 0) / tokens.length

// ---------------------------------------------------------------------------------------------
// Servers and HAProxy

/** Every child still running, killed if this script is interrupted. */
const running = new Set()
process.on('exit', () => {
  for (const c of running) c.kill('SIGKILL')
})
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(130))

function startServer(threads) {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      // --queue-timeout 0: a request waits for the context as long as it takes, so that the closed
      // loop measures throughput and latency rather than the server's queue timeout.
      [
        CLI,
        'serve',
        '--port',
        '0',
        '--model',
        args.model,
        '--threads',
        String(threads),
        '--contexts',
        '1',
        '-c',
        args['context-size'],
        '--queue-timeout',
        '0',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env } },
    )
    running.add(child)
    child.on('close', () => running.delete(child))
    let stderr = ''
    child.stderr.setEncoding('utf8').on('data', (d) => {
      stderr += d
      const m = stderr.match(/ on (http:\/\/[^\s]+) with/)
      if (m && !child.url) {
        child.url = m[1]
        resolve(child)
      }
    })
    child.on('close', (code) => {
      if (!child.url) reject(new Error(`server exited with ${code}\n${stderr}`))
    })
  })
}

async function startHaproxy(servers, work) {
  // The shipped file with as many `server` lines as servers.
  const shipped = readFileSync(path.join(root, 'deploy', 'haproxy.cfg'), 'utf8')
  const config = shipped
    .split('\n')
    .filter((line) => {
      const m = /^\s*server s(\d+) /.exec(line)
      return !m || Number(m[1]) <= servers.length
    })
    .join('\n')
  const file = path.join(work, 'haproxy.cfg')
  writeFileSync(file, config)
  const port = await freePort()
  const socket = path.join(work, 'haproxy.sock')
  const env = {
    ...process.env,
    LLAMA_RERANK_LB_BIND: `127.0.0.1:${port}`,
    LLAMA_RERANK_LB_STATS_SOCKET: socket,
    ...Object.fromEntries(servers.map((s, i) => [`LLAMA_RERANK_SERVER_${i + 1}`, new URL(s.url).host])),
  }
  const child = spawn('haproxy', ['-db', '-f', file], { env, stdio: ['ignore', 'ignore', 'ignore'] })
  running.add(child)
  child.on('close', () => running.delete(child))
  for (;;) {
    const rows = await haproxyStats(socket).catch(() => null)
    const up = rows?.filter((r) => r.pxname === 'llama_rerank' && /^s\d+$/.test(r.svname) && r.status === 'UP')
    if (up?.length === servers.length) break
    if (child.exitCode !== null) throw new Error(`haproxy exited with ${child.exitCode}`)
    await new Promise((r) => setTimeout(r, 50))
  }
  child.url = `http://127.0.0.1:${port}`
  return child
}

const stop = (child) =>
  new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve()
    child.once('close', resolve)
    child.kill('SIGTERM')
  })

const post = async (url, body) => {
  const res = await fetch(`${url}/v1/rerank`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  })
  const text = await res.text()
  return { status: res.status, answer: res.status === 200 ? JSON.parse(text) : text }
}
const scoresOf = (answer) => {
  const s = []
  for (const r of answer.results) s[r.index] = r.relevance_score
  return s
}

// ---------------------------------------------------------------------------------------------
// One setup: servers, optional HAProxy, a warm-up, then DURATION_MS of closed-loop load.

async function measure(setup) {
  const count = setup === 'direct' ? 1 : Number(setup)
  const threads = count === 1 ? CORES : Math.max(1, Math.floor(CORES / count))
  const work = mkdtempSync(path.join(tmpdir(), 'llama-rerank-scaling-'))
  const servers = await Promise.all(Array.from({ length: count }, () => startServer(threads)))
  const children = [...servers]
  try {
    // The reference scores, one server asked directly (also its warm-up).
    const reference = []
    for (const request of REQUESTS) reference.push(scoresOf((await post(servers[0].url, request)).answer))
    let url = servers[0].url
    if (setup !== 'direct') {
      const haproxy = await startHaproxy(servers, work)
      children.push(haproxy)
      url = haproxy.url
    }
    const before = { load: loadavg() }
    const latencies = []
    let failures = 0
    const failedBy = {}
    let mismatches = 0
    let started = 0
    let stopAt = Infinity
    let warm = 0
    let inWindow = 0
    const client = async () => {
      while (performance.now() < stopAt) {
        const n = started++ % REQUESTS.length
        const t = performance.now()
        let result
        try {
          result = await post(url, REQUESTS[n])
        } catch (error) {
          result = { status: error.name }
        }
        const end = performance.now()
        if (result.status !== 200) {
          failures++
          failedBy[result.status] = (failedBy[result.status] ?? 0) + 1
        } else if (!scoresOf(result.answer).every((s, i) => Object.is(s, reference[n][i]))) mismatches++
        // The first CONCURRENCY answers warm every server up; the window starts after them and
        // counts every answer that ends in it (latency from the request's start).
        if (++warm === CONCURRENCY) {
          stopAt = end + DURATION_MS
        } else if (warm > CONCURRENCY && end <= stopAt) {
          latencies.push(end - t)
          inWindow++
        }
      }
    }
    await Promise.all(Array.from({ length: CONCURRENCY }, client))
    const seconds = DURATION_MS / 1000
    const sorted = latencies.sort((a, b) => a - b)
    return {
      setup: setup === 'direct' ? '1 server, direct (no HAProxy)' : `${count} server${count > 1 ? 's' : ''} behind HAProxy`,
      threads: `${count} × ${threads}`,
      requests: inWindow,
      rps: inWindow / seconds,
      docsPerSecond: (inWindow * per) / seconds,
      p50: quantile(sorted, 0.5) / 1000,
      p99: quantile(sorted, 0.99) / 1000,
      failures,
      failedBy,
      mismatches,
      load: `${before.load} → ${loadavg()}`,
    }
  } finally {
    for (const c of children.reverse()) await stop(c)
    rmSync(work, { recursive: true, force: true })
  }
}

const version = spawnSync('haproxy', ['-v'], { encoding: 'utf8' }).stdout?.split('\n')[0] ?? 'haproxy missing'
const command = `node bench/scaling.mjs ${process.argv.slice(2).join(' ')}`.trim()
console.log(`# ${command}`)
console.log(`# ${version}; CPU flags: ${cpuFlags()}; model ${path.basename(args.model)}`)
console.log(
  `# ${CONCURRENCY} clients, closed loop; 3 requests of ${per} documents in turn, ${Math.min(...tokens)}-${Math.max(...tokens)} tokens (mean ${meanTokens.toFixed(0)}); ${args.duration} s measured after a warm-up`,
)
const results = []
for (const setup of args.setups.split(',')) {
  const r = await measure(setup)
  results.push(r)
  console.log(
    `${r.setup}: ${r.requests} requests, ${r.rps.toFixed(3)} req/s, ${r.docsPerSecond.toFixed(2)} docs/s, p50 ${r.p50.toFixed(2)} s, p99 ${r.p99.toFixed(2)} s, ${r.failures} failed ${JSON.stringify(r.failedBy)}, ${r.mismatches} mismatched; CPU flags ${cpuFlags()}; loadavg ${r.load}`,
  )
}
const table = [
  '| setup | servers × threads | requests | req/s | docs/s | p50 (s) | p99 (s) | failed | scores differ | load average (before → after) |',
  '|---|---|---:|---:|---:|---:|---:|---:|---:|---|',
  ...results.map(
    (r) =>
      `| ${r.setup} | ${r.threads} | ${r.requests} | ${r.rps.toFixed(3)} | ${r.docsPerSecond.toFixed(2)} | ${r.p50.toFixed(2)} | ${r.p99.toFixed(2)} | ${r.failures} | ${r.mismatches} | ${r.load} |`,
  ),
].join('\n')
const text = `Command: \`${command}\`\n\n${version}; CPU flags: ${cpuFlags()}; model \`${path.basename(args.model)}\`; ${CONCURRENCY} clients; requests of ${per} documents of ${Math.min(...tokens)}-${Math.max(...tokens)} tokens (mean ${meanTokens.toFixed(0)}); ${args.duration} s per setup.\n\n${table}\n`
mkdirSync(path.dirname(args.out), { recursive: true })
writeFileSync(args.out, text)
console.log(`\n${table}\n\nwritten to ${path.relative(root, args.out)}`)
if (results.some((r) => r.failures || r.mismatches)) process.exitCode = 1
