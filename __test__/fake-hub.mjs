// A stand-in for the Hugging Face hub on 127.0.0.1, serving the committed fixtures.
//
// It answers the requests a hub client makes:
//   GET /api/models/{owner}/{repo}[/revision/{rev}]   the repository's file list
//   GET|HEAD /{owner}/{repo}/resolve/{rev}/{file}      302 to the file's storage URL, with
//                                                      X-Repo-Commit, X-Linked-Etag, X-Linked-Size
//   GET|HEAD /cdn/{sha256}                             the bytes, with Range support and an ETag
// and can cut a download mid-file, lie about a file's size or digest, or require a token.
import http from 'node:http'
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'

export const COMMIT = 'c0ffee0000000000000000000000000000000001'

/**
 * repos: { 'owner/name': { files: { 'file.gguf': Buffer }, private?: boolean } }
 * token: the token private repos require.
 */
export async function startFakeHub({ repos, token = 'hf_test_token' }) {
  const blobs = new Map() // sha256 -> Buffer
  const index = new Map() // 'owner/name' -> { files: Map(file -> { sha, size }), private }
  for (const [repo, spec] of Object.entries(repos)) {
    const files = new Map()
    for (const [name, content] of Object.entries(spec.files)) {
      const bytes = Buffer.isBuffer(content) ? content : readFileSync(content)
      const sha = createHash('sha256').update(bytes).digest('hex')
      blobs.set(sha, bytes)
      files.set(name, { sha, size: bytes.length })
    }
    index.set(repo, { files, private: !!spec.private })
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
    url: '',
    reset() {
      this.requests.length = 0
      this.bytesServed = 0
      this.cutAfter = null
      this.cutCount = 0
      this.lieAboutDigest = false
      this.lieAboutSize = 0
    },
    close: () => new Promise((resolve) => {
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
      res.writeHead(200, { 'content-type': 'application/json' })
      return res.end(JSON.stringify({
        id: m[1],
        modelId: m[1],
        sha: COMMIT,
        siblings: [{ rfilename: 'README.md' }, ...[...repo.files.keys()].map((rfilename) => ({ rfilename }))],
      }))
    }

    // resolve: a redirect to the storage URL, with the file's metadata.
    m = path.match(/^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/)
    if (m) {
      const repo = index.get(m[1])
      // Like the hub, an unknown repository is a 401 to a caller without a token.
      if (!repo) return fail(res, 401, 'RepoNotFound', 'Repository not found')
      if (repo.private && !authorized(req)) return fail(res, 401, 'GatedRepo', 'Access to this repository is restricted')
      const file = repo.files.get(m[3])
      if (!file) return fail(res, 404, 'EntryNotFound', `${m[3]} does not exist on "${m[2]}"`)
      const etag = hub.lieAboutDigest ? 'f'.repeat(64) : file.sha
      res.writeHead(302, {
        location: `${hub.url}/cdn/${file.sha}`,
        'x-repo-commit': COMMIT,
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
      const isDownload = body.length > 1
      if (isDownload && hub.cutAfter !== null && hub.cutCount > 0 && body.length > hub.cutAfter) {
        hub.cutCount -= 1
        const head = body.subarray(0, hub.cutAfter)
        hub.bytesServed += head.length
        // Send part of the body, then drop the connection.
        res.write(head, () => setTimeout(() => res.socket?.destroy(), 20))
        return
      }
      if (isDownload) hub.bytesServed += body.length
      return res.end(body)
    }

    fail(res, 404, 'NotFound', `no route for ${path}`)
  })

  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  hub.url = `http://127.0.0.1:${server.address().port}`
  return hub
}
