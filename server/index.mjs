// The rerank HTTP server as a library: Cohere's v1 and v2 rerank APIs (`/v1/rerank`,
// `/v2/rerank`), which llama-server's and Jina's clients speak too, and Hugging Face
// text-embeddings-inference's `/rerank` shape, over a pool of ranking contexts;
// bearer-key authentication, Prometheus metrics, an OpenAPI document, and limits that hold under
// load. `llama-rerank serve` runs it; `import { startServer } from 'llama-rerank/server'` embeds it.
//
// The parts, one file each: limits.mjs (DEFAULT_LIMITS), routes.mjs, answers.mjs (HttpError and
// writing answers), auth.mjs (keys), requests.mjs (reading and parsing bodies), scores.mjs (TEI's
// raw scores), pool.mjs (the context pool and its queue), metrics.mjs, openapi.mjs.

import { randomUUID } from 'node:crypto'
import http from 'node:http'
import { HttpError, send } from './answers.mjs'
import { createAuthenticator } from './auth.mjs'
import { infoOf } from './info.mjs'
import { DEFAULT_LIMITS } from './limits.mjs'
import { serverMetrics } from './metrics.mjs'
import { openApiDocument } from './openapi.mjs'
import { CORS_ALLOWED_HEADERS, CORS_EXPOSED_HEADERS, createCors, levelOf, requestIdOf } from './operations.mjs'
import { createPool } from './pool.mjs'
import { parseRequest, readBody } from './requests.mjs'
import { KNOWN_ROUTES, RERANK_ROUTES } from './routes.mjs'
import { checkRawScores, rawScoresOf } from './scores.mjs'

export { isLoopbackHost, parseApiKeys } from './auth.mjs'
export { DEFAULT_LIMITS } from './limits.mjs'
export { openApiDocument } from './openapi.mjs'

/**
 * Starts the server. `contexts` are ranking contexts of one model; each request runs whole on
 * the first free context, in arrival order. `modelInfo` (the model's `info`) enables TEI's
 * raw_scores for cross-encoders; `apiKeys` (strings) turns authentication on.
 */
