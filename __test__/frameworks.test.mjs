// The in-process framework adapters against the published frameworks (installed once from npm
// into ~/.cache/llama-rerank-frameworks, see support/frameworks.mjs): the AI SDK's rerank() with
// llama-rerank/ai-sdk, LangChain.js with llama-rerank/langchain (alone and in a
// ContextualCompressionRetriever), LlamaIndex.TS with llama-rerank/llamaindex. Each returns
// the order and the scores of rankAll in process, bit for bit, honours topN, and fails with
// coded errors; their types check against the frameworks' own; the examples of
// docs/integrations.md run. Runs under Node and Bun.

import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'
import { after, before, describe, test } from 'node:test'
import { frameworkProject } from './support/frameworks.mjs'
import { expected, fixture, lib, root } from './support/helpers.mjs'

const require = createRequire(import.meta.url)
const QUERY = 'What is the capital of France?'
const MODELS = ['qwen3-reranker-pooled.gguf', 'bert-reranker-stock.gguf']
// The fixtures' distinct, non-blank documents: relevant, irrelevant, several scripts.
const DOCUMENTS = [...new Set(expected[MODELS[0]].pairs.map((p) => p.document))].filter((d) => d.trim() !== '').slice(0, 10)
const TOLERANCE = 1e-3
/** The model the examples of docs/integrations.md name. */
const DOC_MODEL = 'hf:ggml-org/Qwen3-Reranker-0.6B-Q8_0-GGUF'

let project
/** rankAll's scores in process, per model file and document list. */
const reference = new Map()

async function rankAll(name, documents, query = QUERY) {
  const key = JSON.stringify([name, query, documents])
  if (!reference.has(key)) {
    const model = await lib.loadModel(fixture(name))
    try {
      const context = await model.createRankingContext()
      reference.set(key, await context.rankAll(query, documents))
      // Disposed here, so that the context stays referenced while it ranks.
      await context.dispose()
    } finally {
      await model.dispose()
    }
  }
  return reference.get(key)
}

/** `[{ index, score }]` best first (ties in input order), cut to topN. */
function expectedOrder(scores, topN = scores.length) {
  return scores
    .map((score, index) => ({ index, score }))
    .sort((a, b) => b.score - a.score || a.index - b.index)
    .slice(0, topN)
}

async function rejectsWithCode(promise, code) {
  await assert.rejects(promise, (error) => {
    assert.equal(error.code, code, `${error.name}: ${error.message}`)
    return true
  })
}

before(() => {
  project = frameworkProject()
})

after(async () => {
  if (project) {
    const { disposeAll } = await project.import('llama-rerank/ai-sdk')
    await disposeAll()
    project.remove()
  }
})

test('the fixture documents and the reference agree', async () => {
  assert.ok(DOCUMENTS.length >= 8)
  for (const name of MODELS) {
    const scores = await rankAll(name, DOCUMENTS)
    for (const [i, document] of DOCUMENTS.entries()) {
      const pair = expected[name].pairs.find(
        (p) => p.query === QUERY && p.document === document && p.instruction === null && p.maxLength === null,
      )
      if (pair) assert.ok(Math.abs(scores[i] - pair.score) <= TOLERANCE, `${name}: ${scores[i]} vs ${pair.score}`)
    }
  }
})

