// llama-rerank/compat on its own: node-llama-cpp's ranking chain over the native engine.

import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import path from 'node:path'
import { after, describe, test } from 'node:test'
import * as compat from 'llama-rerank/compat'
import { expected, fixture, fixtures, RERANKERS, root, TOLERANCE } from './support/helpers.mjs'

const require = createRequire(import.meta.url)
const { getLlama, createRankingContext, DisposedError, LlamaModel, LlamaRankingContext, LlamaLogLevel, EventRelay } = compat
const QWEN = 'qwen3-reranker-pooled.gguf'
const BERT = 'bert-reranker-pooler.gguf'
const LONG = 'The bicycle was invented in the nineteenth century and changed how people travel. '.repeat(30)

const llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error })
after(() => llama.dispose())
const loaded = new Map()
const modelOf = async (name) => {
  if (!loaded.has(name)) loaded.set(name, await llama.loadModel({ modelPath: fixture(name) }))
  return loaded.get(name)
}

describe('the module', () => {
  test('import and require give the same objects', () => {
    const cjs = require('llama-rerank/compat')
    for (const key of [
      'getLlama',
      'createRankingContext',
      'Llama',
      'LlamaModel',
      'LlamaRankingContext',
      'DisposedError',
      'EventRelay',
      'LlamaLogLevel',
    ]) {
      // biome-ignore lint/performance/noDynamicNamespaceImportAccess: the test walks the export names on purpose
      assert.equal(compat[key], cjs[key], key)
    }
    assert.equal(require('llama-rerank').createRankingContext, require(path.join(root, 'index.js')).createRankingContext)
  })

  test('classes cannot be made by hand', () => {
    assert.throws(() => new LlamaModel({}), TypeError)
    assert.throws(() => new LlamaRankingContext({}), TypeError)
  })

  test("llama: a CPU engine with node-llama-cpp's surface", async () => {
    const other = await getLlama({ gpu: 'auto', build: 'auto', maxThreads: 3, logger: () => {}, somethingNew: 1 })
    assert.equal(other.gpu, process.platform === 'darwin' && process.arch === 'arm64' ? 'metal' : false) // the CPU build elsewhere
    assert.equal(other.supportsGpuOffloading, other.gpu !== false)
    assert.ok(other.cpuMathCores >= 1)
    assert.deepEqual(await other.getGpuDeviceNames(), [])
    assert.equal((await other.getVramState()).free, 0)
    assert.equal(other.disposed, false)
    await other[Symbol.asyncDispose]()
    assert.equal(other.disposed, true)
    await assert.rejects(other.loadModel({ modelPath: fixture(BERT) }), DisposedError)
    assert.ok((await getLlama('lastBuild')) !== other)
  })
})

describe('every reference pair through getLlama → loadModel → createRankingContext', () => {
  for (const name of RERANKERS) {
    test(name, async () => {
      const file = expected[name]
      const model = await modelOf(name)
      assert.equal(model.filename, name)
      assert.equal(model.path, fixture(name))
      assert.equal(model.trainContextSize, file.nCtxTrain)
      assert.equal(model.info.scoring, file.scoring)
      const contexts = new Map()
      for (const pair of file.pairs) {
        const size = pair.maxLength ?? file.nCtxTrain
        if (!contexts.has(size)) contexts.set(size, await model.createRankingContext({ contextSize: size, threads: 1 }))
        const ctx = contexts.get(size)
        // node-llama-cpp's default is "throw"; the reference truncates, which is our "truncate"
        const onOverflow = pair.maxLength ? 'truncate' : undefined
        const score = await ctx.rank(pair.query, pair.document, { onOverflow, instruction: pair.instruction ?? undefined })
        assert.ok(Math.abs(score - pair.score) <= TOLERANCE[name], `${pair.id}: ${score} vs ${pair.score}`)
        if (pair.maxLength) await assert.rejects(ctx.rank(pair.query, pair.document), { code: 'ERR_INPUT_TOO_LONG' })
      }
      for (const ctx of contexts.values()) await ctx.dispose()
    })
  }
})

