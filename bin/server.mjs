// The rerank HTTP server: llama-server's, Jina's and Cohere's `/v1/rerank` shape, Hugging Face
// text-embeddings-inference's `/rerank` shape, over a pool of ranking contexts; bearer-key
// authentication, Prometheus metrics, an OpenAPI document, and limits that hold under load.
// Used by `llama-rerank serve`; importable for embedding.
import http from 'node:http'
import net from 'node:net'
import { randomUUID, createHash, timingSafeEqual } from 'node:crypto'

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

/** The routes that score, in either request shape. */
const RERANK_ROUTES = new Set(['/v1/rerank', '/rerank', '/v1/reranking', '/v2/rerank'])
/** Every route the server knows: the `route` label of the metrics (anything else is "other"). */
const KNOWN_ROUTES = new Set([...RERANK_ROUTES, '/health', '/v1/health', '/v1/models', '/models', '/metrics', '/openapi.json'])
/** Routes that answer without an API key: probes must work without one, and the API description is public. */
const OPEN_ROUTES = new Set(['/health', '/v1/health', '/openapi.json'])

// ---------------------------------------------------------------------------------------------
// Errors and answers

class HttpError extends Error {
  constructor(status, message, { type = status >= 500 ? 'server_error' : 'invalid_request_error', headers = {}, close = false } = {}) {
    super(message)
    this.status = status
    this.type = type
    this.headers = headers
    this.close = close
  }
}

/**
 * Ends the answer and gives the client `sendTimeoutMs` to take it: a client that stops reading
 * would otherwise keep the socket and the unsent bytes for as long as it likes.
 */
function endWithDeadline(res, body, sendTimeoutMs) {
  res.end(body)
  if (!sendTimeoutMs || res.writableFinished) return
  const timer = setTimeout(() => res.destroy(), sendTimeoutMs)
  timer.unref?.()
  const clear = () => clearTimeout(timer)
  res.once('finish', clear)
  res.once('close', clear)
}

function send(res, status, contentType, text, headers, sendTimeoutMs) {
  if (res.headersSent || res.destroyed) return
  res.writeHead(status, {
    'content-type': contentType,
    'content-length': Buffer.byteLength(text),
    ...headers,
  })
  endWithDeadline(res, text, sendTimeoutMs)
}

// ---------------------------------------------------------------------------------------------
// Authentication

const sha256 = (text) => createHash('sha256').update(text, 'utf8').digest()

