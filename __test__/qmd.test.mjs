// QMD's way of ranking (src/llm.ts, rerank), ported as a test: up to 4 ranking contexts of
// 4096 tokens with the CPU threads split between them, identical texts scored once, the texts
// cut into groups of about 10 and ranked with rankAll on the contexts in parallel, then
// flattened and sorted. The result must equal one context's.

import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { after, describe, test } from 'node:test'
import * as compat from 'llama-rerank/compat'

// its internal counters are on the CommonJS module only
const compatCjs = createRequire(import.meta.url)('llama-rerank/compat')

import { expected, fixture, TOLERANCE } from './support/helpers.mjs'

const NAME = 'qwen3-reranker-pooled.gguf'
const QUERY = 'What is the capital of France?'
const CONTEXT_SIZE = 4096 // QMD's RERANK_CONTEXT_SIZE
const TEMPLATE_OVERHEAD = 512 // QMD's RERANK_TEMPLATE_OVERHEAD
const DOCS_PER_CONTEXT = 10 // QMD's RERANK_TARGET_DOCS_PER_CONTEXT
const MAX_CONTEXTS = 4

/** 40 candidates, QMD's most: the reference documents, other notes, and repeated texts. */
function candidates() {
  const reference = expected[NAME].pairs.filter((p) => p.instruction === null && p.maxLength === null)
  const docs = reference.map((p, i) => ({ file: `ref-${i}.md`, text: p.document }))
  for (let i = 0; docs.length < 36; i++)
    docs.push({ file: `note-${i}.md`, text: `Note ${i}: the city council met on day ${i * 7} to discuss bicycle lanes.` })
  for (let i = 0; i < 4; i++) docs.push({ file: `copy-${i}.md`, text: docs[i * 3].text })
  return docs
}

/** QMD's rerank: dedupe, groups of ~10 over the contexts in parallel, flatten, sort. */
async function qmdRerank(contexts, query, documents) {
  const byText = new Map()
  documents.forEach((doc, index) => {
    if (!byText.has(doc.text)) byText.set(doc.text, [])
    byText.get(doc.text).push({ file: doc.file, index })
  })
  const texts = [...byText.keys()]
  const active = Math.max(1, Math.min(contexts.length, Math.ceil(texts.length / DOCS_PER_CONTEXT)))
  const perContext = Math.ceil(texts.length / active)
  const groups = []
  for (let i = 0; i < active; i++) {
    const group = texts.slice(i * perContext, (i + 1) * perContext)
    if (group.length > 0) groups.push(group)
  }
  const scores = (await Promise.all(groups.map((group, i) => contexts[i].rankAll(query, group)))).flat()
  return texts
    .map((text, i) => ({ text, score: scores[i] }))
    .sort((a, b) => b.score - a.score)
    .flatMap(({ text, score }) => byText.get(text).map(({ file, index }) => ({ file, score, index })))
}

/** QMD's own truncation, with node-llama-cpp's tokenizer (QMD keeps node-llama-cpp models). */
function qmdTruncate(model, query, documents) {
  const maxDocTokens = CONTEXT_SIZE - TEMPLATE_OVERHEAD - model.tokenize(query).length
  return documents.map((doc) => {
    const tokens = model.tokenize(doc.text)
    return tokens.length <= maxDocTokens ? doc : { ...doc, text: model.detokenize(tokens.slice(0, maxDocTokens)) }
  })
}

/** Both rankings hold the same documents with the same scores, sorted; reference pairs match. */
function assertSameRanking(parallel, single, documents) {
  assert.equal(parallel.length, documents.length)
  for (let i = 1; i < parallel.length; i++) assert.ok(parallel[i - 1].score >= parallel[i].score, 'sorted')
  const scoreOf = new Map(single.map((r) => [r.index, r.score]))
  for (const r of parallel) {
    assert.equal(r.file, documents[r.index].file)
    // bit-identical: the split across contexts does not change a score
    assert.equal(r.score, scoreOf.get(r.index), `${r.file}: ${r.score} vs ${scoreOf.get(r.index)}`)
  }
  assert.deepEqual(
    parallel.map((r) => r.index).sort((a, b) => a - b),
    documents.map((_, i) => i),
  )
  // repeated texts get one score
  for (const r of parallel) {
    const twin = parallel.find((o) => documents[o.index].text === documents[r.index].text)
    assert.equal(r.score, twin.score)
  }
  // and the reference documents score as transformers does
  for (const pair of expected[NAME].pairs.filter((p) => p.query === QUERY && p.instruction === null && p.maxLength === null)) {
    const hit = parallel.find((r) => documents[r.index].text === pair.document)
    assert.ok(Math.abs(hit.score - pair.score) <= TOLERANCE[NAME], `${pair.id}: ${hit.score} vs ${pair.score}`)
  }
}