describe('options', () => {
  test('contextSize: "auto", a number, { min, max }; above the trained context it is lowered', async () => {
    const model = await modelOf(QWEN)
    const size = async (contextSize) => {
      const ctx = await model.createRankingContext({ contextSize, threads: 1 })
      const s = ctx.contextSize
      await ctx.dispose()
      return s
    }
    assert.equal(await size(undefined), 1024)
    assert.equal(await size('auto'), 1024)
    assert.equal(await size(300.7), 300)
    assert.equal(await size(4096), 1024)
    assert.equal(await size({ max: 300 }), 300)
    assert.equal(await size({ min: 100 }), 1024)
    assert.equal(await size({ min: 100, max: 9000 }), 1024)
    await assert.rejects(size({ min: 2000 }), RangeError)
    await assert.rejects(size('huge'), { name: 'TypeError', message: 'Invalid context size: "huge"' })
    await assert.rejects(size(NaN), TypeError)
    await assert.rejects(size(true), TypeError)
  })

  test('after lowering, an input within the requested size is truncated (one warning); beyond it, the error names the trained context', async () => {
    const model = await modelOf(QWEN)
    const ctx = await model.createRankingContext({ contextSize: 4096, threads: 1 })
    const warnings = []
    const onWarning = (w) => w.code === 'LLAMA_RERANK_CONTEXT_LOWERED' && warnings.push(w.message)
    process.on('warning', onWarning)
    // about 1600 tokens: over the trained 1024, within the 4096 asked for
    const medium = LONG.repeat(3)
    const length = ctx.calculateInputLength('q', medium)
    assert.ok(length > 1024 && length <= 4096, `${length}`)
    const cut = await ctx.rank('q', medium)
    const again = await ctx.rankAll('q', [medium, 'short'])
    const lenient = await model.createRankingContext({ threads: 1, onOverflow: 'truncate' })
    const native = await lenient.rank('q', medium)
    await lenient.dispose()
    assert.equal(cut, native)
    assert.equal(again[0], native)
    await new Promise((resolve) => setImmediate(resolve))
    process.off('warning', onWarning)
    assert.equal(warnings.length, 1, warnings.join('\n'))
    assert.match(warnings[0], /trained on 1024 tokens, so the requested context of 4096 was lowered/)
    // over what was asked for: the error, as node-llama-cpp throws past its context
    const long = LONG.repeat(10)
    await assert.rejects(ctx.rank('q', long), (err) => {
      assert.equal(err.code, 'ERR_INPUT_TOO_LONG')
      assert.match(err.message, /trained on 1024 tokens, so the requested 4096 was lowered to it/)
      assert.equal(err.inputLength, ctx.calculateInputLength('q', long))
      return true
    })
    await ctx.dispose()
  })

  test('threads, batchSize, createSignal; unused options are ignored', async () => {
    const model = await modelOf(BERT)
    const pair = expected[BERT].pairs[0]
    for (const options of [
      { threads: 0 },
      { threads: { ideal: 1, min: 1 } },
      { threads: 1, batchSize: 16 },
      { threads: 1, flashAttention: true, ignoreMemorySafetyChecks: true, swaFullCache: true, batching: {}, lora: undefined },
      { threads: 1, sequences: 2, performanceTracking: true },
    ]) {
      const ctx = await model.createRankingContext(options)
      assert.ok(Math.abs((await ctx.rank(pair.query, pair.document)) - pair.score) <= TOLERANCE[BERT], JSON.stringify(options))
      await ctx.dispose()
    }
    await assert.rejects(model.createRankingContext({ threads: -1 }), TypeError)
    const reason = new Error('stop')
    await assert.rejects(model.createRankingContext({ createSignal: AbortSignal.abort(reason) }), (err) => err === reason)
  })

  test('template with {{query}} and {{document}}', async () => {
    const file = expected[QWEN]
    const model = await modelOf(QWEN)
    const pair = file.pairs.find((p) => p.id === 'en-capital-relevant')
    const template = `${file.prefix}<Instruct>: ${file.defaultInstruction}\n<Query>: {{query}}\n<Document>: {{document}}${file.suffix}`
    const ctx = await model.createRankingContext({ template, threads: 1 })
    assert.equal(ctx.calculateInputLength(pair.query, pair.document), pair.nTokens)
    assert.ok(Math.abs((await ctx.rank(pair.query, pair.document)) - pair.score) <= TOLERANCE[QWEN])
    await ctx.dispose()
    // a cross-encoder has no prompt to replace
    await assert.rejects((await modelOf(BERT)).createRankingContext({ template }), { code: 'ERR_INVALID_ARG_VALUE' })
  })

  test('per call: onOverflow forms, instruction, signal, onProgress', async () => {
    const model = await modelOf(QWEN)
    const ctx = await model.createRankingContext({ contextSize: 256, threads: 1 })
    const custom = expected[QWEN].pairs.find((p) => p.id === 'custom-instruction')
    const s = await ctx.rank(custom.query, custom.document, { instruction: custom.instruction })
    assert.ok(Math.abs(s - custom.score) <= TOLERANCE[QWEN])
    await assert.rejects(ctx.rank('q', 'd', { onOverflow: 'sometimes' }), { code: 'ERR_INVALID_ARG_VALUE' })
    await assert.rejects(ctx.rank('q', 'd', { onOverflow: { type: 'maxChunk', overlapPercentage: 'half' } }), TypeError)
    await assert.rejects(ctx.rank('q', LONG, { onOverflow: { type: 'throw' } }), { code: 'ERR_INPUT_TOO_LONG' })
    assert.ok((await ctx.rank('q', LONG, { onOverflow: { type: 'truncate' } })) >= 0)
    await assert.rejects(ctx.rank('q', 'd', { signal: AbortSignal.abort() }), { name: 'AbortError' })
    let progress = 0
    await ctx.rankAll('q', ['a', 'b', 'c'], { onProgress: () => progress++ })
    assert.ok(progress > 0)
    // "throw" measures every pair first: nothing is evaluated when one is too long
    progress = 0
    await assert.rejects(ctx.rankAll('q', ['a', 'b', LONG], { onProgress: () => progress++ }), {
      code: 'ERR_INPUT_TOO_LONG',
      message: /^The input lengths of some of the given documents exceed the context size\. /,
    })
    assert.equal(progress, 0)
    await assert.rejects(ctx.rankAll('q', 'abc'), TypeError)
    await assert.rejects(ctx.rank('q', null), TypeError)
    await ctx.dispose()
  })

  test('a context-wide onOverflow default', async () => {
    const model = await modelOf(QWEN)
    const ctx = await model.createRankingContext({ contextSize: 256, threads: 1, onOverflow: 'maxChunk' })
    const chunked = await ctx.rank('q', LONG)
    assert.equal(chunked, await ctx.rank('q', LONG, { onOverflow: 'maxChunk' }))
    await assert.rejects(ctx.rank('q', LONG, { onOverflow: 'throw' }), { code: 'ERR_INPUT_TOO_LONG' })
    await ctx.dispose()
  })
})