/** Keys of an API key file: one a line; blank lines and `#` comments are skipped. */
export function parseApiKeys(text) {
  return text
    .split(/\r?\n/)
    .map((line) => line.replace(/(^|\s)#.*$/, '').trim())
    .filter((line) => line !== '')
}

/**
 * Whether a bind address only accepts connections from this machine: 127.0.0.0/8, ::1 (also
 * IPv4-mapped) and `localhost`. Any other name may resolve to a public interface.
 */
export function isLoopbackHost(host) {
  const h = String(host).trim().toLowerCase().replace(/^\[(.*)\]$/, '$1').replace(/\.$/, '')
  if (h === 'localhost') return true
  if (net.isIPv4(h)) return h.startsWith('127.')
  if (net.isIPv6(h)) {
    const mapped = h.match(/^(?:0{0,4}:){0,4}:?(?:0{0,4}:)?ffff:(\d+\.\d+\.\d+\.\d+)$/)
    if (mapped) return mapped[1].startsWith('127.')
    return expandIPv6(h) === '0000:0000:0000:0000:0000:0000:0000:0001'
  }
  return false
}

function expandIPv6(address) {
  const [head, tail = ''] = address.split('::')
  const left = head ? head.split(':') : []
  const right = tail ? tail.split(':') : []
  const middle = address.includes('::') ? Array(8 - left.length - right.length).fill('0') : []
  return [...left, ...middle, ...right].map((g) => g.padStart(4, '0')).join(':')
}

/**
 * Checks `Authorization: Bearer <key>` against the keys in time that depends on neither the
 * key's length nor a matching prefix: both sides are SHA-256 digests of the same length, each
 * compared with `timingSafeEqual`, and every key is compared, a match or not.
 */
function createAuthenticator(apiKeys) {
  const digests = [...new Set(apiKeys)].map(sha256)
  return {
    required: digests.length > 0,
    /** Throws the 401 for a request without a valid key. */
    check(req) {
      if (digests.length === 0) return
      const header = req.headers.authorization ?? ''
      const m = /^Bearer[ \t]+(\S.*?)\s*$/i.exec(header)
      if (!m) {
        throw new HttpError(401, 'an API key is required: send "Authorization: Bearer <key>"', {
          type: 'authentication_error',
          headers: { 'www-authenticate': 'Bearer realm="llama-rerank"' },
        })
      }
      const presented = sha256(m[1])
      let ok = false
      for (const digest of digests) ok = timingSafeEqual(presented, digest) || ok
      if (!ok) {
        throw new HttpError(401, 'the API key is not valid', {
          type: 'authentication_error',
          headers: { 'www-authenticate': 'Bearer realm="llama-rerank", error="invalid_token"' },
        })
      }
    },
  }
}

// ---------------------------------------------------------------------------------------------
// Metrics, in Prometheus' text exposition format (version 0.0.4), kept by hand: the package
// has no runtime dependencies, and counters, gauges and one histogram kind are a page of code.

const escapeLabel = (value) => String(value).replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')
const formatNumber = (n) => (n === Infinity ? '+Inf' : n === -Infinity ? '-Inf' : Number.isNaN(n) ? 'NaN' : String(n))

function labelText(labelNames, values) {
  if (labelNames.length === 0) return ''
  return `{${labelNames.map((name, i) => `${name}="${escapeLabel(values[i])}"`).join(',')}}`
}

function createMetrics() {
  const families = []
  const family = (name, help, type, render) => families.push({ name, help, type, render })

  /** A counter with labels: `inc(labels, by)`. */
  function counter(name, help, labelNames = []) {
    const series = new Map()
    family(name, help, 'counter', () =>
      [...series.values()].map(({ values, value }) => `${name}${labelText(labelNames, values)} ${formatNumber(value)}`),
    )
    return {
      inc(labels = {}, by = 1) {
        const values = labelNames.map((l) => labels[l] ?? '')
        const key = values.join('\u0000')
        const s = series.get(key) ?? series.set(key, { values, value: 0 }).get(key)
        s.value += by
      },
    }
  }

  /** A gauge read when scraped. */
  function gauge(name, help, read) {
    family(name, help, 'gauge', () => [`${name} ${formatNumber(read())}`])
  }

  /** A histogram with labels: `observe(labels, value)`; buckets are upper bounds, ascending. */
  function histogram(name, help, buckets, labelNames = []) {
    const series = new Map()
    family(name, help, 'histogram', () =>
      [...series.values()].flatMap(({ values, counts, sum, count }) => {
        const lines = []
        let cumulative = 0
        buckets.forEach((le, i) => {
          cumulative += counts[i]
          lines.push(`${name}_bucket${labelText([...labelNames, 'le'], [...values, formatNumber(le)])} ${cumulative}`)
        })
        lines.push(`${name}_bucket${labelText([...labelNames, 'le'], [...values, '+Inf'])} ${count}`)
        lines.push(`${name}_sum${labelText(labelNames, values)} ${formatNumber(sum)}`)
        lines.push(`${name}_count${labelText(labelNames, values)} ${count}`)
        return lines
      }),
    )
    return {
      observe(labels, value) {
        const values = labelNames.map((l) => labels[l] ?? '')
        const key = values.join('\u0000')
        const s = series.get(key) ?? series.set(key, { values, counts: buckets.map(() => 0), sum: 0, count: 0 }).get(key)
        const at = buckets.findIndex((le) => value <= le)
        if (at >= 0) s.counts[at]++
        s.sum += value
        s.count++
      },
    }
  }

  function render() {
    const out = []
    for (const { name, help, type, render: lines } of families) {
      out.push(`# HELP ${name} ${help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}`)
      out.push(`# TYPE ${name} ${type}`)
      out.push(...lines())
    }
    return out.join('\n') + '\n'
  }

  return { counter, gauge, histogram, render }
}

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120]

// ---------------------------------------------------------------------------------------------
// Request bodies

/**
 * Reads the body up to `limit` bytes within `timeoutMs`; beyond the size, drains it and rejects
 * with 413; past the deadline, rejects with 408 and closes the connection, so a client that
 * trickles its body (or stalls) holds neither memory nor a connection for long.
 */
function readBody(req, limit, timeoutMs) {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'])
    const tooLarge = () => new HttpError(413, `the request body is larger than ${limit} bytes`)
    if (Number.isFinite(declared) && declared > limit * 8) {
      // Not worth reading: answer now, then drop the connection.
      req.resume()
      return reject(Object.assign(tooLarge(), { close: true }))
    }
    const chunks = []
    let size = 0
    let over = false
    let timer
    const settle = (fn, value) => {
      clearTimeout(timer)
      fn(value)
    }
    if (timeoutMs) {
      timer = setTimeout(() => {
        req.pause()
        reject(new HttpError(408, `the request body did not arrive within ${timeoutMs} ms`, { close: true }))
      }, timeoutMs)
      timer.unref?.()
    }
    req.on('data', (chunk) => {
      size += chunk.length
      if (size > limit) {
        over = true
        chunks.length = 0
        if (size > limit * 8) {
          req.destroy()
          settle(reject, Object.assign(tooLarge(), { close: true }))
        }
        return
      }
      chunks.push(chunk)
    })
    req.on('end', () => settle(...(over ? [reject, tooLarge()] : [resolve, Buffer.concat(chunks)])))
    req.on('error', (error) => settle(reject, error))
  })
}

