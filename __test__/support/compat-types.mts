// Type-checked by compat-types.test.mjs (never run): node-llama-cpp ranking code, unchanged but
// for the import, must compile against llama-rerank/compat's compat.d.ts.

import type { Llama, LlamaModel, LlamaRankingContext } from 'llama-rerank/compat'
import { createRankingContext, DisposedError, getLlama, LlamaLogLevel } from 'llama-rerank/compat'

const llama: Llama = await getLlama({ gpu: false, logLevel: LlamaLogLevel.error })
const model: LlamaModel = await llama.loadModel({ modelPath: 'model.gguf', gpuLayers: 'auto', loadSignal: AbortSignal.timeout(1000) })
const context: LlamaRankingContext = await model.createRankingContext({
  contextSize: { min: 512, max: 4096 },
  batchSize: 512,
  threads: 2,
  createSignal: new AbortController().signal,
  template: '{{query}} {{document}}',
})
const score: number = await context.rank('query', 'document', { onOverflow: 'maxChunk' })
const scores: number[] = await context.rankAll('query', ['a', 'b'], { onOverflow: { type: 'maxChunk', overlapPercentage: 0.3 } })
const sorted: Array<{ document: string; score: number }> = await context.rankAndSort('query', ['a', 'b'])
const tokens: number = context.calculateInputLength('query', 'document') + context.contextSize
const listener = context.onDispose.createListener(() => {})
listener.dispose()
const owner: LlamaModel = context.model
const disposed: boolean = context.disposed || owner.disposed
await context[Symbol.asyncDispose]()
await model.dispose()
await llama.dispose()

// QMD: contexts from a model it keeps elsewhere
const other = await createRankingContext({ _modelPath: '/models/reranker.gguf' }, { contextSize: 4096, threads: 1 })
await other.dispose()
const isDisposed = (err: unknown): boolean => err instanceof DisposedError && err.code === 'ERR_DISPOSED'

// @ts-expect-error onOverflow takes named policies only
await context.rank('q', 'd', { onOverflow: 'ignore' })
// @ts-expect-error rankAll takes an array
await context.rankAll('q', 'd')

export { disposed, isDisposed, score, scores, sorted, tokens }