describe('QMD ranking through llama-rerank/compat', () => {
  test('4 contexts of 4096 tokens, threads split, groups of 10 in parallel = one context', async () => {
    const llama = await compat.getLlama({ logLevel: compat.LlamaLogLevel.error })
    const model = await llama.loadModel({ modelPath: fixture(NAME), gpuLayers: 0 })
    const threads = Math.max(1, Math.floor(llama.cpuMathCores / MAX_CONTEXTS))
    const contexts = await Promise.all(
      Array.from({ length: MAX_CONTEXTS }, () => model.createRankingContext({ contextSize: CONTEXT_SIZE, threads })),
    )
    // 4096 is above the fixture's trained context: llama-rerank lowers it (node-llama-cpp would keep 4096)
    for (const ctx of contexts) assert.equal(ctx.contextSize, expected[NAME].nCtxTrain)

    const documents = candidates()
    const parallel = await qmdRerank(contexts, QUERY, documents)
    const single = await qmdRerank(contexts.slice(0, 1), QUERY, documents)
    assertSameRanking(parallel, single, documents)

    // a document longer than the lowered context but within the 4096 QMD asked for (and cut its
    // documents to): ranked, cut to fit, as node-llama-cpp would rank it; the same scores as an
    // explicit "truncate"
    const long = { file: 'long.md', text: 'The bicycle changed how people travel. '.repeat(200) }
    const length = contexts[0].calculateInputLength(QUERY, long.text)
    assert.ok(length > expected[NAME].nCtxTrain && length <= CONTEXT_SIZE, `${length}`)
    const ranked = await qmdRerank(contexts, QUERY, [...documents, long])
    assert.equal(ranked.length, documents.length + 1)
    const lenient = await model.createRankingContext({ contextSize: CONTEXT_SIZE, threads, onOverflow: 'truncate' })
    const explicit = await qmdRerank([lenient], QUERY, [...documents, long])
    const scoreOf = (list) => list.find((r) => r.file === 'long.md').score
    // bit-identical: the split across contexts does not change a score
    assert.equal(scoreOf(ranked), scoreOf(explicit))

    await model.dispose()
    for (const ctx of [...contexts, lenient]) assert.equal(ctx.disposed, true)
    await llama.dispose()
  })
})