function parseJsonObject(body) {
  let json
  try {
    json = JSON.parse(body.toString('utf8'))
  } catch (error) {
    throw new HttpError(400, `the body is not valid JSON: ${error.message}`)
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new HttpError(400, 'the body must be a JSON object with "query" and "documents" (or, on /rerank, "texts")')
  }
  return json
}

const isAbsent = (value) => value === undefined || value === null

function optionalBoolean(json, key) {
  if (isAbsent(json[key])) return undefined
  if (typeof json[key] !== 'boolean') throw new HttpError(400, `"${key}" must be a boolean`)
  return json[key]
}

function checkDocumentCount(count, limits, field) {
  if (count > limits.maxDocuments) {
    throw new HttpError(400, `too many ${field}: ${count}, at most ${limits.maxDocuments}`)
  }
}

/** llama-server's, Jina's and Cohere's request: { query, documents, top_n?, return_documents?, model?, instruction? }. */
function parseRerankRequest(json, limits, pathname) {
  const { query, documents, top_n: topN, model, instruction } = json
  if (typeof query !== 'string') throw new HttpError(400, '"query" must be a string')
  if (!Array.isArray(documents)) {
    const hint = Array.isArray(json.texts) && pathname !== '/rerank' ? ' (text-embeddings-inference\'s { query, texts } shape is served on POST /rerank)' : ''
    throw new HttpError(400, `"documents" must be an array of strings or of objects with a "text" string${hint}`)
  }
  checkDocumentCount(documents.length, limits, 'documents')
  const texts = documents.map((d, i) => {
    if (typeof d === 'string') return d
    if (d !== null && typeof d === 'object' && typeof d.text === 'string') return d.text
    throw new HttpError(400, `documents[${i}] must be a string or an object with a "text" string`)
  })
  if (!isAbsent(topN) && !(Number.isInteger(topN) && topN > 0)) {
    throw new HttpError(400, '"top_n" must be a positive integer')
  }
  const returnDocuments = optionalBoolean(json, 'return_documents')
  if (!isAbsent(model) && typeof model !== 'string') throw new HttpError(400, '"model" must be a string')
  if (!isAbsent(instruction) && typeof instruction !== 'string') throw new HttpError(400, '"instruction" must be a string')
  return {
    shape: 'rerank',
    query,
    texts,
    topN: topN ?? texts.length,
    returnDocuments: returnDocuments === true,
    model: model ?? undefined,
    instruction: instruction ?? undefined,
    truncate: true,
    direction: 'right',
  }
}