describe('AI SDK: rerank() with llama-rerank/ai-sdk', () => {
  for (const name of MODELS) {
    test(`${name}: same order and scores as rankAll, topN honoured`, async () => {
      const { rerank } = await project.import('ai')
      const { llamaRerank } = await project.import('llama-rerank/ai-sdk')
      const model = llamaRerank.reranking(fixture(name))
      const scores = await rankAll(name, DOCUMENTS)
      for (const topN of [undefined, 3, 1, 0, DOCUMENTS.length + 5]) {
        const result = await rerank({ model, query: QUERY, documents: DOCUMENTS, topN })
        const want = expectedOrder(scores, topN)
        assert.deepEqual(
          result.ranking.map((r) => [r.originalIndex, r.score]),
          want.map((r) => [r.index, r.score]),
          `topN ${topN}`,
        )
        assert.deepEqual(
          result.rerankedDocuments,
          want.map((r) => DOCUMENTS[r.index]),
        )
      }
      await model.dispose()
    })
  }

  test('object documents are scored as their JSON text', async () => {
    const { rerank } = await project.import('ai')
    const { llamaRerank } = await project.import('llama-rerank/ai-sdk')
    const objects = DOCUMENTS.slice(0, 5).map((text, i) => ({ id: i, text }))
    const scores = await rankAll(
      MODELS[0],
      objects.map((o) => JSON.stringify(o)),
    )
    const result = await rerank({ model: llamaRerank.reranking(fixture(MODELS[0])), query: QUERY, documents: objects, topN: 2 })
    assert.deepEqual(
      result.ranking.map((r) => [r.originalIndex, r.score]),
      expectedOrder(scores, 2).map((r) => [r.index, r.score]),
    )
    assert.deepEqual(
      result.rerankedDocuments,
      expectedOrder(scores, 2).map((r) => objects[r.index]),
    )
  })

  test('providerOptions.llamaRerank.instruction is the instruction of the call', async () => {
    const { rerank } = await project.import('ai')
    const { createLlamaRerank } = await project.import('llama-rerank/ai-sdk')
    const instruction = 'Given a question, find passages that answer it'
    const provider = createLlamaRerank()
    const model = await lib.loadModel(fixture(MODELS[0]))
    const context = await model.createRankingContext()
    const scores = await context.rankAll(QUERY, DOCUMENTS, { instruction })
    await context.dispose()
    await model.dispose()
    const result = await rerank({
      model: provider.reranking(fixture(MODELS[0])),
      query: QUERY,
      documents: DOCUMENTS,
      providerOptions: { llamaRerank: { instruction } },
    })
    assert.deepEqual(
      result.ranking.map((r) => [r.originalIndex, r.score]),
      expectedOrder(scores).map((r) => [r.index, r.score]),
    )
    await provider.dispose()
  })

  test('errors keep their codes through rerank()', async () => {
    const { rerank } = await project.import('ai')
    const { llamaRerank } = await project.import('llama-rerank/ai-sdk')
    const model = llamaRerank.reranking(fixture(MODELS[0]))
    const call = (extra) => rerank({ model, query: QUERY, documents: DOCUMENTS, ...extra })
    await rejectsWithCode(
      rerank({ model: llamaRerank.reranking(path.join(root, 'no-such-model.gguf')), query: QUERY, documents: DOCUMENTS }),
      'ERR_MODEL_NOT_FOUND',
    )
    await rejectsWithCode(
      rerank({ model: llamaRerank.reranking(fixture('bert-embedding.gguf')), query: QUERY, documents: DOCUMENTS }),
      'ERR_NOT_A_RERANKER',
    )
    await rejectsWithCode(call({ topN: -1 }), 'ERR_INVALID_ARG_VALUE')
    await rejectsWithCode(call({ topN: 1.5 }), 'ERR_INVALID_ARG_VALUE')
    await rejectsWithCode(call({ providerOptions: { llamaRerank: { temperature: 0 } } }), 'ERR_INVALID_ARG_VALUE')
    await rejectsWithCode(
      call({ providerOptions: { llamaRerank: { onOverflow: 'throw' } }, documents: ['Paris '.repeat(2000)] }),
      'ERR_INPUT_TOO_LONG',
    )
    await assert.rejects(call({ abortSignal: AbortSignal.abort() }), (error) => error.name === 'AbortError' || error.code === 'ABORT_ERR')
    // The model still ranks after those errors.
    assert.equal((await call({ topN: 1 })).ranking.length, 1)
    assert.throws(() => llamaRerank.reranking(fixture(MODELS[0]), { load: { gpuLayer: 0 } }), { code: 'ERR_INVALID_ARG_VALUE' })
  })
})

