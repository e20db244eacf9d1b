// Three `llama-rerank serve` processes behind HAProxy with the shipped deploy/haproxy.cfg (only
// its addresses set, through the environment variables it reads): under a steady load of a few
// clients, one server is killed with SIGKILL and another drained with SIGTERM, and no request
// fails; every answer's scores equal one process's, bit for bit. HAProxy comes from Debian
// (scripts/setup.sh installs it); without it the test fails, it never skips.
//
// Every step is triggered by counts of answered requests and by state HAProxy or the servers
// show (its stats socket, their /metrics), never by a sleep.

import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, test } from 'node:test'
import { metric, serve } from './support/cli-helpers.mjs'
import { expected, fixture, root, TOLERANCE, until } from './support/helpers.mjs'
import { freePort, haproxyStats, serverRow } from './support/loopback.mjs'

const MODEL = 'qwen3-reranker-pooled.gguf'
const CONFIG = path.join(root, 'deploy', 'haproxy.cfg')
/** Answered requests between two events (the kill, the drain, the end). */
const K = 150
/** Clients, each sending its next request when the previous one is answered. */
const CLIENTS = 4
/** An upper bound for something broken, not a wait: every wait below ends on state. */
const LONG = 180_000

// The requests: the fixture's plain pairs, grouped by query (one request of 5 documents, the
// others of 1), and every document under every query (a request of 14 documents).
const plain = expected[MODEL].pairs.filter((p) => p.instruction === null && p.maxLength === null)
const queries = [...new Set(plain.map((p) => p.query))]
const allDocuments = [...new Set(plain.map((p) => p.document))]
const REQUESTS = [
  ...queries.map((query) => ({ query, documents: plain.filter((p) => p.query === query).map((p) => p.document) })),
  ...queries.slice(0, 3).map((query) => ({ query, documents: allDocuments })),
]

const post = (url, body) =>
  fetch(`${url}/v1/rerank`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })

/** The scores of an answer, by document index. */
const scoresOf = (answer) => {
  const scores = []
  for (const r of answer.results) scores[r.index] = r.relevance_score
  return scores
}

const work = mkdtempSync(path.join(tmpdir(), 'llama-rerank-lb-'))
const cleanups = []
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup()
  rmSync(work, { recursive: true, force: true })
})