/**
 * text-embeddings-inference's request: { query, texts, raw_scores?, return_text?, truncate?,
 * truncation_direction? }. As in TEI, `truncate` defaults to false: an over-long pair is a 413.
 */
function parseTeiRequest(json, limits) {
  const { query, texts, truncation_direction: direction } = json
  if (typeof query !== 'string') throw new HttpError(400, '"query" must be a string')
  if (!Array.isArray(texts)) throw new HttpError(400, '"texts" must be an array of strings')
  checkDocumentCount(texts.length, limits, 'texts')
  texts.forEach((t, i) => {
    if (typeof t !== 'string') throw new HttpError(400, `texts[${i}] must be a string`)
  })
  if (!isAbsent(direction) && !/^(left|right)$/i.test(String(direction))) {
    throw new HttpError(400, '"truncation_direction" must be "Right" or "Left"')
  }
  return {
    shape: 'tei',
    query,
    texts,
    rawScores: optionalBoolean(json, 'raw_scores') === true,
    returnText: optionalBoolean(json, 'return_text') === true,
    truncate: optionalBoolean(json, 'truncate') === true,
    direction: isAbsent(direction) ? 'right' : String(direction).toLowerCase(),
  }
}

/** A body with `texts` (and no `documents`) on /rerank is TEI's; everything else is the /v1/rerank shape. */
function parseRequest(body, limits, pathname) {
  const json = parseJsonObject(body)
  const tei = pathname === '/rerank' && !('documents' in json) && 'texts' in json
  return tei ? parseTeiRequest(json, limits) : parseRerankRequest(json, limits, pathname)
}

// ---------------------------------------------------------------------------------------------
// Scores

/**
 * The logit behind a probability. Exact up to float rounding only where the score is a float64
 * sigmoid of one logit, which holds for cross-encoders (`scoring: "classifier"`); Qwen3-style
 * yes/no judges with a pooled head report P(yes) rounded to float32, so theirs would be an
 * approximation, and the server refuses raw_scores for them.
 */
const logitOf = (p) => Math.log(p) - Math.log1p(-p)

function checkRawScores(request, modelInfo) {
  if (!request.rawScores) return
  if (modelInfo?.scoring !== 'classifier' || modelInfo?.relevantLabel) {
    throw new HttpError(400,
      `"raw_scores": true needs a one-label cross-encoder (scoring "classifier"); this model scores "${modelInfo?.scoring ?? 'unknown'}"${modelInfo?.relevantLabel ? ` as the softmax of label "${modelInfo.relevantLabel}"` : ''}, ` +
      'a probability that llama-rerank does not expose as a logit. Ask without raw_scores for scores in [0, 1]')
  }
}

function rawScoresOf(scores) {
  return scores.map((p, i) => {
    if (!(p > 0 && p < 1)) {
      throw new HttpError(422, `the score of texts[${i}] is exactly ${p} in float64, so its logit (beyond ±36.7) cannot be recovered; ask without raw_scores`)
    }
    return logitOf(p)
  })
}

// ---------------------------------------------------------------------------------------------
// The context pool

/**
 * Runs each job whole on the first free context, in arrival order, with a bounded queue and a
 * bounded wait. `estimateRetryAfter` turns the recent job time into a Retry-After in seconds.
 */
