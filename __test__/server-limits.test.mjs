// `llama-rerank serve` under hostile or heavy load: slow and stalled clients, oversized bodies,
// too many documents or tokens (refused before any ranking work), a full queue and a queue
// timeout (503 with Retry-After), clients that never read their answer, idle keep-alive
// connections and a connection cap.

import assert from 'node:assert/strict'
import net from 'node:net'
import { after, before, describe, test } from 'node:test'
import { metric, occupy, serve } from './support/cli-helpers.mjs'
import { fixture, until } from './support/helpers.mjs'

const BERT = fixture('bert-reranker-pooler.gguf')
const QWEN = fixture('qwen3-reranker-pooled.gguf')
const QUERY = 'What is the capital of France?'
const DOCUMENTS = ['Paris is the capital and largest city of France.', 'Bananas are yellow.']
// Bun's node:http neither enforces maxConnections nor lets a 'connection' listener drop a socket.
const isBun = typeof globalThis.Bun !== 'undefined'
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

const post = (url, body, init = {}) =>
  fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), ...init })

async function expectError(res, status, message) {
  assert.equal(res.status, status)
  const { error } = await res.json()
  assert.equal(error.code, status)
  assert.match(error.message, message)
  return res
}

/** A raw TCP client: what it received, and when the server closed the connection. */
function rawClient(url) {
  const { hostname, port } = new URL(url)
  const socket = net.connect(Number(port), hostname)
  let received = ''
  socket.setEncoding('utf8')
  socket.on('data', (d) => (received += d))
  socket.on('error', () => {})
  const closed = new Promise((resolve) => socket.on('close', resolve))
  const connected = new Promise((resolve) => socket.on('connect', resolve))
  return { socket, connected, closed, received: () => received }
}

const within = (promise, ms, what) => Promise.race([promise, sleep(ms).then(() => assert.fail(`${what} did not happen within ${ms} ms`))])

