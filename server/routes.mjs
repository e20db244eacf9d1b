// The server's routes.

/** The routes that score, in either request shape. */
export const RERANK_ROUTES = new Set(['/v1/rerank', '/rerank', '/v1/reranking', '/reranking', '/v2/rerank'])
/** Every route the server knows: the `route` label of the metrics (anything else is "other"). */
export const KNOWN_ROUTES = new Set([
  ...RERANK_ROUTES,
  '/health',
  '/v1/health',
  '/info',
  '/v1/models',
  '/models',
  '/metrics',
  '/openapi.json',
])
/** Routes that answer without an API key: probes must work without one, and the API description is public. */
export const OPEN_ROUTES = new Set(['/health', '/v1/health', '/openapi.json'])