function createPool(contexts, limits, { onSettled }) {
  const idle = [...contexts]
  const queue = []
  let running = 0
  let averageJobSeconds = 0
  const listeners = new Set()

  const notify = () => listeners.forEach((fn) => fn())

  /** Seconds until a waiting request at the end of the queue could expect a context. */
  const retryAfterSeconds = () => {
    const seconds = (averageJobSeconds || 1) * (queue.length + running) / contexts.length
    return Math.min(60, Math.max(1, Math.ceil(seconds)))
  }

  const busy = (message) =>
    new HttpError(503, message, { type: 'unavailable_error', headers: { 'retry-after': String(retryAfterSeconds()) } })

  function start(job, ctx) {
    running++
    clearTimeout(job.timer)
    const started = performance.now()
    job.onStart?.((started - job.queuedAt) / 1000)
    ctx
      .rankAll(job.query, job.texts, { signal: job.signal, instruction: job.instruction, onOverflow: job.onOverflow })
      .then((scores) => {
        const seconds = (performance.now() - started) / 1000
        averageJobSeconds = averageJobSeconds ? averageJobSeconds * 0.8 + seconds * 0.2 : seconds
        // This context ran nothing else since: the statistics are this job's.
        job.resolve({ scores, stats: ctx.lastCallStats })
      }, job.reject)
      .finally(() => {
        running--
        idle.push(ctx)
        onSettled?.()
        pump()
        notify()
      })
  }

  function pump() {
    while (idle.length && queue.length) start(queue.shift(), idle.shift())
  }

  function remove(job) {
    const at = queue.indexOf(job)
    if (at < 0) return false
    queue.splice(at, 1)
    clearTimeout(job.timer)
    notify()
    return true
  }

  return {
    get running() {
      return running
    },
    get waiting() {
      return queue.length
    },
    /** Called whenever a job leaves the queue or a context. */
    onChange(fn) {
      listeners.add(fn)
    },
    busy,
    /** Scores on the first free context; rejects if `signal` aborts first, or on a full or slow queue. */
    schedule(job) {
      return new Promise((resolve, reject) => {
        // Only a request that would wait needs a place in the queue.
        if (!idle.length && queue.length >= limits.maxQueue) {
          throw busy(`the server is busy: ${queue.length} requests waiting`)
        }
        Object.assign(job, { resolve, reject, queuedAt: performance.now() })
        job.signal.addEventListener('abort', () => {
          if (remove(job)) reject(job.signal.reason)
        }, { once: true })
        if (limits.queueTimeoutMs) {
          job.timer = setTimeout(() => {
            const ahead = queue.indexOf(job)
            if (remove(job)) {
              reject(busy(`no ranking context became free within ${limits.queueTimeoutMs} ms (${ahead} requests ahead, ${running} running)`))
            }
          }, limits.queueTimeoutMs)
          job.timer.unref?.()
        }
        queue.push(job)
        pump()
      })
    },
  }
}

// ---------------------------------------------------------------------------------------------
// The OpenAPI document

