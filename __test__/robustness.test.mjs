// Disposal, concurrency, abort, progress, bad input and damaged files: typed errors or defined
// results, and the process lives on.

import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, before, describe, test } from 'node:test'
import { damagedModels } from '../scripts/make_damaged_models.mjs'
import { fixture, lib, root } from './support/helpers.mjs'

const QWEN = 'qwen3-reranker-pooled.gguf'
const docs = (n, words = 12) =>
  Array.from({ length: n }, (_, i) => `document ${i}: ` + 'the history of the bicycle '.repeat(Math.ceil(words / 5)))

describe('damaged model files', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'llama-rerank-damaged-'))
  const corpus = damagedModels()
  for (const m of corpus) writeFileSync(path.join(dir, m.name), m.bytes)
  after(() => rmSync(dir, { recursive: true, force: true }))

  test('the corpus is large enough', () => assert.ok(corpus.length >= 30, `${corpus.length} files`))

  test('every damaged file rejects with a typed error or scores without NaN', async () => {
    const outcomes = {}
    for (const m of corpus) {
      const file = path.join(dir, m.name)
      let outcome
      try {
        const model = await lib.loadModel(file)
        try {
          const ctx = await model.createRankingContext({ contextSize: 256 })
          const scores = await ctx.rankAll('What is the capital of France?', ['Paris is the capital.', 'Bananas.'])
          for (const s of scores) assert.ok(Number.isFinite(s) && s >= 0 && s <= 1, `${m.name}: ${s}`)
          outcome = 'loaded'
        } catch (err) {
          assert.ok(
            ['ERR_NON_FINITE_SCORE', 'ERR_CONTEXT_CREATE', 'ERR_DECODE', 'ERR_INPUT_TOO_LONG'].includes(err.code),
            `${m.name}: ${err.code} ${err.message}`,
          )
          outcome = err.code
        } finally {
          await model.dispose()
        }
      } catch (err) {
        if (err.code === undefined) throw err
        assert.ok(
          ['ERR_MODEL_CORRUPT', 'ERR_NOT_GGUF', 'ERR_MODEL_LOAD', 'ERR_NOT_A_RERANKER'].includes(err.code),
          `${m.name}: ${err.code} ${err.message}`,
        )
        outcome = err.code
      }
      outcomes[outcome] = (outcomes[outcome] ?? 0) + 1
    }
    // most damage is caught before llama.cpp sees the file
    assert.ok(outcomes.ERR_MODEL_CORRUPT >= 30, JSON.stringify(outcomes))
    assert.ok(outcomes.ERR_NON_FINITE_SCORE >= 1, 'NaN weights are reported, not returned')
  })

  test('a directory, an empty file and an unreadable file', async () => {
    const sub = path.join(dir, 'a-directory.gguf')
    mkdirSync(sub)
    await assert.rejects(lib.loadModel(sub), { code: 'ERR_MODEL_LOAD' })
    await assert.rejects(lib.loadModel(path.join(dir, 'zero-bytes.gguf')), { code: 'ERR_NOT_GGUF' })
    const locked = path.join(dir, 'locked.gguf')
    writeFileSync(locked, corpus.find((m) => m.name === 'bert-truncated-half.gguf').bytes)
    chmodSync(locked, 0)
    // root reads through permissions; then the file is read and found truncated
    const code = process.getuid?.() === 0 ? 'ERR_MODEL_CORRUPT' : 'ERR_MODEL_LOAD'
    await assert.rejects(lib.loadModel(locked), { code })
  })
})

