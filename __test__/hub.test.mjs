// hf: model URIs against a fake hub on 127.0.0.1 (fake-hub.mjs) that serves the fixtures:
// download into the Hugging Face cache layout, cache hits without a request, resume after a
// cut, integrity checks, errors with stable codes, offline mode, an AbortSignal and a stall
// timeout that stop a download, two processes downloading the same file, revisions.

import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, before, beforeEach, test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { COMMIT, startFakeHub } from './support/fake-hub.mjs'
import { shardName, splitGguf } from './support/gguf-split.mjs'
import { expected, fixture, lib, root, until } from './support/helpers.mjs'

const POOLED = 'qwen3-reranker-pooled.gguf'
const BERT = 'bert-reranker-pooler.gguf'
const pooledBytes = readFileSync(fixture(POOLED))
const pooledSha = createHash('sha256').update(pooledBytes).digest('hex')

let hub
let scratch
let cacheDir

const HF_VARS = [
  'HF_ENDPOINT',
  'HF_HOME',
  'HF_HUB_CACHE',
  'HUGGINGFACE_HUB_CACHE',
  'HF_TOKEN',
  'HUGGING_FACE_HUB_TOKEN',
  'HF_TOKEN_PATH',
  'HF_HUB_OFFLINE',
  'LLAMA_RERANK_HUB_TIMEOUT',
]
const COMMIT_V2 = 'c0ffee0000000000000000000000000000000002'
const bertBytes = readFileSync(fixture(BERT))
// The pooled Qwen3 fixture split in 3 (its head, cls.output.weight, is in the last shard).
const SPLIT = 3
const splitShards = splitGguf(pooledBytes, SPLIT)
const saved = Object.fromEntries(HF_VARS.map((k) => [k, process.env[k]]))

before(async () => {
  hub = await startFakeHub({
    repos: {
      'test-org/tiny-reranker-GGUF': {
        files: {
          [POOLED]: fixture(POOLED),
          'tiny-reranker-Q8_0.gguf': fixture(POOLED),
          'tiny-reranker-F16.gguf': fixture('qwen3-reranker-causal.gguf'),
          'mmproj-tiny-reranker-Q8_0.gguf': fixture('bert-embedding.gguf'),
        },
        // A tag whose Q8_0 file is another model.
        revisions: { v2: { commit: COMMIT_V2, files: { 'tiny-reranker-Q8_0.gguf': fixture(BERT) } } },
      },
      'test-org/gated-GGUF': { files: { [BERT]: fixture(BERT) }, private: true },
      'test-org/split-GGUF': {
        files: {
          ...Object.fromEntries(splitShards.map((bytes, i) => [shardName('tiny-Q8_0', i + 1, SPLIT), bytes])),
          'tiny-F16.gguf': fixture('qwen3-reranker-causal.gguf'),
        },
      },
    },
  })
  scratch = mkdtempSync(path.join(tmpdir(), 'llama-rerank-hub-'))
})

after(async () => {
  await hub.close()
  for (const [k, v] of Object.entries(saved)) {
    if (v === undefined) delete process.env[k]
    else process.env[k] = v
  }
  rmSync(scratch, { recursive: true, force: true })
})

let n = 0
beforeEach(() => {
  // A fresh, empty cache for every test unless it sets its own.
  for (const k of HF_VARS) delete process.env[k]
  cacheDir = path.join(scratch, `cache-${n++}`)
  process.env.HF_HUB_CACHE = cacheDir
  process.env.HF_ENDPOINT = hub.url
  process.env.HF_HOME = path.join(scratch, 'no-home') // no token file there
  hub.reset()
})

const uri = (file = POOLED, repo = 'test-org/tiny-reranker-GGUF') => `hf:${repo}/${file}`
const repoDir = (repo = 'test-org/tiny-reranker-GGUF') => path.join(cacheDir, `models--${repo.replace('/', '--')}`)
const fileDownloads = () => hub.requests.filter((r) => r.path.startsWith('/cdn/') && r.range !== 'bytes=0-0')

async function scoreOnce(modelPath) {
  const model = await lib.loadModel(modelPath)
  const ctx = await model.createRankingContext({ contextSize: expected[POOLED].nCtxTrain })
  const pair = expected[POOLED].pairs[0]
  const score = await ctx.rank(pair.query, pair.document)
  await model.dispose()
  assert.ok(Math.abs(score - pair.score) <= 1e-3, `score ${score} vs reference ${pair.score}`)
  return model
}

