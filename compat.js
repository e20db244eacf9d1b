// llama-rerank/compat: node-llama-cpp's ranking API (getLlama → loadModel → createRankingContext →
// LlamaRankingContext) on top of llama-rerank's native engine, so switching costs an import line.
//
// Everything here is plain JavaScript over the native API in index.js: option mapping,
// node-llama-cpp's error shapes and disposal events, and onOverflow "maxChunk".

const os = require('node:os')
const path = require('node:path')
const native = require('./index.js')

const DEFAULT_OVERLAP_PERCENTAGE = 0.5 // node-llama-cpp's default for "maxChunk"

// ---------------------------------------------------------------------------------------------
// Errors and events

/** node-llama-cpp's DisposedError: the message is the same ("Object is disposed"). */
class DisposedError extends Error {
  constructor(options) {
    super('Object is disposed', options)
    this.name = 'DisposedError'
    this.code = 'ERR_DISPOSED'
  }
}

function invalidArg(message) {
  const err = new TypeError(message)
  err.code = 'ERR_INVALID_ARG_VALUE'
  return err
}

function inputTooLong(message, extra) {
  const err = new Error(message)
  err.code = 'ERR_INPUT_TOO_LONG'
  Object.assign(err, extra)
  return err
}

/** Turns the engine's ERR_DISPOSED into node-llama-cpp's DisposedError; other errors pass. */
function translate(err) {
  if (err && err.code === 'ERR_DISPOSED' && !(err instanceof DisposedError)) return new DisposedError({ cause: err })
  return err
}

/** The subset of lifecycle-utils' EventRelay that node-llama-cpp users touch. */
class EventRelay {
  constructor() {
    this._listeners = new Set()
    this._disposed = false
  }
  createListener(callback) {
    if (typeof callback !== 'function') throw invalidArg('callback must be a function')
    if (this._disposed) throw new DisposedError()
    const listeners = this._listeners
    const entry = { callback }
    listeners.add(entry)
    return {
      dispose() {
        listeners.delete(entry)
      },
      get disposed() {
        return !listeners.has(entry)
      },
      [Symbol.dispose]() {
        listeners.delete(entry)
      },
    }
  }
  createOnceListener(callback) {
    if (typeof callback !== 'function') throw invalidArg('callback must be a function')
    const handle = this.createListener((data) => {
      handle.dispose()
      callback(data)
    })
    return handle
  }
  dispatchEvent(data) {
    for (const entry of [...this._listeners]) {
      try {
        entry.callback(data)
      } catch (err) {
        // a listener's error must not stop disposal; report it the way an unhandled error would be
        queueMicrotask(() => {
          throw err
        })
      }
    }
  }
  listenerCount() {
    return this._listeners.size
  }
  clearListeners() {
    this._listeners.clear()
  }
  get disposed() {
    return this._disposed
  }
  dispose() {
    this._listeners.clear()
    this._disposed = true
  }
}

// ---------------------------------------------------------------------------------------------
// Option mapping

/** node-llama-cpp's `contextSize`: "auto" | number | { min?, max? }, resolved against the trained length. */
function resolveContextSize(contextSize, trained) {
  if (contextSize == null || contextSize === 'auto') return undefined // the engine's default: the trained context (≤ 8192)
  if (typeof contextSize === 'number') {
    if (!Number.isFinite(contextSize)) throw invalidArg(`Invalid context size: "${contextSize}"`)
    return Math.max(1, Math.floor(contextSize)) // above the trained length the engine clamps
  }
  if (typeof contextSize === 'object') {
    const max = Math.min(contextSize.max ?? trained, trained)
    const min = contextSize.min ?? 1
    if (typeof max !== 'number' || typeof min !== 'number' || !Number.isFinite(max) || !Number.isFinite(min))
      throw invalidArg(`Invalid context size: "${JSON.stringify(contextSize)}"`)
    if (min > max) {
      const err = new RangeError(
        `A context size of ${min} is above the model's trained context of ${trained} tokens` +
          (contextSize.max != null ? ` (or the given max of ${contextSize.max})` : ''),
      )
      err.code = 'ERR_INVALID_ARG_VALUE'
      throw err
    }
    return Math.max(1, Math.floor(max))
  }
  throw invalidArg(`Invalid context size: "${contextSize}"`)
}

