// Scores against the transformers reference (fixtures/expected.json, made by
// fixtures/make_fixtures.py), for every fixture and pair.

import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { contextSizeFor, expected, fixture, lib, RERANKERS, TOLERANCE } from './support/helpers.mjs'

for (const name of RERANKERS) {
  const file = expected[name]
  describe(name, () => {
    let model
    const contexts = new Map()
    const contextFor = async (size) => {
      if (!contexts.has(size)) contexts.set(size, await model.createRankingContext({ contextSize: size }))
      return contexts.get(size)
    }
    before(async () => {
      model = await lib.loadModel(fixture(name))
    })
    after(async () => {
      await model.dispose()
    })

    test('scoring is detected from metadata', () => {
      assert.equal(model.info.architecture, file.arch)
      assert.equal(model.info.scoring, file.scoring)
      assert.equal(model.info.scoreSource, file.scoreSource)
      // a pooled yes/no head is read off the LM head only when its rows are the LM head's
      assert.equal(model.info.headEvaluation, file.headEvaluation)
      assert.equal(model.info.trainedContextLength, file.nCtxTrain)
      assert.equal(model.path, fixture(name))
    })

    test('every pair matches transformers', async (t) => {
      let worst = 0
      for (const pair of file.pairs) {
        const ctx = await contextFor(contextSizeFor(pair, file))
        const score = await ctx.rank(pair.query, pair.document, { instruction: pair.instruction ?? undefined })
        assert.ok(Number.isFinite(score) && score >= 0 && score <= 1, `${pair.id}: ${score}`)
        const delta = Math.abs(score - pair.score)
        worst = Math.max(worst, delta)
        assert.ok(delta <= TOLERANCE[name], `${pair.id}: got ${score}, reference ${pair.score} (|Δ| = ${delta})`)
      }
      t.diagnostic(`worst |Δp| = ${worst.toExponential(2)}`)
    })

    test('input length equals the reference token count', async () => {
      for (const pair of file.pairs.filter((p) => p.maxLength === null && p.instruction === null)) {
        const ctx = await contextFor(file.nCtxTrain)
        assert.equal(ctx.calculateInputLength(pair.query, pair.document), pair.nTokens, pair.id)
      }
    })

    test('rankAll equals rank pair by pair, in input order', async () => {
      const byQuery = new Map()
      for (const pair of file.pairs.filter((p) => p.maxLength === null && p.instruction === null)) {
        if (!byQuery.has(pair.query)) byQuery.set(pair.query, [])
        byQuery.get(pair.query).push(pair)
      }
      const ctx = await contextFor(file.nCtxTrain)
      for (const [query, pairs] of byQuery) {
        const all = await ctx.rankAll(
          query,
          pairs.map((p) => p.document),
        )
        assert.equal(all.length, pairs.length)
        for (let i = 0; i < pairs.length; i++) {
          const one = await ctx.rank(query, pairs[i].document)
          // bit-identical: a score does not depend on what else is in the call
          assert.equal(all[i], one, `${pairs[i].id}: rankAll ${all[i]} vs rank ${one}`)
          assert.ok(Math.abs(all[i] - pairs[i].score) <= TOLERANCE[name], pairs[i].id)
        }
      }
    })

    test('rankAndSort is a stable descending sort with input indices', async () => {
      const ctx = await contextFor(file.nCtxTrain)
      const pairs = file.pairs.filter((p) => p.query === 'What is the capital of France?')
      const docs = [...pairs.map((p) => p.document), pairs[0].document] // a duplicate: a tie
      const ranked = await ctx.rankAndSort(pairs[0].query, docs)
      assert.equal(ranked.length, docs.length)
      for (let i = 1; i < ranked.length; i++) {
        assert.ok(ranked[i - 1].score >= ranked[i].score)
        if (ranked[i - 1].score === ranked[i].score) assert.ok(ranked[i - 1].index < ranked[i].index)
      }
      for (const r of ranked) assert.equal(r.document, docs[r.index])
      assert.deepEqual(await ctx.rankAll(pairs[0].query, []), [])
      assert.deepEqual(await ctx.rankAndSort(pairs[0].query, []), [])
    })
  })
}

describe('instruction and template options', () => {
  const name = 'qwen3-reranker-pooled.gguf'
  const file = expected[name]
  const custom = file.pairs.find((p) => p.id === 'custom-instruction')

  test('a context-wide instruction equals a per-call one', async () => {
    const model = await lib.loadModel(fixture(name))
    const ctx = await model.createRankingContext({ instruction: custom.instruction, contextSize: 1024 })
    const score = await ctx.rank(custom.query, custom.document)
    assert.ok(Math.abs(score - custom.score) <= TOLERANCE[name])
    // the per-call default instruction gives a different score
    const plain = await (await model.createRankingContext({ contextSize: 1024 })).rank(custom.query, custom.document)
    assert.ok(Math.abs(plain - custom.score) > 1e-3)
    await model.dispose()
  })

  test('a template written out by hand equals the built-in prompt', async () => {
    const model = await lib.loadModel(fixture(name))
    const template = `${file.prefix}<Instruct>: {{instruction}}\n<Query>: {{query}}\n<Document>: {{document}}${file.suffix}`
    const ctx = await model.createRankingContext({ template, contextSize: 1024 })
    const pair = file.pairs.find((p) => p.id === 'control-token-injection')
    assert.equal(ctx.calculateInputLength(pair.query, pair.document), pair.nTokens)
    assert.ok(Math.abs((await ctx.rank(pair.query, pair.document)) - pair.score) <= TOLERANCE[name])
    await assert.rejects(model.createRankingContext({ template: 'no placeholders' }), { code: 'ERR_INVALID_ARG_VALUE' })
    await model.dispose()
  })
})