test('first load downloads into the Hugging Face cache layout', async () => {
  const model = await scoreOnce(uri())
  const snapshot = path.join(repoDir(), 'snapshots', COMMIT, POOLED)
  assert.equal(model.path, snapshot)
  assert.equal(readFileSync(path.join(repoDir(), 'refs', 'main'), 'utf8').trim(), COMMIT)
  assert.equal(readlinkSync(snapshot), path.join('..', '..', 'blobs', pooledSha))
  assert.ok(readFileSync(path.join(repoDir(), 'blobs', pooledSha)).equals(pooledBytes))
  assert.deepEqual(
    readdirSync(path.join(repoDir(), 'blobs')).filter((f) => f.endsWith('.part')),
    [],
  )
  // The resolve endpoint was asked, then the file came from the redirect target, once.
  assert.ok(hub.requests.some((r) => r.path === `/test-org/tiny-reranker-GGUF/resolve/main/${POOLED}`))
  assert.equal(fileDownloads().length, 1)
  assert.equal(hub.bytesServed, pooledBytes.length)
})

test('a cached model loads again without any request', async () => {
  await lib.resolveModel(uri())
  hub.reset()
  const model = await scoreOnce(uri())
  assert.equal(model.path, path.join(repoDir(), 'snapshots', COMMIT, POOLED))
  assert.deepEqual(hub.requests, [])
  // createRankingContext (and so the compat layer) takes the URI too.
  const ctx = await lib.createRankingContext(uri(), { contextSize: 256 })
  assert.ok((await ctx.rank('q', 'd')) >= 0)
  await ctx.dispose()
  assert.deepEqual(hub.requests, [])
})

test('a plain path never touches the network', async () => {
  await scoreOnce(fixture(POOLED))
  assert.deepEqual(hub.requests, [])
})

test('a connection cut mid-file resumes with a Range request', async () => {
  hub.cutAfter = 200_000
  hub.cutCount = 1
  const file = await lib.resolveModel(uri())
  assert.ok(readFileSync(file).equals(pooledBytes))
  const downloads = fileDownloads()
  assert.equal(downloads.length, 2, JSON.stringify(downloads))
  assert.equal(downloads[1].range, 'bytes=200000-')
  // Nothing was fetched twice.
  assert.equal(hub.bytesServed, pooledBytes.length)
})

test('a download cut in an earlier run resumes from its .part file', async () => {
  // Every attempt is cut: the call fails, keeping what it got.
  hub.cutAfter = 100_000
  hub.cutCount = Infinity
  await assert.rejects(lib.resolveModel(uri()), (err) => {
    assert.equal(err.code, 'ERR_HUB_DOWNLOAD')
    assert.match(err.message, /run again to resume/)
    return true
  })
  const part = path.join(repoDir(), 'blobs', `${pooledSha}.part`)
  const kept = statSync(part).size
  assert.ok(kept >= 200_000 && kept < pooledBytes.length, `kept ${kept}`)
  assert.ok(!existsSync(path.join(repoDir(), 'snapshots', COMMIT, POOLED)))

  // The next run (as a new process would) asks only for the rest.
  hub.reset()
  const file = await lib.resolveModel(uri())
  assert.ok(readFileSync(file).equals(pooledBytes))
  const downloads = fileDownloads()
  assert.equal(downloads.length, 1)
  assert.equal(downloads[0].range, `bytes=${kept}-`)
  assert.equal(hub.bytesServed, pooledBytes.length - kept)
  assert.ok(!existsSync(part))
})

test('a .part file left by a killed process is resumed', async () => {
  const blobs = path.join(repoDir(), 'blobs')
  mkdirSync(blobs, { recursive: true })
  writeFileSync(path.join(blobs, `${pooledSha}.part`), pooledBytes.subarray(0, 12345))
  const file = await lib.resolveModel(uri())
  assert.ok(readFileSync(file).equals(pooledBytes))
  assert.deepEqual(
    fileDownloads().map((r) => r.range),
    ['bytes=12345-'],
  )
})