describe('LangChain.js: llama-rerank/langchain', () => {
  for (const name of MODELS) {
    test(`${name}: compressDocuments gives rankAll's order and scores, topN honoured, metadata kept`, async () => {
      const { Document } = await project.import('@langchain/core/documents')
      const { BaseDocumentCompressor } = await project.import('@langchain/core/retrievers/document_compressors')
      const { LlamaRerankCompressor } = await project.import('llama-rerank/langchain')
      const scores = await rankAll(name, DOCUMENTS)
      const documents = DOCUMENTS.map((pageContent, i) => new Document({ pageContent, metadata: { source: `doc-${i}` }, id: `id-${i}` }))
      for (const topN of [undefined, 3, 0]) {
        const compressor = new LlamaRerankCompressor({ model: fixture(name), topN })
        assert.ok(compressor instanceof BaseDocumentCompressor)
        assert.ok(BaseDocumentCompressor.isBaseDocumentCompressor(compressor))
        const out = await compressor.compressDocuments(documents, QUERY)
        const want = expectedOrder(scores, topN)
        assert.deepEqual(
          out.map((d) => [d.pageContent, d.metadata.source, d.id, d.metadata.relevanceScore]),
          want.map((r) => [DOCUMENTS[r.index], `doc-${r.index}`, `id-${r.index}`, r.score]),
        )
        assert.ok(out.every((d) => d instanceof Document))
        assert.deepEqual(
          await compressor.rerank(DOCUMENTS, QUERY),
          want.map((r) => ({ index: r.index, relevanceScore: r.score })),
        )
        await compressor.dispose()
      }
      // The input documents are not changed.
      assert.ok(documents.every((d) => !('relevanceScore' in d.metadata)))
    })
  }

  test('in a ContextualCompressionRetriever', async () => {
    const { Document } = await project.import('@langchain/core/documents')
    const { BaseRetriever } = await project.import('@langchain/core/retrievers')
    const { ContextualCompressionRetriever } = await project.import('@langchain/classic/retrievers/contextual_compression')
    const { LlamaRerankCompressor } = await project.import('llama-rerank/langchain')
    class FixtureRetriever extends BaseRetriever {
      lc_namespace = ['llama-rerank', 'test']
      async _getRelevantDocuments() {
        return DOCUMENTS.map((pageContent) => new Document({ pageContent }))
      }
    }
    const compressor = new LlamaRerankCompressor({ model: fixture(MODELS[1]), topN: 4 })
    const retriever = new ContextualCompressionRetriever({ baseCompressor: compressor, baseRetriever: new FixtureRetriever() })
    const out = await retriever.invoke(QUERY)
    const want = expectedOrder(await rankAll(MODELS[1], DOCUMENTS), 4)
    assert.deepEqual(
      out.map((d) => [d.pageContent, d.metadata.relevanceScore]),
      want.map((r) => [DOCUMENTS[r.index], r.score]),
    )
    await compressor.dispose()
  })

  test('errors are coded', async () => {
    const { Document } = await project.import('@langchain/core/documents')
    const { LlamaRerankCompressor } = await project.import('llama-rerank/langchain')
    assert.throws(() => new LlamaRerankCompressor({ model: fixture(MODELS[0]), topN: -2 }), { code: 'ERR_INVALID_ARG_VALUE' })
    assert.throws(() => new LlamaRerankCompressor({ model: fixture(MODELS[0]), top_n: 2 }), { code: 'ERR_INVALID_ARG_VALUE' })
    assert.throws(() => new LlamaRerankCompressor({}), { code: 'ERR_INVALID_ARG_TYPE' })
    const missing = new LlamaRerankCompressor({ model: path.join(root, 'no-such-model.gguf') })
    await rejectsWithCode(missing.compressDocuments([new Document({ pageContent: 'x' })], QUERY), 'ERR_MODEL_NOT_FOUND')
    const compressor = new LlamaRerankCompressor({ model: fixture(MODELS[0]) })
    assert.deepEqual(await compressor.compressDocuments([], QUERY), [])
    await rejectsWithCode(compressor.compressDocuments([{ metadata: {} }], QUERY), 'ERR_INVALID_ARG_TYPE')
    await compressor.dispose()
    await rejectsWithCode(compressor.compressDocuments([new Document({ pageContent: 'x' })], QUERY), 'ERR_DISPOSED')
  })
})