/** node-llama-cpp's `threads`: a number (0 = all) or { ideal?, min? }. */
function resolveThreads(threads) {
  if (threads == null) return undefined
  const n = typeof threads === 'object' ? threads.ideal : threads
  if (n == null || n === 0) return undefined // node-llama-cpp: 0 means "as many as there are"
  if (typeof n !== 'number' || !Number.isFinite(n) || n < 0) throw invalidArg(`Invalid threads: ${JSON.stringify(threads)}`)
  return Math.max(1, Math.floor(n))
}

/** Per-call `onOverflow`: "throw" | "maxChunk" | "truncate", or node-llama-cpp's object form. */
function resolveOverflow(onOverflow, fallback) {
  if (onOverflow == null) return fallback
  if (typeof onOverflow === 'string') onOverflow = { type: onOverflow }
  if (typeof onOverflow !== 'object') throw invalidArg(`Invalid onOverflow: ${String(onOverflow)}`)
  const { type } = onOverflow
  if (type === 'throw' || type === 'truncate') return { type }
  if (type === 'maxChunk') {
    let overlap = onOverflow.overlapPercentage ?? DEFAULT_OVERLAP_PERCENTAGE
    if (typeof overlap !== 'number' || Number.isNaN(overlap)) throw invalidArg(`Invalid overlapPercentage: ${overlap}`)
    overlap = Math.min(1, Math.max(0, overlap))
    return { type, overlapPercentage: overlap }
  }
  throw invalidArg(`Invalid onOverflow: ${JSON.stringify(onOverflow)} (expected "throw", "maxChunk" or "truncate")`)
}

/** The engine's per-call options from ours (onOverflow is handled here, not passed as is). */
function nativeCallOptions(options, onOverflow) {
  const out = { onOverflow }
  if (options) {
    if (options.instruction != null) out.instruction = options.instruction
    if (options.signal != null) out.signal = options.signal
    if (options.onProgress != null) out.onProgress = options.onProgress
  }
  return out
}

function assertString(value, name) {
  if (typeof value !== 'string') throw invalidArg(`${name} must be a string, got ${value === null ? 'null' : typeof value}`)
}

// ---------------------------------------------------------------------------------------------
// Splitting a long document for "maxChunk"

const isSpace = (ch) => /\s/u.test(ch)

/**
 * Splits `document` into overlapping pieces that each fit the context with the query, the way
 * node-llama-cpp's "maxChunk" does on tokens: every piece as long as fits, the next piece starts
 * `overlapPercentage` of a piece before the previous one ended, and the last piece is pulled back
 * so that it ends at the document's end and is still full size. We split on characters (never
 * inside a code point, preferring whitespace) and measure each piece with the real tokenizer.
 */