test('a file that does not match the announced sha256 is refused and removed', async () => {
  hub.lieAboutDigest = true
  await assert.rejects(lib.loadModel(uri()), (err) => {
    assert.equal(err.code, 'ERR_HUB_INTEGRITY')
    assert.match(err.message, /sha256/)
    return true
  })
  assert.deepEqual(
    readdirSync(path.join(repoDir(), 'blobs')).filter((f) => !f.endsWith('.lock')),
    [],
  )
  assert.ok(!existsSync(path.join(repoDir(), 'snapshots', COMMIT, POOLED)))
})

test('a file shorter than the announced size is refused', async () => {
  hub.lieAboutSize = 10
  await assert.rejects(lib.resolveModel(uri()), (err) => {
    assert.ok(['ERR_HUB_INTEGRITY', 'ERR_HUB_DOWNLOAD'].includes(err.code), err.code)
    return true
  })
  assert.ok(!existsSync(path.join(repoDir(), 'snapshots', COMMIT, POOLED)))
})

test('a missing file or repository rejects with ERR_MODEL_NOT_FOUND', async () => {
  await assert.rejects(lib.loadModel(uri('nope.gguf')), (err) => {
    assert.equal(err.code, 'ERR_MODEL_NOT_FOUND')
    assert.match(err.message, /hf:test-org\/tiny-reranker-GGUF\/nope\.gguf/)
    assert.match(err.message, /404/)
    return true
  })
  await assert.rejects(lib.loadModel(uri(POOLED, 'test-org/missing')), (err) => {
    assert.equal(err.code, 'ERR_MODEL_NOT_FOUND')
    assert.match(err.message, /no such repository/)
    return true
  })
  await assert.rejects(lib.resolveModel('hf:test-org/tiny-reranker-GGUF:Q2_K'), (err) => {
    assert.equal(err.code, 'ERR_MODEL_NOT_FOUND')
    assert.match(err.message, /no \.gguf file matches the quant "Q2_K"/)
    assert.match(err.message, /tiny-reranker-Q8_0\.gguf/)
    return true
  })
})

test('a gated repository rejects with ERR_HUB_UNAUTHORIZED, and HF_TOKEN opens it', async () => {
  const gated = uri(BERT, 'test-org/gated-GGUF')
  await assert.rejects(lib.loadModel(gated), (err) => {
    assert.equal(err.code, 'ERR_HUB_UNAUTHORIZED')
    assert.match(err.message, /401/)
    assert.match(err.message, /HF_TOKEN/)
    return true
  })
  process.env.HF_TOKEN = 'wrong'
  await assert.rejects(lib.loadModel(gated), { code: 'ERR_HUB_UNAUTHORIZED' })
  process.env.HF_TOKEN = 'hf_test_token'
  hub.reset()
  const model = await lib.loadModel(gated)
  assert.equal(model.info.architecture, 'bert')
  await model.dispose()
  const toHub = hub.requests.filter((r) => !r.path.startsWith('/cdn/'))
  assert.ok(toHub.length > 0)
  for (const r of toHub) assert.equal(r.authorization, 'Bearer hf_test_token')
})

test('the token can come from $HF_HOME/token', async () => {
  const home = path.join(scratch, 'home-with-token')
  mkdirSync(home, { recursive: true })
  writeFileSync(path.join(home, 'token'), 'hf_test_token\n')
  process.env.HF_HOME = home
  delete process.env.HF_HUB_CACHE // so the cache is $HF_HOME/hub
  const file = await lib.resolveModel(uri(BERT, 'test-org/gated-GGUF'))
  assert.equal(file, path.join(home, 'hub', 'models--test-org--gated-GGUF', 'snapshots', COMMIT, BERT))
})

