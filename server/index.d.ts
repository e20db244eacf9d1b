// Types of `llama-rerank/server`: the rerank HTTP server that `llama-rerank serve` runs, as a
// library. Written by hand (the addon's own types, index.d.ts, are generated).
import type { Server } from 'node:http'
import type { ModelInfo, RankingContext } from '../index.js'

/** The server's limits; every field is optional in `startServer`'s `limits`. */
export interface ServerLimits {
  /** Request body bytes at most (413 above). Default 8 MiB. */
  maxBodyBytes: number
  /** Documents per request at most (400 above). Default 1000. */
  maxDocuments: number
  /** Tokens per request at most, summed over its pairs as scored (413 above); 0: no limit. Default 0. */
  maxRequestTokens: number
  /** Requests waiting for a context at most (503 with Retry-After above). Default 1024. */
  maxQueue: number
  /** How long a request may wait for a context (503 with Retry-After after that); 0: forever. Default 60 000. */
  queueTimeoutMs: number
  /** How long a client may take to send the body once its headers are in (408 after). Default 30 000. */
  bodyTimeoutMs: number
  /** How long a client may take to send the request headers (Node closes with 408 after). Default 10 000. */
  headersTimeoutMs: number
  /** How long a written answer may wait for the client to take it before the socket is dropped. Default 30 000. */
  sendTimeoutMs: number
  /** How long an idle keep-alive connection stays open. Default 5 000. */
  keepAliveTimeoutMs: number
  /** Open connections at most; further ones are closed as they arrive. Default 256. */
  maxConnections: number
}

/** The limits `startServer` uses for the fields its `limits` leaves out. */
export declare const DEFAULT_LIMITS: Readonly<ServerLimits>

/** The ranking contexts' part that the server uses: `RankingContext`s of one model. */
export type ServerRankingContext = Pick<RankingContext, 'rankAll' | 'calculateInputLength' | 'contextSize' | 'lastCallStats'>

export interface StartServerOptions {
  /**
   * Ranking contexts of one model (`model.createRankingContext()`), at least one. Each request
   * runs whole on the first free context, in arrival order: N contexts score N requests side by side.
   */
  contexts: ServerRankingContext[]
  /** The model's name in answers (`model`) and in `/v1/models`. */
  modelName: string
  /**
   * The model's `info`. Needed for text-embeddings-inference's `raw_scores`, which only a
   * one-label cross-encoder (`scoring: "classifier"`) can answer; without it they are refused.
   */
  modelInfo?: Pick<ModelInfo, 'scoring' | 'relevantLabel'>
  /** Address to bind. Default `127.0.0.1`; `0.0.0.0` listens on every interface. */
  host?: string
  /** Port; `0` picks a free one (read it from the result's `port`). Default 8080. */
  port?: number
  /** Limits; the fields left out are `DEFAULT_LIMITS`'. */
  limits?: Partial<ServerLimits>
  /**
   * API keys: with any, every route but `/health`, `/v1/health` and `/openapi.json` (and
   * `/metrics` with `publicMetrics`) needs `Authorization: Bearer <key>`. Default none.
   */
  apiKeys?: string[]
  /** Serve `/metrics` without a key. Default false. */
  publicMetrics?: boolean
  /** Seconds the model and its contexts took to load: the `llama_rerank_model_load_seconds` gauge. */
  modelLoadSeconds?: number
  /** The `info.version` of the OpenAPI document. */
  version?: string
  /** Where the server reports unexpected errors (500s), one line each. Default: nowhere. */
  log?: (line: string) => void
}

export interface RunningServer {
  /** The underlying Node HTTP server. */
  server: Server
  /** `http://host:port` of the bound address. */
  url: string
  /** The bound port (the one picked when `port` was 0). */
  port: number
  /** Whether requests need an API key. */
  authRequired: boolean
  /** Requests being scored and waiting. */
  readonly pending: number
  /**
   * Stops accepting requests and resolves once every running and waiting request has been
   * answered (`/health` answers 503 meanwhile). Idempotent. The contexts and the model stay
   * yours to dispose of.
   */
  close(): Promise<void>
}

/**
 * Starts the rerank server: `POST /v1/rerank` (also `/rerank`, `/v1/reranking`, `/v2/rerank`)
 * in llama-server's, Jina's and Cohere's shape, `POST /rerank` also in text-embeddings-inference's
 * `{ query, texts }` shape, `GET /health`, `/v1/models`, `/metrics` (Prometheus) and
 * `/openapi.json`. Resolves once it listens; rejects if it cannot (e.g. `EADDRINUSE`).
 *
 * @example
 * import { loadModel } from 'llama-rerank'
 * import { startServer } from 'llama-rerank/server'
 * const model = await loadModel('reranker.gguf')
 * const server = await startServer({ contexts: [await model.createRankingContext()], modelName: 'reranker', modelInfo: model.info, port: 0 })
 * console.log(server.url) // POST `${server.url}/v1/rerank` with { query, documents }
 * await server.close()
 * await model.dispose()
 */
export declare function startServer(options: StartServerOptions): Promise<RunningServer>

/** Keys of an API key file: one a line; blank lines and `#` comments are skipped. */
export declare function parseApiKeys(text: string): string[]

/**
 * Whether a bind address only accepts connections from this machine: 127.0.0.0/8, ::1 (also
 * IPv4-mapped) and `localhost`. `llama-rerank serve` refuses any other host without an API key.
 */
export declare function isLoopbackHost(host: string): boolean

/** The OpenAPI 3.0 document the server serves on `/openapi.json`. */
export declare function openApiDocument(options?: {
  modelName?: string
  authRequired?: boolean
  publicMetrics?: boolean
  version?: string
}): Record<string, unknown>
