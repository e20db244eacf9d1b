// `llama-rerank serve` speaks its clients' dialects: llama-server's `texts` and `/reranking`,
// Cohere's v1 and v2 requests (every field honoured or refused with a 400 naming it; the v2
// `priority` orders the queue), Cohere's `meta` and top-level error `message`. The published
// clients themselves are in clients.test.mjs.

import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { metric, occupy, serve } from './support/cli-helpers.mjs'
import { expected, fixture, until } from './support/helpers.mjs'

const POOLED = fixture('qwen3-reranker-pooled.gguf')
const QUERY = 'What is the capital of France?'
const DOCUMENTS = [...new Set(expected['qwen3-reranker-pooled.gguf'].pairs.map((p) => p.document))]
  .filter((d) => d.trim() !== '')
  .slice(0, 4)

const post = async (url, body) => {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
  return { status: res.status, body: await res.json() }
}
const scoresOf = (answer) => answer.results.map((r) => [r.index, r.relevance_score])

async function expectRefused(url, body, pattern) {
  const { status, body: answer } = await post(url, body)
  assert.equal(status, 400, JSON.stringify(answer))
  assert.match(answer.message, pattern)
  assert.deepEqual(answer.error, { code: 400, message: answer.message, type: 'invalid_request_error' })
}

describe('serve: dialects', () => {
  let server
  let reference
  before(async () => {
    server = await serve(['--model', POOLED, '--contexts', '1', '--max-documents', '2000'])
    reference = scoresOf((await post(`${server.url}/v1/rerank`, { query: QUERY, documents: DOCUMENTS })).body)
  })
  after(async () => {
    const { code } = await server.stop()
    assert.equal(code, 0, server.stderr())
  })

  test('llama-server: /reranking is an alias, "texts" is "documents" on every v1 route', async () => {
    for (const route of ['/v1/rerank', '/v1/reranking', '/reranking']) {
      const { status, body } = await post(`${server.url}${route}`, { query: QUERY, texts: DOCUMENTS, top_n: 2, return_documents: true })
      assert.equal(status, 200, JSON.stringify(body))
      assert.deepEqual(scoresOf(body), reference.slice(0, 2))
      assert.deepEqual(
        body.results.map((r) => r.document.text),
        reference.slice(0, 2).map(([i]) => DOCUMENTS[i]),
      )
      await expectRefused(
        `${server.url}${route}`,
        { query: QUERY, texts: DOCUMENTS, documents: DOCUMENTS },
        /"documents" or as "texts", not both/,
      )
    }
  })

  test("Cohere's meta: the route's API version and the tokens scored", async () => {
    for (const [route, version] of [
      ['/v1/rerank', '1'],
      ['/v2/rerank', '2'],
      ['/reranking', '1'],
    ]) {
      const { body } = await post(`${server.url}${route}`, { query: QUERY, documents: DOCUMENTS })
      assert.deepEqual(body.meta, { api_version: { version }, tokens: { input_tokens: body.usage.prompt_tokens, output_tokens: 0 } })
    }
  })

  test("a field no shape defines is a 400 naming it, on every route; TEI's shape too", async () => {
    for (const route of ['/v1/rerank', '/v1/reranking', '/reranking', '/v2/rerank', '/rerank']) {
      await expectRefused(
        `${server.url}${route}`,
        { query: QUERY, documents: DOCUMENTS, temperature: 1 },
        new RegExp(`field "temperature" not supported on POST ${route}, which takes `),
      )
    }
    await expectRefused(`${server.url}/v1/rerank`, { query: QUERY, documents: DOCUMENTS, a: 1, b: 2 }, /fields "a", "b" not supported/)
    await expectRefused(
      `${server.url}/rerank`,
      { query: QUERY, texts: DOCUMENTS, top_n: 1 },
      /field "top_n" not supported on POST \/rerank \(text-embeddings-inference's shape/,
    )
    // v2 takes strings only; v1's object documents are refused there with the reason.
    await expectRefused(
      `${server.url}/v2/rerank`,
      { query: QUERY, documents: [{ text: 'x' }] },
      /documents\[0\] must be a string: Cohere's v2 API/,
    )
    await expectRefused(
      `${server.url}/v2/rerank`,
      { query: QUERY, documents: DOCUMENTS, rank_fields: ['text'] },
      /field "rank_fields" not supported on POST \/v2\/rerank/,
    )
  })

  test('v2 return_documents gives each document as { text }', async () => {
    const { body } = await post(`${server.url}/v2/rerank`, { query: QUERY, documents: DOCUMENTS, return_documents: true, top_n: 1 })
    assert.deepEqual(
      body.results.map((r) => [r.index, r.relevance_score, r.document]),
      [[...reference[0], { text: DOCUMENTS[reference[0][0]] }]],
    )
  })

  test('v2 priority: a waiting request with a lower number is scored first', async () => {
    const held = occupy(server.url)
    await held.running
    const finished = []
    const send = (priority) =>
      post(`${server.url}/v2/rerank`, { query: QUERY, documents: DOCUMENTS, priority }).then((answer) => {
        finished.push(priority)
        return answer
      })
    const waiting = [send(9)]
    await until(async () => (await metric(server.url, 'llama_rerank_queue_depth')) === 1, 'the first request to wait')
    waiting.push(send(3))
    await until(async () => (await metric(server.url, 'llama_rerank_queue_depth')) === 2, 'the second request to wait')
    waiting.push(send(3))
    await until(async () => (await metric(server.url, 'llama_rerank_queue_depth')) === 3, 'the third request to wait')
    assert.equal(await held.release(), 'AbortError')
    const answers = await Promise.all(waiting)
    for (const { status, body } of answers) {
      assert.equal(status, 200)
      assert.deepEqual(scoresOf(body), reference)
    }
    // One context: they ran one after the other, priority 3 (in arrival order) before 9.
    assert.deepEqual(finished, [3, 3, 9])
  })
})