test('HF_HUB_OFFLINE=1 uses the cache only', async () => {
  process.env.HF_HUB_OFFLINE = '1'
  await assert.rejects(lib.loadModel(uri()), (err) => {
    assert.equal(err.code, 'ERR_HUB_OFFLINE')
    assert.match(err.message, /HF_HUB_OFFLINE/)
    return true
  })
  await assert.rejects(lib.resolveModel('hf:test-org/tiny-reranker-GGUF:Q8_0'), { code: 'ERR_HUB_OFFLINE' })
  assert.deepEqual(hub.requests, [])

  delete process.env.HF_HUB_OFFLINE
  await lib.resolveModel(uri())
  await lib.resolveModel('hf:test-org/tiny-reranker-GGUF:Q8_0')
  hub.reset()
  process.env.HF_HUB_OFFLINE = '1'
  await scoreOnce(uri())
  assert.equal(
    await lib.resolveModel('hf:test-org/tiny-reranker-GGUF:q8_0'),
    path.join(repoDir(), 'snapshots', COMMIT, 'tiny-reranker-Q8_0.gguf'),
  )
  assert.deepEqual(hub.requests, [])
  // The option does the same as the variable.
  delete process.env.HF_HUB_OFFLINE
  await assert.rejects(lib.resolveModel(uri(BERT, 'test-org/gated-GGUF'), { offline: true }), { code: 'ERR_HUB_OFFLINE' })
  assert.deepEqual(hub.requests, [])
})

test('a :quant picks the matching .gguf from the file list', async () => {
  const file = await lib.resolveModel('hf:test-org/tiny-reranker-GGUF:q8_0')
  assert.equal(file, path.join(repoDir(), 'snapshots', COMMIT, 'tiny-reranker-Q8_0.gguf'))
  assert.ok(hub.requests.some((r) => r.path === '/api/models/test-org/tiny-reranker-GGUF/revision/main'))
  const f16 = await lib.resolveModel('hf:test-org/tiny-reranker-GGUF:F16')
  assert.ok(readFileSync(f16).equals(readFileSync(fixture('qwen3-reranker-causal.gguf'))))
  // Once cached, a quant resolves without a request.
  hub.reset()
  await scoreOnce('hf:test-org/tiny-reranker-GGUF:Q8_0')
  assert.deepEqual(hub.requests, [])
})

test('a malformed URI rejects with ERR_INVALID_ARG_VALUE', async () => {
  for (const bad of ['hf:', 'hf:just-owner', 'hf:o/r/../x.gguf', 'hf:o/r:']) {
    await assert.rejects(lib.loadModel(bad), { code: 'ERR_INVALID_ARG_VALUE', name: 'TypeError' }, bad)
  }
  assert.deepEqual(hub.requests, [])
})

test('an unreachable hub rejects with ERR_HUB_DOWNLOAD', async () => {
  // A port that was just free: nothing listens there.
  const { createServer } = await import('node:net')
  const probe = createServer()
  await new Promise((resolve) => probe.listen(0, '127.0.0.1', resolve))
  const { port } = probe.address()
  await new Promise((resolve) => probe.close(resolve))
  process.env.HF_ENDPOINT = `http://127.0.0.1:${port}`
  await assert.rejects(lib.loadModel(uri()), (err) => {
    assert.equal(err.code, 'ERR_HUB_DOWNLOAD')
    assert.match(err.message, /cannot reach/)
    return true
  })
})

test('resolveModel returns a plain path unchanged', async () => {
  assert.equal(await lib.resolveModel('some/where/model.gguf'), 'some/where/model.gguf')
  assert.deepEqual(hub.requests, [])
})

const partOf = (sha = pooledSha) => path.join(repoDir(), 'blobs', `${sha}.part`)

