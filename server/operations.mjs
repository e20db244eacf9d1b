// Operations conventions: request ids, CORS and the access log's entries.

import { randomUUID } from 'node:crypto'

/** A request id a client may choose: printable ASCII (spaces inside), 1 to 128 characters. */
const SANE_REQUEST_ID = /^[\x21-\x7e](?:[\x20-\x7e]{0,126}[\x21-\x7e])?$/

/** The request's `X-Request-Id` if it is sane, else a new UUID. */
export function requestIdOf(req) {
  const given = req.headers['x-request-id']
  return typeof given === 'string' && SANE_REQUEST_ID.test(given) ? given : randomUUID()
}

/** Headers a browser may send cross-origin: ours, and what Cohere's and TEI's clients send. */
export const CORS_ALLOWED_HEADERS = [
  'Authorization',
  'Content-Type',
  'Accept',
  'X-Request-Id',
  'X-Client-Name',
  'X-Fern-Language',
  'X-Fern-Runtime',
  'X-Fern-Runtime-Version',
  'X-Fern-SDK-Name',
  'X-Fern-SDK-Version',
]
/** Response headers a browser's script may read beyond the safelisted ones. */
export const CORS_EXPOSED_HEADERS = ['X-Request-Id', 'Retry-After', 'WWW-Authenticate']

/**
 * The CORS policy of `origins`: undefined, `[]` or `false` turn CORS off (no CORS header at
 * all); `'*'` (or `['*']`) allows every origin; otherwise a list (or comma-separated string) of
 * exact origins. An allowed origin is echoed back in Access-Control-Allow-Origin.
 */
export function createCors(origins) {
  const list = (typeof origins === 'string' ? origins.split(',') : (origins ?? []))
    .map((o) => (typeof o === 'string' ? o.trim() : o))
    .filter(Boolean)
  for (const o of list) if (typeof o !== 'string') throw new TypeError('cors must be "*" or a list of origins (strings)')
  const any = list.includes('*')
  const allowed = new Set(list)
  return {
    enabled: list.length > 0,
    origins: any ? ['*'] : list,
    /** The Access-Control-Allow-Origin for a request's Origin header, or undefined. */
    allow(origin) {
      if (typeof origin !== 'string' || origin === '') return undefined
      return any || allowed.has(origin) ? origin : undefined
    },
  }
}

/** `level` of an access log entry by status. */
export const levelOf = (status) => (status >= 500 ? 'error' : status >= 400 ? 'warn' : 'info')
