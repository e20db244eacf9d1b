// Types of llama-rerank/compat: node-llama-cpp's ranking API (3.21) over llama-rerank.
// Hand-written; names and shapes follow node-llama-cpp so existing code type-checks unchanged.

import type { ModelInfo } from './index'

/** lifecycle-utils' EventRelay, as node-llama-cpp exposes it in `onDispose`. */
export declare class EventRelay<T = void> {
  createListener(callback: (data: T) => void): EventRelayListenerHandle
  createOnceListener(callback: (data: T) => void): EventRelayListenerHandle
  dispatchEvent(data: T): void
  listenerCount(): number
  clearListeners(): void
  readonly disposed: boolean
  dispose(): void
}

export interface EventRelayListenerHandle {
  dispose(): void
  readonly disposed: boolean
  [Symbol.dispose](): void
}

/** Thrown by calls on a disposed context, model or llama. `message` is "Object is disposed". */
export declare class DisposedError extends Error {
  readonly code: 'ERR_DISPOSED'
}

export declare const LlamaLogLevel: {
  readonly disabled: 'disabled'
  readonly fatal: 'fatal'
  readonly error: 'error'
  readonly warn: 'warn'
  readonly info: 'info'
  readonly log: 'log'
  readonly debug: 'debug'
}
export type LlamaLogLevel = (typeof LlamaLogLevel)[keyof typeof LlamaLogLevel]

/**
 * Options of node-llama-cpp's `getLlama()`. All are accepted; none changes anything here,
 * since llama-rerank is a prebuilt CPU engine.
 */
export interface LlamaOptions {
  gpu?: 'auto' | false | 'metal' | 'cuda' | 'vulkan' | { type: 'auto' | 'metal' | 'cuda' | 'vulkan'; exclude?: string[] }
  build?: 'auto' | 'never' | 'forceRebuild' | 'try'
  logLevel?: LlamaLogLevel
  logger?: (level: LlamaLogLevel, message: string) => void
  maxThreads?: number
  [option: string]: unknown
}

export interface LlamaModelOptions {
  /** Path of the GGUF file, resolved against the current directory. */
  modelPath: string
  /** Layers to offload to a GPU. Only a number is passed on (ignored by CPU builds). */
  gpuLayers?: number | 'auto' | 'max' | { min?: number; max?: number; fitContext?: { contextSize?: number; embeddingContext?: boolean } }
  useMmap?: boolean
  /** Aborts the load. */
  loadSignal?: AbortSignal
  /** Called with 1 once the model is loaded. */
  onLoadProgress?(loadProgress: number): void
  /** Other node-llama-cpp options (useMlock, checkTensors, metadataOverrides, ...) are ignored. */
  [option: string]: unknown
}

export interface LlamaRankingContextOptions {
  /**
   * Tokens per (query, document) pair. `"auto"` (default): the model's trained context, at most
   * 8192. A number above the trained context is lowered to it (node-llama-cpp keeps it and
   * llama.cpp warns). `{ min, max }`: `max` (default: the trained context), lowered to the
   * trained context; rejects when `min` is above that.
   */
  contextSize?: 'auto' | number | { min?: number; max?: number }
  /** Tokens per decode call. */
  batchSize?: number
  /** CPU threads; `0` or unset: all physical cores. */
  threads?: number | { ideal?: number; min?: number }
  /** Rejects with `createSignal.reason` when aborted. */
  createSignal?: AbortSignal
  /**
   * A prompt with `{{query}}` and `{{document}}` placeholders (and `{{instruction}}`), replacing
   * the judge prompt of generative rerankers. Cross-encoders reject it.
   */
  template?: string
  /** llama-rerank: the task instruction of generative rerankers. */
  instruction?: string
  /** llama-rerank: force a scoring method. */
  scoring?: 'auto' | 'classifier' | 'yes-no'
  /** llama-rerank: documents evaluated side by side in one decode call. */
  sequences?: number
  /** llama-rerank: the default of the per-call `onOverflow` (node-llama-cpp's is `"throw"`). */
  onOverflow?: RankingOverflow
  /** Other node-llama-cpp options (flashAttention, ignoreMemorySafetyChecks, ...) are ignored. */
  [option: string]: unknown
}

/**
 * What to do with a pair longer than the context:
 * - `"throw"` (default): reject before anything is evaluated;
 * - `"maxChunk"`: split the document into overlapping pieces that fit (`overlapPercentage`,
 *   default 0.5) and score the best piece;
 * - `"truncate"` (llama-rerank): cut the document's tail, as the reference implementation does.
 */