test('an AbortSignal stops a download in flight: prompt rejection, the connection closed, the .part file resumable', async (t) => {
  // About 400 KB/s: the 555 KB file takes 1.4 s.
  hub.throttle = { chunk: 8192, everyMs: 20 }
  const controller = new AbortController()
  const loading = lib.loadModel(uri(), { signal: controller.signal })
  await until(() => hub.bytesServed >= 150_000, 'the download to start', 10_000)
  const t0 = performance.now()
  controller.abort()
  await assert.rejects(loading, (err) => {
    assert.equal(err.code, 'ABORT_ERR')
    assert.equal(err.name, 'AbortError')
    return true
  })
  const latency = performance.now() - t0
  const servedAtRejection = hub.bytesServed
  t.diagnostic(`abort latency during a download: ${latency.toFixed(1)} ms`)
  assert.ok(latency < 250, `rejected ${latency.toFixed(1)} ms after the abort`)
  // The download thread closed its connection: nothing more is sent.
  await until(() => hub.openDownloads === 0, 'the connection to close', 1000)
  await sleep(300)
  t.diagnostic(`bytes sent after the rejection: ${hub.bytesServed - servedAtRejection}`)
  assert.ok(hub.bytesServed - servedAtRejection <= 8192, `${hub.bytesServed - servedAtRejection} bytes after the rejection`)
  const kept = statSync(partOf()).size
  assert.ok(kept >= 100_000 && kept < pooledBytes.length, `kept ${kept}`)
  assert.ok(!existsSync(path.join(repoDir(), 'snapshots', COMMIT, POOLED)))

  // The next call resumes where the aborted one stopped.
  hub.reset()
  const file = await lib.resolveModel(uri())
  assert.ok(readFileSync(file).equals(pooledBytes))
  assert.deepEqual(
    fileDownloads().map((r) => r.range),
    [`bytes=${kept}-`],
  )

  // On a stalled connection the call rejects as promptly; the thread blocked in its read
  // closes the connection at the read timeout (LLAMA_RERANK_HUB_TIMEOUT), having written nothing.
  rmSync(repoDir(), { recursive: true })
  process.env.LLAMA_RERANK_HUB_TIMEOUT = '1'
  hub.reset()
  hub.stallAfter = 50_000
  const stalled = new AbortController()
  const stalling = lib.resolveModel(uri(), { signal: stalled.signal })
  await until(() => hub.bytesServed >= 50_000, 'the download to stall', 10_000)
  await sleep(100)
  const t1 = performance.now()
  stalled.abort()
  await assert.rejects(stalling, { code: 'ABORT_ERR' })
  const stalledLatency = performance.now() - t1
  t.diagnostic(`abort latency on a stalled connection: ${stalledLatency.toFixed(1)} ms`)
  assert.ok(stalledLatency < 250, `rejected ${stalledLatency.toFixed(1)} ms after the abort`)
  await until(() => hub.openDownloads === 0, 'the stalled connection to close', 2000)
  assert.equal(statSync(partOf()).size, 50_000)
  delete process.env.LLAMA_RERANK_HUB_TIMEOUT

  // An already aborted signal rejects without a request; resolveModel takes a signal too.
  hub.reset()
  await assert.rejects(lib.loadModel(uri(BERT, 'test-org/gated-GGUF'), { signal: AbortSignal.abort() }), { code: 'ABORT_ERR' })
  await assert.rejects(lib.resolveModel(uri('tiny-reranker-F16.gguf'), { signal: AbortSignal.abort() }), { code: 'ABORT_ERR' })
  assert.deepEqual(hub.requests, [])
})

test('a stalled download times out with ERR_HUB_TIMEOUT after LLAMA_RERANK_HUB_TIMEOUT seconds, and resumes later', async (t) => {
  process.env.LLAMA_RERANK_HUB_TIMEOUT = '1'
  hub.stallAfter = 150_000
  const t0 = performance.now()
  await assert.rejects(lib.resolveModel(uri()), (err) => {
    assert.equal(err.code, 'ERR_HUB_TIMEOUT')
    assert.match(err.message, /no progress for 1 s/)
    assert.match(err.message, /LLAMA_RERANK_HUB_TIMEOUT/)
    return true
  })
  const elapsed = performance.now() - t0
  t.diagnostic(`a 1 s timeout rejected after ${elapsed.toFixed(0)} ms`)
  assert.ok(elapsed >= 950 && elapsed < 2500, `${elapsed} ms`)
  await until(() => hub.openDownloads === 0, 'the stalled connection to close', 2000)
  assert.equal(statSync(partOf()).size, 150_000)

  hub.reset()
  const file = await lib.resolveModel(uri())
  assert.ok(readFileSync(file).equals(pooledBytes))
  assert.deepEqual(
    fileDownloads().map((r) => r.range),
    ['bytes=150000-'],
  )

  process.env.LLAMA_RERANK_HUB_TIMEOUT = 'soon'
  await assert.rejects(lib.resolveModel(uri('tiny-reranker-F16.gguf')), (err) => {
    assert.equal(err.code, 'ERR_INVALID_ARG_VALUE')
    assert.match(err.message, /LLAMA_RERANK_HUB_TIMEOUT/)
    return true
  })
})