describe('disposal', () => {
  test('dispose during rankAll, 200 times: no crash, every promise settles', async () => {
    const model = await lib.loadModel(fixture(QWEN))
    const input = docs(12)
    // Every tenth round disposes once the call has reported progress on more documents than any
    // CPU scores before the dispose arrives: those calls are cut by construction. The other
    // rounds dispose after a random delay of 0-3 ms, wherever the work happens to be.
    const many = docs(3000)
    let finished = 0
    let disposedErrors = 0
    let cutByConstruction = 0
    let seed = 7
    const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31
    for (let i = 0; i < 200; i++) {
      const ctx = await model.createRankingContext({ contextSize: 256, batchSize: 64, sequences: 2 })
      // handlers attached at once: a rejection before the dispose returns is not "unhandled"
      const cut = i % 10 === 0
      let progressed
      const firstProgress = new Promise((r) => (progressed = r))
      const ranking = cut ? ctx.rankAll('bicycle', many, { onProgress: () => progressed() }) : ctx.rankAll('bicycle', input)
      const calls = [ranking, ctx.rank('bicycle', input[0])].map((p) =>
        p.then(
          (value) => ({ status: 'fulfilled', value }),
          (reason) => ({ status: 'rejected', reason }),
        ),
      )
      const delay = rand() * 3
      await (cut ? firstProgress : new Promise((r) => setTimeout(r, delay)))
      const disposing = rand() < 0.2 ? model.createRankingContext().then((c) => c.dispose()) : Promise.resolve()
      await ctx.dispose()
      await disposing
      const results = await Promise.all(calls)
      if (cut) {
        assert.equal(results[0].status, 'rejected', 'a call of 3,000 documents was cut by the dispose')
        cutByConstruction++
      }
      for (const result of results) {
        if (result.status === 'fulfilled') {
          finished++
          const values = [result.value].flat()
          assert.ok(values.every((v) => Number.isFinite(v)))
        } else {
          assert.equal(result.reason.code, 'ERR_DISPOSED', result.reason.message)
          disposedErrors++
        }
      }
    }
    assert.equal(finished + disposedErrors, 400)
    assert.equal(cutByConstruction, 20)
    assert.ok(disposedErrors >= 20, 'some calls were cut by the disposal')
    await model.dispose()
  })

  test('disposing the model stops its running contexts at a batch boundary', async () => {
    const model = await lib.loadModel(fixture(QWEN))
    const ctx = await model.createRankingContext({ contextSize: 256, batchSize: 64, sequences: 2 })
    let progress = 0
    let progressed
    const firstProgress = new Promise((r) => (progressed = r))
    // More documents than any CPU scores before the dispose arrives: it lands mid-call.
    const running = assert.rejects(
      ctx.rankAll('bicycle', docs(4000), {
        onProgress: (d) => {
          progress = d
          progressed()
        },
      }),
      {
        code: 'ERR_DISPOSED',
      },
    )
    await firstProgress
    await model.dispose()
    await running
    assert.ok(progress < 4000)
    assert.equal(ctx.disposed, true)
  })

  test('a process that exits with live models, contexts and running calls exits cleanly', () => {
    const script = `
      const lib = require(${JSON.stringify(path.join(root, 'index.js'))})
      ;(async () => {
        const m = await lib.loadModel(${JSON.stringify(fixture(QWEN))})
        const c = await m.createRankingContext({ contextSize: 256, batchSize: 64, sequences: 2 })
        await lib.loadModel(${JSON.stringify(fixture('bert-reranker-pooler.gguf'))}).then((b) => b.createRankingContext())
        const docs = Array.from({ length: 2000 }, (_, i) => 'document ' + i + ' about bicycles and their history')
        let n = 0
        c.rankAll('q', docs, { onProgress: () => { if (++n === 3) process.exit(0) } })
      })()`
    for (let i = 0; i < 3; i++) {
      const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 60_000 })
      assert.equal(r.signal, null, r.stderr)
      assert.equal(r.status, 0, r.stderr)
    }
    // and a natural exit with idle contexts
    const idle = `
      const lib = require(${JSON.stringify(path.join(root, 'index.js'))})
      lib.loadModel(${JSON.stringify(fixture(QWEN))}).then((m) => m.createRankingContext()).then((c) => c.rank('q', 'd')).then((s) => console.log(s))`
    const r = spawnSync(process.execPath, ['-e', idle], { encoding: 'utf8', timeout: 60_000 })
    assert.equal(r.status, 0, r.stderr)
    assert.ok(Number.isFinite(Number(r.stdout.trim())))
  })

  test('a context or model that JavaScript no longer references is not freed under its running call', () => {
    // Before the fix the collected context object disposed its context mid-call: ERR_DISPOSED,
    // every time, under Node and Bun (the CLI met it under Bun in CI).
    const script = `
      const lib = require(${JSON.stringify(path.join(root, 'index.js'))})
      const collect = () => (globalThis.gc ? globalThis.gc() : Bun.gc(true))
      const docs = Array.from({ length: 150 }, (_, i) => 'document ' + i + ': the history of the bicycle and of cities')
      async function collectedWhile(call) {
        let settled = false
        call.then(() => (settled = true), () => (settled = true))
        let collections = 0
        while (!settled || collections < 3) {
          collect()
          collections++
          await new Promise((r) => setTimeout(r, 5))
        }
        return call
      }
      ;(async () => {
        const model = await lib.loadModel(${JSON.stringify(fixture(QWEN))})
        // the context object is unreachable once its call is made
        const a = await collectedWhile((await model.createRankingContext({ contextSize: 256 })).rankAll('bicycle', docs))
        // and the model object once its context is made
        const context = await (await lib.loadModel(${JSON.stringify(fixture(QWEN))})).createRankingContext({ contextSize: 256 })
        await collectedWhile(Promise.resolve())
        const b = await collectedWhile(context.rankAll('bicycle', docs))
        console.log(JSON.stringify({ a: a.length, b: b.length, same: a.every((x, i) => x === b[i]) }))
      })().catch((e) => { console.log(JSON.stringify({ error: e.code, message: e.message })); process.exitCode = 1 })`
    const args = typeof globalThis.Bun === 'undefined' ? ['--expose-gc', '-e', script] : ['-e', script]
    const r = spawnSync(process.execPath, args, { encoding: 'utf8', timeout: 120_000 })
    assert.equal(r.signal, null, r.stderr)
    assert.deepEqual(JSON.parse(r.stdout.trim().split('\n').at(-1)), { a: 150, b: 150, same: true }, r.stderr)
    assert.equal(r.status, 0, r.stderr)
  })
})

