// Types of llama-rerank/llamaindex. Structurally LlamaIndex.TS's BaseNodePostprocessor
// (from @llamaindex/core/postprocessor), written out so that no LlamaIndex package is needed.
import type { RankerOptions } from './pool'

export type { MissingPeerDependencyError, RankerOptions } from './pool'
export { disposeAll } from './pool'

/** `MetadataMode` of @llamaindex/core/schema (its values are these strings). */
export type MetadataModeValue = 'ALL' | 'EMBED' | 'LLM' | 'NONE'

/** The part of a LlamaIndex node the postprocessor reads. */
export interface NodeLike {
  getContent(metadataMode: unknown): string
}

export interface LlamaRerankPostprocessorOptions extends RankerOptions {
  /** How many nodes `postprocessNodes` keeps, best first (default: all). */
  topN?: number
  /** Which metadata goes into the text scored (default `"ALL"`, as @llamaindex/cohere). */
  metadataMode?: MetadataModeValue
}

type QueryLike = string | { query: QueryLike } | Array<{ type: string; text?: string }>

/**
 * A node postprocessor that reranks in process: `postprocessNodes` returns the best `topN`
 * nodes, best first, with the reranker's score as `score`.
 */
export declare class LlamaRerankPostprocessor {
  constructor(options: LlamaRerankPostprocessorOptions)
  topN: number | undefined
  metadataMode: MetadataModeValue
  postprocessNodes<N extends { node: NodeLike; score?: number | undefined }>(
    nodes: N[],
    query?: QueryLike,
  ): Promise<Array<{ node: N['node']; score: number }>>
  /** Releases this postprocessor's share of the model pool. */
  dispose(): Promise<void>
}