describe('LlamaIndex.TS: llama-rerank/llamaindex', () => {
  for (const name of MODELS) {
    test(`${name}: postprocessNodes gives rankAll's order and scores, topN honoured`, async () => {
      const { TextNode, MetadataMode } = await project.import('@llamaindex/core/schema')
      const { LlamaRerankPostprocessor } = await project.import('llama-rerank/llamaindex')
      const nodes = DOCUMENTS.map((text, i) => ({ node: new TextNode({ text, id_: `n${i}` }), score: 0.5 }))
      const scores = await rankAll(name, DOCUMENTS)
      for (const topN of [undefined, 2, 0]) {
        const postprocessor = new LlamaRerankPostprocessor({ model: fixture(name), topN })
        const out = await postprocessor.postprocessNodes(nodes, QUERY)
        assert.deepEqual(
          out.map((n) => [n.node.id_, n.score]),
          expectedOrder(scores, topN).map((r) => [`n${r.index}`, r.score]),
        )
        await postprocessor.dispose()
      }
      // Metadata goes into the text scored as the framework renders it (default "ALL"); the
      // query may be message content.
      const withMetadata = DOCUMENTS.slice(0, 4).map((text, i) => ({ node: new TextNode({ text, metadata: { title: `Title ${i}` } }) }))
      const rendered = withMetadata.map((n) => n.node.getContent(MetadataMode.ALL))
      assert.ok(rendered[0].includes('Title 0'))
      const postprocessor = new LlamaRerankPostprocessor({ model: fixture(name) })
      const out = await postprocessor.postprocessNodes(withMetadata, [{ type: 'text', text: QUERY }])
      const want = expectedOrder(await rankAll(name, rendered))
      assert.deepEqual(
        out.map((n) => [n.node, n.score]),
        want.map((r) => [withMetadata[r.index].node, r.score]),
      )
      const none = new LlamaRerankPostprocessor({ model: fixture(name), metadataMode: MetadataMode.NONE, topN: 1 })
      const [best] = await none.postprocessNodes(withMetadata, { query: QUERY })
      const plain = expectedOrder(await rankAll(name, DOCUMENTS.slice(0, 4)), 1)[0]
      assert.deepEqual([best.node, best.score], [withMetadata[plain.index].node, plain.score])
      await postprocessor.dispose()
      await none.dispose()
    })
  }

  test('errors are coded', async () => {
    const { TextNode } = await project.import('@llamaindex/core/schema')
    const { LlamaRerankPostprocessor } = await project.import('llama-rerank/llamaindex')
    assert.throws(() => new LlamaRerankPostprocessor({ model: fixture(MODELS[0]), topN: 'all' }), { code: 'ERR_INVALID_ARG_VALUE' })
    assert.throws(() => new LlamaRerankPostprocessor({ model: fixture(MODELS[0]), metadataMode: 'SOME' }), {
      code: 'ERR_INVALID_ARG_VALUE',
    })
    const postprocessor = new LlamaRerankPostprocessor({ model: fixture(MODELS[0]) })
    const nodes = [{ node: new TextNode({ text: 'x' }) }]
    await rejectsWithCode(postprocessor.postprocessNodes(nodes), 'ERR_INVALID_ARG_TYPE')
    await rejectsWithCode(postprocessor.postprocessNodes([{ text: 'x' }], QUERY), 'ERR_INVALID_ARG_TYPE')
    assert.deepEqual(await postprocessor.postprocessNodes([], QUERY), [])
    const missing = new LlamaRerankPostprocessor({ model: path.join(root, 'no-such-model.gguf') })
    await rejectsWithCode(missing.postprocessNodes(nodes, QUERY), 'ERR_MODEL_NOT_FOUND')
    await postprocessor.dispose()
  })
})

test('one model for every adapter naming it; a context passed in is used as is', async () => {
  const { createLlamaRerank } = await project.import('llama-rerank/ai-sdk')
  const { LlamaRerankCompressor } = await project.import('llama-rerank/langchain')
  const { LlamaRerankPostprocessor } = await project.import('llama-rerank/llamaindex')
  const model = await lib.loadModel(fixture(MODELS[0]))
  const context = await model.createRankingContext()
  const scores = await context.rankAll(QUERY, DOCUMENTS)
  const provider = createLlamaRerank()
  const { ranking } = await provider.reranking(context).doRerank({ documents: { type: 'text', values: DOCUMENTS }, query: QUERY })
  assert.deepEqual(
    ranking.map((r) => [r.index, r.relevanceScore]),
    expectedOrder(scores).map((r) => [r.index, r.score]),
  )
  assert.equal(context.lastCallStats.documents, DOCUMENTS.length)
  await provider.dispose()
  assert.equal(context.disposed, false, 'the adapter must not dispose a context it was given')
  await model.dispose()

  // Shared: a second adapter's call on the same model reuses the loaded model and its
  // context, whose prefix cache then serves both (the same scores either way).
  const a = new LlamaRerankCompressor({ model: fixture(MODELS[0]), topN: 2, contexts: 2 })
  const b = new LlamaRerankPostprocessor({ model: fixture(MODELS[0]), topN: 2 })
  const [fromA, fromB] = await Promise.all([
    a.rerank(DOCUMENTS, QUERY),
    b.postprocessNodes(
      DOCUMENTS.map((text) => ({ node: { getContent: () => text } })),
      QUERY,
    ),
  ])
  assert.deepEqual(
    fromA.map((r) => r.relevanceScore),
    fromB.map((n) => n.score),
  )
  await a.dispose()
  await b.dispose()
})

