// Authentication: bearer keys checked in constant time, key files, and which bind addresses are
// loopback (where the CLI lets the server run without a key).

import { createHash, timingSafeEqual } from 'node:crypto'
import net from 'node:net'
import { HttpError } from './answers.mjs'

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
  const h = String(host)
    .trim()
    .toLowerCase()
    .replace(/^\[(.*)\]$/, '$1')
    .replace(/\.$/, '')
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
export function createAuthenticator(apiKeys) {
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
