// `llama-rerank serve` over loopback with fetch: the /v1/rerank answer shape, scores against
// the reference, top_n, return_documents, errors with JSON bodies, limits, 50 concurrent
// requests, and a graceful shutdown while requests run.

import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { metric, occupy, serve } from './support/cli-helpers.mjs'
import { expected, fixture, until } from './support/helpers.mjs'

const POOLED = fixture('qwen3-reranker-pooled.gguf')
const file = expected['qwen3-reranker-pooled.gguf']
const plain = file.pairs.filter((p) => p.instruction === null && p.maxLength === null)
const queries = [...new Set(plain.map((p) => p.query))]
const pairsOf = (query) => plain.filter((p) => p.query === query)
const QUERY = 'What is the capital of France?'
const TOLERANCE = 1e-3

const post = (url, body, init = {}) =>
  fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    ...init,
  })

/** Checks an answer against the reference: sorted by relevance, indices into `documents`. */
function assertAnswer(answer, query, documents, { topN = documents.length } = {}) {
  assert.equal(answer.object, 'list')
  assert.equal(typeof answer.id, 'string')
  assert.equal(answer.results.length, Math.min(topN, documents.length))
  const seen = new Set()
  let previous = Infinity
  for (const r of answer.results) {
    assert.deepEqual(Object.keys(r).slice(0, 2), ['index', 'relevance_score'])
    assert.ok(Number.isInteger(r.index) && r.index >= 0 && r.index < documents.length)
    assert.ok(!seen.has(r.index))
    seen.add(r.index)
    const text = typeof documents[r.index] === 'string' ? documents[r.index] : documents[r.index].text
    const ref = plain.find((p) => p.query === query && p.document === text).score
    assert.ok(Math.abs(r.relevance_score - ref) <= TOLERANCE, `${query} / ${text}: ${r.relevance_score} vs ${ref}`)
    assert.ok(r.relevance_score <= previous, 'sorted by relevance, descending')
    previous = r.relevance_score
  }
  // The best topN of all documents.
  const all = documents.map((d) => plain.find((p) => p.query === query && p.document === (d.text ?? d)).score)
  const best = [...all].sort((a, b) => b - a).slice(0, answer.results.length)
  answer.results.forEach((r, i) => assert.ok(Math.abs(r.relevance_score - best[i]) <= TOLERANCE))
  assert.ok(answer.usage.prompt_tokens > 0)
  assert.equal(answer.usage.total_tokens, answer.usage.prompt_tokens)
}

describe('serve: answers', () => {
  let server
  before(async () => {
    server = await serve(['--model', POOLED, '--contexts', '2', '--max-documents', '64', '--max-body-bytes', '65536'])
  })
  after(async () => {
    const { code } = await server.stop()
    assert.equal(code, 0, server.stderr())
  })

  test('GET /health', async () => {
    const res = await fetch(`${server.url}/health`)
    assert.equal(res.status, 200)
    assert.deepEqual(await res.json(), { status: 'ok' })
  })

  test('POST /v1/rerank scores like the reference, best first', async () => {
    for (const query of queries) {
      const documents = pairsOf(query).map((p) => p.document)
      const res = await post(`${server.url}/v1/rerank`, { query, documents })
      assert.equal(res.status, 200)
      assert.match(res.headers.get('content-type'), /^application\/json/)
      const answer = await res.json()
      assertAnswer(answer, query, documents)
      assert.equal(answer.model, 'qwen3-reranker-pooled.gguf')
      for (const r of answer.results) assert.equal(r.document, undefined)
    }
  })

  test('/rerank, model echo, return_documents and {text} documents', async () => {
    const documents = pairsOf(QUERY).map((p, i) => (i % 2 ? { text: p.document } : p.document))
    const res = await post(`${server.url}/rerank`, { model: 'my-reranker', query: QUERY, documents, return_documents: true })
    assert.equal(res.status, 200)
    const answer = await res.json()
    assertAnswer(answer, QUERY, documents)
    assert.equal(answer.model, 'my-reranker')
    for (const r of answer.results) {
      assert.deepEqual(Object.keys(r), ['index', 'relevance_score', 'document'])
      assert.deepEqual(r.document, { text: documents[r.index].text ?? documents[r.index] })
    }
  })

  test('top_n keeps the best n', async () => {
    const documents = pairsOf(QUERY).map((p) => p.document)
    for (const topN of [1, 2, 100]) {
      const answer = await (await post(`${server.url}/v1/rerank`, { query: QUERY, documents, top_n: topN })).json()
      assertAnswer(answer, QUERY, documents, { topN })
    }
  })

  test('no documents: an empty result', async () => {
    const res = await post(`${server.url}/v1/rerank`, { query: QUERY, documents: [] })
    assert.equal(res.status, 200)
    const answer = await res.json()
    assert.deepEqual(answer.results, [])
    assert.deepEqual(answer.usage, { prompt_tokens: 0, total_tokens: 0 })
  })

  const bad = [
    ['malformed JSON', '{"query": "q", "documents": [', 400, /not valid JSON/],
    ['a JSON array', '[1, 2]', 400, /JSON object/],
    ['no query', { documents: ['a'] }, 400, /"query" must be a string/],
    ['documents not an array', { query: 'q', documents: 'a' }, 400, /"documents" must be an array/],
    ['a document of the wrong type', { query: 'q', documents: ['a', 3] }, 400, /documents\[1\]/],
    ['top_n zero', { query: 'q', documents: ['a'], top_n: 0 }, 400, /"top_n" must be a positive integer/],
    ['return_documents not boolean', { query: 'q', documents: ['a'], return_documents: 'yes' }, 400, /"return_documents"/],
    ['too many documents', { query: 'q', documents: Array(65).fill('a') }, 400, /too many documents: 65, at most 64/],
    ['a body over the limit', { query: 'q', documents: ['x'.repeat(70_000)] }, 413, /larger than 65536 bytes/],
  ]
  for (const [what, body, status, message] of bad) {
    test(`${what}: ${status} with a JSON error`, async () => {
      const res = await post(`${server.url}/v1/rerank`, body)
      assert.equal(res.status, status)
      const { error } = await res.json()
      assert.equal(error.code, status)
      assert.equal(error.type, 'invalid_request_error')
      assert.match(error.message, message)
    })
  }

  test('a body far over the limit is refused from its Content-Length', async () => {
    const res = await post(`${server.url}/v1/rerank`, { query: 'q', documents: ['x'.repeat(1_000_000)] })
    assert.equal(res.status, 413)
    assert.equal((await res.json()).error.code, 413)
  })

  test('wrong method and unknown route', async () => {
    const get = await fetch(`${server.url}/v1/rerank`)
    assert.equal(get.status, 405)
    assert.equal(get.headers.get('allow'), 'POST')
    assert.equal((await get.json()).error.code, 405)
    const nowhere = await fetch(`${server.url}/v1/chat/completions`, { method: 'POST', body: '{}' })
    assert.equal(nowhere.status, 404)
    assert.match((await nowhere.json()).error.message, /POST \/v1\/rerank/)
  })

  test('50 concurrent requests are all answered correctly', async () => {
    const requests = Array.from({ length: 50 }, (_, i) => {
      const query = queries[i % queries.length]
      const pairs = pairsOf(query)
      // A different order and subset each time, so answers cannot be mixed up unnoticed.
      const documents = pairs.map((p) => p.document).filter((_, j) => (i + j) % 3 !== 0 || pairs.length === 1)
      if (i % 2) documents.reverse()
      return { query, documents, top_n: 1 + (i % 4) }
    })
    const answers = await Promise.all(
      requests.map(async (body) => {
        const res = await post(`${server.url}/v1/rerank`, body)
        assert.equal(res.status, 200)
        return res.json()
      }),
    )
    answers.forEach((answer, i) => assertAnswer(answer, requests[i].query, requests[i].documents, { topN: requests[i].top_n }))
  })
})