/** OpenAPI 3.0 description of every route and both request shapes. */
export function openApiDocument({ modelName = 'reranker', authRequired = false, publicMetrics = false, version = '0' } = {}) {
  const ref = (name) => ({ $ref: `#/components/schemas/${name}` })
  const json = (schema, description) => ({ description, content: { 'application/json': { schema } } })
  const error = (description) => json(ref('Error'), description)
  const secured = authRequired ? { security: [{ bearer: [] }] } : {}
  const open = authRequired ? { security: [] } : {}
  const unauthorized = authRequired ? { 401: error('No API key, or not a valid one (with a WWW-Authenticate: Bearer header)') } : {}
  const busy = {
    ...error('Busy: the queue is full or no context became free within the queue timeout; retry after the Retry-After header\'s seconds'),
    headers: { 'Retry-After': { description: 'Seconds to wait before retrying', schema: { type: 'integer', minimum: 1 } } },
  }
  const rerankResponses = {
    400: error('Malformed JSON, a bad field, or more documents than --max-documents'),
    ...unauthorized,
    405: error('Not POST'),
    408: error('The body did not arrive within --body-timeout'),
    413: error('The body is larger than --max-body-bytes, the request has more tokens than --max-request-tokens, or (TEI shape, truncate false) a pair is longer than the context'),
    503: busy,
  }
  const rerankOperation = (operationId, summary, { tei = false } = {}) => ({
    post: {
      operationId,
      summary,
      ...secured,
      requestBody: {
        required: true,
        content: { 'application/json': { schema: tei ? { oneOf: [ref('RerankRequest'), ref('TeiRerankRequest')] } : ref('RerankRequest') } },
      },
      responses: {
        200: json(tei ? { oneOf: [ref('RerankResponse'), ref('TeiRerankResponse')] } : ref('RerankResponse'),
          tei ? 'The documents by relevance, best first: a RerankResponse for a body with "documents", a TEI array for a body with "texts"' : 'The documents by relevance, best first'),
        ...rerankResponses,
        ...(tei ? { 422: error('TEI shape, raw_scores: a score saturated at 0 or 1, so its logit cannot be recovered') } : {}),
      },
    },
  })
  const health = {
    get: {
      operationId: 'health',
      summary: 'Liveness and readiness: 200 while serving, 503 while shutting down',
      ...open,
      responses: {
        200: json({ type: 'object', properties: { status: { type: 'string', enum: ['ok'] } }, required: ['status'] }, 'Serving'),
        503: json({ type: 'object', properties: { status: { type: 'string', enum: ['shutting down'] } }, required: ['status'] }, 'Shutting down: finishing the requests it has'),
      },
    },
  }
  const models = {
    get: {
      operationId: 'listModels',
      summary: 'The model served',
      ...secured,
      responses: { 200: json(ref('ModelList'), 'The one model this server ranks with'), ...unauthorized },
    },
  }
  return {
    openapi: '3.0.3',
    info: {
      title: 'llama-rerank server',
      version,
      description:
        `Scores (query, document) pairs with the GGUF reranker ${modelName}. POST /v1/rerank (also /v1/reranking, /v2/rerank) takes llama-server's, Jina's and Cohere's ` +
        'request; POST /rerank takes that one too, and text-embeddings-inference\'s { query, texts } request when the body has "texts" and no "documents". ' +
        'Every error has the body { error: { code, message, type } }.',
    },
    paths: {
      '/v1/rerank': rerankOperation('rerank', 'Rank documents against a query (llama-server, Jina and Cohere shape)'),
      '/rerank': rerankOperation('rerankAny', 'Rank documents: the /v1/rerank shape, or text-embeddings-inference\'s when the body has "texts"', { tei: true }),
      '/v1/reranking': rerankOperation('reranking', 'Same as /v1/rerank'),
      '/v2/rerank': rerankOperation('rerankV2', 'Same as /v1/rerank (Cohere v2 path)'),
      '/health': health,
      '/v1/health': health,
      '/v1/models': models,
      '/models': { get: { ...models.get, operationId: 'listModelsShort' } },
      '/metrics': {
        get: {
          operationId: 'metrics',
          summary: 'Prometheus metrics (text exposition format 0.0.4)',
          ...(publicMetrics ? open : secured),
          responses: {
            200: { description: 'The metrics', content: { 'text/plain': { schema: { type: 'string' } } } },
            ...(publicMetrics ? {} : unauthorized),
          },
        },
      },
      '/openapi.json': {
        get: {
          operationId: 'openapi',
          summary: 'This document',
          ...open,
          responses: { 200: json({ type: 'object' }, 'The OpenAPI document') },
        },
      },
    },
    components: {
      ...(authRequired ? { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'A key given to `llama-rerank serve` with --api-key, --api-key-file or LLAMA_RERANK_API_KEY' } } } : {}),
      schemas: {
        RerankRequest: {
          type: 'object',
          required: ['query', 'documents'],
          properties: {
            query: { type: 'string' },
            documents: {
              type: 'array',
              items: { oneOf: [{ type: 'string' }, { type: 'object', required: ['text'], properties: { text: { type: 'string' } } }] },
            },
            top_n: { type: 'integer', minimum: 1, nullable: true, description: 'Keep the best n (default: all)' },
            return_documents: { type: 'boolean', nullable: true, default: false },
            model: { type: 'string', nullable: true, description: 'Echoed back; the server ranks with its one model' },
            instruction: { type: 'string', nullable: true, description: 'The task instruction of generative rerankers (Qwen3-Reranker)' },
          },
        },
        RerankResponse: {
          type: 'object',
          required: ['id', 'object', 'model', 'results', 'usage'],
          properties: {
            id: { type: 'string' },
            object: { type: 'string', enum: ['list'] },
            model: { type: 'string' },
            results: {
              type: 'array',
              items: {
                type: 'object',
                required: ['index', 'relevance_score'],
                properties: {
                  index: { type: 'integer', minimum: 0 },
                  relevance_score: { type: 'number', minimum: 0, maximum: 1 },
                  document: { type: 'object', required: ['text'], properties: { text: { type: 'string' } } },
                },
              },
            },
            usage: {
              type: 'object',
              required: ['prompt_tokens', 'total_tokens'],
              properties: { prompt_tokens: { type: 'integer', minimum: 0 }, total_tokens: { type: 'integer', minimum: 0 } },
            },
          },
        },
        TeiRerankRequest: {
          type: 'object',
          required: ['query', 'texts'],
          properties: {
            query: { type: 'string' },
            texts: { type: 'array', items: { type: 'string' } },
            raw_scores: { type: 'boolean', nullable: true, default: false, description: 'The logit instead of the probability; cross-encoders only (400 for other models)' },
            return_text: { type: 'boolean', nullable: true, default: false },
            truncate: { type: 'boolean', nullable: true, default: false, description: 'false: a pair longer than the context is a 413; true: its document is cut' },
            truncation_direction: { type: 'string', enum: ['Right', 'Left', 'right', 'left'], default: 'Right', description: 'Left is a 400 when a pair would be cut: only the document\'s tail can be cut' },
          },
        },
        TeiRerankResponse: {
          type: 'array',
          items: {
            type: 'object',
            required: ['index', 'score'],
            properties: {
              index: { type: 'integer', minimum: 0 },
              score: { type: 'number' },
              text: { type: 'string' },
            },
          },
        },
        ModelList: {
          type: 'object',
          required: ['object', 'data'],
          properties: {
            object: { type: 'string', enum: ['list'] },
            data: {
              type: 'array',
              items: {
                type: 'object',
                required: ['id', 'object', 'owned_by'],
                properties: { id: { type: 'string' }, object: { type: 'string', enum: ['model'] }, owned_by: { type: 'string' } },
              },
            },
          },
        },
        Error: {
          type: 'object',
          required: ['error'],
          properties: {
            error: {
              type: 'object',
              required: ['code', 'message', 'type'],
              properties: { code: { type: 'integer' }, message: { type: 'string' }, type: { type: 'string' } },
            },
          },
        },
      },
    },
  }
}