describe('onOverflow: "maxChunk"', () => {
  for (const name of [QWEN, BERT]) {
    test(`${name}: overlapping pieces that fit; the score is the best piece's`, async () => {
      const model = await modelOf(name)
      const ctx = await model.createRankingContext({ contextSize: 128, threads: 1 })
      const query = 'history of the bicycle'
      // every word differs, so each piece is found at one place only
      const words = Array.from({ length: 240 }, (_, i) => `bicycle${i}`)
      const document = `${words.slice(0, 120).join(' ')} Ünïcödé 😀 текст 中文 العربية ${words.slice(120).join(' ')}`
      assert.ok(ctx.calculateInputLength(query, document) > 128)
      for (const overlap of [0.5, 0.25, 0]) {
        const pieces = ctx._chunkDocument(query, document, overlap)
        assert.ok(pieces.length > 2)
        for (const piece of pieces) {
          assert.ok(ctx.calculateInputLength(query, piece) <= 128)
          assert.ok(document.includes(piece))
          assert.ok(!/^[\uDC00-\uDFFF]/.test(piece) && !/[\uD800-\uDBFF]$/.test(piece), 'no split code point')
        }
        assert.ok(document.startsWith(pieces[0]))
        assert.ok(document.endsWith(pieces.at(-1)))
        // pieces follow each other, and overlap by about the requested share
        let at = 0
        for (let i = 1; i < pieces.length - 1; i++) {
          const prevStart = document.indexOf(pieces[i - 1], at)
          const start = document.indexOf(pieces[i], prevStart + 1)
          const overlapChars = prevStart + pieces[i - 1].length - start
          assert.ok(start > prevStart && overlapChars >= 0, `piece ${i}`)
          const share = overlapChars / pieces[i - 1].length
          assert.ok(Math.abs(share - overlap) <= 0.15, `piece ${i}: overlap ${share.toFixed(2)} for ${overlap}`)
          at = prevStart
        }
        if (overlap === 0) assert.ok(document.startsWith(pieces.slice(0, -1).join('')), 'no gaps')
        const best = Math.max(...(await ctx.rankAll(query, pieces)))
        const score = await ctx.rank(query, document, { onOverflow: { type: 'maxChunk', overlapPercentage: overlap } })
        assert.ok(Math.abs(score - best) <= 1e-4, `${score} vs ${best}`)
      }
      // rankAll: chunked and unchunked documents together, in input order
      const [short, long] = await ctx.rankAll(query, ['a bicycle', document], { onOverflow: 'maxChunk' })
      assert.ok(Math.abs(short - (await ctx.rank(query, 'a bicycle'))) <= 1e-4)
      assert.ok(Math.abs(long - (await ctx.rank(query, document, { onOverflow: 'maxChunk' }))) <= 1e-4)
      // a pair that fits is scored whole
      assert.deepEqual(ctx._chunkDocument(query, 'a bicycle'), ['a bicycle'])
      await ctx.dispose()
    })
  }

  test('a query too long for any piece rejects', async () => {
    const model = await modelOf(QWEN)
    const ctx = await model.createRankingContext({ contextSize: 128, threads: 1 })
    await assert.rejects(ctx.rank(LONG, 'd', { onOverflow: 'maxChunk' }), {
      code: 'ERR_INPUT_TOO_LONG',
      message: 'The document is too long to fit into the context window with the given query',
    })
    await ctx.dispose()
  })
})

