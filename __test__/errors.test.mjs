// Bad input gets a typed error with a stable code; nothing crashes the process.

import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { test } from 'node:test'
import { fixture, lib, root } from './support/helpers.mjs'

const scratch = mkdtempSync(path.join(tmpdir(), 'llama-rerank-'))
process.once('exit', () => rmSync(scratch, { recursive: true, force: true }))

test('a missing file rejects with ERR_MODEL_NOT_FOUND', async () => {
  await assert.rejects(lib.loadModel(path.join(scratch, 'nope.gguf')), { code: 'ERR_MODEL_NOT_FOUND' })
})

test('a file that is not GGUF rejects with ERR_NOT_GGUF', async () => {
  await assert.rejects(lib.loadModel(path.join(root, 'package.json')), { code: 'ERR_NOT_GGUF' })
  const empty = path.join(scratch, 'empty.gguf')
  writeFileSync(empty, '')
  await assert.rejects(lib.loadModel(empty), { code: 'ERR_NOT_GGUF' })
})

test('a truncated GGUF rejects with ERR_MODEL_CORRUPT', async () => {
  const bytes = readFileSync(fixture('bert-reranker-stock.gguf'))
  const cut = path.join(scratch, 'cut.gguf')
  writeFileSync(cut, bytes.subarray(0, Math.floor(bytes.length / 2)))
  await assert.rejects(lib.loadModel(cut), { code: 'ERR_MODEL_CORRUPT' })
})

test('a directory rejects with ERR_MODEL_LOAD', async () => {
  await assert.rejects(lib.loadModel(scratch), { code: 'ERR_MODEL_LOAD' })
})

test('a GGUF that is not a reranker rejects with ERR_NOT_A_RERANKER', async () => {
  await assert.rejects(lib.loadModel(fixture('bert-embedding.gguf')), { code: 'ERR_NOT_A_RERANKER' })
})

test('over-long input under "throw" rejects with ERR_INPUT_TOO_LONG before evaluating', async () => {
  const model = await lib.loadModel(fixture('qwen3-reranker-pooled.gguf'))
  const ctx = await model.createRankingContext({ contextSize: 96, onOverflow: 'throw' })
  const long = 'word '.repeat(500)
  await assert.rejects(ctx.rank('q', long), (err) => {
    assert.equal(err.code, 'ERR_INPUT_TOO_LONG')
    assert.match(err.message, /over the context's 96 tokens/)
    return true
  })
  // the whole call fails even when only the last document is too long
  let progressCalls = 0
  await assert.rejects(ctx.rankAll('q', ['short', 'short', long], { onProgress: () => progressCalls++ }), { code: 'ERR_INPUT_TOO_LONG' })
  assert.equal(progressCalls, 0)
  // per call, "truncate" overrides the context's policy
  const s = await ctx.rank('q', long, { onOverflow: 'truncate' })
  assert.ok(s >= 0 && s <= 1)
  // default policy is truncate
  const lenient = await model.createRankingContext({ contextSize: 96 })
  assert.ok((await lenient.rank('q', long)) >= 0)
  assert.ok(lenient.calculateInputLength('q', long) > 96)
  await model.dispose()
})

test('a template too long for the context rejects with ERR_INPUT_TOO_LONG', async () => {
  const model = await lib.loadModel(fixture('qwen3-reranker-pooled.gguf'))
  const ctx = await model.createRankingContext({ contextSize: 16 })
  await assert.rejects(ctx.rank('q', 'd'), { code: 'ERR_INPUT_TOO_LONG' })
  await model.dispose()
})

test('non-string arguments reject with a TypeError', async () => {
  const model = await lib.loadModel(fixture('bert-reranker-pooler.gguf'))
  const ctx = await model.createRankingContext()
  await assert.rejects(ctx.rank(42, 'doc'), (err) => err instanceof TypeError && err.code === 'ERR_INVALID_ARG_VALUE')
  await assert.rejects(ctx.rankAll('q', 'not an array'), TypeError)
  await assert.rejects(ctx.rankAll('q', ['ok', null]), /documents\[1\] must be a string, got null/)
  assert.throws(() => ctx.calculateInputLength('q', {}), TypeError)
  await assert.rejects(model.createRankingContext({ scoring: 'magic' }), { code: 'ERR_INVALID_ARG_VALUE' })
  await assert.rejects(model.createRankingContext({ template: '{{query}} {{document}}' }), /yes-no scoring only/)
  await model.dispose()
})

test('calls after dispose reject with ERR_DISPOSED; dispose is idempotent', async () => {
  const model = await lib.loadModel(fixture('bert-reranker-pooler.gguf'))
  const ctx = await model.createRankingContext()
  assert.equal(ctx.disposed, false)
  await ctx.dispose()
  await ctx.dispose()
  assert.equal(ctx.disposed, true)
  await assert.rejects(ctx.rank('q', 'd'), { code: 'ERR_DISPOSED' })
  assert.throws(() => ctx.calculateInputLength('q', 'd'), { code: 'ERR_DISPOSED' })
  const other = await model.createRankingContext()
  await model.dispose()
  await model.dispose()
  assert.equal(model.disposed, true)
  assert.equal(other.disposed, true, 'disposing the model disposes its contexts')
  await assert.rejects(other.rankAll('q', ['d']), { code: 'ERR_DISPOSED' })
  await assert.rejects(model.createRankingContext(), { code: 'ERR_DISPOSED' })
})

test('an aborted signal rejects with AbortError', async () => {
  const model = await lib.loadModel(fixture('bert-reranker-pooler.gguf'))
  const ctx = await model.createRankingContext()
  await assert.rejects(ctx.rank('q', 'd', { signal: AbortSignal.abort() }), { name: 'AbortError', code: 'ABORT_ERR' })
  await assert.rejects(lib.loadModel(fixture('bert-reranker-pooler.gguf'), { signal: AbortSignal.abort() }), {
    name: 'AbortError',
  })
  await model.dispose()
})
