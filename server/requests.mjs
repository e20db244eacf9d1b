// Request bodies: read with a size and time limit, then parsed into one request shape, the
// /v1/rerank one (llama-server, Jina, Cohere) or text-embeddings-inference's.
import { HttpError } from './answers.mjs'

/**
 * Reads the body up to `limit` bytes within `timeoutMs`; beyond the size, drains it and rejects
 * with 413; past the deadline, rejects with 408 and closes the connection, so a client that
 * trickles its body (or stalls) holds neither memory nor a connection for long.
 */
export function readBody(req, limit, timeoutMs) {
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
    const hint =
      Array.isArray(json.texts) && pathname !== '/rerank'
        ? " (text-embeddings-inference's { query, texts } shape is served on POST /rerank)"
        : ''
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
export function parseRequest(body, limits, pathname) {
  const json = parseJsonObject(body)
  const tei = pathname === '/rerank' && !('documents' in json) && 'texts' in json
  return tei ? parseTeiRequest(json, limits) : parseRerankRequest(json, limits, pathname)
}
