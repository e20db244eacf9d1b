// `llama-rerank serve`: Hugging Face text-embeddings-inference's `/rerank` shape
// ({ query, texts, raw_scores, return_text, truncate, truncation_direction } → [{ index, score, text? }]),
// checked against the reference scores and logits, and which request shape goes to which route.

import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { serve } from './support/cli-helpers.mjs'
import { expected, fixture } from './support/helpers.mjs'

const QUERY = 'What is the capital of France?'
const plainPairs = (file) => expected[file].pairs.filter((p) => p.instruction === null && p.maxLength === null)
const LONG = 'Paris is a city in France. '.repeat(150) // ~1,000 tokens: over BERT's 512-token context

const post = (url, body) => fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })

async function expectError(res, status, message) {
  assert.equal(res.status, status)
  const { error } = await res.json()
  assert.equal(error.code, status)
  assert.equal(typeof error.type, 'string')
  assert.match(error.message, message)
}

/** Checks a TEI answer: every text once, sorted by score descending, scores as the reference. */
function assertTeiAnswer(answer, texts, referenceOf, tolerance) {
  assert.ok(Array.isArray(answer))
  assert.equal(answer.length, texts.length)
  assert.deepEqual(
    answer.map((r) => r.index).sort((a, b) => a - b),
    texts.map((_, i) => i),
  )
  answer.forEach((r, i) => {
    if (i > 0) assert.ok(answer[i - 1].score >= r.score, 'sorted by score, descending')
    const ref = referenceOf(texts[r.index])
    assert.ok(Math.abs(r.score - ref) <= tolerance, `${texts[r.index]}: ${r.score} vs ${ref}`)
  })
}

describe('serve: TEI /rerank on a generative reranker (Qwen3, yes-no)', () => {
  const file = 'qwen3-reranker-pooled.gguf'
  const pairs = plainPairs(file).filter((p) => p.query === QUERY)
  const texts = pairs.map((p) => p.document)
  const probability = (text) => pairs.find((p) => p.document === text).score
  let server
  before(async () => {
    server = await serve(['--model', fixture(file), '--threads', '1', '--max-documents', '16'])
  })
  after(async () => {
    const { code } = await server.stop()
    assert.equal(code, 0, server.stderr())
  })

  test('a body with "texts" on /rerank answers TEI\'s array, sorted, probabilities as the reference', async () => {
    const res = await post(`${server.url}/rerank`, { query: QUERY, texts })
    assert.equal(res.status, 200)
    const answer = await res.json()
    assertTeiAnswer(answer, texts, probability, 1e-3)
    for (const r of answer) assert.deepEqual(Object.keys(r), ['index', 'score'])
  })

  test('return_text adds each text', async () => {
    const answer = await (await post(`${server.url}/rerank`, { query: QUERY, texts, return_text: true })).json()
    for (const r of answer) assert.deepEqual(r, { index: r.index, score: r.score, text: texts[r.index] })
  })

  test('raw_scores is a 400 for a yes-no model: its score is not a float64 sigmoid of one logit', async () => {
    await expectError(
      await post(`${server.url}/rerank`, { query: QUERY, texts, raw_scores: true }),
      400,
      /raw_scores.*cross-encoder.*"yes-no"/,
    )
    // false is the default and fine.
    assert.equal((await post(`${server.url}/rerank`, { query: QUERY, texts, raw_scores: false })).status, 200)
  })

  test('no texts: an empty array', async () => {
    const res = await post(`${server.url}/rerank`, { query: QUERY, texts: [] })
    assert.equal(res.status, 200)
    assert.deepEqual(await res.json(), [])
  })

  const bad = [
    ['texts not an array', { query: 'q', texts: 'a' }, /"texts" must be an array/],
    ['a text not a string', { query: 'q', texts: ['a', { text: 'b' }] }, /texts\[1\] must be a string/],
    ['no query', { texts: ['a'] }, /"query" must be a string/],
    ['raw_scores not boolean', { query: 'q', texts: ['a'], raw_scores: 'yes' }, /"raw_scores" must be a boolean/],
    ['truncate not boolean', { query: 'q', texts: ['a'], truncate: 1 }, /"truncate" must be a boolean/],
    ['an unknown truncation_direction', { query: 'q', texts: ['a'], truncation_direction: 'Middle' }, /"Right" or "Left"/],
    ['too many texts', { query: 'q', texts: Array(17).fill('a') }, /too many texts: 17, at most 16/],
  ]
  for (const [what, body, message] of bad) {
    test(`${what}: 400 with a JSON error`, async () => {
      await expectError(await post(`${server.url}/rerank`, body), 400, message)
    })
  }

  test('route selection: on /rerank "documents" is the Cohere/llama-server shape and "texts" alone TEI\'s; elsewhere "texts" is llama-server\'s "documents" (not on /v2/rerank)', async () => {
    const v1 = await (await post(`${server.url}/rerank`, { query: QUERY, documents: texts.slice(0, 2) })).json()
    assert.equal(v1.object, 'list')
    assert.equal(v1.results.length, 2)
    await expectError(
      await post(`${server.url}/rerank`, { query: QUERY, documents: texts.slice(0, 2), texts: ['ignored'] }),
      400,
      /"documents" or as "texts", not both/,
    )
    for (const route of ['/v1/rerank', '/v1/reranking', '/reranking']) {
      const answer = await (await post(`${server.url}${route}`, { query: QUERY, texts })).json()
      assert.equal(answer.object, 'list', route)
      assert.equal(answer.results.length, texts.length)
    }
    await expectError(
      await post(`${server.url}/v2/rerank`, { query: QUERY, texts }),
      400,
      /field "texts" not supported on POST \/v2\/rerank/,
    )
  })
})

