import type { LoadModelOptions, RankingContext, RankingContextOptions } from '../index'

/**
 * Which model an adapter ranks with, and how. Adapters naming the same `model` with the same
 * `load` options share one loaded model.
 */
export interface RankerOptions {
  /**
   * A GGUF path or `hf:` URI (loaded on first use, shared through the pool), or a ranking
   * context you created yourself (used as is and never disposed by the adapter).
   */
  model: string | RankingContext
  /** `loadModel` options (not `signal`). */
  load?: Omit<LoadModelOptions, 'signal'>
  /** `createRankingContext` options. */
  context?: RankingContextOptions
  /** How many contexts of the model may rank at once (default 1; calls queue beyond). */
  contexts?: number
}

/**
 * Thrown (with `code: 'ERR_MISSING_PEER_DEPENDENCY'`) when an adapter needs its framework and
 * the framework is not installed.
 */
export interface MissingPeerDependencyError extends Error {
  code: 'ERR_MISSING_PEER_DEPENDENCY'
  /** The package to install, e.g. `@langchain/core`. */
  packageName: string
}

/** Disposes every model the adapters' shared pool holds. */
export declare function disposeAll(): Promise<void>