function chunkDocument(measure, query, document, contextSize, overlapPercentage) {
  const fits = (chars, start, end) => measure(query, chars.slice(start, end).join('')) <= contextSize
  const base = measure(query, '')
  if (base >= contextSize) throw inputTooLong('The document is too long to fit into the context window with the given query')
  const chars = Array.from(document)
  const n = chars.length
  // a first guess of how many characters fill a piece, so searches only tokenize about a piece
  const documentTokens = Math.max(1, measure(query, document) - base)
  const guess = Math.max(2, Math.floor(((contextSize - base) * n) / documentTokens))
  // the largest end in (start, n] such that chars[start, end) fits: bracket it around a guess
  // (the previous piece's size), then bisect; each probe tokenizes about one piece
  const longestFrom = (start, size) => {
    if (!fits(chars, start, start + 1)) throw inputTooLong('The document is too long to fit into the context window with the given query')
    let lo = start + 1 // fits
    let hi = n + 1 // the first end known not to fit
    let step = Math.max(1, size >> 3)
    const first = Math.min(n, start + size)
    if (first > lo && !fits(chars, start, first)) {
      hi = first
      for (;;) {
        const probe = hi - step
        if (probe <= lo) break
        if (fits(chars, start, probe)) {
          lo = probe
          break
        }
        hi = probe
        step *= 2
      }
    } else {
      lo = Math.max(lo, first)
      while (lo < n) {
        const probe = Math.min(n, lo + step)
        if (!fits(chars, start, probe)) {
          hi = probe
          break
        }
        lo = probe
        step *= 2
      }
      if (lo === n) return n
    }
    while (hi - lo > 1) {
      const mid = Math.floor((lo + hi) / 2)
      if (fits(chars, start, mid)) lo = mid
      else hi = mid
    }
    return lo
  }
  // the smallest start such that chars[start, n) fits: where the last, full-size piece begins
  const lastStart = (() => {
    let hi = n - 1 // assumed to fit (checked when the piece is scored)
    let step = guess
    let lo = Math.max(0, n - step)
    while (lo < hi && fits(chars, lo, n)) {
      hi = lo
      if (lo === 0) return 0
      step *= 2
      lo = Math.max(0, n - step)
    }
    lo += 1 // lo does not fit
    while (lo < hi) {
      const mid = Math.floor((lo + hi) / 2)
      if (fits(chars, mid, n)) hi = mid
      else lo = mid + 1
    }
    return hi
  })()

  const pieces = []
  let start = 0
  let size = guess
  for (;;) {
    if (start >= lastStart) {
      pieces.push(chars.slice(lastStart, n).join(''))
      break
    }
    let end = longestFrom(start, size)
    size = end - start
    // end on whitespace when there is some in the piece's last tenth
    for (let i = end; i > end - Math.floor(size / 10) && i > start + 1; i--) {
      if (isSpace(chars[i - 1])) {
        end = i
        break
      }
    }
    pieces.push(chars.slice(start, end).join(''))
    const overlap = Math.min(Math.max(0, Math.ceil((end - start) * overlapPercentage)), end - start - 1)
    let next = Math.min(end - overlap, lastStart)
    // start on a word when there is a word start shortly after
    for (let i = next; i < Math.min(end, next + Math.floor(size / 10)); i++) {
      if (i > 0 && isSpace(chars[i - 1]) && !isSpace(chars[i])) {
        next = Math.min(i, lastStart)
        break
      }
    }
    start = Math.max(start + 1, next)
  }
  return pieces
}

// ---------------------------------------------------------------------------------------------
// LlamaRankingContext

const ownerKey = Symbol('llama-rerank/compat owner')

const warnedLowered = new Set()

/** One process warning per (trained, requested) size: inputs are cut to the trained length. */
function warnLoweredOnce(size, requested) {
  const key = `${size}/${requested}`
  if (warnedLowered.has(key)) return
  warnedLowered.add(key)
  process.emitWarning(
    `llama-rerank: the model was trained on ${size} tokens, so the requested context of ${requested} was lowered to it; ` +
      `inputs longer than ${size} tokens (and within ${requested}) are truncated to fit instead of rejected`,
    { code: 'LLAMA_RERANK_CONTEXT_LOWERED' },
  )
}

class LlamaRankingContext {
  /** @internal use model.createRankingContext() or createRankingContext() */
  constructor(nativeContext, { model, requestedContextSize, defaultOverflow, onFree }) {
    if (nativeContext == null || typeof nativeContext.rankAll !== 'function')
      throw new TypeError('use model.createRankingContext() to create a LlamaRankingContext')
    this._ctx = nativeContext
    this._model = model
    this._requestedContextSize = requestedContextSize
    this._defaultOverflow = defaultOverflow
    this._onFree = onFree // releases what this context owns (a private model)
    this._disposePromise = null
    this._disposeDispatched = false
    this.onDispose = new EventRelay()
  }