describe('serve: slow, stalled and greedy clients', () => {
  let server
  before(async () => {
    server = await serve([
      '--model',
      BERT,
      '--threads',
      '1',
      '--body-timeout',
      '2000',
      '--headers-timeout',
      '800',
      '--keep-alive-timeout',
      '600',
      '--send-timeout',
      '600',
      '--max-body-bytes',
      String(12 * 1024 * 1024),
    ])
  })
  after(async () => {
    const { code } = await server.stop()
    assert.equal(code, 0, server.stderr())
  })

  test('a body trickled slower than --body-timeout gets a 408 and is cut off; a normal request meanwhile is answered at once', async () => {
    const slow = rawClient(server.url)
    await slow.connected
    const body = JSON.stringify({ query: QUERY, documents: DOCUMENTS })
    slow.socket.write(`POST /v1/rerank HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`)
    // A byte every 100 ms: each one on time, the whole far too slow.
    let sent = 0
    const trickle = setInterval(() => {
      if (!slow.socket.destroyed && sent < body.length - 1) slow.socket.write(body[sent++])
    }, 100)
    let slowClosed = false
    slow.closed.then(() => (slowClosed = true))
    try {
      await until(() => sent >= 2, 'the slow body to start')
      const res = await post(`${server.url}/v1/rerank`, { query: QUERY, documents: DOCUMENTS })
      assert.equal(res.status, 200)
      assert.equal((await res.json()).results.length, 2)
      // Answered while the slow client was still sending, not after the server gave up on it.
      assert.equal(slowClosed, false, 'not held up by the slow client')
      await within(slow.closed, 6000, 'closing the slow connection')
    } finally {
      clearInterval(trickle)
    }
    assert.match(slow.received(), /^HTTP\/1\.1 408 /)
    assert.match(slow.received(), /connection: close/i)
    const json = JSON.parse(slow.received().slice(slow.received().indexOf('\r\n\r\n') + 4))
    assert.equal(json.error.code, 408)
    assert.match(json.error.message, /did not arrive within 2000 ms/)
  })

  test('a body that stalls is cut off the same way', async () => {
    const stalled = rawClient(server.url)
    await stalled.connected
    stalled.socket.write('POST /rerank HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"query":')
    await within(stalled.closed, 6000, 'closing the stalled connection')
    assert.match(stalled.received(), /^HTTP\/1\.1 408 /)
  })

  test('request headers that never finish: the connection is closed after --headers-timeout', async () => {
    const loris = rawClient(server.url)
    await loris.connected
    loris.socket.write('POST /v1/rerank HTTP/1.1\r\nHost: x\r\n')
    const keepTalking = setInterval(() => !loris.socket.destroyed && loris.socket.write('X-Slow: 1\r\n'), 200)
    try {
      await within(loris.closed, 4000, 'closing the connection')
    } finally {
      clearInterval(keepTalking)
    }
  })

  test('a client that never reads its answer is dropped after --send-timeout; the context was freed long before', async () => {
    // ~8.6 MB of answer: more than the loopback socket buffers hold for a reader that never reads.
    // Mostly spaces, so that tokenizing them costs little.
    const documents = Array.from({ length: 16 }, (_, i) => `${' '.repeat(540_000)}Paris ${i}`)
    const body = JSON.stringify({ query: QUERY, documents, return_documents: true })
    const answered = await metric(server.url, 'llama_rerank_http_requests_total', { route: '/v1/rerank', status: '200' })
    const greedy = rawClient(server.url)
    await greedy.connected
    greedy.socket.pause() // never reads
    greedy.socket.write(
      `POST /v1/rerank HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n`,
    )
    greedy.socket.write(body)
    // The answer is counted when the server is done with the connection: after the deadline.
    const counted = await until(async () => {
      const now = await metric(server.url, 'llama_rerank_http_requests_total', { route: '/v1/rerank', status: '200' })
      return now !== answered && now
    }, 'the server to let go of the connection')
    assert.equal(counted, answered + 1, 'the server let go of the connection')
    assert.equal(await metric(server.url, 'llama_rerank_inflight_calls'), 0)
    // Other requests were never held up.
    assert.equal((await post(`${server.url}/v1/rerank`, { query: QUERY, documents: DOCUMENTS })).status, 200)
    // Reading now gets the part that was in flight, not the whole answer.
    greedy.socket.resume()
    await within(greedy.closed, 5000, 'the end of the cut answer')
    const head = greedy.received().slice(0, greedy.received().indexOf('\r\n\r\n'))
    const length = Number(/content-length: (\d+)/i.exec(head)[1])
    assert.ok(length > 8e6)
    assert.ok(greedy.received().length - head.length - 4 < length, 'the answer was cut')
  })

  test('an idle keep-alive connection is closed after --keep-alive-timeout', async () => {
    const idle = rawClient(server.url)
    await idle.connected
    idle.socket.write('GET /health HTTP/1.1\r\nHost: x\r\n\r\n')
    const started = performance.now()
    await within(idle.closed, 3000, 'closing the idle connection')
    assert.match(idle.received(), /^HTTP\/1\.1 200 /)
    assert.ok(performance.now() - started >= 400, 'kept alive for a while first')
  })

  test('a body over --max-body-bytes is a 413, and the connection is not kept', async () => {
    const res = await post(`${server.url}/v1/rerank`, { query: QUERY, documents: ['x'.repeat(13 * 1024 * 1024)] })
    await expectError(res, 413, /larger than 12582912 bytes/)
  })
})

describe('serve: request limits answer before any ranking work', () => {
  let server
  before(async () => {
    server = await serve(['--model', BERT, '--threads', '1', '--max-documents', '8', '--max-request-tokens', '100'])
  })
  after(async () => {
    const { code } = await server.stop()
    assert.equal(code, 0, server.stderr())
  })

  test('too many documents: 400, in both shapes, nothing scored', async () => {
    const scored = await metric(server.url, 'llama_rerank_documents_scored_total')
    await expectError(
      await post(`${server.url}/v1/rerank`, { query: QUERY, documents: Array(9).fill('a') }),
      400,
      /too many documents: 9, at most 8/,
    )
    await expectError(await post(`${server.url}/rerank`, { query: QUERY, texts: Array(9).fill('a') }), 400, /too many texts: 9, at most 8/)
    assert.equal(await metric(server.url, 'llama_rerank_documents_scored_total'), scored)
  })

  test("too many tokens (--max-request-tokens, counted with the context's tokenizer): 413, nothing scored", async () => {
    const scored = await metric(server.url, 'llama_rerank_documents_scored_total')
    const documents = Array.from({ length: 8 }, (_, i) => `Paris is the capital and largest city of France, number ${i}.`)
    await expectError(
      await post(`${server.url}/v1/rerank`, { query: QUERY, documents }),
      413,
      /the request has \d+ tokens to score, more than the server's limit of 100/,
    )
    await expectError(await post(`${server.url}/rerank`, { query: QUERY, texts: documents }), 413, /limit of 100/)
    assert.equal(await metric(server.url, 'llama_rerank_documents_scored_total'), scored)
    // Under the limit is fine, and its usage is what was counted.
    const answer = await (await post(`${server.url}/v1/rerank`, { query: QUERY, documents: documents.slice(0, 2) })).json()
    assert.ok(answer.usage.prompt_tokens <= 100)
    assert.equal(await metric(server.url, 'llama_rerank_documents_scored_total'), scored + 2)
  })
})