describe('serve: TEI /rerank on a cross-encoder (BERT, classifier)', () => {
  const file = 'bert-reranker-pooler.gguf'
  const pairs = plainPairs(file).filter((p) => p.query === QUERY)
  const texts = pairs.map((p) => p.document)
  const logit = (text) => pairs.find((p) => p.document === text).logit
  let server
  before(async () => {
    server = await serve(['--model', fixture(file), '--threads', '1'])
  })
  after(async () => {
    const { code } = await server.stop()
    assert.equal(code, 0, server.stderr())
  })

  test('raw_scores: the logit, as the reference, and exactly the inverse sigmoid of the probability', async () => {
    const raw = await (await post(`${server.url}/rerank`, { query: QUERY, texts, raw_scores: true })).json()
    // |Δp| ≤ 2e-3 for BERT; dp = p(1-p)·dlogit, so the logit tolerance is 4× that at worst.
    assertTeiAnswer(raw, texts, logit, 8e-3)
    const probabilities = await (await post(`${server.url}/rerank`, { query: QUERY, texts })).json()
    for (const r of raw) {
      const p = probabilities.find((q) => q.index === r.index).score
      assert.ok(Math.abs(1 / (1 + Math.exp(-r.score)) - p) < 1e-12, `sigmoid(${r.score}) = ${p}`)
    }
    assert.deepEqual(
      raw.map((r) => r.index),
      probabilities.map((r) => r.index),
      'the same order',
    )
    assert.ok(
      raw.some((r) => r.score < 0),
      'logits, not probabilities',
    )
  })

  test('truncate false (the default, as in TEI): an over-long text is a 413 before any work', async () => {
    for (const truncate of [undefined, false, null]) {
      await expectError(
        await post(`${server.url}/rerank`, { query: QUERY, texts: [texts[0], LONG], truncate }),
        413,
        /texts\[1\].*over the model's context of 512/,
      )
    }
  })

  test("truncate true cuts the document's tail, as the /v1/rerank shape always does", async () => {
    const tei = await (await post(`${server.url}/rerank`, { query: QUERY, texts: [texts[0], LONG], truncate: true })).json()
    const v1 = await (await post(`${server.url}/v1/rerank`, { query: QUERY, documents: [texts[0], LONG] })).json()
    for (const r of v1.results) assert.equal(tei.find((t) => t.index === r.index).score, r.relevance_score)
  })

  test('truncation_direction Left: a 400 when a text would be cut, fine when none is', async () => {
    await expectError(
      await post(`${server.url}/rerank`, { query: QUERY, texts: [LONG], truncate: true, truncation_direction: 'Left' }),
      400,
      /"Left" cannot be honoured.*only cuts a document's tail/,
    )
    for (const direction of ['Left', 'left', 'Right', 'right']) {
      const res = await post(`${server.url}/rerank`, { query: QUERY, texts, truncate: true, truncation_direction: direction })
      assert.equal(res.status, 200, direction)
      assert.equal((await res.json()).length, texts.length)
    }
  })
})
