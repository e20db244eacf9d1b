// llama-rerank/ai-sdk: a provider for the Vercel AI SDK whose reranking models implement the
// reranking-model interface of @ai-sdk/provider (specification v3, which `rerank()` of `ai` 6
// and 7 accept), so that `rerank({ model: llamaRerank.reranking('model.gguf'), query,
// documents, topN })` ranks in process. The interface is a plain object: nothing of the AI
// SDK is imported here, and the adapter works without it installed.
import { acquireRanker, checkTopN, codedError, sortScores } from './pool.mjs'

const PROVIDER = 'llama-rerank'
/** The key of this provider's `providerOptions`. */
const OPTIONS_KEY = 'llamaRerank'
const CALL_OPTIONS = ['instruction', 'onOverflow']

/**
 * A reranking model. A plain object with closures, not a class with private fields: `ai` 7
 * wraps a v3 model in a Proxy, through which private fields cannot be read.
 */
function rerankingModel(modelId, settings) {
  const ranker = acquireRanker({ ...settings, model: settings.model ?? modelId }, 'ai-sdk')
  return {
    specificationVersion: 'v3',
    provider: PROVIDER,
    modelId,
    async doRerank({ documents, query, topN, abortSignal, providerOptions }) {
      if (typeof query !== 'string') throw codedError('ERR_INVALID_ARG_TYPE', 'llama-rerank/ai-sdk: query must be a string')
      const n = checkTopN(topN)
      if (!documents || !Array.isArray(documents.values) || (documents.type !== 'text' && documents.type !== 'object')) {
        throw codedError('ERR_INVALID_ARG_TYPE', "llama-rerank/ai-sdk: documents must be { type: 'text' | 'object', values: [...] }")
      }
      // Object documents are scored as their JSON text, as the AI SDK's Cohere provider sends them.
      const texts = documents.type === 'text' ? documents.values : documents.values.map((value) => JSON.stringify(value))
      const own = providerOptions?.[OPTIONS_KEY] ?? {}
      for (const key of Object.keys(own)) {
        if (!CALL_OPTIONS.includes(key)) {
          throw codedError(
            'ERR_INVALID_ARG_VALUE',
            `llama-rerank/ai-sdk: unknown providerOptions.${OPTIONS_KEY} option ${JSON.stringify(key)} (known: ${CALL_OPTIONS.join(', ')})`,
          )
        }
      }
      const rankOptions = { signal: abortSignal ?? undefined }
      for (const key of CALL_OPTIONS) if (own[key] !== undefined) rankOptions[key] = own[key]
      const scores = await ranker.rankAll(query, texts, rankOptions)
      return {
        ranking: sortScores(scores, n).map(({ index, score }) => ({ index, relevanceScore: score })),
        warnings: [],
        response: { modelId, timestamp: new Date() },
      }
    },
    /** Releases this model's share of the pool (the model is freed with its last user). */
    dispose: () => ranker.dispose(),
  }
}

/**
 * A provider: `provider.reranking(model, settings?)` (also `provider.rerankingModel`, and
 * `provider(model)`) returns a reranking model. `settings` are defaults for every model it
 * makes: `load` (loadModel options), `context` (createRankingContext options), `contexts`.
 */
export function createLlamaRerank(defaults = {}) {
  const made = new Set()
  const reranking = (modelId, settings = {}) => {
    const isId = typeof modelId === 'string'
    const model = rerankingModel(isId ? modelId : 'context', { ...defaults, ...settings, ...(isId ? {} : { model: modelId }) })
    made.add(model)
    return model
  }
  const provider = function (modelId, settings) {
    if (new.target) throw codedError('ERR_INVALID_ARG_VALUE', 'llama-rerank/ai-sdk: call the provider without new')
    return reranking(modelId, settings)
  }
  provider.reranking = reranking
  provider.rerankingModel = reranking
  /** Releases every model this provider made. */
  provider.dispose = async () => {
    const all = [...made]
    made.clear()
    await Promise.all(all.map((m) => m.dispose()))
  }
  return provider
}

/** The default provider. */
export const llamaRerank = createLlamaRerank()

export { disposeAll } from './pool.mjs'