  /** The score of one document for the query, in [0, 1]. */
  async rank(query, document, options) {
    this._ensureNotDisposed()
    assertString(query, 'query')
    assertString(document, 'document')
    const [score] = await this._rankMany(query, [document], options, 'rank')
    return score
  }

  /** Scores of all documents for the query, in input order; [] for no documents. */
  async rankAll(query, documents, options) {
    this._ensureNotDisposed()
    assertString(query, 'query')
    if (!Array.isArray(documents)) throw invalidArg('documents must be an array of strings')
    documents.forEach((d, i) => assertString(d, `documents[${i}]`))
    return this._rankMany(query, documents, options, 'rankAll')
  }

  /** `{ document, score }` for every document, best first; ties keep input order. */
  async rankAndSort(query, documents, options) {
    const scores = await this.rankAll(query, documents, options)
    return documents
      .map((document, index) => ({ document, score: scores[index], index }))
      .sort((a, b) => b.score - a.score || a.index - b.index)
      .map(({ document, score }) => ({ document, score }))
  }

  /** Tokens the pair takes, before any truncation or chunking. */
  calculateInputLength(query, document) {
    this._ensureNotDisposed()
    try {
      return this._ctx.calculateInputLength(query, document)
    } catch (err) {
      throw translate(err)
    }
  }

  get contextSize() {
    return this._ctx.contextSize
  }

  get model() {
    return this._model
  }

  get disposed() {
    return this._disposePromise != null || this._ctx.disposed
  }

  /** Frees the context; calls in flight and later calls reject with DisposedError. Idempotent. */
  dispose() {
    if (this._disposePromise == null) {
      this._disposePromise = (async () => {
        try {
          await this._ctx.dispose()
        } finally {
          try {
            if (this._onFree) await this._onFree()
          } finally {
            this._dispatchDispose()
          }
        }
      })()
    }
    return this._disposePromise
  }

  [Symbol.asyncDispose]() {
    return this.dispose()
  }

  /** @internal the owner (model) was disposed, which disposed the native context too */
  [ownerKey]() {
    if (this._disposePromise == null) this._disposePromise = Promise.resolve()
    this._dispatchDispose()
  }

  _dispatchDispose() {
    if (this._disposeDispatched) return
    this._disposeDispatched = true
    this.onDispose.dispatchEvent()
    this.onDispose.dispose()
  }

  _ensureNotDisposed() {
    if (this.disposed) throw new DisposedError()
  }

  /** @internal the pieces "maxChunk" would score for this pair */
  _chunkDocument(query, document, overlapPercentage = DEFAULT_OVERLAP_PERCENTAGE) {
    const measure = (q, d) => this.calculateInputLength(q, d)
    if (measure(query, document) <= this.contextSize) return [document]
    return chunkDocument(measure, query, document, this.contextSize, overlapPercentage)
  }

  _overflowMessage(kind, needed) {
    const size = this.contextSize
    const clamped =
      typeof this._requestedContextSize === 'number' && this._requestedContextSize > size
        ? ` (the model was trained on ${size} tokens, so the requested ${this._requestedContextSize} was lowered to it)`
        : ''
    const what =
      kind === 'rank'
        ? 'The input length exceed the context size'
        : 'The input lengths of some of the given documents exceed the context size'
    return (
      `${what}${clamped}. Try to increase the context size to at least ${needed} ` + 'or use another model that supports longer contexts.'
    )
  }

