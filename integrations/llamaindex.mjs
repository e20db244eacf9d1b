// llama-rerank/llamaindex: a LlamaIndex.TS node postprocessor (the BaseNodePostprocessor
// interface of @llamaindex/core) that reranks in process. The interface is structural: the
// nodes carry their own `getContent`, so nothing of LlamaIndex is imported here.
import { acquireRanker, checkTopN, codedError, sortScores } from './pool.mjs'

const METADATA_MODES = ['ALL', 'EMBED', 'LLM', 'NONE']

/** The text of a query as LlamaIndex passes it: a string, `{ query }`, or message content parts. */
function queryText(query) {
  if (typeof query === 'string') return query
  if (query !== null && typeof query === 'object' && 'query' in query) return queryText(query.query)
  if (Array.isArray(query))
    return query
      .filter((part) => part?.type === 'text')
      .map((part) => part.text)
      .join('\n\n')
  throw codedError('ERR_INVALID_ARG_TYPE', 'llama-rerank/llamaindex: postprocessNodes needs a query (a string or message content)')
}

/**
 * Reranks nodes by `node.getContent(metadataMode)` (default `"ALL"`, as @llamaindex/cohere's
 * CohereRerank): `postprocessNodes` returns the best `topN` (default: all), best first, with
 * the reranker's score as each node's `score`.
 */
export class LlamaRerankPostprocessor {
  #ranker
  constructor(options) {
    this.topN = checkTopN(options?.topN)
    this.metadataMode = options?.metadataMode ?? 'ALL'
    if (!METADATA_MODES.includes(this.metadataMode)) {
      throw codedError('ERR_INVALID_ARG_VALUE', `llama-rerank/llamaindex: metadataMode must be one of ${METADATA_MODES.join(', ')}`)
    }
    this.#ranker = acquireRanker(options, 'llamaindex', ['topN', 'metadataMode'])
  }

  async postprocessNodes(nodes, query) {
    if (!Array.isArray(nodes)) throw codedError('ERR_INVALID_ARG_TYPE', 'llama-rerank/llamaindex: nodes must be an array of NodeWithScore')
    const text = queryText(query)
    if (nodes.length === 0) return []
    const texts = nodes.map((n, i) => {
      if (typeof n?.node?.getContent !== 'function')
        throw codedError('ERR_INVALID_ARG_TYPE', `llama-rerank/llamaindex: node ${i} is not a NodeWithScore`)
      return n.node.getContent(this.metadataMode)
    })
    const scores = await this.#ranker.rankAll(text, texts)
    return sortScores(scores, this.topN).map(({ index, score }) => ({ node: nodes[index].node, score }))
  }

  /** Releases this postprocessor's share of the model pool. */
  dispose() {
    return this.#ranker.dispose()
  }
}

export { disposeAll } from './pool.mjs'
