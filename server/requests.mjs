// Request bodies: read with a size and time limit, then parsed into one request shape: Cohere's
// v1 (also llama-server's and Jina's), Cohere's v2, or text-embeddings-inference's. Every field
// is honoured or refused with a 400 that names it.
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

/**
 * The fields each request shape takes. Cohere's v1 and v2 rerank requests as its API (and the
 * cohere-ai SDK) define them; llama-server's `texts`; Jina's request is Cohere v1's subset;
 * `instruction` is llama-rerank's own. Any other field is refused with a 400 that names it.
 */
export const REQUEST_FIELDS = Object.freeze({
  v1: Object.freeze([
    'model',
    'query',
    'documents',
    'texts',
    'top_n',
    'return_documents',
    'rank_fields',
    'max_chunks_per_doc',
    'instruction',
  ]),
  v2: Object.freeze(['model', 'query', 'documents', 'top_n', 'return_documents', 'max_tokens_per_doc', 'priority', 'instruction']),
  tei: Object.freeze(['query', 'texts', 'raw_scores', 'return_text', 'truncate', 'truncation_direction']),
})

function refuseUnknownFields(json, shape, pathname) {
  const allowed = REQUEST_FIELDS[shape]
  const unknown = Object.keys(json).filter((key) => !allowed.includes(key))
  if (unknown.length) {
    const named = unknown.map((key) => `"${key}"`).join(', ')
    throw new HttpError(
      400,
      `${unknown.length > 1 ? 'fields' : 'field'} ${named} not supported on POST ${pathname}, which takes ${allowed.join(', ')}`,
    )
  }
}

function optionalInteger(json, key, min, max = Number.MAX_SAFE_INTEGER) {
  const value = json[key]
  if (isAbsent(value)) return undefined
  if (!Number.isInteger(value) || value < min || value > max) {
    const range =
      max !== Number.MAX_SAFE_INTEGER ? `an integer from ${min} to ${max}` : min === 1 ? 'a positive integer' : `an integer >= ${min}`
    throw new HttpError(400, `"${key}" must be ${range}`)
  }
  return value
}

/** The text scored for a document: itself, its "text", or its `rank_fields` ("field: value" lines). */
function documentText(document, i, rankFields, field) {
  const object = typeof document === 'string' ? { text: document } : document
  if (object === null || typeof object !== 'object' || Array.isArray(object)) {
    throw new HttpError(400, `${field}[${i}] must be a string or an object with a "text" string`)
  }
  const fields = rankFields ?? ['text']
  for (const key of fields) {
    if (typeof object[key] !== 'string') {
      throw new HttpError(
        400,
        rankFields
          ? `${field}[${i}] has no string "${key}", which "rank_fields" names`
          : `${field}[${i}] must be a string or an object with a "text" string`,
      )
    }
  }
  return fields.length === 1 ? object[fields[0]] : fields.map((key) => `${key}: ${object[key]}`).join('\n')
}

/**
 * Cohere's v1 request (also llama-server's and Jina's): { query, documents | texts, top_n?,
 * return_documents?, rank_fields?, max_chunks_per_doc?, model?, instruction? }; Cohere's v2
 * request: { query, documents (strings), top_n?, max_tokens_per_doc?, priority?,
 * return_documents?, model?, instruction? }.
 */
function parseRerankRequest(json, limits, pathname) {
  const shape = pathname === '/v2/rerank' ? 'v2' : 'v1'
  refuseUnknownFields(json, shape, pathname)
  const { query, model, instruction } = json
  if (typeof query !== 'string') throw new HttpError(400, '"query" must be a string')
  if (!isAbsent(json.documents) && !isAbsent(json.texts)) {
    throw new HttpError(400, 'send the documents as "documents" or as "texts", not both')
  }
  const field = isAbsent(json.documents) && !isAbsent(json.texts) ? 'texts' : 'documents'
  const documents = json[field]
  if (!Array.isArray(documents)) {
    throw new HttpError(
      400,
      shape === 'v2'
        ? '"documents" must be an array of strings'
        : `"${field}" must be an array of strings${field === 'documents' ? ' or of objects with a "text" string' : ''}`,
    )
  }
  checkDocumentCount(documents.length, limits, field)
  let rankFields
  if (!isAbsent(json.rank_fields)) {
    rankFields = json.rank_fields
    if (!Array.isArray(rankFields) || rankFields.length === 0 || !rankFields.every((f) => typeof f === 'string' && f !== '')) {
      throw new HttpError(400, '"rank_fields" must be a non-empty array of field names')
    }
  }
  if (shape === 'v2') {
    documents.forEach((d, i) => {
      if (typeof d !== 'string')
        throw new HttpError(
          400,
          `documents[${i}] must be a string: Cohere's v2 API takes documents as strings (POST /v1/rerank takes objects with a "text")`,
        )
    })
  }
  const texts = documents.map((d, i) => documentText(d, i, rankFields, field))
  const topN = optionalInteger(json, 'top_n', 1)
  const maxChunks = optionalInteger(json, 'max_chunks_per_doc', 1)
  if (maxChunks !== undefined && maxChunks !== 1) {
    throw new HttpError(
      400,
      `"max_chunks_per_doc": ${maxChunks} is not supported: llama-rerank scores each document as one chunk, cut to the model's context (send 1, or leave it out)`,
    )
  }
  const maxTokensPerDoc = optionalInteger(json, 'max_tokens_per_doc', 1)
  const priority = optionalInteger(json, 'priority', 0, 999)
  const returnDocuments = optionalBoolean(json, 'return_documents')
  if (!isAbsent(model) && typeof model !== 'string') throw new HttpError(400, '"model" must be a string')
  if (!isAbsent(instruction) && typeof instruction !== 'string') throw new HttpError(400, '"instruction" must be a string')
  return {
    shape: 'rerank',
    apiVersion: shape === 'v2' ? '2' : '1',
    query,
    texts,
    documents,
    topN: topN ?? texts.length,
    returnDocuments: returnDocuments === true,
    maxTokensPerDoc,
    priority: priority ?? 0,
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
function parseTeiRequest(json, limits, pathname) {
  refuseUnknownFields(json, 'tei', `${pathname} (text-embeddings-inference's shape, for a body with "texts" and no "documents")`)
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

/**
 * A body with `texts` (and no `documents`) on /rerank is TEI's; /v2/rerank takes Cohere's v2
 * request; every other scoring route Cohere's v1 request (with llama-server's `texts`).
 */
export function parseRequest(body, limits, pathname) {
  const json = parseJsonObject(body)
  const tei = pathname === '/rerank' && !('documents' in json) && 'texts' in json
  return tei ? parseTeiRequest(json, limits, pathname) : parseRerankRequest(json, limits, pathname)
}