test('HAProxy with deploy/haproxy.cfg: 0 failed requests across a SIGKILL and a SIGTERM, scores bit-identical', async () => {
  const version = spawnSync('haproxy', ['-v'], { encoding: 'utf8' })
  assert.equal(
    version.status,
    0,
    `haproxy is not installed (scripts/setup.sh installs it from Debian): ${version.error?.message ?? version.stderr}`,
  )

  // Three servers, one thread each, started side by side.
  const servers = await Promise.all(
    [1, 2, 3].map(() => serve(['--model', fixture(MODEL), '--threads', '1', '--contexts', '1'], { timeout: LONG })),
  )
  for (const s of servers) cleanups.push(() => s.stop('SIGKILL'))
  const [killed, drained, survivor] = servers

  // The reference: one process's answers, asked directly (the survivor's, so that the other two
  // count only requests that came through HAProxy). They also match transformers' scores.
  const reference = []
  for (const request of REQUESTS) {
    const res = await post(survivor.url, request)
    assert.equal(res.status, 200)
    const scores = scoresOf(await res.json())
    request.documents.forEach((document, i) => {
      const ref = plain.find((p) => p.query === request.query && p.document === document)
      if (ref) assert.ok(Math.abs(scores[i] - ref.score) <= TOLERANCE[MODEL], `${request.query} / ${document}`)
    })
    reference.push(scores)
  }

  // HAProxy with the shipped file; only the addresses come from here.
  const port = await freePort()
  const socket = path.join(work, 'haproxy.sock')
  const env = {
    ...process.env,
    LLAMA_RERANK_LB_BIND: `127.0.0.1:${port}`,
    LLAMA_RERANK_LB_STATS_SOCKET: socket,
    ...Object.fromEntries(servers.map((s, i) => [`LLAMA_RERANK_SERVER_${i + 1}`, new URL(s.url).host])),
  }
  const haproxy = spawn('haproxy', ['-db', '-f', CONFIG], { env, stdio: ['ignore', 'ignore', 'pipe'] })
  let haproxyLog = ''
  haproxy.stderr.setEncoding('utf8').on('data', (d) => (haproxyLog = (haproxyLog + d).slice(-20_000)))
  const haproxyExit = new Promise((resolve) => haproxy.on('close', (code, signal) => resolve({ code, signal })))
  cleanups.push(async () => {
    haproxy.kill('SIGKILL')
    await haproxyExit
  })
  const lb = `http://127.0.0.1:${port}`
  const names = ['s1', 's2', 's3']
  await until(
    async () => {
      if (haproxy.exitCode !== null) throw new Error(`haproxy exited with ${haproxy.exitCode}\n${haproxyLog}`)
      const stats = await haproxyStats(socket).catch(() => null)
      return stats && names.every((n) => serverRow(stats, n)?.status === 'UP')
    },
    'HAProxy to see the three servers up',
    LONG,
  )

  // One request id from HAProxy to the server: a client's X-Request-Id comes back as sent; without
  // one, HAProxy makes it, the server answers with it, and HAProxy's log line ends with it.
  const own = await fetch(`${lb}/v1/rerank`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-request-id': 'client-id-42' },
    body: JSON.stringify(REQUESTS[0]),
  })
  assert.equal(own.status, 200)
  assert.equal(own.headers.get('x-request-id'), 'client-id-42')
  await own.arrayBuffer()
  const made = await post(lb, REQUESTS[0])
  assert.equal(made.status, 200)
  await made.arrayBuffer()
  const madeId = made.headers.get('x-request-id')
  assert.match(madeId ?? '', /^[0-9A-F]{20,}$/, `HAProxy's request id, got ${madeId}`)
  await until(() => haproxyLog.includes(` ${madeId}\n`), "HAProxy's log line with the request id", LONG)

  // The load: CLIENTS loops, each sending REQUESTS in turn through HAProxy until told to stop.
  let answered = 0
  let stopping = false
  const failures = []
  const mismatches = []
  const client = async (c) => {
    for (let i = c; !stopping; i += CLIENTS) {
      const n = i % REQUESTS.length
      try {
        const res = await post(lb, REQUESTS[n])
        const text = await res.text()
        if (res.status !== 200) failures.push(`${res.status} ${text.slice(0, 200)}`)
        else {
          const scores = scoresOf(JSON.parse(text))
          if (!scores.every((s, j) => Object.is(s, reference[n][j])) || scores.length !== reference[n].length) {
            mismatches.push(`request ${n}: ${JSON.stringify(scores)} vs ${JSON.stringify(reference[n])}`)
          }
        }
      } catch (error) {
        failures.push(`${error.name}: ${error.message} ${error.cause?.message ?? ''}`)
      }
      answered++
    }
  }
  const clients = Promise.all(Array.from({ length: CLIENTS }, (_, c) => client(c)))
  const rerankOk = (s) => metric(s.url, 'llama_rerank_http_requests_total', { route: '/v1/rerank', status: '200' })

  try {
    // K answers, then SIGKILL a server while it scores a request (the request must be retried).
    await until(() => answered >= K, `${K} answers`, LONG)
    const servedByKilled = await rerankOk(killed)
    assert.ok(servedByKilled > 0, 'the server to be killed answered requests before')
    await until(async () => (await metric(killed.url, 'llama_rerank_inflight_calls')) > 0, 'a request in the server to kill', LONG)
    killed.child.kill('SIGKILL')
    assert.equal((await killed.exited).signal, 'SIGKILL')
    const afterKill = answered

    // K more answers and HAProxy showing the server down; then SIGTERM another one while it
    // scores, and wait until it has drained and exited.
    await until(() => answered >= afterKill + K, `${K} answers after the SIGKILL`, LONG)
    await until(async () => serverRow(await haproxyStats(socket), 's1').status.startsWith('DOWN'), 'HAProxy to see s1 down', LONG)
    const servedByDrained = await rerankOk(drained)
    assert.ok(servedByDrained > 0, 'the server to be drained answered requests before')
    await until(async () => (await metric(drained.url, 'llama_rerank_inflight_calls')) > 0, 'a request in the server to drain', LONG)
    drained.child.kill('SIGTERM')
    const drainedExit = await drained.exited
    assert.equal(drainedExit.code, 0, drained.stderr())
    assert.match(drained.stderr(), /SIGTERM: finishing \d+ request\(s\), then exiting[\s\S]*stopped/)
    const afterDrain = answered

    // K more answers, all from the last server.
    await until(() => answered >= afterDrain + K, `${K} answers after the SIGTERM`, LONG)
  } finally {
    stopping = true
    await clients
  }

  const stats = await haproxyStats(socket)
  const backend = serverRow(stats, 'BACKEND')
  // What HAProxy did for it: its retries and redispatches (shown with the test's output).
  const summary = `${answered} answered; HAProxy: ${backend.wretr} retries, ${backend.wredis} redispatches; per server: ${names
    .map((n) => `${n} ${serverRow(stats, n).stot} sessions, ${serverRow(stats, n).status}`)
    .join('; ')}`
  console.log(summary)
  // On a failure: the failed requests, and HAProxy's log lines of the answers that were not 200.
  const not200 = haproxyLog.split('\n').filter((l) => l.includes('POST') && !/ 200 \d/.test(l))
  assert.deepEqual(failures, [], `${summary}\n${failures.slice(0, 10).join('\n')}\n${not200.slice(-20).join('\n')}`)
  assert.deepEqual(mismatches, [])
  assert.ok(answered >= 3 * K)
  assert.equal(serverRow(stats, 's3').status, 'UP')
  assert.ok(Number(serverRow(stats, 's3').stot) > 0, 'the last server answered through HAProxy')
})
