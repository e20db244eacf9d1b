// A stand-in for the Hugging Face hub on 127.0.0.1, serving the committed fixtures.
//
// It answers the requests a hub client makes:
//   GET /api/models/{owner}/{repo}[/revision/{rev}]   the repository's file list
//   GET|HEAD /{owner}/{repo}/resolve/{rev}/{file}      302 to the file's storage URL, with
//                                                      X-Repo-Commit, X-Linked-Etag, X-Linked-Size
//   GET|HEAD /cdn/{sha256}                             the bytes, with Range support and an ETag
// and can cut a download mid-file, stall it, send it slowly, lie about a file's size or
// digest, require a token, and serve other revisions than main.

import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import http from 'node:http'

export const COMMIT = 'c0ffee0000000000000000000000000000000001'

/**
 * repos: { 'owner/name': { files: { 'file.gguf': Buffer | path }, private?: boolean,
 *          revisions?: { 'v2': { commit: '<40 hex>', files: { ... } } } } }
 * `files` are the main branch's, at COMMIT; a revision is found by its name or its commit.
 * token: the token private repos require.
 */
export async function startFakeHub({ repos, token = 'hf_test_token' }) {
  const blobs = new Map() // sha256 -> Buffer
  const index = new Map() // 'owner/name' -> { revisions: Map(rev -> { commit, files: Map(file -> { sha, size }) }), private }
  const load = (spec) => {
    const files = new Map()
    for (const [name, content] of Object.entries(spec)) {
      const bytes = Buffer.isBuffer(content) ? content : readFileSync(content)
      const sha = createHash('sha256').update(bytes).digest('hex')
      blobs.set(sha, bytes)
      files.set(name, { sha, size: bytes.length })
    }
    return files
  }
  for (const [repo, spec] of Object.entries(repos)) {
    const revisions = new Map([['main', { commit: COMMIT, files: load(spec.files) }]])
    for (const [name, rev] of Object.entries(spec.revisions ?? {})) {
      revisions.set(name, { commit: rev.commit, files: load(rev.files) })
    }
    for (const rev of [...revisions.values()]) revisions.set(rev.commit, rev)
    index.set(repo, { revisions, private: !!spec.private })
  }

  const hub = {
    /** Every request: { method, path, range, authorization }. */
    requests: [],
    /** Bytes of file content sent, not counting 1-byte metadata probes. */
    bytesServed: 0,
    /** Cut the connection after this many body bytes of a file download (null: never). */
    cutAfter: null,
    /** How many more downloads to cut (Infinity: all). */
    cutCount: 0,
    /** Announce a wrong sha256 (X-Linked-Etag) for every file. */
    lieAboutDigest: false,
    /** Announce a size this many bytes larger than the file. */
    lieAboutSize: 0,
    /** Stop sending after this many body bytes of every file download, keeping the connection open (null: never). */
    stallAfter: null,
    /** Send file bodies in pieces of `chunk` bytes, one every `everyMs` ms (null: at once). */
    throttle: null,
    /** File downloads whose connection is still open. */
    openDownloads: 0,
    url: '',
    reset() {
      this.requests.length = 0
      this.bytesServed = 0
      this.cutAfter = null
      this.cutCount = 0
      this.lieAboutDigest = false
      this.lieAboutSize = 0
      this.stallAfter = null
      this.throttle = null
    },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections()
        server.close(resolve)
      }),
  }

  const authorized = (req) => req.headers.authorization === `Bearer ${token}`

  const fail = (res, status, code, message) => {
    res.writeHead(status, {
      'content-type': 'application/json',
      'x-error-code': code,
      'x-error-message': message,
    })
    res.end(JSON.stringify({ error: message }))
  }

  // Sends a file body piece by piece, cut, stalled or throttled as the knobs say.
  const stream = (res, body) => {
    const cut = hub.cutAfter !== null && hub.cutCount > 0 && body.length > hub.cutAfter
    if (cut) hub.cutCount -= 1
    const stallAfter = hub.stallAfter
    const throttle = hub.throttle
    const chunk = throttle?.chunk ?? 1 << 16
    let sent = 0
    let closed = false
    let timer = null
    hub.openDownloads += 1
    res.on('close', () => {
      closed = true
      clearTimeout(timer)
      hub.openDownloads -= 1
    })
    const step = () => {
      if (closed) return
      if (sent >= body.length) return res.end()
      if (cut && sent >= hub.cutAfter) {
        // Drop the connection.
        timer = setTimeout(() => res.socket?.destroy(), 20)
        return
      }
      if (stallAfter !== null && sent >= stallAfter) return // keep the connection, send nothing
      let n = Math.min(chunk, body.length - sent)
      if (cut) n = Math.min(n, hub.cutAfter - sent)
      if (stallAfter !== null) n = Math.min(n, stallAfter - sent)
      const piece = body.subarray(sent, sent + n)
      sent += n
      hub.bytesServed += n
      res.write(piece, () => {
        if (throttle) timer = setTimeout(step, throttle.everyMs)
        else setImmediate(step)
      })
    }
    step()
  }

  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://x')
    const path = decodeURIComponent(url.pathname)
    hub.requests.push({
      method: req.method,
      path,
      range: req.headers.range ?? null,
      authorization: req.headers.authorization ?? null,
    })

    // The repository API.
    let m = path.match(/^\/api\/models\/([^/]+\/[^/]+?)(?:\/revision\/([^/]+))?$/)
    if (m) {
      const repo = index.get(m[1])
      if (!repo) return fail(res, 401, 'RepoNotFound', 'Repository not found')
      if (repo.private && !authorized(req)) return fail(res, 401, 'GatedRepo', 'Access to this repository is restricted')
      const rev = repo.revisions.get(m[2] ?? 'main')
      if (!rev) return fail(res, 404, 'RevisionNotFound', `Invalid rev id: ${m[2]}`)
      res.writeHead(200, { 'content-type': 'application/json' })
      return res.end(
        JSON.stringify({
          id: m[1],
          modelId: m[1],
          sha: rev.commit,
          siblings: [{ rfilename: 'README.md' }, ...[...rev.files.keys()].map((rfilename) => ({ rfilename }))],
        }),
      )
    }

    // resolve: a redirect to the storage URL, with the file's metadata.
    m = path.match(/^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/)
    if (m) {
      const repo = index.get(m[1])
      // Like the hub, an unknown repository is a 401 to a caller without a token.
      if (!repo) return fail(res, 401, 'RepoNotFound', 'Repository not found')
      if (repo.private && !authorized(req)) return fail(res, 401, 'GatedRepo', 'Access to this repository is restricted')
      const rev = repo.revisions.get(m[2])
      if (!rev) return fail(res, 404, 'RevisionNotFound', `Invalid rev id: ${m[2]}`)
      const file = rev.files.get(m[3])
      if (!file) return fail(res, 404, 'EntryNotFound', `${m[3]} does not exist on "${m[2]}"`)
      const etag = hub.lieAboutDigest ? 'f'.repeat(64) : file.sha
      res.writeHead(302, {
        location: `${hub.url}/cdn/${file.sha}`,
        'x-repo-commit': rev.commit,
        'x-linked-etag': `"${etag}"`,
        'x-linked-size': String(file.size + hub.lieAboutSize),
        etag: `"${etag}"`,
        'content-length': '0',
      })
      return res.end()
    }

    // Storage: the bytes, with Range.
    m = path.match(/^\/cdn\/([0-9a-f]{64})$/)
    if (m && blobs.has(m[1])) {
      const bytes = blobs.get(m[1])
      const total = bytes.length + hub.lieAboutSize
      let start = 0
      let end = bytes.length - 1
      let partial = false
      const range = req.headers.range?.match(/^bytes=(\d+)-(\d*)$/)
      if (range) {
        start = Number(range[1])
        end = range[2] ? Math.min(Number(range[2]), bytes.length - 1) : bytes.length - 1
        partial = true
        if (start >= bytes.length) {
          res.writeHead(416, { 'content-range': `bytes */${total}` })
          return res.end()
        }
      }
      const body = bytes.subarray(start, end + 1)
      res.writeHead(partial ? 206 : 200, {
        'content-type': 'application/octet-stream',
        'content-length': String(body.length),
        'accept-ranges': 'bytes',
        etag: `"${m[1]}"`,
        ...(partial ? { 'content-range': `bytes ${start}-${end}/${total}` } : {}),
      })
      if (req.method === 'HEAD') return res.end()
      if (body.length <= 1) return res.end(body) // a metadata probe
      return stream(res, body)
    }

    fail(res, 404, 'NotFound', `no route for ${path}`)
  })

  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  hub.url = `http://127.0.0.1:${server.address().port}`
  return hub
}