  async _rankMany(query, documents, options, kind) {
    const overflow = resolveOverflow(options?.onOverflow, this._defaultOverflow)
    if (documents.length === 0) return []
    const call = async (docs, onOverflow) => {
      try {
        return await this._ctx.rankAll(query, docs, nativeCallOptions(options, onOverflow))
      } catch (err) {
        throw translate(err)
      }
    }
    if (overflow.type === 'truncate') return call(documents, 'truncate')

    // "throw" and "maxChunk" measure every pair first, so nothing is evaluated when one fails.
    const size = this.contextSize
    const lengths = documents.map((d) => this.calculateInputLength(query, d))
    const longest = Math.max(...lengths)
    if (overflow.type === 'throw') {
      if (longest > size) {
        // The context was lowered to the model's trained length below what the caller asked
        // for, and the input fits what was asked: node-llama-cpp would have ranked it, so cut
        // it to fit instead of throwing (QMD sizes its chunks to the context it asked for).
        const requested = this._requestedContextSize
        if (typeof requested === 'number' && requested > size && longest <= requested) {
          warnLoweredOnce(size, requested)
          return call(documents, 'truncate')
        }
        throw inputTooLong(this._overflowMessage(kind, longest), { contextSize: size, inputLength: longest })
      }
      return call(documents, 'throw')
    }

    // maxChunk: split what does not fit, score all pieces in one call, keep each document's best.
    if (longest <= size) return call(documents, 'throw')
    const owners = []
    const pieces = []
    documents.forEach((document, i) => {
      const parts =
        lengths[i] <= size
          ? [document]
          : chunkDocument((q, d) => this.calculateInputLength(q, d), query, document, size, overflow.overlapPercentage)
      for (const part of parts) {
        owners.push(i)
        pieces.push(part)
      }
    })
    const scores = await call(pieces, 'throw')
    const best = new Array(documents.length).fill(-Infinity)
    scores.forEach((s, k) => {
      if (s > best[owners[k]]) best[owners[k]] = s
    })
    return best
  }
}

// ---------------------------------------------------------------------------------------------
// LlamaModel and Llama

/** Maps node-llama-cpp's ranking-context options onto the engine's. */
function nativeContextOptions(options, trained) {
  const o = options ?? {}
  if (typeof o !== 'object') throw invalidArg('options must be an object')
  const out = {}
  const contextSize = resolveContextSize(o.contextSize, trained)
  if (contextSize !== undefined) out.contextSize = contextSize
  if (o.batchSize != null) out.batchSize = o.batchSize
  const threads = resolveThreads(o.threads)
  if (threads !== undefined) out.threads = threads
  if (o.template != null) out.template = o.template
  // llama-rerank extensions, passed through
  if (o.instruction != null) out.instruction = o.instruction
  if (o.scoring != null) out.scoring = o.scoring
  if (o.sequences != null) out.sequences = o.sequences
  // flashAttention, ignoreMemorySafetyChecks, batching, swaFullCache, lora, ... are accepted and ignored
  return { out, requestedContextSize: contextSize, defaultOverflow: resolveOverflow(o.onOverflow, { type: 'throw' }) }
}

async function createContextFrom(nativeModel, options, { model, onFree, trained }) {
  const signal = options?.createSignal
  if (signal?.aborted) throw signal.reason
  const { out, requestedContextSize, defaultOverflow } = nativeContextOptions(options, trained)
  let ctx
  try {
    ctx = await nativeModel.createRankingContext(out)
  } catch (err) {
    throw translate(err)
  }
  if (signal?.aborted) {
    await ctx.dispose()
    throw signal.reason
  }
  return new LlamaRankingContext(ctx, { model, requestedContextSize, defaultOverflow, onFree })
}

class LlamaModel {
  /** @internal use llama.loadModel() */
  constructor(nativeModel, { llama, modelPath }) {
    if (nativeModel == null || typeof nativeModel.createRankingContext !== 'function')
      throw new TypeError('use llama.loadModel() to create a LlamaModel')
    this._model = nativeModel
    this._llama = llama
    this._modelPath = modelPath
    this._contexts = new Set()
    this._disposePromise = null
    this.onDispose = new EventRelay()
  }