describe('disposal', () => {
  test('context: DisposedError after dispose(); dispose() is idempotent; onDispose fires once', async () => {
    const model = await modelOf(BERT)
    const ctx = await model.createRankingContext({ threads: 1 })
    let fired = 0
    let removedFired = 0
    let onceFired = 0
    ctx.onDispose.createListener(() => fired++)
    ctx.onDispose.createOnceListener(() => onceFired++)
    const removed = ctx.onDispose.createListener(() => removedFired++)
    removed.dispose()
    assert.equal(removed.disposed, true)
    assert.equal(ctx.onDispose.listenerCount(), 2)
    await Promise.all([ctx.dispose(), ctx.dispose(), ctx[Symbol.asyncDispose]()])
    assert.deepEqual([fired, onceFired, removedFired], [1, 1, 0])
    assert.equal(ctx.disposed, true)
    await assert.rejects(ctx.rank('q', 'd'), (err) => {
      assert.ok(err instanceof DisposedError)
      assert.equal(err.code, 'ERR_DISPOSED')
      assert.equal(err.message, 'Object is disposed')
      return true
    })
    assert.throws(() => ctx.calculateInputLength('q', 'd'), DisposedError)
    assert.equal(ctx.contextSize, 512)
  })

  test('a call in flight rejects with DisposedError or finishes; never a crash', async () => {
    const model = await llama.loadModel({ modelPath: fixture(QWEN) })
    const ctx = await model.createRankingContext({ threads: 1 })
    const docs = Array.from({ length: 40 }, (_, i) => `document number ${i} about bicycles`)
    const running = ctx.rankAll('bicycles', docs).then(
      (v) => v.length,
      (e) => e,
    )
    await model.dispose()
    const outcome = await running
    assert.ok(outcome === 40 || outcome instanceof DisposedError, String(outcome))
    assert.equal(ctx.disposed, true)
    await assert.rejects(model.createRankingContext(), DisposedError)
  })

  test('EventRelay on its own', () => {
    const relay = new EventRelay()
    const seen = []
    relay.createListener((x) => seen.push(x))
    relay.dispatchEvent(1)
    relay.clearListeners()
    relay.dispatchEvent(2)
    assert.deepEqual(seen, [1])
    relay.dispose()
    assert.throws(() => relay.createListener(() => {}), DisposedError)
  })
})

