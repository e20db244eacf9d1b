// Types of llama-rerank/langchain. Needs @langchain/core installed (it is the base class).

import type { DocumentInterface } from '@langchain/core/documents'
import { BaseDocumentCompressor } from '@langchain/core/retrievers/document_compressors'
import type { RankerOptions } from './pool'

export type { MissingPeerDependencyError, RankerOptions } from './pool'
export { disposeAll } from './pool'

export interface LlamaRerankCompressorOptions extends RankerOptions {
  /** How many documents `compressDocuments` keeps, best first (default: all). */
  topN?: number
}

/**
 * A document compressor that reranks in process. `compressDocuments` returns the best `topN`
 * documents, best first, as new documents whose metadata adds `relevanceScore`.
 */
export declare class LlamaRerankCompressor extends BaseDocumentCompressor {
  constructor(options: LlamaRerankCompressorOptions)
  readonly topN: number | undefined
  compressDocuments(documents: DocumentInterface[], query: string): Promise<DocumentInterface[]>
  /** `[{ index, relevanceScore }]`, best first, cut to `topN` (default: the compressor's). */
  rerank(
    documents: Array<DocumentInterface | string>,
    query: string,
    options?: { topN?: number; signal?: AbortSignal },
  ): Promise<Array<{ index: number; relevanceScore: number }>>
  /** Releases this compressor's share of the model pool. */
  dispose(): Promise<void>
}