  /** The file's name, as node-llama-cpp gives it (not the full path: see `path`). */
  get filename() {
    return path.basename(this._modelPath)
  }
  /** The absolute path of the file (llama-rerank extension). */
  get path() {
    return this._modelPath
  }
  /** What the file is and how it is scored (llama-rerank extension). */
  get info() {
    return this._model.info
  }
  get trainContextSize() {
    return this._model.info.trainedContextLength
  }
  get llama() {
    return this._llama
  }
  get disposed() {
    return this._disposePromise != null || this._model.disposed
  }

  async createRankingContext(options) {
    if (this.disposed) throw new DisposedError()
    const ctx = await createContextFrom(this._model, options, {
      model: this,
      trained: this.trainContextSize,
      onFree: () => {
        this._contexts.delete(ctx)
      },
    })
    if (this.disposed) {
      // the model went away while the context was being made
      await ctx.dispose()
      throw new DisposedError()
    }
    this._contexts.add(ctx)
    return ctx
  }

  /**
   * The tokens of `text` in the model's vocabulary (llama.cpp's tokenizer), as node-llama-cpp's
   * `model.tokenize(text, specialTokens)`: no BOS/EOS added; with `specialTokens`, the text of
   * special tokens becomes those tokens.
   */
  tokenize(text, specialTokens = false) {
    if (this.disposed) throw new DisposedError()
    assertString(text, 'text')
    return this._model.tokenize(text, specialTokens === true)
  }

  /** The text of `tokens`; special tokens are rendered only with `specialTokens`. */
  detokenize(tokens, specialTokens = false) {
    if (this.disposed) throw new DisposedError()
    if (!Array.isArray(tokens) && !ArrayBuffer.isView(tokens)) throw invalidArg('tokens must be an array of token ids')
    try {
      return this._model.detokenize(Array.from(tokens, Number), specialTokens === true)
    } catch (err) {
      throw translate(err)
    }
  }

  async createContext() {
    throw notSupported('createContext')
  }
  async createEmbeddingContext() {
    throw notSupported('createEmbeddingContext')
  }

  /** Frees the model and disposes its ranking contexts. Idempotent. */
  dispose() {
    if (this._disposePromise == null) {
      this._disposePromise = (async () => {
        try {
          await this._model.dispose() // the engine disposes the contexts too
        } finally {
          for (const ctx of this._contexts) ctx[ownerKey]()
          this._contexts.clear()
          this._llama?._models.delete(this)
          this.onDispose.dispatchEvent()
          this.onDispose.dispose()
        }
      })()
    }
    return this._disposePromise
  }

  [Symbol.asyncDispose]() {
    return this.dispose()
  }
}

function notSupported(what) {
  const err = new Error(`llama-rerank/compat runs rerankers only: ${what}() is not available; use node-llama-cpp for it`)
  err.code = 'ERR_NOT_SUPPORTED'
  return err
}

/** node-llama-cpp's LlamaLogLevel values, accepted by getLlama({ logLevel }). */
const LlamaLogLevel = Object.freeze({
  disabled: 'disabled',
  fatal: 'fatal',
  error: 'error',
  warn: 'warn',
  info: 'info',
  log: 'log',
  debug: 'debug',
})

class Llama {
  /** @internal use getLlama() */
  constructor(options) {
    this._options = options
    this._models = new Set()
    this._disposePromise = null
    this.onDispose = new EventRelay()
  }

  /** The GPU backend built in (`"metal"`, `"cuda"`, `"vulkan"`), or false for a CPU build. */
  get gpu() {
    return native.compiledGpuBackends()[0] ?? false
  }
  get supportsGpuOffloading() {
    return native.compiledGpuBackends().length > 0
  }
  get supportsMmap() {
    return true
  }
  get cpuMathCores() {
    return typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length
  }
  get maxThreads() {
    return this.cpuMathCores
  }
  get logLevel() {
    return this._options?.logLevel ?? LlamaLogLevel.warn
  }
  get disposed() {
    return this._disposePromise != null
  }
  async getVramState() {
    return { total: 0, used: 0, free: 0, unifiedSize: 0 }
  }
  async getSwapState() {
    return { maxSize: 0, allocated: 0, used: 0 }
  }
  async getGpuDeviceNames() {
    return []
  }

