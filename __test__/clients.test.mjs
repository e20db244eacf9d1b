// The HTTP clients users already have, unchanged, against a local `llama-rerank serve` with an
// API key: the published cohere-ai SDK (v1 and v2 clients), the AI SDK's rerank() with
// @ai-sdk/cohere, @langchain/cohere's CohereRerank and @llamaindex/cohere's CohereRerank, each
// with its base URL on the server (packages from ~/.cache/llama-rerank-frameworks, see
// frameworks.mjs). Each gets rankAll's indices and scores; their errors carry the server's
// message. Then every field of Cohere's v1 and v2 rerank requests (as the cohere-ai SDK
// declares them) is either honoured or refused with a 400 that names it, and the HTTP examples
// of docs/integrations.md run. Runs under Node and Bun.

import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { after, before, describe, test } from 'node:test'
import { serve } from './support/cli-helpers.mjs'
import { frameworkProject } from './support/frameworks.mjs'
import { expected, fixture, lib, root } from './support/helpers.mjs'

const KEY = 'client-test-key'
/** The server and key the HTTP examples of docs/integrations.md name. */
const EXAMPLE_URL = 'http://127.0.0.1:8080'
const EXAMPLE_KEY = 'my-key'
const MODEL_NAME = 'local-reranker'
const QUERY = 'What is the capital of France?'
const MODELS = ['qwen3-reranker-pooled.gguf', 'bert-reranker-stock.gguf']
const DOCUMENTS = [...new Set(expected[MODELS[0]].pairs.map((p) => p.document))].filter((d) => d.trim() !== '').slice(0, 8)

let project

/** rankAll in process with the server's context settings: `[{ index, score }]`, best first. */
async function reference(name, documents = DOCUMENTS, query = QUERY, options = {}) {
  const model = await lib.loadModel(fixture(name))
  try {
    const context = await model.createRankingContext()
    const scores = await context.rankAll(query, documents, options)
    // Disposed here, so that the context stays referenced while it ranks.
    await context.dispose()
    return scores.map((score, index) => ({ index, score })).sort((a, b) => b.score - a.score || a.index - b.index)
  } finally {
    await model.dispose()
  }
}

/**
 * Each document cut as `max_tokens_per_doc` cuts it: to its longest prefix of whole words whose
 * tokens (the pair's beyond the pair with an empty document) are at most `maxTokens`, found
 * here by trying every word end.
 */
async function cutDocuments(name, documents, maxTokens, query = QUERY) {
  const model = await lib.loadModel(fixture(name))
  try {
    const context = await model.createRankingContext()
    const empty = context.calculateInputLength(query, '')
    const fits = (text) => context.calculateInputLength(query, text) - empty <= maxTokens
    return documents.map((document) => {
      if (fits(document)) return document
      const ends = [...document.matchAll(/\S(?=\s)/gu)].map((m) => m.index + m[0].length)
      const fitting = ends.filter((end) => fits(document.slice(0, end)))
      assert.ok(fitting.length, `the first word of ${JSON.stringify(document)} fits in ${maxTokens} tokens`)
      return document.slice(0, Math.max(...fitting))
    })
  } finally {
    await model.dispose()
  }
}

before(() => {
  project = frameworkProject()
})

after(() => project?.remove())