describe('concurrency', () => {
  let model
  before(async () => {
    model = await lib.loadModel(fixture(QWEN))
  })
  after(async () => {
    await model.dispose()
  })

  test('calls on one context complete in FIFO order with the scores they get alone', async () => {
    const ctx = await model.createRankingContext({ contextSize: 512 })
    const inputs = [docs(9), docs(1), docs(5), docs(3), docs(7)]
    const alone = []
    for (const d of inputs) alone.push(await ctx.rankAll('bicycle', d))
    // The context thread waits for each progress callback, so the order of the calls' first
    // progress reports is the order in which it took them.
    const order = []
    const results = await Promise.all(
      inputs.map((d, i) => ctx.rankAll('bicycle', d, { onProgress: (done) => done === d.length && order.push(i) })),
    )
    assert.deepEqual(order, [0, 1, 2, 3, 4])
    results.forEach((r, i) => r.forEach((s, j) => assert.ok(Math.abs(s - alone[i][j]) <= 1e-4)))
  })

  test('several contexts of one model run in parallel and agree', async () => {
    const contexts = await Promise.all([1, 2, 3].map(() => model.createRankingContext({ contextSize: 512, threads: 1 })))
    const input = docs(6)
    const results = await Promise.all(contexts.map((c) => c.rankAll('bicycle', input)))
    for (const r of results.slice(1)) r.forEach((s, j) => assert.ok(Math.abs(s - results[0][j]) <= 1e-4))
    await Promise.all(contexts.map((c) => c.dispose()))
  })
})

