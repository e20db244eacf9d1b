// The /v1/rerank HTTP server: llama-server's, Jina's and Cohere's request and answer shape
// over a pool of ranking contexts. Used by `llama-rerank serve`; importable for embedding.
import http from 'node:http'
import { randomUUID } from 'node:crypto'

export const DEFAULT_LIMITS = Object.freeze({
  /** Request body bytes at most (413 above). */
  maxBodyBytes: 8 * 1024 * 1024,
  /** Documents per request at most (400 above). */
  maxDocuments: 1000,
  /** Requests waiting for a context at most (503 above). */
  maxQueue: 1024,
})

class HttpError extends Error {
  constructor(status, message, type = status >= 500 ? 'server_error' : 'invalid_request_error') {
    super(message)
    this.status = status
    this.type = type
  }
}

function sendJson(res, status, body, headers = {}) {
  if (res.headersSent || res.destroyed) return
  const text = JSON.stringify(body)
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    ...headers,
  })
  res.end(text)
}

/** llama-server's error body: { error: { code, message, type } }. */
function sendError(res, error, headers = {}) {
  sendJson(res, error.status, { error: { code: error.status, message: error.message, type: error.type } }, headers)
}

/** Reads the body up to `limit` bytes; beyond that, drains it and rejects with 413. */
function readBody(req, limit) {
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
    req.on('data', (chunk) => {
      size += chunk.length
      if (size > limit) {
        over = true
        chunks.length = 0
        if (size > limit * 8) {
          req.destroy()
          reject(Object.assign(tooLarge(), { close: true }))
        }
        return
      }
      chunks.push(chunk)
    })
    req.on('end', () => (over ? reject(tooLarge()) : resolve(Buffer.concat(chunks))))
    req.on('error', reject)
  })
}

function parseRequest(body, limits) {
  let json
  try {
    json = JSON.parse(body.toString('utf8'))
  } catch (error) {
    throw new HttpError(400, `the body is not valid JSON: ${error.message}`)
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new HttpError(400, 'the body must be a JSON object with "query" and "documents"')
  }
  const { query, documents, top_n: topN, return_documents: returnDocuments, model, instruction } = json
  if (typeof query !== 'string') throw new HttpError(400, '"query" must be a string')
  if (!Array.isArray(documents)) {
    throw new HttpError(400, '"documents" must be an array of strings or of objects with a "text" string')
  }
  if (documents.length > limits.maxDocuments) {
    throw new HttpError(400, `too many documents: ${documents.length}, at most ${limits.maxDocuments}`)
  }
  const texts = documents.map((d, i) => {
    if (typeof d === 'string') return d
    if (d !== null && typeof d === 'object' && typeof d.text === 'string') return d.text
    throw new HttpError(400, `documents[${i}] must be a string or an object with a "text" string`)
  })
  if (topN !== undefined && topN !== null && !(Number.isInteger(topN) && topN > 0)) {
    throw new HttpError(400, '"top_n" must be a positive integer')
  }
  if (returnDocuments !== undefined && returnDocuments !== null && typeof returnDocuments !== 'boolean') {
    throw new HttpError(400, '"return_documents" must be a boolean')
  }
  if (model !== undefined && model !== null && typeof model !== 'string') {
    throw new HttpError(400, '"model" must be a string')
  }
  if (instruction !== undefined && instruction !== null && typeof instruction !== 'string') {
    throw new HttpError(400, '"instruction" must be a string')
  }
  return {
    query,
    texts,
    topN: topN ?? texts.length,
    returnDocuments: returnDocuments === true,
    model: model ?? undefined,
    instruction: instruction ?? undefined,
  }
}

/**
 * Starts the server. `contexts` are ranking contexts of one model; each request runs whole on
 * the first free context, in arrival order.
 */