describe('forced scoring on files that do not say they rerank', () => {
  test('qwen3 chat model: refused by default, yes-no when forced', async () => {
    const name = 'qwen3-chat.gguf'
    await assert.rejects(lib.loadModel(fixture(name)), (err) => {
      assert.equal(err.code, 'ERR_NOT_A_RERANKER')
      assert.match(err.message, /architecture qwen3/)
      assert.match(err.message, /Tiny Chat/)
      return true
    })
    const model = await lib.loadModel(fixture(name), { scoring: 'yes-no' })
    assert.equal(model.info.scoring, 'yes-no')
    assert.equal(model.info.scoreSource, 'lm-head')
    const ctx = await model.createRankingContext({ contextSize: 1024 })
    for (const pair of expected[name].pairs.filter((p) => p.maxLength === null)) {
      const score = await ctx.rank(pair.query, pair.document, { instruction: pair.instruction ?? undefined })
      assert.ok(Math.abs(score - pair.score) <= TOLERANCE[name], `${pair.id}: ${score} vs ${pair.score}`)
    }
    await model.dispose()
  })

  test('embedding model: refused, and cannot be forced to classify', async () => {
    const name = 'bert-embedding.gguf'
    await assert.rejects(lib.loadModel(fixture(name)), { code: 'ERR_NOT_A_RERANKER' })
    await assert.rejects(lib.loadModel(fixture(name), { scoring: 'classifier' }), (err) => {
      assert.equal(err.code, 'ERR_NOT_A_RERANKER')
      assert.match(err.message, /classifier head/)
      return true
    })
  })

  test('the causal and pooled conversions of one model agree', async () => {
    const causal = await lib.loadModel(fixture('qwen3-reranker-causal.gguf'))
    const pooled = await lib.loadModel(fixture('qwen3-reranker-pooled.gguf'))
    const a = await causal.createRankingContext({ contextSize: 1024 })
    const b = await pooled.createRankingContext({ contextSize: 1024 })
    const docs = expected['qwen3-reranker-pooled.gguf'].pairs.filter((p) => p.query === 'What is the capital of France?')
    const sa = await a.rankAll(
      docs[0].query,
      docs.map((d) => d.document),
    )
    const sb = await b.rankAll(
      docs[0].query,
      docs.map((d) => d.document),
    )
    sa.forEach((s, i) => assert.ok(Math.abs(s - sb[i]) <= 1e-3))
    await causal.dispose()
    await pooled.dispose()
  })
})

describe('createRankingContext(model, options) from the package root', () => {
  const name = 'qwen3-reranker-causal.gguf'
  const pair = expected[name].pairs[0]
  for (const [label, arg] of [
    ['a path', fixture(name)],
    ['a node-llama-cpp-like model object (filename)', { filename: fixture(name), dispose() {} }],
  ]) {
    test(`takes ${label}`, async () => {
      const ctx = await lib.createRankingContext(arg, { contextSize: 512 })
      assert.equal(ctx.contextSize, 512)
      assert.ok(Math.abs((await ctx.rank(pair.query, pair.document)) - pair.score) <= TOLERANCE[name])
      await ctx.dispose()
      await assert.rejects(ctx.rank('q', 'd'), { code: 'ERR_DISPOSED' })
    })
  }
  test('rejects what is not a model', async () => {
    await assert.rejects(lib.createRankingContext(42), TypeError)
    await assert.rejects(lib.createRankingContext({}), /filename/)
    await assert.rejects(lib.createRankingContext(fixture('bert-embedding.gguf')), { code: 'ERR_NOT_A_RERANKER' })
  })
})

describe('lastCallStats', () => {
  test('generative rerankers compute the shared prefix once; cross-encoders compute every token', async () => {
    const qwen = await lib.loadModel(fixture('qwen3-reranker-pooled.gguf'))
    const ctx = await qwen.createRankingContext({ contextSize: 1024 })
    assert.equal(ctx.lastCallStats, null)
    const docs = ['Paris is the capital.', 'Bananas are yellow.', 'The Seine flows through Paris.']
    await ctx.rankAll('What is the capital of France?', docs)
    const s = ctx.lastCallStats
    const pairTokens = docs.reduce((n, d) => n + ctx.calculateInputLength('What is the capital of France?', d), 0)
    assert.equal(s.documents, 3)
    assert.equal(s.pairTokens, pairTokens)
    assert.ok(s.prefixTokens > 60, JSON.stringify(s))
    assert.equal(s.tokensComputed, pairTokens - 2 * s.prefixTokens)
    assert.ok(s.kvCells >= s.tokensComputed)
    await qwen.dispose()
    const bert = await lib.loadModel(fixture('bert-reranker-pooler.gguf'))
    const b = await bert.createRankingContext()
    await b.rankAll('q', ['a', 'b'])
    assert.deepEqual(
      { ...b.lastCallStats },
      { documents: 2, pairTokens: 10, tokensComputed: 10, prefixTokens: 0, decodeCalls: 2, kvCells: 0 },
    )
    // a document given twice is evaluated once
    await b.rankAll('q', ['a', 'b', 'a'])
    assert.deepEqual(
      { ...b.lastCallStats },
      { documents: 3, pairTokens: 15, tokensComputed: 10, prefixTokens: 0, decodeCalls: 2, kvCells: 0 },
    )
    await bert.dispose()
  })
})