/** Runs resolveModel(model) in a child process; resolves to { code, out }. */
function resolveInChild(model, env = {}) {
  const script = `
    const { resolveModel } = require(${JSON.stringify(path.join(root, 'index.js'))})
    const t0 = Date.now()
    resolveModel(${JSON.stringify(model)}).then(
      (file) => console.log(JSON.stringify({ file, ms: Date.now() - t0 })),
      (err) => console.log(JSON.stringify({ error: err.code, message: err.message, ms: Date.now() - t0 })),
    )`
  const child = spawn(process.execPath, ['-e', script], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  let out = ''
  child.stdout.on('data', (d) => {
    out += d
  })
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, out: JSON.parse(out || '{}') })))
}

test('a second process waits for the first one downloading the same file, then uses it', async (t) => {
  // About 90 KB/s: the download takes over 6 s, longer than hf-hub's 5 s lock wait.
  hub.throttle = { chunk: 4096, everyMs: 45 }
  const [a, b] = await Promise.all([resolveInChild(uri()), resolveInChild(uri())])
  t.diagnostic(`child processes: ${JSON.stringify([a.out, b.out])}`)
  for (const child of [a, b]) {
    assert.equal(child.code, 0)
    assert.equal(child.out.file, path.join(repoDir(), 'snapshots', COMMIT, POOLED), JSON.stringify(child.out))
  }
  assert.ok(Math.max(a.out.ms, b.out.ms) > 5000, 'the download was meant to outlast 5 s')
  // One download, whole, served once.
  assert.equal(fileDownloads().length, 1)
  assert.equal(hub.bytesServed, pooledBytes.length)
  assert.ok(readFileSync(a.out.file).equals(pooledBytes))
})

test('a process waiting for a download that stalls gives up after its timeout', async () => {
  hub.stallAfter = 100_000
  const first = resolveInChild(uri(), { LLAMA_RERANK_HUB_TIMEOUT: '3' })
  await until(() => hub.openDownloads === 1 && hub.bytesServed >= 100_000, 'the first download to stall', 10_000)
  const second = await resolveInChild(uri(), { LLAMA_RERANK_HUB_TIMEOUT: '1' })
  assert.equal(second.out.error, 'ERR_HUB_TIMEOUT', JSON.stringify(second.out))
  assert.ok(second.out.ms < 2500, `${second.out.ms} ms`)
  assert.equal((await first).out.error, 'ERR_HUB_TIMEOUT')
})

test('@revision goes into the requests and the cache refs/snapshots layout', async () => {
  const v2 = await lib.resolveModel('hf:test-org/tiny-reranker-GGUF@v2/tiny-reranker-Q8_0.gguf')
  assert.equal(v2, path.join(repoDir(), 'snapshots', COMMIT_V2, 'tiny-reranker-Q8_0.gguf'))
  assert.ok(readFileSync(v2).equals(bertBytes))
  assert.equal(readFileSync(path.join(repoDir(), 'refs', 'v2'), 'utf8'), COMMIT_V2)
  assert.ok(hub.requests.some((r) => r.path === '/test-org/tiny-reranker-GGUF/resolve/v2/tiny-reranker-Q8_0.gguf'))
  assert.ok(!existsSync(path.join(repoDir(), 'refs', 'main')))

  // main's file of the same name is another one, in its own snapshot.
  const main = await lib.resolveModel('hf:test-org/tiny-reranker-GGUF:Q8_0')
  assert.equal(main, path.join(repoDir(), 'snapshots', COMMIT, 'tiny-reranker-Q8_0.gguf'))
  assert.ok(readFileSync(main).equals(pooledBytes))

  // The quant and bare forms take a revision too; cached, they make no request.
  hub.reset()
  assert.equal(await lib.resolveModel('hf:test-org/tiny-reranker-GGUF@v2:q8_0'), v2)
  assert.equal(await lib.resolveModel('hf:test-org/tiny-reranker-GGUF@v2'), v2)
  assert.deepEqual(hub.requests, [])
  const model = await lib.loadModel('hf:test-org/tiny-reranker-GGUF@v2:Q8_0')
  assert.equal(model.info.architecture, 'bert')
  await model.dispose()

  // A commit hash names its snapshot directly: no refs/<commit> file.
  rmSync(repoDir(), { recursive: true })
  const byCommit = await lib.resolveModel(`hf:test-org/tiny-reranker-GGUF@${COMMIT_V2}:Q8_0`)
  assert.equal(byCommit, v2)
  assert.ok(hub.requests.some((r) => r.path === `/api/models/test-org/tiny-reranker-GGUF/revision/${COMMIT_V2}`))
  assert.ok(!existsSync(path.join(repoDir(), 'refs')))
  hub.reset()
  process.env.HF_HUB_OFFLINE = '1'
  assert.equal(await lib.resolveModel(`hf:test-org/tiny-reranker-GGUF@${COMMIT_V2}/tiny-reranker-Q8_0.gguf`), v2)
  await assert.rejects(lib.resolveModel('hf:test-org/tiny-reranker-GGUF@v2:Q8_0'), { code: 'ERR_HUB_OFFLINE' })
  assert.deepEqual(hub.requests, [])
  delete process.env.HF_HUB_OFFLINE

  await assert.rejects(lib.resolveModel('hf:test-org/tiny-reranker-GGUF@nope:Q8_0'), (err) => {
    assert.equal(err.code, 'ERR_MODEL_NOT_FOUND')
    assert.match(err.message, /no such revision/)
    return true
  })
})