export type RankingOverflow =
  | 'throw'
  | 'maxChunk'
  | 'truncate'
  | { type: 'throw' }
  | { type: 'maxChunk'; overlapPercentage?: number }
  | { type: 'truncate' }

export interface RankOptions {
  onOverflow?: RankingOverflow
  /** llama-rerank: the task instruction for this call (generative rerankers). */
  instruction?: string
  /** llama-rerank: stops the call within milliseconds, inside the running decode; it rejects with an AbortError. */
  signal?: AbortSignal
  /** llama-rerank: called after every evaluated batch (pieces, when "maxChunk" split a document). */
  onProgress?: (done: number, total: number) => void
}

export declare class LlamaRankingContext {
  private constructor()
  readonly onDispose: EventRelay<void>
  /** The probability, in [0, 1], that the document is relevant to the query. */
  rank(query: string, document: string, options?: RankOptions): Promise<number>
  /** Scores in input order; `[]` for no documents. */
  rankAll(query: string, documents: string[], options?: RankOptions): Promise<number[]>
  /** Best first; ties keep input order. */
  rankAndSort(query: string, documents: string[], options?: RankOptions): Promise<Array<{ document: string; score: number }>>
  /** Tokens the pair takes, before any truncation or chunking. */
  calculateInputLength(query: string, document: string): number
  readonly contextSize: number
  /** The model the context was made from (for `createRankingContext(model)`, that object). */
  readonly model: LlamaModel
  readonly disposed: boolean
  dispose(): Promise<void>
  [Symbol.asyncDispose](): Promise<void>
}

export declare class LlamaModel {
  private constructor()
  readonly onDispose: EventRelay<void>
  /** The file's base name, as node-llama-cpp gives it. */
  readonly filename: string
  /** llama-rerank: the absolute path of the file. */
  readonly path: string
  /** llama-rerank: what the file is and how it is scored. */
  readonly info: ModelInfo
  readonly trainContextSize: number
  readonly llama: Llama
  readonly disposed: boolean
  createRankingContext(options?: LlamaRankingContextOptions): Promise<LlamaRankingContext>
  /**
   * The tokens of `text` in the model's vocabulary (llama.cpp's tokenizer), as node-llama-cpp's:
   * no BOS/EOS added; with `specialTokens`, the text of special tokens becomes those tokens.
   */
  tokenize(text: string, specialTokens?: boolean): number[]
  /** The text of `tokens`; special tokens are rendered only with `specialTokens`. */
  detokenize(tokens: readonly number[] | Uint32Array, specialTokens?: boolean): string
  /** Not available: llama-rerank runs rerankers only (rejects with ERR_NOT_SUPPORTED). */
  createContext(options?: unknown): Promise<never>
  /** Not available: llama-rerank runs rerankers only (rejects with ERR_NOT_SUPPORTED). */
  createEmbeddingContext(options?: unknown): Promise<never>
  /** Frees the model and disposes its contexts. Idempotent. */
  dispose(): Promise<void>
  [Symbol.asyncDispose](): Promise<void>
}

export declare class Llama {
  private constructor()
  readonly onDispose: EventRelay<void>
  /** The GPU backend built in (`"metal"`, `"cuda"`, `"vulkan"`), or `false` for a CPU build. */
  readonly gpu: false | 'metal' | 'cuda' | 'vulkan'
  readonly supportsGpuOffloading: boolean
  readonly supportsMmap: boolean
  readonly cpuMathCores: number
  readonly maxThreads: number
  readonly logLevel: LlamaLogLevel
  readonly disposed: boolean
  getVramState(): Promise<{ total: number; used: number; free: number; unifiedSize: number }>
  getSwapState(): Promise<{ maxSize: number; allocated: number; used: number }>
  getGpuDeviceNames(): Promise<string[]>
  loadModel(options: LlamaModelOptions): Promise<LlamaModel>
  /** Disposes every model loaded through it. Idempotent. */
  dispose(): Promise<void>
  [Symbol.asyncDispose](): Promise<void>
}

export declare function getLlama(options?: LlamaOptions | 'lastBuild'): Promise<Llama>

/**
 * A ranking context over `model`: a path, a `LlamaModel` from this module, or node-llama-cpp's
 * `LlamaModel` (its file is loaded again by llama-rerank; disposing that model disposes the
 * context). Takes the options of `model.createRankingContext()`. Disposing the context frees
 * what it loaded.
 */
export declare function createRankingContext(
  model: string | LlamaModel | { _modelPath?: string; modelPath?: string; path?: string; filename?: string },
  options?: LlamaRankingContextOptions,
): Promise<LlamaRankingContext>
