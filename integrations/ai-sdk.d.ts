// Types of llama-rerank/ai-sdk. The reranking model is structurally the AI SDK's
// RerankingModelV3 (from @ai-sdk/provider), written out here so that the types need no
// AI SDK package installed.
import type { RankerOptions } from './pool'

export type { MissingPeerDependencyError, RankerOptions } from './pool'
export { disposeAll } from './pool'

/** Per-call options, passed as `providerOptions: { llamaRerank: { ... } }`. */
export interface LlamaRerankProviderOptions {
  /** Generative rerankers: the task instruction for this call. */
  instruction?: string
  /** Over-long pairs: `"truncate"` (default) or `"throw"` (`ERR_INPUT_TOO_LONG`). */
  onOverflow?: 'truncate' | 'throw'
}

export interface LlamaRerankRerankingModel {
  readonly specificationVersion: 'v3'
  readonly provider: 'llama-rerank'
  readonly modelId: string
  doRerank(options: {
    documents: { type: 'text'; values: string[] } | { type: 'object'; values: Array<{ [key: string]: unknown }> }
    query: string
    topN?: number
    abortSignal?: AbortSignal
    providerOptions?: Record<string, Record<string, unknown>>
    headers?: Record<string, string | undefined>
  }): PromiseLike<{
    ranking: Array<{ index: number; relevanceScore: number }>
    warnings?: Array<never>
    response?: { modelId?: string; timestamp?: Date }
  }>
  /** Releases this model's share of the pool; the model is freed with its last user. */
  dispose(): Promise<void>
}

/** Defaults for every model a provider makes (`model` comes from the model id). */
export type LlamaRerankSettings = Omit<RankerOptions, 'model'>

export interface LlamaRerankProvider {
  (model: string | RankerOptions['model'], settings?: LlamaRerankSettings): LlamaRerankRerankingModel
  /** A reranking model for a GGUF path, an `hf:` URI or a ranking context. */
  reranking(model: string | RankerOptions['model'], settings?: LlamaRerankSettings): LlamaRerankRerankingModel
  /** Same as `reranking`. */
  rerankingModel(model: string | RankerOptions['model'], settings?: LlamaRerankSettings): LlamaRerankRerankingModel
  /** Releases every model this provider made. */
  dispose(): Promise<void>
}

export declare function createLlamaRerank(defaults?: LlamaRerankSettings): LlamaRerankProvider
/** The default provider. */
export declare const llamaRerank: LlamaRerankProvider