test("the adapters' types check against the frameworks' own (tsc --strict)", {
  skip: process.versions.bun ? 'types do not depend on the runtime: checked under Node' : false,
}, () => {
  writeFileSync(
    path.join(project.dir, 'types.mts'),
    `
import { rerank, type RerankingModel } from 'ai'
import type { RerankingModelV3 } from '@ai-sdk/provider'
import { llamaRerank, createLlamaRerank, disposeAll } from 'llama-rerank/ai-sdk'
import { LlamaRerankCompressor, type MissingPeerDependencyError } from 'llama-rerank/langchain'
import { LlamaRerankPostprocessor } from 'llama-rerank/llamaindex'
import { Document } from '@langchain/core/documents'
import { BaseRetriever } from '@langchain/core/retrievers'
import type { BaseDocumentCompressor } from '@langchain/core/retrievers/document_compressors'
import { ContextualCompressionRetriever } from '@langchain/classic/retrievers/contextual_compression'
import type { BaseNodePostprocessor } from '@llamaindex/core/postprocessor'
import { TextNode, MetadataMode, type NodeWithScore } from '@llamaindex/core/schema'

const v3: RerankingModelV3 = llamaRerank.reranking('model.gguf')
const model: RerankingModel = createLlamaRerank({ context: { contextSize: 512 }, contexts: 2 }).reranking('hf:owner/repo:Q8_0')
const result = await rerank({ model, query: 'q', documents: [{ id: 1 }], topN: 1, providerOptions: { llamaRerank: { instruction: 'x' } } })
const first: { id: number } = result.rerankedDocuments[0]
const compressor: BaseDocumentCompressor = new LlamaRerankCompressor({ model: 'model.gguf', topN: 2, load: { gpuLayers: 0 } })
const docs = await compressor.compressDocuments([new Document({ pageContent: 'x' })], 'q')
declare const base: BaseRetriever
const retriever = new ContextualCompressionRetriever({ baseCompressor: new LlamaRerankCompressor({ model: 'model.gguf' }), baseRetriever: base })
const postprocessor: BaseNodePostprocessor = new LlamaRerankPostprocessor({ model: 'model.gguf', topN: 1, metadataMode: MetadataMode.NONE })
const nodes: NodeWithScore[] = await postprocessor.postprocessNodes([{ node: new TextNode({ text: 'x' }) }], 'q')
declare const error: MissingPeerDependencyError
const name: string = error.packageName
await disposeAll()
console.log(v3, first, docs, retriever, nodes, name)
`,
  )
  const tsc = require.resolve('typescript/bin/tsc', { paths: [root] })
  const r = spawnSync(
    process.execPath,
    [
      tsc,
      '--noEmit',
      '--strict',
      '--skipLibCheck',
      '--target',
      'es2022',
      '--module',
      'nodenext',
      '--moduleResolution',
      'nodenext',
      '--lib',
      'es2022,esnext.disposable',
      '--types',
      'node',
      'types.mts',
    ],
    { cwd: project.dir, encoding: 'utf8', timeout: 300_000 },
  )
  assert.equal(r.status, 0, `${r.stdout}${r.stderr}`)
})

test('the examples of docs/integrations.md run, with a fixture for the model', async () => {
  const page = readFileSync(path.join(root, 'docs', 'integrations.md'), 'utf8')
  // The in-process examples name the model; the HTTP ones (run by clients.test.mjs) a server.
  const examples = [...page.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1]).filter((code) => !code.includes('http://127.0.0.1:8080'))
  assert.ok(examples.length >= 4, 'one example per framework at least')
  for (const [i, code] of examples.entries()) {
    assert.ok(code.includes(DOC_MODEL), `example ${i} names the model`)
    const file = path.join(project.dir, `example-${i}.mjs`)
    writeFileSync(file, code.replaceAll(`'${DOC_MODEL}'`, JSON.stringify(fixture(MODELS[0]))))
    const r = spawnSync(process.execPath, [file], { cwd: project.dir, encoding: 'utf8', timeout: 120_000 })
    assert.equal(r.status, 0, `example ${i}:\n${code}\n${r.stdout}\n${r.stderr}`)
    assert.match(r.stdout, /Paris|capital|relevanceScore|score/, `example ${i} printed:\n${r.stdout}`)
  }
})