export async function startServer({
  contexts,
  modelName,
  modelInfo,
  host = '127.0.0.1',
  port = 8080,
  limits = {},
  apiKeys = [],
  publicMetrics = false,
  modelLoadSeconds,
  version,
  cors,
  accessLog = 'off',
  log = () => {},
}) {
  if (!contexts?.length) throw new TypeError('startServer needs at least one ranking context')
  if (accessLog !== 'json' && accessLog !== 'off')
    throw new TypeError(`accessLog must be "json" or "off", not ${JSON.stringify(accessLog)}`)
  limits = { ...DEFAULT_LIMITS, ...limits }
  const corsPolicy = createCors(cors)
  const auth = createAuthenticator(apiKeys)
  let closing = false
  let drained = null // resolves when nothing runs or waits
  let openConnections = 0

  /** Per request, for the access log: the documents it had, its error's type and code. */
  const states = new WeakMap()

  const pool = createPool(contexts, limits, {})
  const metrics = serverMetrics({ pool, contexts, openConnections: () => openConnections, modelLoadSeconds })
  const { requestsTotal, requestSeconds, queueWaitSeconds, documentsTotal, pairTokensTotal, tokensComputedTotal } = metrics

  const settleDrain = () => {
    if (closing && pool.running === 0 && pool.waiting === 0 && drained) drained.resolve()
  }
  pool.onChange(settleDrain)

  const closeHeader = () => (closing ? { connection: 'close' } : {})
  const sendJson = (res, status, body, headers = {}) =>
    send(res, status, 'application/json; charset=utf-8', JSON.stringify(body), { ...closeHeader(), ...headers }, limits.sendTimeoutMs)

  /**
   * The error body every client parses: llama-server's and OpenAI's { error: { code, message,
   * type } }, with Cohere's top-level `message` (what the cohere-ai SDK and the AI SDK's Cohere
   * provider read).
   */
  function sendError(req, res, error) {
    const state = states.get(res)
    if (state) state.errorType = error.type
    // A body still on the wire would have to be read before the connection could carry the next request.
    const close = error.close || closing || !req.complete
    sendJson(
      res,
      error.status,
      {
        message: error.message,
        error: { code: error.status, message: error.message, type: error.type },
        request_id: res.getHeader('x-request-id'),
      },
      {
        ...error.headers,
        ...(close ? { connection: 'close' } : {}),
      },
    )
  }

  /**
   * Cohere's `max_tokens_per_doc`: a document of more tokens is cut at the end of a word, to its
   * longest prefix of whole words whose tokens are at most that many (a first word longer than
   * that is cut within itself). A document's tokens are those its pair takes beyond the pair
   * with an empty document, counted by the context's own tokenizer. Tokenizers split text at
   * whitespace before anything else, so a longer prefix of whole words never has fewer tokens,
   * and bisection finds the longest.
   */
  function cutDocuments(request) {
    const max = request.maxTokensPerDoc
    if (max === undefined) return
    const context = contexts[0]
    const empty = context.calculateInputLength(request.query, '')
    const fits = (text) => context.calculateInputLength(request.query, text) - empty <= max
    /** The largest i in [lo, hi] with fits(prefix(i)), given fits(prefix(lo)); lo if none is larger. */
    const longest = (prefix, lo, hi) => {
      while (lo < hi) {
        const mid = Math.ceil((lo + hi) / 2)
        if (fits(prefix(mid))) lo = mid
        else hi = mid - 1
      }
      return prefix(lo)
    }
    request.texts = request.texts.map((text) => {
      if (fits(text)) return text
      // Where each word ends (before whitespace).
      const ends = [...text.matchAll(/\S(?=\s)/gu)].map((m) => m.index + m[0].length)
      if (ends.length && fits(text.slice(0, ends[0]))) return longest((i) => text.slice(0, ends[i]), 0, ends.length - 1)
      const points = Array.from(ends.length ? text.slice(0, ends[0]) : text)
      return longest((i) => points.slice(0, i).join(''), 0, points.length - 1)
    })
  }

  /** Tokens each pair takes before truncation, counted by the context's own tokenizer. */
  const inputLengths = (query, texts) => texts.map((text) => contexts[0].calculateInputLength(query, text))

  /** Refuses what cannot or may not be scored, before any ranking work: length, direction, token budget. */
  function checkLengths(request, lengths) {
    const size = contexts[0].contextSize
    const over = lengths.findIndex((n) => n > size)
    if (over >= 0 && !request.truncate) {
      throw new HttpError(
        413,
        `texts[${over}] with the query is ${lengths[over]} tokens, over the model's context of ${size}; send "truncate": true to cut it`,
      )
    }
    if (over >= 0 && request.direction === 'left') {
      throw new HttpError(
        400,
        `texts[${over}] with the query is ${lengths[over]} tokens, over the context of ${size}, and "truncation_direction": "Left" cannot be honoured: llama-rerank only cuts a document's tail. Send "Right", or shorten the text`,
      )
    }
    const tokens = lengths.reduce((sum, n) => sum + Math.min(n, size), 0)
    if (limits.maxRequestTokens && tokens > limits.maxRequestTokens) {
      throw new HttpError(
        413,
        `the request has ${tokens} tokens to score, more than the server's limit of ${limits.maxRequestTokens} per request; split it`,
      )
    }
    return tokens
  }

  async function score(request, res) {
    const abort = new AbortController()
    const onClose = () => {
      if (!res.writableFinished) abort.abort(new Error('the client went away'))
    }
    res.on('close', onClose)
    if (request.texts.length === 0) return []
    try {
      const { scores, stats } = await pool.schedule({
        query: request.query,
        texts: request.texts,
        instruction: request.instruction,
        priority: request.priority,
        onOverflow: request.truncate ? 'truncate' : 'throw',
        signal: abort.signal,
        onStart: (waited) => queueWaitSeconds.observe({}, waited),
      })
      documentsTotal.inc({}, request.texts.length)
      if (stats) {
        pairTokensTotal.inc({}, stats.pairTokens)
        tokensComputedTotal.inc({}, stats.tokensComputed)
      }
      return scores
    } catch (error) {
      if (abort.signal.aborted) return null // nobody to answer
      if (error?.code === 'ERR_INPUT_TOO_LONG') throw new HttpError(413, error.message)
      throw error
    }
  }

  const byRelevance = (scores) => scores.map((score, index) => ({ index, score })).sort((a, b) => b.score - a.score || a.index - b.index)

  /**
   * Cohere's answer (v1 or v2, with its `meta`), which is also llama-server's and Jina's: the
   * results best first; with return_documents, each document as sent (a string as { text }).
   */
  function answerRerank(res, request, scores, tokens) {
    const documentOf = (index) => {
      const sent = request.documents[index]
      return typeof sent === 'string' ? { text: sent } : sent
    }
    const results = byRelevance(scores)
      .slice(0, request.topN)
      .map(({ index, score }) =>
        request.returnDocuments ? { index, relevance_score: score, document: documentOf(index) } : { index, relevance_score: score },
      )
    sendJson(res, 200, {
      id: randomUUID(),
      object: 'list',
      model: request.model ?? modelName,
      results,
      usage: { prompt_tokens: tokens, total_tokens: tokens },
      meta: { api_version: { version: request.apiVersion }, tokens: { input_tokens: tokens, output_tokens: 0 } },
    })
  }

  function answerTei(res, request, scores) {
    const values = request.rawScores ? rawScoresOf(scores) : scores
    const ranks = byRelevance(values).map(({ index, score }) =>
      request.returnText ? { index, score, text: request.texts[index] } : { index, score },
    )
    sendJson(res, 200, ranks)
  }

  async function rerank(req, res, pathname) {
    const body = await readBody(req, limits.maxBodyBytes, limits.bodyTimeoutMs)
    const request = parseRequest(body, limits, pathname)
    states.get(res).documents = request.texts.length
    if (request.shape === 'tei') checkRawScores(request, modelInfo)
    cutDocuments(request)
    const tokens = checkLengths(request, inputLengths(request.query, request.texts))
    const scores = await score(request, res)
    if (scores === null) return
    if (request.shape === 'tei') answerTei(res, request, scores)
    else answerRerank(res, request, scores, tokens)
  }

  function requireMethod(req, res, pathname, methods) {
    if (methods.includes(req.method)) return
    res.setHeader('allow', methods.join(', '))
    throw new HttpError(405, `${req.method} is not allowed on ${pathname}; use ${methods.join(' or ')}`)
  }

  const openapi = openApiDocument({ modelName, authRequired: auth.required, publicMetrics, version })

  /** The methods of a known route, for Allow and Access-Control-Allow-Methods. */
  const methodsOf = (pathname) => (RERANK_ROUTES.has(pathname) ? ['POST', 'OPTIONS'] : ['GET', 'HEAD', 'OPTIONS'])

  /** A CORS preflight: 204, with the CORS answer for an allowed origin only. No key: browsers send none. */
  function preflight(req, res, pathname) {
    const headers = { allow: methodsOf(pathname).join(', '), ...closeHeader() }
    if (corsPolicy.allow(req.headers.origin)) {
      Object.assign(headers, {
        'access-control-allow-methods': methodsOf(pathname).join(', '),
        'access-control-allow-headers': CORS_ALLOWED_HEADERS.join(', '),
        'access-control-max-age': '600',
      })
    }
    res.writeHead(204, headers)
    res.end()
  }

  async function handle(req, res, pathname) {
    if (req.method === 'OPTIONS' && corsPolicy.enabled && KNOWN_ROUTES.has(pathname)) return preflight(req, res, pathname)
    if (pathname === '/health' || pathname === '/v1/health') {
      requireMethod(req, res, pathname, ['GET', 'HEAD'])
      return closing ? sendJson(res, 503, { status: 'shutting down' }) : sendJson(res, 200, { status: 'ok' })
    }
    if (pathname === '/openapi.json') {
      requireMethod(req, res, pathname, ['GET', 'HEAD'])
      return sendJson(res, 200, openapi)
    }
    if (!(pathname === '/metrics' && publicMetrics)) auth.check(req)
    if (pathname === '/metrics') {
      requireMethod(req, res, pathname, ['GET', 'HEAD'])
      return send(res, 200, 'text/plain; version=0.0.4; charset=utf-8', metrics.render(), closeHeader(), limits.sendTimeoutMs)
    }
    if (pathname === '/info') {
      requireMethod(req, res, pathname, ['GET', 'HEAD'])
      return sendJson(
        res,
        200,
        infoOf({
          modelName,
          modelInfo,
          contexts,
          limits,
          version,
          authRequired: auth.required,
          publicMetrics,
          cors: corsPolicy,
          accessLog,
        }),
      )
    }
    if (pathname === '/v1/models' || pathname === '/models') {
      return sendJson(res, 200, {
        object: 'list',
        data: [{ id: modelName, object: 'model', owned_by: 'llama-rerank' }],
      })
    }
    if (RERANK_ROUTES.has(pathname)) {
      requireMethod(req, res, pathname, ['POST'])
      if (closing) throw new HttpError(503, 'the server is shutting down', { type: 'unavailable_error' })
      return await rerank(req, res, pathname)
    }
    throw new HttpError(404, `no route ${req.method} ${pathname}; POST /v1/rerank or GET /health`, { type: 'not_found_error' })
  }

  /**
   * Counts every answer once, when its connection is done with it, and writes its access log
   * line: one JSON object (`log(line, entry)`).
   */
  function recordRequest(req, res, route, pathname, started) {
    res.once('close', () => {
      const status = res.headersSent ? res.statusCode : 499
      const seconds = (performance.now() - started) / 1000
      requestsTotal.inc({ route, status: String(status) })
      requestSeconds.observe({ route }, seconds)
      if (accessLog !== 'json') return
      const state = states.get(res)
      const entry = {
        time: new Date().toISOString(),
        level: levelOf(status),
        request_id: res.getHeader('x-request-id'),
        method: req.method,
        path: pathname,
        status,
        duration_ms: Math.round(seconds * 1e6) / 1e3,
        documents: state.documents ?? null,
        remote_addr: req.socket?.remoteAddress ?? null,
        bytes_out: res.headersSent && req.method !== 'HEAD' ? Number(res.getHeader('content-length') ?? 0) : 0,
      }
      if (state.errorType) entry.error = state.errorType
      if (state.errorCode) entry.error_code = state.errorCode
      log(JSON.stringify(entry), entry)
    })
  }

  const server = http.createServer(
    // Node checks request and header deadlines at this interval (default 30 s, too coarse).
    { connectionsCheckingInterval: 1000, requestTimeout: limits.headersTimeoutMs + limits.bodyTimeoutMs + 1000 },
    (req, res) => {
      const started = performance.now()
      let pathname = '/'
      try {
        pathname = new URL(req.url, 'http://localhost').pathname
      } catch {}
      // On every answer, errors included: the request's id, and CORS' headers for an allowed origin.
      res.setHeader('x-request-id', requestIdOf(req))
      if (corsPolicy.enabled) {
        res.setHeader('vary', 'Origin')
        const origin = corsPolicy.allow(req.headers.origin)
        if (origin) {
          res.setHeader('access-control-allow-origin', origin)
          res.setHeader('access-control-expose-headers', CORS_EXPOSED_HEADERS.join(', '))
        }
      }
      states.set(res, {})
      recordRequest(req, res, KNOWN_ROUTES.has(pathname) ? pathname : 'other', pathname, started)
      handle(req, res, pathname).catch((error) => {
        if (error instanceof HttpError) return sendError(req, res, error)
        if (typeof error?.code === 'string') states.get(res).errorCode = error.code
        const status = error?.code === 'ERR_DISPOSED' ? 503 : 500
        if (status === 500) log(`error: ${error?.code ?? ''} ${error?.message ?? error}`)
        sendError(req, res, new HttpError(status, error?.message ?? String(error)))
      })
    },
  )
  server.headersTimeout = limits.headersTimeoutMs
  server.keepAliveTimeout = limits.keepAliveTimeoutMs
  server.maxConnections = limits.maxConnections
  server.on('connection', (socket) => {
    openConnections++
    socket.once('close', () => openConnections--)
  })

  await new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const address = server.address()
  const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address

  return {
    server,
    url: `http://${shownHost}:${address.port}`,
    port: address.port,
    /** Whether requests need an API key. */
    authRequired: auth.required,
    /** Requests being scored and waiting. */
    get pending() {
      return pool.running + pool.waiting
    },
    /**
     * Stops accepting requests and resolves once every running and waiting request has been
     * answered. Idempotent.
     */
    close() {
      if (!drained) {
        closing = true
        let resolve
        const promise = new Promise((r) => (resolve = r))
        drained = { promise, resolve }
        server.close()
        server.closeIdleConnections?.()
        settleDrain()
      }
      return drained.promise.then(
        () =>
          new Promise((resolve) => {
            // Answers are written; let the sockets flush, then close what is left.
            setImmediate(() => {
              server.closeIdleConnections?.()
              resolve()
            })
          }),
      )
    },
  }
}