  /** Loads a GGUF reranker: `{ modelPath, gpuLayers?, useMmap?, loadSignal?, onLoadProgress? }`. */
  async loadModel(options) {
    if (this.disposed) throw new DisposedError()
    if (options == null || typeof options !== 'object') throw invalidArg('loadModel takes an options object with modelPath')
    const { modelPath, gpuLayers, useMmap, loadSignal, onLoadProgress } = options
    assertString(modelPath, 'modelPath')
    const resolved = path.resolve(process.cwd(), modelPath)
    const loadOptions = {}
    if (typeof gpuLayers === 'number') loadOptions.gpuLayers = gpuLayers // "auto", "max", { min, max }: no GPU here
    if (typeof useMmap === 'boolean') loadOptions.useMmap = useMmap
    if (loadSignal != null) loadOptions.signal = loadSignal
    if (loadSignal?.aborted) throw loadSignal.reason ?? new DOMException('aborted', 'AbortError')
    const nativeModel = await native.loadModel(resolved, loadOptions)
    const model = new LlamaModel(nativeModel, { llama: this, modelPath: resolved })
    if (this.disposed) {
      await nativeModel.dispose()
      throw new DisposedError()
    }
    this._models.add(model)
    if (typeof onLoadProgress === 'function') {
      try {
        onLoadProgress(1)
      } catch (err) {
        console.error(err)
      }
    }
    return model
  }

  /** Disposes every model loaded through this instance (and so their contexts). Idempotent. */
  dispose() {
    if (this._disposePromise == null) {
      this._disposePromise = (async () => {
        try {
          await Promise.all([...this._models].map((m) => m.dispose()))
        } finally {
          this._models.clear()
          this.onDispose.dispatchEvent()
          this.onDispose.dispose()
        }
      })()
    }
    return this._disposePromise
  }

  [Symbol.asyncDispose]() {
    return this.dispose()
  }
}

/**
 * node-llama-cpp's entry point. Every option is accepted (gpu, build, logLevel, logger, ...);
 * none changes anything here: llama-rerank is a prebuilt CPU engine.
 */
async function getLlama(options) {
  if (options != null && typeof options !== 'object' && options !== 'lastBuild') throw invalidArg('getLlama takes an options object')
  return new Llama(typeof options === 'object' ? options : undefined)
}

// ---------------------------------------------------------------------------------------------
// createRankingContext(model, options): for code that keeps node-llama-cpp for everything else

/** The file a node-llama-cpp LlamaModel (or our LlamaModel, or a path) was loaded from. */
function modelPathOf(model) {
  if (typeof model === 'string') return path.resolve(process.cwd(), model)
  if (model == null || typeof model !== 'object')
    throw invalidArg("model must be a path or a model object (such as node-llama-cpp's LlamaModel)")
  // node-llama-cpp's LlamaModel keeps the resolved path in `_modelPath`; its `filename` is the base name only
  for (const key of ['_modelPath', 'modelPath', 'path', 'filename']) {
    if (typeof model[key] === 'string' && model[key] !== '') return path.resolve(process.cwd(), model[key])
  }
  throw invalidArg('model must be a path or a model object with the path it was loaded from (_modelPath, modelPath, path or filename)')
}

/**
 * The argument of the package's own createRankingContext (index.js) as the path the engine
 * takes: a string as is (a path or a hf: URI), else the first string among a model object's
 * `_modelPath` (node-llama-cpp's LlamaModel keeps the full path there; its `filename` is the
 * base name), `modelPath`, `path` and `filename`. Throws ERR_INVALID_ARG_VALUE.
 */