for (const name of MODELS) {
  describe(`real clients against llama-rerank serve (${name})`, () => {
    let server
    let want
    before(async () => {
      server = await serve(['--model', fixture(name), '--api-key', KEY])
      want = await reference(name)
    })
    after(async () => {
      const { code } = await server.stop()
      assert.equal(code, 0, server.stderr())
    })

    test('cohere-ai, v1 client (POST /v1/rerank): indices and scores of rankAll, topN, return_documents', async () => {
      const { CohereClient } = project.require('cohere-ai')
      const client = new CohereClient({ token: KEY, environment: server.url })
      const all = await client.rerank({ model: MODEL_NAME, query: QUERY, documents: DOCUMENTS })
      assert.deepEqual(
        all.results.map((r) => [r.index, r.relevanceScore]),
        want.map((r) => [r.index, r.score]),
      )
      const top = await client.rerank({
        model: MODEL_NAME,
        query: QUERY,
        documents: DOCUMENTS.map((text) => ({ text })),
        topN: 3,
        returnDocuments: true,
      })
      assert.deepEqual(
        top.results.map((r) => [r.index, r.relevanceScore, r.document.text]),
        want.slice(0, 3).map((r) => [r.index, r.score, DOCUMENTS[r.index]]),
      )
      assert.equal(typeof top.meta.apiVersion.version, 'string')
    })

    test('cohere-ai, v2 client (POST /v2/rerank): indices and scores of rankAll, topN', async () => {
      const { CohereClientV2 } = project.require('cohere-ai')
      const client = new CohereClientV2({ token: KEY, environment: server.url })
      const all = await client.rerank({ model: MODEL_NAME, query: QUERY, documents: DOCUMENTS })
      assert.deepEqual(
        all.results.map((r) => [r.index, r.relevanceScore]),
        want.map((r) => [r.index, r.score]),
      )
      const top = await client.rerank({ model: MODEL_NAME, query: QUERY, documents: DOCUMENTS, topN: 2 })
      assert.deepEqual(
        top.results.map((r) => [r.index, r.relevanceScore]),
        want.slice(0, 2).map((r) => [r.index, r.score]),
      )
      assert.equal(top.meta.apiVersion.version, '2')
    })

    test("cohere-ai: a wrong key and a bad request are the SDK's typed errors with the server's message", async () => {
      const cohere = project.require('cohere-ai')
      const wrong = new cohere.CohereClientV2({ token: 'wrong-key', environment: server.url })
      await assert.rejects(wrong.rerank({ model: MODEL_NAME, query: QUERY, documents: DOCUMENTS }), (error) => {
        assert.ok(error instanceof cohere.CohereError, error.constructor.name)
        assert.equal(error.statusCode, 401)
        assert.match(error.body.message, /API key/)
        return true
      })
      const client = new cohere.CohereClient({ token: KEY, environment: server.url })
      await assert.rejects(client.rerank({ model: MODEL_NAME, query: QUERY, documents: DOCUMENTS, maxChunksPerDoc: 4 }), (error) => {
        assert.ok(error instanceof cohere.CohereError, error.constructor.name)
        assert.equal(error.statusCode, 400)
        assert.match(error.body.message, /max_chunks_per_doc/)
        return true
      })
    })

    test("AI SDK rerank() with @ai-sdk/cohere (baseURL .../v2): rankAll's order and scores, topN, object documents", async () => {
      const { rerank } = await project.import('ai')
      const { createCohere } = await project.import('@ai-sdk/cohere')
      const cohere = createCohere({ baseURL: `${server.url}/v2`, apiKey: KEY })
      const model = cohere.reranking(MODEL_NAME)
      const result = await rerank({ model, query: QUERY, documents: DOCUMENTS, topN: 3 })
      assert.deepEqual(
        result.ranking.map((r) => [r.originalIndex, r.score]),
        want.slice(0, 3).map((r) => [r.index, r.score]),
      )
      const objects = DOCUMENTS.slice(0, 4).map((text, id) => ({ id, text }))
      const objectWant = await reference(
        name,
        objects.map((o) => JSON.stringify(o)),
      )
      const fromObjects = await rerank({ model, query: QUERY, documents: objects })
      assert.deepEqual(
        fromObjects.ranking.map((r) => [r.originalIndex, r.score]),
        objectWant.map((r) => [r.index, r.score]),
      )
      // The server's message reaches the AI SDK's APICallError.
      await assert.rejects(
        rerank({ model, query: QUERY, documents: DOCUMENTS, providerOptions: { cohere: { maxTokensPerDoc: 0 } }, maxRetries: 0 }),
        (error) => {
          assert.equal(error.statusCode, 400)
          assert.match(error.message, /max_tokens_per_doc/)
          return true
        },
      )
    })

    test('@langchain/cohere CohereRerank with a cohere-ai client on the server', async () => {
      const { CohereRerank } = await project.import('@langchain/cohere')
      const { Document } = await project.import('@langchain/core/documents')
      const { CohereClient } = project.require('cohere-ai')
      const reranker = new CohereRerank({ client: new CohereClient({ token: KEY, environment: server.url }), model: MODEL_NAME, topN: 3 })
      const out = await reranker.compressDocuments(
        DOCUMENTS.map((pageContent) => new Document({ pageContent })),
        QUERY,
      )
      assert.deepEqual(
        out.map((d) => [d.pageContent, d.metadata.relevanceScore]),
        want.slice(0, 3).map((r) => [DOCUMENTS[r.index], r.score]),
      )
      const ranked = await reranker.rerank(DOCUMENTS, QUERY, { topN: DOCUMENTS.length })
      assert.deepEqual(
        ranked.map((r) => [r.index, r.relevanceScore]),
        want.map((r) => [r.index, r.score]),
      )
    })

    test('@llamaindex/cohere CohereRerank with baseUrl on the server', async () => {
      const { CohereRerank } = await project.import('@llamaindex/cohere')
      const { TextNode } = await project.import('@llamaindex/core/schema')
      const reranker = new CohereRerank({ apiKey: KEY, baseUrl: server.url, model: MODEL_NAME, topN: 3 })
      const nodes = DOCUMENTS.map((text, i) => ({ node: new TextNode({ text, id_: `n${i}` }), score: 0 }))
      const out = await reranker.postprocessNodes(nodes, QUERY)
      assert.deepEqual(
        out.map((n) => [n.node.id_, n.score]),
        want.slice(0, 3).map((r) => [`n${r.index}`, r.score]),
      )
    })
  })
}

