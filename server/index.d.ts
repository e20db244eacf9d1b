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
   * `/info` reports its family, scoring and backend fields (those it has).
   */
  modelInfo?: Pick<ModelInfo, 'scoring' | 'relevantLabel'> & Partial<ModelInfo>
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
  /** The `info.version` of the OpenAPI document, and `version` of `/info`. */
  version?: string
  /**
   * Cross-origin requests from browsers: `'*'` (every origin), or exact origins (an array, or
   * a comma-separated string). An allowed origin is echoed in `Access-Control-Allow-Origin`
   * (with `Vary: Origin`), and a preflight `OPTIONS` on a route answers 204 without a key. A
   * request from any other origin gets no CORS header. Default: off, no CORS header at all.
   */
  cors?: string | string[]
  /**
   * `'json'`: one access log entry per answered request, given to `log` as a JSON line and as
   * the object. Default `'off'` (the command's default is `'json'`).
   */
  accessLog?: 'json' | 'off'
  /**
   * Where the server reports: unexpected errors (500s), one line each; and, with
   * `accessLog: 'json'`, one access log line per request, with its entry as the second
   * argument. Default: nowhere.
   */
  log?: (line: string, entry?: AccessLogEntry) => void
}

/** One line of the access log (`accessLog: 'json'`). */
export interface AccessLogEntry {
  /** When the answer was done with (ISO 8601). */
  time: string
  /** `info` below 400, `warn` for 4xx, `error` for 5xx (and 499: the client went away, as `warn`). */
  level: 'info' | 'warn' | 'error'
  /** The `X-Request-Id` of the answer: the request's own if sane (printable ASCII, at most 128 characters), else a new UUID. */
  request_id: string
  method: string
  /** The path, without the query string. */
  path: string
  /** The status sent; 499 when the client went away before an answer. */
  status: number
  /** From the request's arrival to the answer's end. */
  duration_ms: number
  /** Documents (or texts) in a rerank request; null for other routes and unparsed bodies. */
  documents: number | null
  remote_addr: string | null
  /** Bytes of the answer's body. */
  bytes_out: number
  /** The error's `type` (e.g. `invalid_request_error`, `authentication_error`), on failures. */
  error?: string
  /** The library error's code (e.g. `ERR_DISPOSED`), when one caused the failure. */
  error_code?: string
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
 * `{ query, texts }` shape, `GET /health`, `/info` (TEI's), `/v1/models`, `/metrics`
 * (Prometheus) and `/openapi.json`. Every answer has an `X-Request-Id` header. Resolves once it listens; rejects if it cannot (e.g. `EADDRINUSE`).
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
