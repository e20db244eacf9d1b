// llama-rerank/langchain: a LangChain.js document compressor (BaseDocumentCompressor of
// @langchain/core) that reranks in process, for a ContextualCompressionRetriever or on its own.
// @langchain/core is an optional peer dependency: importing this module never fails, and
// constructing the compressor without it throws ERR_MISSING_PEER_DEPENDENCY naming it.
import { acquireRanker, checkTopN, codedError, missingPeerError, sortScores } from './pool.mjs'

let core = null
let coreError = null
try {
  const [compressors, documents] = await Promise.all([
    import('@langchain/core/retrievers/document_compressors'),
    import('@langchain/core/documents'),
  ])
  core = { BaseDocumentCompressor: compressors.BaseDocumentCompressor, Document: documents.Document }
} catch (error) {
  coreError = error
}

const Base = core?.BaseDocumentCompressor ?? class {}

/**
 * Reranks LangChain documents by their `pageContent`: `compressDocuments` returns the best
 * `topN` (default: all), best first, as new documents whose metadata carries
 * `relevanceScore` (the key @langchain/cohere's CohereRerank uses).
 */
export class LlamaRerankCompressor extends Base {
  #ranker
  #topN
  constructor(options) {
    if (!core) throw missingPeerError('@langchain/core', 'langchain', coreError)
    super()
    this.#topN = checkTopN(options?.topN)
    this.#ranker = acquireRanker(options, 'langchain', ['topN'])
  }

  get topN() {
    return this.#topN
  }

  /** `[{ index, relevanceScore }]`, best first, cut to `options.topN` (default: the compressor's). */
  async rerank(documents, query, options = {}) {
    if (typeof query !== 'string') throw codedError('ERR_INVALID_ARG_TYPE', 'llama-rerank/langchain: query must be a string')
    if (!Array.isArray(documents)) throw codedError('ERR_INVALID_ARG_TYPE', 'llama-rerank/langchain: documents must be an array')
    const topN = options.topN === undefined ? this.#topN : checkTopN(options.topN)
    const texts = documents.map((doc) => (typeof doc === 'string' ? doc : doc?.pageContent))
    texts.forEach((text, i) => {
      if (typeof text !== 'string')
        throw codedError('ERR_INVALID_ARG_TYPE', `llama-rerank/langchain: document ${i} is neither a string nor has a string pageContent`)
    })
    if (texts.length === 0) return []
    const scores = await this.#ranker.rankAll(query, texts, { signal: options.signal })
    return sortScores(scores, topN).map(({ index, score }) => ({ index, relevanceScore: score }))
  }

  async compressDocuments(documents, query) {
    const ranked = await this.rerank(documents, query)
    return ranked.map(({ index, relevanceScore }) => {
      const doc = documents[index]
      return new core.Document({ pageContent: doc.pageContent, metadata: { ...doc.metadata, relevanceScore }, id: doc.id })
    })
  }

  /** Releases this compressor's share of the model pool. */
  dispose() {
    return this.#ranker.dispose()
  }
}

export { disposeAll } from './pool.mjs'