// ---------------------------------------------------------------------------------------------
// The server

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
  log = () => {},
}) {
  if (!contexts?.length) throw new TypeError('startServer needs at least one ranking context')
  limits = { ...DEFAULT_LIMITS, ...limits }
  const auth = createAuthenticator(apiKeys)
  let closing = false
  let drained = null // resolves when nothing runs or waits
  let openConnections = 0

  const metrics = createMetrics()
  const requestsTotal = metrics.counter('llama_rerank_http_requests_total', 'HTTP requests answered, by route and status (499: the client went away first)', ['route', 'status'])
  const requestSeconds = metrics.histogram('llama_rerank_http_request_duration_seconds', 'Time from the request\'s arrival to its answer, by route', LATENCY_BUCKETS, ['route'])
  const queueWaitSeconds = metrics.histogram('llama_rerank_queue_wait_seconds', 'Time a scoring request waited for a ranking context', LATENCY_BUCKETS)
  const documentsTotal = metrics.counter('llama_rerank_documents_scored_total', 'Documents scored')
  const pairTokensTotal = metrics.counter('llama_rerank_pair_tokens_total', 'Tokens of every scored (query, document) prompt')
  const tokensComputedTotal = metrics.counter('llama_rerank_tokens_computed_total', 'Tokens evaluated (a shared prompt prefix counts once per call)')
  const pool = createPool(contexts, limits, {})
  metrics.gauge('llama_rerank_queue_depth', 'Scoring requests waiting for a ranking context', () => pool.waiting)
  metrics.gauge('llama_rerank_inflight_calls', 'Scoring calls running on a ranking context', () => pool.running)
  metrics.gauge('llama_rerank_contexts', 'Ranking contexts (requests scored side by side)', () => contexts.length)
  metrics.gauge('llama_rerank_open_connections', 'Open HTTP connections', () => openConnections)
  if (modelLoadSeconds !== undefined) {
    metrics.gauge('llama_rerank_model_load_seconds', 'Time to load the model and create its contexts', () => modelLoadSeconds)
  }
  metrics.gauge('process_resident_memory_bytes', 'Resident memory size in bytes', () => process.memoryUsage.rss())
  // The same names as prom-client's defaults: RSS alone cannot tell a leak from V8 growing its heap.
  metrics.gauge('nodejs_heap_size_total_bytes', 'V8 heap size reserved, in bytes', () => process.memoryUsage().heapTotal)
  metrics.gauge('nodejs_heap_size_used_bytes', 'V8 heap in use (live objects and garbage not yet collected), in bytes', () => process.memoryUsage().heapUsed)
  metrics.gauge('nodejs_external_memory_bytes', 'Memory of C++ objects bound to JavaScript objects, in bytes', () => process.memoryUsage().external)
  const startedAt = Date.now() / 1000
  metrics.gauge('process_start_time_seconds', 'Start time of the process since the Unix epoch in seconds', () => startedAt)

  const settleDrain = () => {
    if (closing && pool.running === 0 && pool.waiting === 0 && drained) drained.resolve()
  }
  pool.onChange(settleDrain)

  const closeHeader = () => (closing ? { connection: 'close' } : {})
  const sendJson = (res, status, body, headers = {}) =>
    send(res, status, 'application/json; charset=utf-8', JSON.stringify(body), { ...closeHeader(), ...headers }, limits.sendTimeoutMs)

  /** llama-server's error body: { error: { code, message, type } }. */
  function sendError(req, res, error) {
    // A body still on the wire would have to be read before the connection could carry the next request.
    const close = error.close || closing || !req.complete
    sendJson(res, error.status, { error: { code: error.status, message: error.message, type: error.type } }, {
      ...error.headers,
      ...(close ? { connection: 'close' } : {}),
    })
  }

  /** Tokens each pair takes before truncation, counted by the context's own tokenizer. */
  const inputLengths = (query, texts) => texts.map((text) => contexts[0].calculateInputLength(query, text))

  /** Refuses what cannot or may not be scored, before any ranking work: length, direction, token budget. */
  function checkLengths(request, lengths) {
    const size = contexts[0].contextSize
    const over = lengths.findIndex((n) => n > size)
    if (over >= 0 && !request.truncate) {
      throw new HttpError(413, `texts[${over}] with the query is ${lengths[over]} tokens, over the model's context of ${size}; send "truncate": true to cut it`)
    }
    if (over >= 0 && request.direction === 'left') {
      throw new HttpError(400, `texts[${over}] with the query is ${lengths[over]} tokens, over the context of ${size}, and "truncation_direction": "Left" cannot be honoured: llama-rerank only cuts a document's tail. Send "Right", or shorten the text`)
    }
    const tokens = lengths.reduce((sum, n) => sum + Math.min(n, size), 0)
    if (limits.maxRequestTokens && tokens > limits.maxRequestTokens) {
      throw new HttpError(413, `the request has ${tokens} tokens to score, more than the server's limit of ${limits.maxRequestTokens} per request; split it`)
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

  const byRelevance = (scores) =>
    scores.map((score, index) => ({ index, score })).sort((a, b) => b.score - a.score || a.index - b.index)

  function answerRerank(res, request, scores, tokens) {
    const results = byRelevance(scores).slice(0, request.topN).map(({ index, score }) =>
      request.returnDocuments
        ? { index, relevance_score: score, document: { text: request.texts[index] } }
        : { index, relevance_score: score },
    )
    sendJson(res, 200, {
      id: randomUUID(),
      object: 'list',
      model: request.model ?? modelName,
      results,
      usage: { prompt_tokens: tokens, total_tokens: tokens },
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
    if (request.shape === 'tei') checkRawScores(request, modelInfo)
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

  async function handle(req, res, pathname) {
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

  /** Counts every answer once, when its connection is done with it. */
  function recordRequest(res, route, started) {
    res.once('close', () => {
      const status = res.headersSent ? String(res.statusCode) : '499'
      requestsTotal.inc({ route, status })
      requestSeconds.observe({ route }, (performance.now() - started) / 1000)
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
      recordRequest(res, KNOWN_ROUTES.has(pathname) ? pathname : 'other', started)
      handle(req, res, pathname).catch((error) => {
        if (error instanceof HttpError) return sendError(req, res, error)
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