function modelArgumentPath(model) {
  if (typeof model === 'string') return model
  if (model !== null && typeof model === 'object') {
    for (const key of ['_modelPath', 'modelPath', 'path', 'filename']) {
      let value
      try {
        value = model[key]
      } catch {
        continue // a throwing getter names no path
      }
      if (typeof value === 'string') return value
    }
    throw invalidArg("model must be a path or an object with a filename (such as node-llama-cpp's LlamaModel)")
  }
  throw invalidArg(`model must be a path or a model object, got ${model === null ? 'null' : typeof model}`)
}

/** Engine models loaded for node-llama-cpp models: one per file and load options, counted. */
const sharedModels = new Map()

/** The shared engine model for (file, load options), and the function that lets go of it. */
async function acquireSharedModel(modelPath, loadOptions) {
  const key = JSON.stringify([path.resolve(modelPath), loadOptions.gpuLayers ?? null, loadOptions.useMmap ?? null])
  let entry = sharedModels.get(key)
  if (entry == null) {
    entry = { users: 0, loading: native.loadModel(modelPath, loadOptions) }
    sharedModels.set(key, entry)
  }
  entry.users++
  let nativeModel
  try {
    nativeModel = await entry.loading
  } catch (err) {
    if (--entry.users === 0 && sharedModels.get(key) === entry) sharedModels.delete(key)
    throw err
  }
  let held = true
  const release = async () => {
    if (!held) return
    held = false
    if (--entry.users > 0) return
    if (sharedModels.get(key) === entry) sharedModels.delete(key)
    await nativeModel.dispose()
  }
  return { nativeModel, release }
}

/**
 * A ranking context over `model`: a path, our LlamaModel, or a node-llama-cpp LlamaModel (whose
 * file is loaded once more by llama-rerank, once for all the contexts made from it with the same
 * load options; disposing the node-llama-cpp model disposes the context).
 * Takes the options of `model.createRankingContext()`.
 */
async function createRankingContext(model, options) {
  if (model instanceof LlamaModel) return model.createRankingContext(options)
  const modelPath = modelPathOf(model)
  const loadOptions = {}
  if (model && typeof model === 'object') {
    if (typeof model.gpuLayers === 'number') loadOptions.gpuLayers = model.gpuLayers
    if (typeof model.useMmap === 'boolean') loadOptions.useMmap = model.useMmap
  }
  if (options?.createSignal?.aborted) throw options.createSignal.reason
  const foreign = typeof model === 'object' // node-llama-cpp's model, or any object naming a file
  // Contexts made from node-llama-cpp models share one load per file and load options.
  const { nativeModel, release } = foreign
    ? await acquireSharedModel(modelPath, loadOptions)
    : { nativeModel: await native.loadModel(modelPath, loadOptions), release: null }
  const owner = foreign ? model : new LlamaModel(nativeModel, { llama: undefined, modelPath })
  let listener = null
  let ctx
  try {
    ctx = await createContextFrom(nativeModel, options, {
      model: owner,
      trained: nativeModel.info.trainedContextLength,
      // the context holds the model loaded for it (shared with its siblings for a foreign model)
      onFree: foreign
        ? async () => {
            listener?.dispose()
            await release()
          }
        : () => owner.dispose(),
    })
  } catch (err) {
    await (release ? release() : nativeModel.dispose())
    throw err
  }
  if (!foreign) {
    owner._contexts.add(ctx)
    return ctx
  }
  // node-llama-cpp disposes a model's contexts with it: follow its model when it tells us
  if (model.disposed === true) {
    await ctx.dispose()
    throw new DisposedError()
  }
  if (typeof model.onDispose?.createListener === 'function') {
    listener = model.onDispose.createListener(() => {
      void ctx.dispose()
    })
  }
  return ctx
}

module.exports = {
  /** @internal how many engine models node-llama-cpp-made contexts hold (tests) */
  _sharedModelCount: () => sharedModels.size,
  /** @internal the path the engine takes for createRankingContext's model argument (index.js) */
  modelArgumentPath,
  getLlama,
  createRankingContext,
  Llama,
  LlamaModel,
  LlamaRankingContext,
  LlamaLogLevel,
  DisposedError,
  EventRelay,
}