/** The wire names of a request's fields, as the installed cohere-ai SDK serializes them. */
function sdkFields(file) {
  const source = readFileSync(path.join(project.dir, 'node_modules', 'cohere-ai', 'serialization', file), 'utf8')
  const fields = [...source.matchAll(/^\s+(\w+): core\.serialization\.(?:property\("(\w+)")?/gm)].map((m) => m[2] ?? m[1])
  assert.ok(fields.includes('query') && fields.includes('documents'), `no fields read from ${file}: ${fields}`)
  return fields
}

describe("every field of Cohere's rerank requests is honoured or refused with a 400 naming it", () => {
  const name = MODELS[0]
  let server
  before(async () => {
    server = await serve(['--model', fixture(name)])
  })
  after(async () => {
    const { code } = await server.stop()
    assert.equal(code, 0, server.stderr())
  })

  const post = async (route, body) => {
    const res = await fetch(`${server.url}${route}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    })
    return { status: res.status, body: await res.json() }
  }
  const refused = async (route, body, field) => {
    const { status, body: answer } = await post(route, body)
    assert.equal(status, 400, `${route} ${JSON.stringify(body).slice(0, 200)}: ${JSON.stringify(answer)}`)
    assert.ok(
      answer.message.includes(`"${field}"`) || answer.message.includes(`${field}[`),
      `the 400 must name ${field}: ${answer.message}`,
    )
    assert.equal(answer.error.message, answer.message)
  }
  const scoresOf = (answer) => answer.results.map((r) => [r.index, r.relevance_score])
  const base = { model: 'm', query: QUERY, documents: DOCUMENTS.slice(0, 4) }

  // What each field does, per API version: a request that uses it, and one it refuses.
  const V1 = {
    model: async (route) => {
      assert.equal((await post(route, base)).body.model, 'm')
      await refused(route, { ...base, model: 3 }, 'model')
    },
    query: async (route) => refused(route, { ...base, query: undefined }, 'query'),
    documents: async (route) => {
      const objects = await post(route, { ...base, documents: base.documents.map((text) => ({ text, id: 'x' })) })
      assert.deepEqual(scoresOf(objects.body), scoresOf((await post(route, base)).body))
      await refused(route, { ...base, documents: [{ title: 'no text' }] }, 'documents')
    },
    top_n: async (route) => {
      assert.equal((await post(route, { ...base, top_n: 2 })).body.results.length, 2)
      await refused(route, { ...base, top_n: 0 }, 'top_n')
    },
    return_documents: async (route) => {
      const documents = [base.documents[0], { text: base.documents[1], id: 7 }]
      const { body } = await post(route, { ...base, documents, return_documents: true })
      for (const r of body.results)
        assert.deepEqual(r.document, typeof documents[r.index] === 'string' ? { text: documents[r.index] } : documents[r.index])
      assert.ok((await post(route, base)).body.results.every((r) => !('document' in r)))
      await refused(route, { ...base, return_documents: 'yes' }, 'return_documents')
    },
    rank_fields: async (route) => {
      const documents = base.documents.map((text, i) => ({ title: `Title ${i}`, text }))
      const { body } = await post(route, { ...base, documents, rank_fields: ['title', 'text'] })
      const want = await reference(
        name,
        documents.map((d) => `title: ${d.title}\ntext: ${d.text}`),
      )
      assert.deepEqual(
        scoresOf(body),
        want.map((r) => [r.index, r.score]),
      )
      const titles = await post(route, { ...base, documents, rank_fields: ['title'] })
      assert.deepEqual(
        scoresOf(titles.body),
        (
          await reference(
            name,
            documents.map((d) => d.title),
          )
        ).map((r) => [r.index, r.score]),
      )
      await refused(route, { ...base, documents, rank_fields: ['author'] }, 'rank_fields')
    },
    max_chunks_per_doc: async (route) => {
      assert.deepEqual(scoresOf((await post(route, { ...base, max_chunks_per_doc: 1 })).body), scoresOf((await post(route, base)).body))
      await refused(route, { ...base, max_chunks_per_doc: 10 }, 'max_chunks_per_doc')
    },
  }
  const V2 = {
    model: V1.model,
    query: V1.query,
    documents: async (route) => {
      await refused(route, { ...base, documents: [{ text: base.documents[0] }] }, 'documents')
    },
    top_n: V1.top_n,
    max_tokens_per_doc: async (route) => {
      const { body } = await post(route, { ...base, max_tokens_per_doc: 4 })
      assert.deepEqual(
        scoresOf(body),
        (await reference(name, await cutDocuments(name, base.documents, 4))).map((r) => [r.index, r.score]),
      )
      assert.deepEqual(scoresOf((await post(route, { ...base, max_tokens_per_doc: 4096 })).body), scoresOf((await post(route, base)).body))
      await refused(route, { ...base, max_tokens_per_doc: 0 }, 'max_tokens_per_doc')
    },
    priority: async (route) => {
      assert.deepEqual(scoresOf((await post(route, { ...base, priority: 7 })).body), scoresOf((await post(route, base)).body))
      await refused(route, { ...base, priority: 1000 }, 'priority')
    },
  }

  for (const [version, file, route, checks] of [
    ['v1', 'client/requests/RerankRequest.js', '/v1/rerank', V1],
    ['v2', 'resources/v2/client/requests/V2RerankRequest.js', '/v2/rerank', V2],
  ]) {
    test(`${version} (${route}): every field the cohere-ai SDK sends`, async () => {
      const fields = sdkFields(file)
      assert.deepEqual(
        fields.filter((f) => !(f in checks)),
        [],
        `fields of the SDK without a check here`,
      )
      for (const field of fields) await checks[field](route)
      // A field no version defines is named too.
      await refused(route, { ...base, temperature: 0 }, 'temperature')
      await refused(
        route,
        { ...base, rank_fields: version === 'v2' ? ['text'] : undefined, max_tokens_per_doc: version === 'v1' ? 5 : undefined },
        version === 'v2' ? 'rank_fields' : 'max_tokens_per_doc',
      )
    })
  }
})

test('the HTTP examples of docs/integrations.md run against a local server', async () => {
  const page = readFileSync(path.join(root, 'docs', 'integrations.md'), 'utf8')
  const examples = [...page.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1]).filter((code) => code.includes(EXAMPLE_URL))
  assert.ok(examples.length >= 3, 'the cohere-ai, AI SDK and framework examples')
  const server = await serve(['--model', fixture(MODELS[0]), '--api-key', EXAMPLE_KEY])
  try {
    for (const [i, code] of examples.entries()) {
      const file = path.join(project.dir, `http-example-${i}.mjs`)
      writeFileSync(file, code.replaceAll(EXAMPLE_URL, server.url))
      const r = spawnSync(process.execPath, [file], { cwd: project.dir, encoding: 'utf8', timeout: 120_000 })
      assert.equal(r.status, 0, `example ${i}:\n${code}\n${r.stdout}\n${r.stderr}`)
      assert.match(r.stdout, /\d\.\d/, `example ${i} printed no score:\n${r.stdout}`)
    }
  } finally {
    const { code } = await server.stop()
    assert.equal(code, 0, server.stderr())
  }
})
