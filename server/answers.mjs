// Errors and answers: an HttpError becomes llama-server's error body; every answer is written
// with a deadline for the client to take it.

export class HttpError extends Error {
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
export function endWithDeadline(res, body, sendTimeoutMs) {
  res.end(body)
  if (!sendTimeoutMs || res.writableFinished) return
  const timer = setTimeout(() => res.destroy(), sendTimeoutMs)
  timer.unref?.()
  const clear = () => clearTimeout(timer)
  res.once('finish', clear)
  res.once('close', clear)
}

export function send(res, status, contentType, text, headers, sendTimeoutMs) {
  if (res.headersSent || res.destroyed) return
  res.writeHead(status, {
    'content-type': contentType,
    'content-length': Buffer.byteLength(text),
    ...headers,
  })
  endWithDeadline(res, text, sendTimeoutMs)
}