describe('abort and progress', () => {
  let model
  let ctx
  before(async () => {
    model = await lib.loadModel(fixture(QWEN))
    ctx = await model.createRankingContext({ contextSize: 256, batchSize: 64, sequences: 2 })
  })
  after(async () => {
    await model.dispose()
  })

  test('progress never decreases and ends at total', async () => {
    const seen = []
    const scores = await ctx.rankAll('bicycle', docs(25), { onProgress: (done, total) => seen.push([done, total]) })
    assert.equal(scores.length, 25)
    assert.ok(seen.length >= 3)
    for (let i = 1; i < seen.length; i++) assert.ok(seen[i][0] >= seen[i - 1][0])
    assert.deepEqual(seen.at(-1), [25, 25])
    assert.ok(seen.every(([, t]) => t === 25))
  })

  test('a throwing onProgress rejects the call cleanly and the context lives on', async () => {
    await assert.rejects(
      ctx.rankAll('bicycle', docs(25), {
        onProgress: () => {
          throw new Error('boom')
        },
      }),
      (err) => err.code === 'ERR_CALLBACK_FAILED' && /boom/.test(err.message),
    )
    assert.equal((await ctx.rankAll('bicycle', docs(3))).length, 3)
  })

  test('abort mid-call rejects with AbortError at a batch boundary', async () => {
    const controller = new AbortController()
    let last = 0
    // More documents than any CPU scores before the abort arrives.
    const call = ctx.rankAll('bicycle', docs(3000), {
      signal: controller.signal,
      onProgress: (done) => {
        last = done
        if (done >= 4) controller.abort()
      },
    })
    await assert.rejects(call, { name: 'AbortError', code: 'ABORT_ERR' })
    assert.ok(last < 3000)
    // a queued call behind the aborted one still runs
    assert.equal((await ctx.rankAll('bicycle', docs(2))).length, 2)
  })

  test('an already-aborted signal rejects without evaluating', async () => {
    let calls = 0
    await assert.rejects(ctx.rankAll('bicycle', docs(5), { signal: AbortSignal.abort(), onProgress: () => calls++ }), {
      name: 'AbortError',
    })
    assert.equal(calls, 0)
  })
})

describe('awkward input', () => {
  let model
  let ctx
  before(async () => {
    model = await lib.loadModel(fixture(QWEN))
    ctx = await model.createRankingContext({ contextSize: 1024 })
  })
  after(async () => {
    await model.dispose()
  })

  test('lone surrogates, NUL characters, whitespace and an empty query give finite scores', async () => {
    const scores = await ctx.rankAll('\uD800 query \u0000', ['\uDC00 lone', 'a\u0000b', ' \t\n ', '', '😀'.repeat(50)])
    for (const s of scores) assert.ok(Number.isFinite(s) && s >= 0 && s <= 1)
    assert.ok(Number.isFinite(await ctx.rank('', 'document')))
  })

  test('a 1 MB document is truncated to the context', async () => {
    const big = 'bicycle wheels and frames. '.repeat(40_000)
    assert.ok(big.length > 1_000_000)
    const small = await model.createRankingContext({ contextSize: 512 })
    assert.ok(small.calculateInputLength('q', big) > 512)
    const s = await small.rank('q', big)
    assert.ok(Number.isFinite(s))
    await assert.rejects(small.rank('q', big, { onOverflow: 'throw' }), { code: 'ERR_INPUT_TOO_LONG' })
  })

  test('10,000 documents in one call, in bounded memory', async () => {
    const many = Array.from({ length: 10_000 }, (_, i) => `short document number ${i}`)
    const before = process.memoryUsage().rss
    const scores = await ctx.rankAll('number', many)
    const grown = (process.memoryUsage().rss - before) / 2 ** 20
    assert.equal(scores.length, 10_000)
    assert.ok(scores.every(Number.isFinite))
    assert.ok(grown < 200, `RSS grew by ${grown.toFixed(0)} MB`)
  })
})