describe('loading', () => {
  test("errors keep the engine's codes", async () => {
    await assert.rejects(llama.loadModel({ modelPath: path.join(fixtures, 'missing.gguf') }), { code: 'ERR_MODEL_NOT_FOUND' })
    await assert.rejects(llama.loadModel({ modelPath: fixture('bert-embedding.gguf') }), { code: 'ERR_NOT_A_RERANKER' })
    await assert.rejects(llama.loadModel({ modelPath: fixture(BERT), loadSignal: AbortSignal.abort() }), { name: 'AbortError' })
    await assert.rejects(llama.loadModel(fixture(BERT)), TypeError)
  })

  test('node-llama-cpp load options are accepted', async () => {
    let progress = null
    const relative = path.relative(process.cwd(), fixture(BERT))
    for (const gpuLayers of [0, 'auto', 'max', { min: 0, max: 10, fitContext: { contextSize: 512 } }]) {
      const model = await llama.loadModel({
        modelPath: relative,
        gpuLayers,
        useMmap: false,
        useMlock: false,
        checkTensors: true,
        onLoadProgress: (p) => (progress = p),
      })
      assert.equal(model.path, fixture(BERT))
      assert.equal(model.llama, llama)
      await model.dispose()
    }
    assert.equal(progress, 1)
  })

  test('createContext and createEmbeddingContext are not offered', async () => {
    const model = await modelOf(BERT)
    await assert.rejects(model.createContext(), { code: 'ERR_NOT_SUPPORTED' })
    await assert.rejects(model.createEmbeddingContext(), { code: 'ERR_NOT_SUPPORTED' })
  })
})

describe('createRankingContext(model, options)', () => {
  test('takes a path; the context owns the model it loads', async () => {
    const ctx = await createRankingContext(fixture(QWEN), { contextSize: 'auto', threads: 1 })
    assert.ok(ctx instanceof LlamaRankingContext)
    assert.ok(ctx.model instanceof LlamaModel)
    assert.equal(ctx.model.filename, QWEN)
    const pair = expected[QWEN].pairs[0]
    assert.ok(Math.abs((await ctx.rank(pair.query, pair.document)) - pair.score) <= TOLERANCE[QWEN])
    await ctx.dispose()
    assert.equal(ctx.model.disposed, true)
  })

  test('takes our LlamaModel', async () => {
    const model = await modelOf(BERT)
    const ctx = await createRankingContext(model, { threads: 1 })
    assert.equal(ctx.model, model)
    await ctx.dispose()
    assert.equal(model.disposed, false)
  })

  test('rejects what is not a model', async () => {
    await assert.rejects(createRankingContext(42), TypeError)
    await assert.rejects(createRankingContext({}), TypeError)
    await assert.rejects(createRankingContext(fixture('bert-embedding.gguf')), { code: 'ERR_NOT_A_RERANKER' })
  })
})