describe('serve: a client that goes away', () => {
  let server
  before(async () => {
    server = await serve(['--model', POOLED, '--contexts', '2', '--max-documents', '2000'])
  })
  after(async () => {
    const { code } = await server.stop()
    assert.equal(code, 0, server.stderr())
  })

  test('its ranking stops, it is counted as 499, and the others are not disturbed', async () => {
    const gone = occupy(server.url)
    await gone.running
    const beside = pairsOf(QUERY).map((p) => p.document)
    const res = await post(`${server.url}/v1/rerank`, { query: QUERY, documents: beside })
    assert.equal(res.status, 200)
    assertAnswer(await res.json(), QUERY, beside)
    assert.equal(await gone.release(), 'AbortError')
    // The server stops scoring it and frees its context.
    await until(async () => (await metric(server.url, 'llama_rerank_inflight_calls')) === 0, 'the abandoned call to stop')
    await until(
      async () => (await metric(server.url, 'llama_rerank_http_requests_total', { route: '/v1/rerank', status: '499' })) === 1,
      'the 499 to be counted',
    )
    const documents = pairsOf(QUERY)
      .map((p) => p.document)
      .reverse()
    const after = await post(`${server.url}/v1/rerank`, { query: QUERY, documents })
    assert.equal(after.status, 200)
    assertAnswer(await after.json(), QUERY, documents)
  })
})

describe('serve: shutdown', () => {
  test('SIGTERM finishes the running and queued requests, then exits 0', async () => {
    const server = await serve(['--model', POOLED, '--contexts', '2', '--threads', '1', '--max-documents', '2000'])
    const pair = pairsOf(QUERY)[0]
    // Both contexts held by requests that no CPU finishes in a test's time, two more waiting
    // behind them: four requests in the server when the signal comes, by construction.
    const held = [occupy(server.url), occupy(server.url)]
    await until(async () => (await metric(server.url, 'llama_rerank_inflight_calls')) === 2, 'both contexts to be busy')
    const documents = [
      pair.document,
      ...pairsOf(QUERY)
        .slice(1)
        .map((p) => p.document),
    ]
    const waiting = Array.from({ length: 2 }, () =>
      post(`${server.url}/v1/rerank`, { query: QUERY, documents, top_n: 3 }).then(async (res) => ({
        status: res.status,
        body: await res.json(),
      })),
    )
    await until(async () => (await metric(server.url, 'llama_rerank_queue_depth')) === 2, 'two requests to wait')
    server.child.kill('SIGTERM')
    await until(() => /SIGTERM: finishing/.test(server.stderr()), 'the server to start draining')
    assert.match(server.stderr(), /SIGTERM: finishing 4 request\(s\)/)
    // The held requests' clients go away; the waiting ones are then scored and answered.
    for (const h of held) assert.equal(await h.release(), 'AbortError')
    for (const { status, body } of await Promise.all(waiting)) {
      assert.equal(status, 200)
      assert.equal(body.results.length, Math.min(3, documents.length))
      assert.ok(body.results.every((r, i, all) => i === 0 || all[i - 1].relevance_score >= r.relevance_score))
      assertAnswer(body, QUERY, documents, { topN: 3 })
    }
    const { code } = await server.exited
    assert.equal(code, 0, server.stderr())
    assert.match(server.stderr(), /stopped/)
    // Nothing listens any more.
    await assert.rejects(fetch(`${server.url}/health`))
  })
})
