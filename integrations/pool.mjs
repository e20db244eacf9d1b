// The model and context pool the framework adapters share (llama-rerank/ai-sdk, /langchain,
// /llamaindex): one loaded model per (model, load options), shared by every adapter that names
// it, with up to `contexts` ranking contexts run in parallel. Also the helpers the adapters
// have in common: stable sorting, topN, argument errors and the missing-peer error.
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const { loadModel } = require('../index.js')

/** An Error with a stable `code`, as the rest of the package throws. */
export function codedError(code, message, extra = {}) {
  const error = code === 'ERR_INVALID_ARG_VALUE' || code === 'ERR_INVALID_ARG_TYPE' ? new TypeError(message) : new Error(message)
  error.code = code
  return Object.assign(error, extra)
}

/**
 * The error an adapter throws when the framework it plugs into is not installed: it names the
 * package, says how to install it, and keeps the loader's error as its cause.
 */
export function missingPeerError(packageName, adapter, cause) {
  return codedError(
    'ERR_MISSING_PEER_DEPENDENCY',
    `llama-rerank/${adapter} needs the package ${packageName}, which is not installed: npm install ${packageName}`,
    { packageName, cause },
  )
}

/** Imports an optional peer dependency; a missing one becomes `missingPeerError`. */
export async function importPeer(specifier, packageName, adapter) {
  try {
    return await import(specifier)
  } catch (error) {
    if (
      error?.code === 'ERR_MODULE_NOT_FOUND' ||
      error?.code === 'MODULE_NOT_FOUND' ||
      /Cannot find (module|package)/.test(String(error?.message))
    ) {
      throw missingPeerError(packageName, adapter, error)
    }
    throw error
  }
}

/** `topN` as the frameworks pass it: undefined or null for every document, else an integer ≥ 0. */
export function checkTopN(topN, name = 'topN') {
  if (topN === undefined || topN === null) return undefined
  if (!Number.isInteger(topN) || topN < 0) {
    throw codedError('ERR_INVALID_ARG_VALUE', `${name} must be an integer >= 0, got ${JSON.stringify(topN)}`)
  }
  return topN
}

/**
 * `{ index, score }` of every document, best first; ties keep input order (as `rankAndSort`),
 * cut to `topN`.
 */
export function sortScores(scores, topN) {
  const order = scores.map((score, index) => ({ index, score }))
  order.sort((a, b) => b.score - a.score || a.index - b.index)
  return topN === undefined ? order : order.slice(0, topN)
}

const LOAD_KEYS = ['gpuLayers', 'useMmap', 'scoring', 'judge', 'relevantLabel']
const CONTEXT_KEYS = ['contextSize', 'batchSize', 'threads', 'instruction', 'template', 'scoring', 'onOverflow']
const OWN_KEYS = ['model', 'contexts', 'load', 'context']

/** Model entries by key; each holds its loaded model and its contexts. */
const models = new Map()

function pick(object, keys) {
  const out = {}
  for (const key of keys) if (object?.[key] !== undefined) out[key] = object[key]
  return out
}

function isRankingContext(value) {
  return value !== null && typeof value === 'object' && typeof value.rankAll === 'function'
}

/**
 * A handle on a pooled ranker. `model` is a GGUF path or `hf:` URI (loaded once per set of
 * load options and shared), or a ranking context the caller made (used as is, never disposed
 * here). `load` takes `loadModel`'s options, `context` `createRankingContext`'s; `contexts`
 * (default 1) is how many contexts of the model may rank at once.
 */
export function acquireRanker(options, adapter, extraKeys = []) {
  if (options === null || typeof options !== 'object') {
    throw codedError('ERR_INVALID_ARG_TYPE', `llama-rerank/${adapter}: options must be an object with a model`)
  }
  for (const key of Object.keys(options)) {
    if (!OWN_KEYS.includes(key) && !extraKeys.includes(key)) {
      throw codedError('ERR_INVALID_ARG_VALUE', `llama-rerank/${adapter}: unknown option ${JSON.stringify(key)}`)
    }
  }
  const { model } = options
  if (isRankingContext(model)) return ownContext(model)
  if (typeof model !== 'string' || model === '') {
    throw codedError('ERR_INVALID_ARG_TYPE', `llama-rerank/${adapter}: model must be a GGUF path, an hf: URI or a ranking context`)
  }
  const contexts = options.contexts ?? 1
  if (!Number.isInteger(contexts) || contexts < 1) {
    throw codedError('ERR_INVALID_ARG_VALUE', `llama-rerank/${adapter}: contexts must be an integer >= 1, got ${JSON.stringify(contexts)}`)
  }
  const load = pick(options.load, LOAD_KEYS)
  const context = pick(options.context, CONTEXT_KEYS)
  for (const [name, given, allowed] of [
    ['load', options.load, LOAD_KEYS],
    ['context', options.context, CONTEXT_KEYS],
  ]) {
    for (const key of Object.keys(given ?? {})) {
      if (!allowed.includes(key))
        throw codedError('ERR_INVALID_ARG_VALUE', `llama-rerank/${adapter}: unknown ${name} option ${JSON.stringify(key)}`)
    }
  }
  const modelKey = JSON.stringify([model, load])
  let entry = models.get(modelKey)
  if (!entry) {
    entry = { key: modelKey, refs: 0, model: null, pools: new Map() }
    models.set(modelKey, entry)
  }
  entry.refs++
  const poolKey = JSON.stringify(context)
  let pool = entry.pools.get(poolKey)
  if (!pool) {
    pool = { options: context, slots: [], max: contexts }
    entry.pools.set(poolKey, pool)
  }
  pool.max = Math.max(pool.max, contexts)
  let released = false

  const loaded = () => {
    entry.model ??= loadModel(model, load).catch((error) => {
      entry.model = null
      throw error
    })
    return entry.model
  }

  /** The least busy context, a new one while every context is busy and there is room. */
  async function slot() {
    let best = null
    for (const s of pool.slots) if (!best || s.pending < best.pending) best = s
    if (!best || (best.pending > 0 && pool.slots.length < pool.max)) {
      const created = {
        pending: 0,
        context: loaded().then((m) => m.createRankingContext(pool.options)),
      }
      created.context.catch(() => {
        pool.slots.splice(pool.slots.indexOf(created), 1)
      })
      pool.slots.push(created)
      best = created
    }
    return best
  }

  return {
    async rankAll(query, documents, rankOptions) {
      if (released) throw codedError('ERR_DISPOSED', `llama-rerank/${adapter}: the ranker was disposed`)
      const s = await slot()
      s.pending++
      try {
        const context = await s.context
        return await context.rankAll(query, documents, rankOptions)
      } finally {
        s.pending--
      }
    },
    async info() {
      return (await loaded()).info
    },
    async dispose() {
      if (released) return
      released = true
      if (--entry.refs > 0) return
      if (models.get(entry.key) === entry) models.delete(entry.key)
      const m = entry.model
      entry.model = null
      if (m) await (await m.catch(() => null))?.dispose()
    },
  }
}

function ownContext(context) {
  return {
    rankAll: (query, documents, rankOptions) => context.rankAll(query, documents, rankOptions),
    async info() {
      return undefined
    },
    async dispose() {},
  }
}

/** Disposes every model the pool holds (each adapter's `dispose()` releases its own share). */
export async function disposeAll() {
  const entries = [...models.values()]
  models.clear()
  await Promise.all(
    entries.map(async (entry) => {
      const m = entry.model
      entry.model = null
      if (m) await (await m.catch(() => null))?.dispose()
    }),
  )
}