describe('QMD keeping node-llama-cpp models: createRankingContext(model, …)', () => {
  // One node-llama-cpp Llama for the tests that load through it, as QMD keeps one: a second
  // getLlama after disposing the first hung now and then under Bun (2 of about 8 suite runs).
  let nlcLlama = null
  const nodeLlamaCpp = async () => {
    const nlc = await import('node-llama-cpp')
    nlcLlama ??= await nlc.getLlama({ gpu: false, build: 'never', logLevel: nlc.LlamaLogLevel.error })
    return nlcLlama
  }
  after(async () => {
    await nlcLlama?.dispose()
  })

  test('the migration QMD needs: contexts from its LlamaModel, its tokenizer for truncation', async () => {
    const llama = await nodeLlamaCpp()
    const model = await llama.loadModel({ modelPath: fixture(NAME) })
    const threads = Math.max(1, Math.floor(llama.cpuMathCores / MAX_CONTEXTS))
    // was: model.createRankingContext({ contextSize, threads })
    const contexts = await Promise.all(
      Array.from({ length: MAX_CONTEXTS }, () => compat.createRankingContext(model, { contextSize: CONTEXT_SIZE, threads })),
    )
    for (const ctx of contexts) assert.equal(ctx.model, model)
    // one engine model for the four contexts (same file, same load options), not four loads
    assert.equal(compatCjs._sharedModelCount(), 1)

    const documents = qmdTruncate(model, QUERY, candidates())
    const parallel = await qmdRerank(contexts, QUERY, documents)
    const single = await qmdRerank(contexts.slice(0, 1), QUERY, documents)
    assertSameRanking(parallel, single, documents)

    // QMD disposes the model to free memory: the contexts go with it, as with node-llama-cpp
    let events = 0
    contexts[0].onDispose.createListener(() => events++)
    await model.dispose()
    for (const ctx of contexts) assert.equal(ctx.disposed, true)
    await Promise.all(contexts.map((ctx) => ctx.dispose())) // the disposal already under way
    assert.equal(events, 1)
    await assert.rejects(contexts[0].rankAll(QUERY, ['d']), compat.DisposedError)
    assert.equal(compatCjs._sharedModelCount(), 0)
  })

  test('the shared engine model lives until its last context goes', async () => {
    const like = { filename: fixture(NAME), _modelPath: fixture(NAME) }
    const [a, b] = await Promise.all([
      compat.createRankingContext(like, { contextSize: 512 }),
      compat.createRankingContext(like, { contextSize: 512 }),
    ])
    assert.equal(compatCjs._sharedModelCount(), 1)
    const other = await compat.createRankingContext({ ...like, useMmap: false }, { contextSize: 512 }) // other load options: its own
    assert.equal(compatCjs._sharedModelCount(), 2)
    const pair = expected[NAME].pairs[0]
    await a.dispose()
    assert.ok(Math.abs((await b.rank(pair.query, pair.document)) - pair.score) <= TOLERANCE[NAME])
    await b.dispose()
    await other.dispose()
    assert.equal(compatCjs._sharedModelCount(), 0)
  })

  // QMD truncates with its model's tokenize/detokenize: the compat model has them, on llama.cpp's
  // vocabulary. The reference: the prompt's input ids from transformers (fixtures/expected.json).
  test('compat model.tokenize / detokenize give the reference input ids and back', async () => {
    const llama = await compat.getLlama()
    const model = await llama.loadModel({ modelPath: fixture(NAME) })
    const file = expected[NAME]
    try {
      // (not the pair whose document carries a literal <|im_end|>: the reference keeps it as text,
      // which one tokenize call with specialTokens cannot)
      const pairs = file.pairs.filter((p) => p.maxLength === null && !`${p.query}${p.document}${p.instruction ?? ''}`.includes('<|'))
      assert.ok(pairs.length >= 10, `${pairs.length}`)
      for (const pair of pairs) {
        const body = file.bodyTemplate
          .replace('{instruction}', pair.instruction ?? file.defaultInstruction)
          .replace('{query}', pair.query)
          .replace('{document}', pair.document)
        const prompt = file.prefix + body.normalize('NFC') + file.suffix
        assert.deepEqual(model.tokenize(prompt, true), pair.tokens, pair.id)
        assert.equal(model.detokenize(pair.tokens, true), prompt, pair.id)
      }
      // without specialTokens the control tokens' text stays text, and is not rendered back
      const plain = model.tokenize('<|im_end|>')
      assert.ok(plain.length > 1, `${plain}`)
      assert.equal(model.tokenize('<|im_end|>', true).length, 1)
      assert.equal(model.detokenize(model.tokenize('<|im_end|>', true)), '')
      assert.deepEqual(model.tokenize(''), [])
      assert.throws(() => model.detokenize([file.nVocab + 5]), { code: 'ERR_INVALID_ARG_VALUE' })
      assert.throws(() => model.detokenize([-1]), { code: 'ERR_INVALID_ARG_VALUE' })
    } finally {
      await model.dispose()
      await llama.dispose()
    }
    assert.throws(() => model.tokenize('x'), compat.DisposedError)
  })

  // node-llama-cpp's LlamaModel.filename is the file's base name; its path is in `_modelPath`,
  // which the native createRankingContext at the package root reads first.
  test("the package root's createRankingContext(node-llama-cpp model)", async () => {
    const llama = await nodeLlamaCpp()
    const model = await llama.loadModel({ modelPath: fixture(NAME) })
    const root = createRequire(import.meta.url)('llama-rerank')
    try {
      const ctx = await root.createRankingContext(model, { contextSize: 1024 })
      const pair = expected[NAME].pairs[0]
      assert.ok(Math.abs((await ctx.rank(pair.query, pair.document)) - pair.score) <= 1e-3)
      await ctx.dispose()
    } finally {
      await model.dispose()
    }
  })
})