describe('serve: a busy server says when to come back', () => {
  // The one context is held by a request far longer than any CPU scores in a test's time, and
  // the test goes on only once the server counts it in flight; it is let go at the end.
  const HELD = ['--max-documents', '2000']

  test('--queue-timeout: a request that waits longer gets a 503 with Retry-After', async () => {
    const server = await serve(['--model', QWEN, '--threads', '1', '--queue-timeout', '150', ...HELD])
    const held = occupy(server.url)
    try {
      await held.running
      const started = performance.now()
      const res = await expectError(
        await post(`${server.url}/v1/rerank`, { query: QUERY, documents: DOCUMENTS }),
        503,
        /no ranking context became free within 150 ms \(0 requests ahead, 1 running\)/,
      )
      assert.ok(performance.now() - started >= 140)
      const retryAfter = Number(res.headers.get('retry-after'))
      assert.ok(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 60, `Retry-After: ${retryAfter}`)
      // The context was busy the whole time: the held request is still running.
      assert.equal(await metric(server.url, 'llama_rerank_inflight_calls'), 1)
      assert.equal(await held.release(), 'AbortError')
      // Once free, requests are served again.
      await until(async () => (await metric(server.url, 'llama_rerank_inflight_calls')) === 0, 'the context to be free')
      assert.equal((await post(`${server.url}/v1/rerank`, { query: QUERY, documents: DOCUMENTS })).status, 200)
    } finally {
      await held.release()
      const { code } = await server.stop()
      assert.equal(code, 0, server.stderr())
    }
  })

  test('--max-queue: a request beyond a full queue gets a 503 with Retry-After at once', async () => {
    const server = await serve(['--model', QWEN, '--threads', '1', '--max-queue', '0', ...HELD])
    const held = occupy(server.url)
    try {
      await held.running
      const res = await expectError(await post(`${server.url}/rerank`, { query: QUERY, texts: DOCUMENTS }), 503, /busy: 0 requests waiting/)
      assert.ok(Number(res.headers.get('retry-after')) >= 1)
      assert.equal(await metric(server.url, 'llama_rerank_inflight_calls'), 1)
      assert.equal(await held.release(), 'AbortError')
    } finally {
      await held.release()
      const { code } = await server.stop()
      assert.equal(code, 0, server.stderr())
    }
  })
})

describe('serve: --max-connections', () => {
  test('connections beyond the cap are closed; those within are served', {
    skip: isBun && "Bun's node:http does not enforce maxConnections (Node does)",
  }, async () => {
    const server = await serve(['--model', BERT, '--threads', '1', '--max-connections', '2'])
    const clients = []
    try {
      // Two connections the server has taken: each has had an answer, and stays open (keep-alive).
      for (let i = 0; i < 2; i++) {
        const c = rawClient(server.url)
        await c.connected
        clients.push(c)
        c.socket.write('GET /health HTTP/1.1\r\nHost: x\r\n\r\n')
        await until(() => /^HTTP\/1\.1 200 [\s\S]*\r\n\r\n/.test(c.received()), 'an answer on a connection within the cap', 5000)
      }
      const extra = rawClient(server.url)
      clients.push(extra)
      extra.socket.write('GET /health HTTP/1.1\r\nHost: x\r\n\r\n')
      await within(extra.closed, 2000, 'closing the connection over the cap')
      assert.equal(extra.received(), '')
      clients[0].socket.write('GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
      await within(clients[0].closed, 2000, 'an answer within the cap')
      assert.equal(clients[0].received().match(/HTTP\/1\.1 200 /g).length, 2)
    } finally {
      for (const c of clients) c.socket.destroy()
      const { code } = await server.stop()
      assert.equal(code, 0, server.stderr())
    }
  })
})