async function scoresOf(modelPath) {
  const model = await lib.loadModel(modelPath)
  const ctx = await model.createRankingContext({ contextSize: expected[POOLED].nCtxTrain })
  const pairs = expected[POOLED].pairs
  const scores = await ctx.rankAll(
    pairs[0].query,
    pairs.filter((p) => p.query === pairs[0].query).map((p) => p.document),
  )
  const info = model.info
  await model.dispose()
  return { scores, info }
}

test('a split GGUF loads from its first shard and scores exactly as the whole file', async () => {
  const dir = path.join(scratch, 'split-local')
  mkdirSync(dir, { recursive: true })
  splitShards.forEach((bytes, i) => writeFileSync(path.join(dir, shardName('tiny-Q8_0', i + 1, SPLIT)), bytes))
  const whole = await scoresOf(fixture(POOLED))
  const split = await scoresOf(path.join(dir, shardName('tiny-Q8_0', 1, SPLIT)))
  assert.deepEqual(split.scores, whole.scores)
  assert.deepEqual(split.info, whole.info)
  // A later shard or a missing one is refused with a clear message.
  await assert.rejects(lib.loadModel(path.join(dir, shardName('tiny-Q8_0', 2, SPLIT))), /shard 2 of 3 of a split GGUF; load the first one/)
  rmSync(path.join(dir, shardName('tiny-Q8_0', 3, SPLIT)))
  await assert.rejects(lib.loadModel(path.join(dir, shardName('tiny-Q8_0', 1, SPLIT))), /shard 3 of 3 of the split GGUF/)
  assert.deepEqual(hub.requests, [])
})

test('a split GGUF on the hub: every shard into the snapshot, the first one returned', async () => {
  const snapshot = path.join(repoDir('test-org/split-GGUF'), 'snapshots', COMMIT)
  const first = path.join(snapshot, shardName('tiny-Q8_0', 1, SPLIT))
  // A quant that names a split set.
  assert.equal(await lib.resolveModel('hf:test-org/split-GGUF:Q8_0'), first)
  for (let i = 1; i <= SPLIT; i++) {
    assert.ok(readFileSync(path.join(snapshot, shardName('tiny-Q8_0', i, SPLIT))).equals(splitShards[i - 1]))
  }
  assert.equal(fileDownloads().length, SPLIT)
  // Any shard names the set; cached, without a request.
  hub.reset()
  assert.equal(await lib.resolveModel(`hf:test-org/split-GGUF/${shardName('tiny-Q8_0', 2, SPLIT)}`), first)
  const viaHub = await scoresOf('hf:test-org/split-GGUF:q8_0')
  assert.deepEqual(viaHub.scores, (await scoresOf(fixture(POOLED))).scores)
  assert.deepEqual(hub.requests, [])
  // A shard missing from the cache is fetched alone.
  rmSync(path.join(snapshot, shardName('tiny-Q8_0', 3, SPLIT)))
  assert.equal(await lib.resolveModel(`hf:test-org/split-GGUF/${shardName('tiny-Q8_0', 1, SPLIT)}`), first)
  assert.deepEqual(
    hub.requests.filter((r) => r.path.includes('/resolve/')).map((r) => path.basename(r.path)),
    [shardName('tiny-Q8_0', 3, SPLIT)],
  )
  assert.equal(fileDownloads().length, 0) // its blob was still there
})
