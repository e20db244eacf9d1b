// The F32 KV cache (`kvCacheType: 'f32'`): the Qwen3 fixtures within 1e-5 of transformers (the
// default F16 cache leaves 1.7e-4), scores that still do not depend on packing, the default
// unchanged, and the option checked.

import assert from 'node:assert/strict'
import { test } from 'node:test'
import { expected, fixture, lib } from './support/helpers.mjs'

const QWEN3 = ['qwen3-reranker-pooled.gguf', 'qwen3-reranker-pooled-lmhead.gguf', 'qwen3-reranker-causal.gguf']

for (const name of QWEN3) {
  test(`${name}: kvCacheType 'f32' reaches transformers within 1e-5`, async () => {
    const model = await lib.loadModel(fixture(name))
    const file = expected[name]
    const exact = new Map()
    const defaults = new Map()
    let worst = 0
    try {
      for (const pair of file.pairs) {
        const size = pair.maxLength ?? file.nCtxTrain
        if (!exact.has(size)) {
          exact.set(size, await model.createRankingContext({ contextSize: size, threads: 2, kvCacheType: 'f32' }))
          defaults.set(size, await model.createRankingContext({ contextSize: size, threads: 2 }))
        }
        const options = pair.instruction ? { instruction: pair.instruction } : {}
        const [score] = await exact.get(size).rankAll(pair.query, [pair.document], options)
        const [usual] = await defaults.get(size).rankAll(pair.query, [pair.document], options)
        assert.ok(Math.abs(score - pair.score) <= 1e-5, `${pair.id}: ${score} vs ${pair.score}`)
        assert.ok(Math.abs(usual - pair.score) <= 1e-3, `${pair.id}: default ${usual}`)
        worst = Math.max(worst, Math.abs(usual - pair.score))
      }
      assert.ok(worst > 1e-5, 'the default F16 cache is unchanged')
      const [context] = exact.values()
      assert.equal(context.kvCacheType, 'f32')
      assert.equal(defaults.values().next().value.kvCacheType, 'f16')
      // bit-identical whatever else is in the call
      const docs = file.pairs.filter((p) => p.maxLength == null && !p.instruction).map((p) => p.document)
      const query = 'What is the capital of France?'
      const alone = []
      for (const d of docs) alone.push((await context.rankAll(query, [d]))[0])
      const packed = await context.rankAll(query, [...docs].reverse())
      packed.reverse()
      assert.deepEqual(packed, alone)
    } finally {
      for (const c of [...exact.values(), ...defaults.values()]) await c.dispose()
      await model.dispose()
    }
  })
}

test('kvCacheType: only f16 or f32', async () => {
  const model = await lib.loadModel(fixture('qwen3-reranker-pooled.gguf'))
  try {
    await assert.rejects(
      model.createRankingContext({ kvCacheType: 'q8_0' }),
      (e) => e.code === 'ERR_INVALID_ARG_VALUE' && /f16.*f32/.test(e.message),
    )
    const explicit = await model.createRankingContext({ kvCacheType: 'f16' })
    assert.equal(explicit.kvCacheType, 'f16')
    await explicit.dispose()
  } finally {
    await model.dispose()
  }
})
