// The server's limits: what a request, a client and the queue may take before they are refused.

export const DEFAULT_LIMITS = Object.freeze({
  /** Request body bytes at most (413 above). */
  maxBodyBytes: 8 * 1024 * 1024,
  /** Documents per request at most (400 above). */
  maxDocuments: 1000,
  /** Tokens per request at most, summed over its pairs as scored (413 above); 0: no limit. */
  maxRequestTokens: 0,
  /** Requests waiting for a context at most (503 above). */
  maxQueue: 1024,
  /** How long a request may wait for a context (503 with Retry-After after that); 0: forever. */
  queueTimeoutMs: 60_000,
  /** How long a client may take to send the body once its headers are in (408 after). */
  bodyTimeoutMs: 30_000,
  /** How long a client may take to send the request headers (Node closes with 408 after). */
  headersTimeoutMs: 10_000,
  /** How long a written answer may wait for the client to take it before the socket is dropped. */
  sendTimeoutMs: 30_000,
  /** How long an idle keep-alive connection stays open. */
  keepAliveTimeoutMs: 5_000,
  /** Open connections at most; further ones are closed as they arrive. */
  maxConnections: 256,
})
