// hf: model URIs against a fake hub on 127.0.0.1 (fake-hub.mjs) that serves the fixtures:
// download into the Hugging Face cache layout, cache hits without a request, resume after a
// cut, integrity checks, errors with stable codes, offline mode.
import { test, before, after, beforeEach } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import {
  mkdtempSync, readFileSync, writeFileSync, mkdirSync, existsSync, readlinkSync, readdirSync, statSync, rmSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { lib, fixture, expected } from './helpers.mjs'
import { startFakeHub, COMMIT } from './fake-hub.mjs'

const POOLED = 'qwen3-reranker-pooled.gguf'
const BERT = 'bert-reranker-pooler.gguf'
const pooledBytes = readFileSync(fixture(POOLED))
const pooledSha = createHash('sha256').update(pooledBytes).digest('hex')

let hub
let scratch
let cacheDir

const HF_VARS = ['HF_ENDPOINT', 'HF_HOME', 'HF_HUB_CACHE', 'HUGGINGFACE_HUB_CACHE', 'HF_TOKEN', 'HUGGING_FACE_HUB_TOKEN', 'HF_TOKEN_PATH', 'HF_HUB_OFFLINE']
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
      },
      'test-org/gated-GGUF': { files: { [BERT]: fixture(BERT) }, private: true },
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
  assert.deepEqual(readdirSync(path.join(repoDir(), 'blobs')).filter((f) => f.endsWith('.part')), [])
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
  assert.deepEqual(fileDownloads().map((r) => r.range), ['bytes=12345-'])
})

test('a file that does not match the announced sha256 is refused and removed', async () => {
  hub.lieAboutDigest = true
  await assert.rejects(lib.loadModel(uri()), (err) => {
    assert.equal(err.code, 'ERR_HUB_INTEGRITY')
    assert.match(err.message, /sha256/)
    return true
  })
  assert.deepEqual(readdirSync(path.join(repoDir(), 'blobs')).filter((f) => !f.endsWith('.lock')), [])
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
