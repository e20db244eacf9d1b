// One script, written as a node-llama-cpp user writes it, run against node-llama-cpp itself and
// against llama-rerank/compat (see compat-conformance.test.mjs). It records what it sees;
// the test compares the two records.
//
// `lib` is the module: `await import('node-llama-cpp')` or `await import('llama-rerank/compat')`.

/** What a caller can see of an error. */
export const errorShape = (err) => ({ class: err?.constructor?.name, message: String(err?.message ?? err) })

/** Settles a promise, noting whether it had already rejected before the event loop turned. */
async function settle(promise) {
  const early = await Promise.race([
    promise.then(
      () => 'resolved',
      () => 'rejected',
    ),
    new Promise((resolve) => setImmediate(() => resolve('pending'))),
  ])
  try {
    return { early, value: await promise }
  } catch (err) {
    return { early, error: errorShape(err) }
  }
}

const tryValue = (fn) => {
  try {
    return { value: fn() }
  } catch (err) {
    return { error: errorShape(err) }
  }
}

const LLAMA_OPTIONS = { gpu: false, build: 'never', logLevel: 'error' }

/**
 * @param lib the module under test
 * @param modelPath a GGUF file
 * @param pairs reference pairs ({ id, query, document }) scored with the default prompt
 * @param tieDocuments documents of which some score exactly the same (for the stable sort)
 */
export async function scenario(lib, modelPath, pairs, tieDocuments) {
  const seen = {}
  const llama = await lib.getLlama(LLAMA_OPTIONS)
  let model
  try {
    model = await llama.loadModel({ modelPath })
  } catch (err) {
    seen.load = errorShape(err)
    await llama.dispose()
    return seen
  }
  seen.trainContextSize = model.trainContextSize
  // One thread: the fixtures are tiny, and node-llama-cpp's default of 6 threads (or even 2)
  // spins for seconds per document on a busy 2-core machine
  const threads = 1

  let context
  try {
    context = await model.createRankingContext({ threads })
  } catch (err) {
    seen.create = errorShape(err)
    await llama.dispose()
    return seen
  }
  seen.contextSize = context.contextSize
  seen.contextModelIsModel = context.model === model

  // scores and input lengths, pair by pair
  seen.scores = {}
  seen.inputLength = {}
  for (const pair of pairs) {
    seen.scores[pair.id] = await context.rank(pair.query, pair.document)
    seen.inputLength[pair.id] = context.calculateInputLength(pair.query, pair.document)
  }

  // rankAll keeps input order: it equals rank pair by pair
  const query = pairs[0].query
  const documents = pairs.filter((p) => p.query === query).map((p) => p.document)
  seen.rankAll = { documents, scores: await context.rankAll(query, documents) }
  seen.rankOneByOne = []
  for (const d of documents) seen.rankOneByOne.push(await context.rank(query, d))

  // no documents
  seen.rankAllEmpty = await context.rankAll(query, [])
  seen.rankAndSortEmpty = await context.rankAndSort(query, [])

  // stable descending sort
  seen.tie = {
    documents: tieDocuments,
    scores: await context.rankAll(query, tieDocuments),
    sorted: await context.rankAndSort(query, tieDocuments),
  }

  // over-long input: rejected before anything is evaluated
  const small = await model.createRankingContext({ contextSize: 256, threads })
  const long = 'The bicycle was invented in the nineteenth century and changed how people travel. '.repeat(24)
  seen.overflow = {
    contextSize: small.contextSize,
    inputLength: small.calculateInputLength(query, long),
    rank: await settle(small.rank(query, long)),
    rankAll: await settle(small.rankAll(query, [documents[0], documents[1], long])),
    rankThrowObject: await settle(small.rank(query, long, { onOverflow: { type: 'throw' } })),
    maxChunk: await settle(small.rank(query, long, { onOverflow: 'maxChunk' })),
    maxChunkOverlap: await settle(small.rank(query, long, { onOverflow: { type: 'maxChunk', overlapPercentage: 0.2 } })),
    maxChunkAll: await settle(small.rankAll(query, [documents[0], long], { onOverflow: 'maxChunk' })),
  }
  await small.dispose()

  // options, with node-llama-cpp's names
  const aborted = new AbortController()
  aborted.abort(new Error('creation aborted by the caller'))
  const optionSets = {
    none: {},
    auto: { contextSize: 'auto' },
    number: { contextSize: 300 },
    max: { contextSize: { max: 300 } },
    minMax: { contextSize: { min: 64, max: 300 } },
    aboveTrained: { contextSize: 4096 },
    minAboveTrained: { contextSize: { min: 5000 } },
    invalid: { contextSize: 'huge' },
    unused: { flashAttention: true, ignoreMemorySafetyChecks: true, swaFullCache: false, batching: {} },
    threadsAndBatch: { threads: { ideal: 1, min: 1 }, batchSize: 128 },
    createSignal: { createSignal: aborted.signal },
  }
  seen.options = {}
  for (const [name, options] of Object.entries(optionSets)) {
    try {
      const ctx = await model.createRankingContext({ threads, ...options })
      seen.options[name] = { contextSize: ctx.contextSize }
      if (name === 'unused' || name === 'threadsAndBatch') seen.options[name].score = await ctx.rank(query, documents[0])
      await ctx.dispose()
    } catch (err) {
      seen.options[name] = { error: errorShape(err) }
    }
  }

  // disposal of a context
  const disposable = await model.createRankingContext({ threads })
  let contextEvents = 0
  disposable.onDispose.createListener(() => contextEvents++)
  await Promise.all([disposable.dispose(), disposable.dispose()])
  await disposable.dispose()
  seen.contextDispose = {
    events: contextEvents,
    disposed: disposable.disposed,
    rank: await settle(disposable.rank(query, documents[0])),
    rankAll: await settle(disposable.rankAll(query, documents)),
    rankAllEmpty: await settle(disposable.rankAll(query, [])),
    rankAndSort: await settle(disposable.rankAndSort(query, documents)),
    calculateInputLength: tryValue(() => disposable.calculateInputLength(query, documents[0])),
    asyncDispose: typeof disposable[Symbol.asyncDispose],
  }

  // disposing the model disposes its contexts, also one that is busy
  const busy = await model.createRankingContext({ threads })
  let busyEvents = 0
  busy.onDispose.createListener(() => busyEvents++)
  let modelEvents = 0
  model.onDispose.createListener(() => modelEvents++)
  const inFlight = settle(busy.rankAll(query, [...documents, ...documents]))
  await model.dispose()
  await model.dispose()
  const flight = await inFlight
  seen.modelDispose = {
    modelDisposed: model.disposed,
    contextDisposed: busy.disposed,
    contextEvents: busyEvents,
    modelEvents,
    // finished before the model went away, or rejected as disposed; never a crash or a hang
    inFlight: flight.error ? flight.error : { scores: flight.value.length },
    rank: await settle(busy.rank(query, documents[0])),
    calculateInputLength: tryValue(() => busy.calculateInputLength(query, documents[0])),
    create: await settle(model.createRankingContext()),
  }

  // disposing llama disposes its models and their contexts
  const model2 = await llama.loadModel({ modelPath })
  const context2 = await model2.createRankingContext({ threads })
  await llama.dispose()
  await llama.dispose()
  seen.llamaDispose = {
    llamaDisposed: llama.disposed,
    modelDisposed: model2.disposed,
    contextDisposed: context2.disposed,
    rank: await settle(context2.rank(query, documents[0])),
    load: await settle(llama.loadModel({ modelPath })),
  }
  return seen
}