export async function startServer({ contexts, modelName, host = '127.0.0.1', port = 8080, limits = {}, log = () => {} }) {
  if (!contexts?.length) throw new TypeError('startServer needs at least one ranking context')
  limits = { ...DEFAULT_LIMITS, ...limits }
  const idle = [...contexts]
  const queue = [] // jobs waiting for a context
  let running = 0
  let closing = false
  let drained = null // resolves when nothing runs or waits

  const settleDrain = () => {
    if (closing && running === 0 && queue.length === 0 && drained) drained.resolve()
  }

  const pump = () => {
    while (idle.length && queue.length) {
      const job = queue.shift()
      const ctx = idle.shift()
      running++
      ctx
        .rankAll(job.query, job.texts, { signal: job.abort.signal, instruction: job.instruction })
        .then(job.resolve, job.reject)
        .finally(() => {
          running--
          idle.push(ctx)
          pump()
          settleDrain()
        })
    }
  }

  /** Scores on the first free context; rejects if the caller goes away first. */
  const schedule = (query, texts, instruction, abort) =>
    new Promise((resolve, reject) => {
      if (queue.length >= limits.maxQueue) {
        throw new HttpError(503, `the server is busy: ${queue.length} requests waiting`, 'unavailable_error')
      }
      const job = { query, texts, instruction, abort, resolve, reject }
      queue.push(job)
      abort.signal.addEventListener('abort', () => {
        const at = queue.indexOf(job)
        if (at >= 0) {
          queue.splice(at, 1)
          reject(abort.signal.reason)
          settleDrain()
        }
      }, { once: true })
      pump()
    })

  const usageOf = (query, texts) => {
    const ctx = contexts[0]
    let tokens = 0
    for (const text of texts) tokens += Math.min(ctx.calculateInputLength(query, text), ctx.contextSize)
    return { prompt_tokens: tokens, total_tokens: tokens }
  }

  async function rerank(req, res) {
    const body = await readBody(req, limits.maxBodyBytes)
    const request = parseRequest(body, limits)
    const abort = new AbortController()
    const onClose = () => {
      if (!res.writableFinished) abort.abort(new Error('the client went away'))
    }
    res.on('close', onClose)
    let scores = []
    if (request.texts.length > 0) {
      try {
        scores = await schedule(request.query, request.texts, request.instruction, abort)
      } catch (error) {
        if (abort.signal.aborted) return // nobody to answer
        throw error
      }
    }
    const order = scores.map((score, index) => ({ index, score }))
    order.sort((a, b) => b.score - a.score || a.index - b.index)
    const results = order.slice(0, request.topN).map(({ index, score }) =>
      request.returnDocuments
        ? { index, relevance_score: score, document: { text: request.texts[index] } }
        : { index, relevance_score: score },
    )
    sendJson(res, 200, {
      id: randomUUID(),
      object: 'list',
      model: request.model ?? modelName,
      results,
      usage: usageOf(request.query, request.texts),
    }, closing ? { connection: 'close' } : {})
  }

  async function handle(req, res) {
    const { pathname } = new URL(req.url, 'http://localhost')
    const close = closing ? { connection: 'close' } : {}
    if (pathname === '/health' || pathname === '/v1/health') {
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        throw new HttpError(405, `${req.method} is not allowed on ${pathname}; use GET`)
      }
      return closing
        ? sendJson(res, 503, { status: 'shutting down' }, close)
        : sendJson(res, 200, { status: 'ok' })
    }
    if (pathname === '/v1/models' || pathname === '/models') {
      return sendJson(res, 200, {
        object: 'list',
        data: [{ id: modelName, object: 'model', owned_by: 'llama-rerank' }],
      })
    }
    if (pathname === '/v1/rerank' || pathname === '/rerank' || pathname === '/v1/reranking' || pathname === '/v2/rerank') {
      if (req.method !== 'POST') {
        res.setHeader('allow', 'POST')
        throw new HttpError(405, `${req.method} is not allowed on ${pathname}; use POST`)
      }
      if (closing) throw new HttpError(503, 'the server is shutting down', 'unavailable_error')
      return await rerank(req, res)
    }
    throw new HttpError(404, `no route ${req.method} ${pathname}; POST /v1/rerank or GET /health`, 'not_found_error')
  }

  const server = http.createServer((req, res) => {
    handle(req, res).catch((error) => {
      if (error instanceof HttpError) {
        const headers = error.close || closing ? { connection: 'close' } : {}
        return sendError(res, error, headers)
      }
      const status = error?.code === 'ERR_DISPOSED' ? 503 : 500
      if (status === 500) log(`error: ${error?.code ?? ''} ${error?.message ?? error}`)
      sendError(res, new HttpError(status, error?.message ?? String(error)))
    })
  })
  server.requestTimeout = 0 // ranking can take long; client disconnects abort the work
  server.headersTimeout = 60_000

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
    /** Requests being scored and waiting. */
    get pending() {
      return running + queue.length
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
