// Every reranker family through the JavaScript API: the family and judge preset in
// `model.info` (and `llama-rerank info`), refusals with their codes, and the scores of every
// fixture pair against the reference of fixtures/families/ (transformers, mxbai-rerank,
// FlagEmbedding). Input ids are checked token by token in tests/families.rs.

import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { test } from 'node:test'
import { lib, root } from './support/helpers.mjs'

const dir = path.join(root, 'fixtures', 'families')
const load = (file) => JSON.parse(readFileSync(path.join(dir, file), 'utf8')).files
const crossEncoders = load('expected-crossencoders.json')
const judges = load('expected-judges.json')
const TOLERANCE = 1e-3

/** The context size at which a judge cuts where its reference does with max_length = maxLength. */
function judgeContext(file, pair) {
  if (pair.maxLength == null) return undefined
  if (file.presetName === 'mxbai-rerank-v2') return pair.maxLength + file.predefinedLength
  return pair.maxLength + 2 * (file.sepTokens.length + file.promptTokens.length)
}

async function checkScores(model, file, contextOf, referenceOf) {
  const contexts = new Map()
  try {
    for (const pair of file.pairs) {
      const size = contextOf(pair)
      if (!contexts.has(size)) contexts.set(size, await model.createRankingContext({ contextSize: size, threads: 2 }))
      const [score] = await contexts
        .get(size)
        .rankAll(pair.query, [pair.document], pair.instruction ? { instruction: pair.instruction } : {})
      const want = referenceOf(pair)
      assert.ok(Math.abs(score - want) <= TOLERANCE, `${pair.id}: ${score} vs reference ${want}`)
    }
  } finally {
    for (const c of contexts.values()) await c.dispose()
  }
}

for (const [name, file] of Object.entries(crossEncoders)) {
  test(`${name}: ${file.family}`, async () => {
    const modelPath = path.join(dir, name)
    if (file.mustRefuse) {
      await assert.rejects(lib.loadModel(modelPath), (e) => e.code === 'ERR_UNSUPPORTED_RERANKER' && /DistilBERT/.test(e.message))
      return
    }
    if (file.family === 'bert-multilabel') {
      await assert.rejects(lib.loadModel(modelPath), (e) => e.code === 'ERR_NOT_A_RERANKER' && /relevantLabel/.test(e.message))
      await assert.rejects(lib.loadModel(modelPath, { relevantLabel: 'relevance' }), (e) => e.code === 'ERR_INVALID_ARG_VALUE')
      const model = await lib.loadModel(modelPath, { relevantLabel: 'entailment' })
      const index = file.labels.indexOf('entailment')
      assert.equal(model.info.relevantLabel, 'entailment')
      await checkScores(
        model,
        file,
        (p) => p.maxLength ?? undefined,
        (p) => p.probs[index],
      )
      await model.dispose()
      return
    }
    const model = await lib.loadModel(modelPath)
    assert.equal(model.info.family, file.family)
    assert.equal(model.info.scoring, 'classifier')
    assert.equal(model.info.judge, undefined)
    await checkScores(
      model,
      file,
      (p) => p.maxLength ?? undefined,
      (p) => p.score,
    )
    await model.dispose()
  })
}

for (const [name, file] of Object.entries(judges)) {
  test(`${name}: the ${file.presetName} judge from metadata alone`, async () => {
    const model = await lib.loadModel(path.join(dir, name))
    assert.equal(model.info.family, file.family)
    assert.equal(model.info.scoring, 'yes-no')
    const { preset, positiveToken, negativeToken } = model.info.judge
    assert.deepEqual(
      { preset, positiveToken, negativeToken: negativeToken ?? null },
      { preset: file.presetName, positiveToken: file.positiveToken, negativeToken: file.negativeToken ?? null },
    )
    await checkScores(
      model,
      file,
      (p) => judgeContext(file, p),
      (p) => p.score,
    )
    await model.dispose()
  })
}

test('the judge option: a preset by name, and a clear error for an unknown one', async () => {
  const gemma = path.join(dir, 'bge-reranker-v2-gemma-tiny.gguf')
  await assert.rejects(
    lib.loadModel(gemma, { judge: 'gemma' }),
    (e) => e.code === 'ERR_INVALID_ARG_VALUE' && /mxbai-rerank-v2/.test(e.message),
  )
  const forced = await lib.loadModel(gemma, { judge: 'mxbai-rerank-v2' })
  assert.equal(forced.info.judge.preset, 'mxbai-rerank-v2')
  await forced.dispose()
  await assert.rejects(
    lib.loadModel(path.join(dir, 'xlmr-reranker.gguf'), { judge: 'mxbai-rerank-v2' }),
    (e) => e.code === 'ERR_NOT_A_RERANKER',
  )
})

test('llama-rerank info names the family and the judge preset', () => {
  const cli = path.join(root, 'bin', 'llama-rerank.mjs')
  const run = (model) => {
    const r = spawnSync(process.execPath, [cli, 'info', '--model', path.join(dir, model), '--json'], { encoding: 'utf8' })
    assert.equal(r.status, 0, r.stderr)
    return JSON.parse(r.stdout)
  }
  const mxbai = run('mxbai-rerank-base-v2-tiny.gguf')
  assert.equal(mxbai.family, 'mxbai-rerank-v2')
  assert.equal(mxbai.judge.preset, 'mxbai-rerank-v2')
  assert.equal(run('xlmr-reranker.gguf').family, 'xlm-roberta')
})
