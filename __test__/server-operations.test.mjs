// Operations conventions of `llama-rerank serve` and startServer: every option from its
// environment variable (driven by the one table of options, server/options.mjs), the command
// line over the environment, serve's own help, the docs' table, request ids, the JSON access
// log, CORS, and TEI's /info.

import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { availableParallelism, tmpdir } from 'node:os'
import path from 'node:path'
import { after, before, describe, test } from 'node:test'
import Ajv from 'ajv'
import { lintKubernetes } from '../scripts/lint_deploy.mjs'
import { startServer } from '../server/index.mjs'
import { openApiDocument } from '../server/openapi.mjs'
import { SERVE_OPTIONS, serveOptionsMarkdown } from '../server/options.mjs'
import { CLI, cleanEnv, occupy, run } from './support/cli-helpers.mjs'
import { fixture, lib, root, until } from './support/helpers.mjs'
import { freePort } from './support/loopback.mjs'

const MODEL = fixture('bert-reranker-pooler.gguf')
const QUERY = 'What is the capital of France?'
const DOCUMENTS = ['Paris is the capital of France.', 'The mitochondria is the powerhouse of the cell.']
const JSON_HEADERS = { 'content-type': 'application/json' }

/**
 * Starts `llama-rerank serve` with `args` and `env` only (no --port added, unlike the helper's
 * `serve`): { url, stderr(), stop() } once it says it is serving.
 */
function start(args, env) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, 'serve', ...args], { env: cleanEnv(env), stdio: ['ignore', 'ignore', 'pipe'] })
    let stderr = ''
    const exited = new Promise((r) => child.on('close', (code) => r({ code })))
    const killer = setTimeout(() => child.kill('SIGKILL'), 5 * 60_000)
    killer.unref()
    exited.then(({ code }) => {
      clearTimeout(killer)
      reject(new Error(`the server exited with ${code} before listening\n${stderr}`))
    })
    child.stderr.setEncoding('utf8').on('data', (d) => {
      stderr += d
      const m = stderr.match(/ on (http:\/\/[^\s]+) with/)
      const stop = () => {
        child.kill('SIGTERM')
        return exited
      }
      if (m) resolve({ url: m[1], stderr: () => stderr, stop })
    })
  })
}

/** The server's `settings:` line: the object it runs with, as it printed it. */
const settingsOf = (stderr) => JSON.parse(/^llama-rerank: settings: (.*)$/m.exec(stderr)[1])
/** The JSON access log lines among the server's stderr. */
const accessLines = (stderr) =>
  stderr
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l))

const rerank = (url, body, headers = {}) =>
  fetch(`${url}/v1/rerank`, { method: 'POST', headers: { ...JSON_HEADERS, ...headers }, body: JSON.stringify(body) })

describe('serve: every option from its environment variable', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'llama-rerank-ops-'))
  after(() => rmSync(dir, { recursive: true, force: true }))
  const keyFiles = ['a', 'b'].map((n) => {
    const file = path.join(dir, `keys-${n}`)
    writeFileSync(file, `# keys ${n}\nfile-key-${n}\n`)
    return file
  })
  const auth = { authorization: 'Bearer env-key' }
  // Not the default (cores / contexts) on any machine.
  const threads = Math.max(1, Math.floor(availableParallelism() / 2)) + 1
  let port
  let server
  let info

  /**
   * One value and one check for each option of the table: the test fails if an option has no
   * case, or if its variable is not honoured. The checks read what the server runs with: /info
   * (its limits, contexts and model), the answers, the access log, or its settings line.
   */
  const CASES = {
    model: { value: MODEL, check: () => assert.equal(info.model, 'bert-reranker-pooler.gguf') },
    host: { value: '127.0.0.2', check: () => assert.equal(new URL(server.url).hostname, '127.0.0.2') },
    port: { value: () => String(port), check: () => assert.equal(new URL(server.url).port, String(port)) },
    contexts: { value: '2', check: () => assert.equal(info.contexts.count, 2) },
    'context-size': { value: '256', check: () => assert.equal(info.max_input_length, 256) },
    threads: { value: () => String(threads), check: () => assert.equal(settingsOf(server.stderr()).threads, threads) },
    'kv-cache-type': { value: 'f32', check: () => assert.equal(info.contexts.kvCacheType, 'f32') },
    'gpu-layers': {
      value: '5',
      check: () => {
        assert.equal(settingsOf(server.stderr()).gpuLayers, 5)
        assert.equal(info.backend.gpuLayers, 0, 'a CPU build keeps every layer on the CPU')
      },
    },
    'api-key': {
      value: 'env-key',
      check: async () => {
        assert.equal((await rerank(server.url, { query: QUERY, documents: DOCUMENTS }, auth)).status, 200)
        assert.equal((await rerank(server.url, { query: QUERY, documents: DOCUMENTS })).status, 401)
      },
    },
    'api-key-file': {
      value: () => keyFiles.join(','),
      check: async () => {
        for (const key of ['file-key-a', 'file-key-b']) {
          assert.equal(
            (await rerank(server.url, { query: QUERY, documents: DOCUMENTS }, { authorization: `Bearer ${key}` })).status,
            200,
            key,
          )
        }
        assert.match(server.stderr(), /API key required \(3 keys\)/)
      },
    },
    'insecure-no-auth': { value: 'true', check: 'see "the command line wins"' },
    'public-metrics': {
      value: '1',
      check: async () => {
        assert.equal((await fetch(`${server.url}/metrics`)).status, 200)
        assert.equal((await fetch(`${server.url}/info`)).status, 401)
      },
    },
    cors: {
      value: 'http://a.example, http://b.example',
      check: async () => {
        for (const origin of ['http://a.example', 'http://b.example']) {
          const res = await fetch(`${server.url}/health`, { headers: { origin } })
          assert.equal(res.headers.get('access-control-allow-origin'), origin)
        }
        assert.equal(
          (await fetch(`${server.url}/health`, { headers: { origin: 'http://c.example' } })).headers.get('access-control-allow-origin'),
          null,
        )
      },
    },
    'access-log': {
      value: 'off',
      check: async () => {
        const res = await fetch(`${server.url}/health`)
        assert.equal(res.status, 200)
        await res.text()
        assert.deepEqual(accessLines(server.stderr()), [])
      },
    },
    'max-documents': {
      value: '50',
      check: async () => {
        assert.equal(info.limits.maxDocuments, 50)
        assert.equal(info.max_client_batch_size, 50)
        const res = await rerank(server.url, { query: QUERY, documents: Array(51).fill('x') }, auth)
        assert.equal(res.status, 400)
        assert.match((await res.json()).message, /too many documents: 51, at most 50/)
      },
    },
    'max-body-bytes': { value: '100000', check: () => assert.equal(info.limits.maxBodyBytes, 100000) },
    'max-request-tokens': { value: '100000', check: () => assert.equal(info.limits.maxRequestTokens, 100000) },
    'max-queue': {
      value: '9',
      check: () => {
        assert.equal(info.limits.maxQueue, 9)
        assert.equal(info.max_concurrent_requests, 2 + 9)
      },
    },
    'queue-timeout': { value: '45000', check: () => assert.equal(info.limits.queueTimeoutMs, 45000) },
    'body-timeout': { value: '20000', check: () => assert.equal(info.limits.bodyTimeoutMs, 20000) },
    'headers-timeout': { value: '9000', check: () => assert.equal(info.limits.headersTimeoutMs, 9000) },
    'send-timeout': { value: '25000', check: () => assert.equal(info.limits.sendTimeoutMs, 25000) },
    'keep-alive-timeout': { value: '4000', check: () => assert.equal(info.limits.keepAliveTimeoutMs, 4000) },
    'max-connections': { value: '100', check: () => assert.equal(info.limits.maxConnections, 100) },
  }

  before(async () => {
    port = await freePort('127.0.0.2')
    const env = {}
    for (const o of SERVE_OPTIONS) {
      const c = CASES[o.flag]
      if (!c || o.flag === 'insecure-no-auth') continue // with keys it changes nothing: tested below
      env[o.env] = typeof c.value === 'function' ? c.value() : c.value
    }
    server = await start([], env)
    info = await (await fetch(`${server.url}/info`, { headers: auth })).json()
  })
  after(async () => {
    const { code } = await server.stop()
    assert.equal(code, 0, server.stderr())
  })

  test('each variable of the table takes effect (no command-line option given)', async () => {
    assert.deepEqual(Object.keys(CASES).sort(), SERVE_OPTIONS.map((o) => o.flag).sort(), 'one case per option of the table')
    for (const o of SERVE_OPTIONS) {
      const { check } = CASES[o.flag]
      if (typeof check === 'function') await check()
    }
  })

  test('the command line wins; booleans from the environment; the access log is on by default', async () => {
    const b = await start(['--model', MODEL, '--threads', '1', '--port', '0', '--max-documents', '6', '--access-log', 'json'], {
      LLAMA_RERANK_HOST: '0.0.0.0',
      LLAMA_RERANK_INSECURE_NO_AUTH: 'TRUE',
      LLAMA_RERANK_MAX_DOCUMENTS: '5',
      LLAMA_RERANK_ACCESS_LOG: 'off',
      LLAMA_RERANK_PORT: 'not used',
      LLAMA_RERANK_MODEL: fixture('no-such-file.gguf'),
    })
    try {
      await until(() => /no API key: every client that reaches this address can use the server/.test(b.stderr()), 'the no-key line')
      const url = b.url.replace('0.0.0.0', '127.0.0.1')
      const infoB = await (await fetch(`${url}/info`)).json()
      assert.equal(infoB.limits.maxDocuments, 6)
      assert.equal(infoB.model, 'bert-reranker-pooler.gguf')
      assert.equal(infoB.accessLog, 'json')
      await until(() => accessLines(b.stderr()).some((l) => l.path === '/info'), 'the access log line of /info')
    } finally {
      const { code } = await b.stop()
      assert.equal(code, 0, b.stderr())
    }
    const refused = await run(['serve', '--model', MODEL, '--host', '0.0.0.0', '--port', '0'], {
      env: cleanEnv({ LLAMA_RERANK_INSECURE_NO_AUTH: 'false' }),
    })
    assert.equal(refused.code, 2, refused.stderr)
    assert.match(refused.stderr, /refusing to listen on 0\.0\.0\.0 without an API key/)
  })
})

describe('serve: bad values from the environment', () => {
  const cases = [
    ['LLAMA_RERANK_PORT', 'eighty', /LLAMA_RERANK_PORT must be a non-negative integer, got "eighty"/],
    ['LLAMA_RERANK_PORT', '70000', /LLAMA_RERANK_PORT must be at most 65535, got 70000/],
    ['LLAMA_RERANK_CONTEXTS', '0', /LLAMA_RERANK_CONTEXTS must be a positive integer/],
    ['LLAMA_RERANK_PUBLIC_METRICS', 'yes', /LLAMA_RERANK_PUBLIC_METRICS must be 1, true, 0 or false, got "yes"/],
    ['LLAMA_RERANK_KV_CACHE_TYPE', 'q8_0', /LLAMA_RERANK_KV_CACHE_TYPE must be f16 or f32, got "q8_0"/],
    ['LLAMA_RERANK_ACCESS_LOG', 'text', /LLAMA_RERANK_ACCESS_LOG must be json or off, got "text"/],
    ['LLAMA_RERANK_CORS', 'https://a.example/app', /LLAMA_RERANK_CORS: "https:\/\/a.example\/app" is not an origin/],
    ['LLAMA_RERANK_GPU_LAYERS', '-1', /LLAMA_RERANK_GPU_LAYERS must be a non-negative integer/],
    ['LLAMA_RERANK_API_KEY_FILE', '/no/such/keys', /cannot read --api-key-file \/no\/such\/keys: no such file/],
  ]
  for (const [name, value, message] of cases) {
    test(`${name}=${value}: exit 2, naming the variable`, async () => {
      // --port 0 unless the case is the port's: the command line would win.
      const port = name === 'LLAMA_RERANK_PORT' ? [] : ['--port', '0']
      const r = await run(['serve', '--model', MODEL, ...port], { env: cleanEnv({ [name]: value }) })
      assert.equal(r.code, 2, r.stderr)
      assert.match(r.stderr, message)
    })
  }
  test('a bad flag names the flag, even with a good variable', async () => {
    const r = await run(['serve', '--model', MODEL, '--port', 'x'], { env: cleanEnv({ LLAMA_RERANK_PORT: '0' }) })
    assert.equal(r.code, 2)
    assert.match(r.stderr, /--port must be a non-negative integer, got "x"/)
  })
})

describe('serve --help and the docs list every option with its variable', () => {
  test('serve --help: each flag and its variable, on neighbouring lines', async () => {
    const { code, stdout } = await run(['serve', '--help'])
    assert.equal(code, 0)
    assert.match(stdout, /^Usage: llama-rerank serve/)
    const lines = stdout.split('\n')
    for (const o of SERVE_OPTIONS) {
      const at = lines.findIndex((l) => new RegExp(`^\\s+(-\\w, )?--${o.flag}(?![-\\w])`).test(l))
      assert.ok(at >= 0, `--${o.flag} in serve --help`)
      const block = lines.slice(at, at + 4).join('\n')
      assert.ok(block.includes(`env ${o.env}`), `${o.env} beside --${o.flag}:\n${block}`)
    }
    const global = await run(['--help'])
    assert.equal(global.code, 0)
    for (const o of SERVE_OPTIONS) assert.ok(global.stdout.includes(o.env), `${o.env} in --help`)
  })

  test("docs/server.md's table is the table of options", () => {
    const docs = readFileSync(path.join(root, 'docs', 'server.md'), 'utf8')
    assert.ok(docs.includes(serveOptionsMarkdown()), 'docs/server.md: paste serveOptionsMarkdown() from server/options.mjs over the table')
  })
})

test('deploy/kubernetes.yaml sets the server through its variables; the lint checks their names and values', async () => {
  const yaml = readFileSync(path.join(root, 'deploy', 'kubernetes.yaml'), 'utf8')
  assert.doesNotMatch(yaml, /^\s+args:/m, 'no container args: the settings are variables')
  for (const name of ['LLAMA_RERANK_CONTEXTS', 'LLAMA_RERANK_THREADS', 'LLAMA_RERANK_API_KEY_FILE', 'LLAMA_RERANK_PUBLIC_METRICS']) {
    assert.match(yaml, new RegExp(`- name: ${name}\\n`), name)
  }
  assert.deepEqual(await lintKubernetes(yaml), [])
  const replace = (text, from, to) => {
    assert.ok(text.includes(from), from)
    return text.replace(from, to)
  }
  let broken = replace(
    yaml,
    '- name: LLAMA_RERANK_CONTEXTS\n              value: "2"',
    '- name: LLAMA_RERANK_CONTEXT\n              value: "2"',
  )
  broken = replace(
    broken,
    '- name: LLAMA_RERANK_THREADS\n              value: "1"',
    '- name: LLAMA_RERANK_THREADS\n              value: "one"',
  )
  broken = replace(
    broken,
    '- name: LLAMA_RERANK_PUBLIC_METRICS\n              value: "true"',
    '- name: LLAMA_RERANK_PUBLIC_METRICS\n              value: "yes"',
  )
  const found = (await lintKubernetes(broken)).map((p) => p.message).join('\n')
  assert.match(found, /env LLAMA_RERANK_CONTEXT is not a variable of llama-rerank serve \(did you mean LLAMA_RERANK_CONTEXTS\?\)/)
  assert.match(found, /LLAMA_RERANK_THREADS must be a positive integer, got "one"/)
  assert.match(found, /LLAMA_RERANK_PUBLIC_METRICS must be 1, true, 0 or false, got "yes"/)
})

describe('startServer: request ids, access log, CORS, /info', () => {
  let model
  let context
  const entries = []
  const lines = []
  let server
  let open
  before(async () => {
    model = await lib.loadModel(MODEL)
    context = await model.createRankingContext({ threads: 1 })
    const log = (line, entry) => {
      lines.push(line)
      if (entry) entries.push(entry)
    }
    server = await startServer({
      contexts: [context],
      modelName: 'reranker',
      modelInfo: model.info,
      port: 0,
      apiKeys: ['k'],
      cors: ['http://app.example'],
      accessLog: 'json',
      version: '9.9.9',
      log,
    })
    open = await startServer({ contexts: [context], modelName: 'reranker', modelInfo: model.info, port: 0 })
  })
  after(async () => {
    await server.close()
    await open.close()
    await model.dispose()
  })
  const key = { authorization: 'Bearer k' }
  /** The access log entry of a request id, once written (at the end of the answer). */
  const entryOf = (id) => until(() => entries.find((e) => e.request_id === id), `the access log entry of ${id}`)

  test("X-Request-Id: the client's when sane, else a new UUID, on every answer and in error bodies", async () => {
    const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/
    const ok = await rerank(server.url, { query: QUERY, documents: DOCUMENTS }, { ...key, 'x-request-id': 'client-id-1' })
    assert.equal(ok.status, 200)
    assert.equal(ok.headers.get('x-request-id'), 'client-id-1')
    for (const bad of ['x'.repeat(129), 'tab\there']) {
      const res = await fetch(`${server.url}/health`, { headers: { 'x-request-id': bad } })
      assert.match(res.headers.get('x-request-id'), uuid, JSON.stringify(bad))
    }
    assert.equal(
      (await fetch(`${server.url}/health`, { headers: { 'x-request-id': 'x'.repeat(128) } })).headers.get('x-request-id'),
      'x'.repeat(128),
    )
    const errors = [
      [await rerank(server.url, { query: QUERY, documents: DOCUMENTS }), 401],
      [await fetch(`${server.url}/nope`, { headers: key }), 404],
      [await fetch(`${server.url}/v1/rerank`, { headers: key }), 405],
      [await rerank(server.url, { query: 1 }, key), 400],
    ]
    const ids = new Set()
    for (const [res, status] of errors) {
      assert.equal(res.status, status)
      const id = res.headers.get('x-request-id')
      assert.match(id, uuid)
      assert.equal((await res.json()).request_id, id)
      ids.add(id)
    }
    assert.equal(ids.size, errors.length, 'a new id per request')
  })

  test('the access log: one JSON line per request, through log(line, entry)', async () => {
    const ok = await rerank(server.url, { query: QUERY, documents: DOCUMENTS }, { ...key, 'x-request-id': 'log-ok' })
    const body = await ok.text()
    const entry = await entryOf('log-ok')
    assert.deepEqual(Object.keys(entry).sort(), [
      'bytes_out',
      'documents',
      'duration_ms',
      'level',
      'method',
      'path',
      'remote_addr',
      'request_id',
      'status',
      'time',
    ])
    assert.equal(entry.method, 'POST')
    assert.equal(entry.path, '/v1/rerank')
    assert.equal(entry.status, 200)
    assert.equal(entry.level, 'info')
    assert.equal(entry.documents, 2)
    assert.equal(entry.bytes_out, Buffer.byteLength(body))
    assert.match(entry.remote_addr, /127\.0\.0\.1$/)
    assert.ok(entry.duration_ms > 0 && entry.duration_ms < 60_000, String(entry.duration_ms))
    assert.ok(Math.abs(Date.parse(entry.time) - Date.now()) < 60_000)
    assert.ok(lines.includes(JSON.stringify(entry)), 'the line is the entry as JSON')

    await (await rerank(server.url, { query: QUERY, documents: DOCUMENTS }, { 'x-request-id': 'log-401' })).text()
    const denied = await entryOf('log-401')
    assert.equal(denied.status, 401)
    assert.equal(denied.level, 'warn')
    assert.equal(denied.error, 'authentication_error')
    assert.equal(denied.documents, null)
    await (
      await fetch(`${server.url}/v1/rerank?x=1`, {
        method: 'POST',
        headers: { ...key, ...JSON_HEADERS, 'x-request-id': 'log-400' },
        body: '{',
      })
    ).text()
    const bad = await entryOf('log-400')
    assert.equal(bad.path, '/v1/rerank')
    assert.equal(bad.error, 'invalid_request_error')
    // off: nothing logged
    const before = lines.length
    await (await fetch(`${open.url}/health`)).text()
    await (await fetch(`${server.url}/health`, { headers: { 'x-request-id': 'log-last' } })).text()
    await entryOf('log-last')
    assert.equal(lines.length, before + 1, 'the server without accessLog logs nothing')
  })

  test('CORS: an allowed origin is echoed, others get no CORS header; preflight needs no key', async () => {
    const allowed = await rerank(server.url, { query: QUERY, documents: DOCUMENTS }, { ...key, origin: 'http://app.example' })
    assert.equal(allowed.status, 200)
    assert.equal(allowed.headers.get('access-control-allow-origin'), 'http://app.example')
    assert.match(allowed.headers.get('vary'), /Origin/)
    assert.match(allowed.headers.get('access-control-expose-headers'), /X-Request-Id/)
    // The real request still needs the key, and a browser can read the 401.
    const noKey = await rerank(server.url, { query: QUERY, documents: DOCUMENTS }, { origin: 'http://app.example' })
    assert.equal(noKey.status, 401)
    assert.equal(noKey.headers.get('access-control-allow-origin'), 'http://app.example')

    const preflight = await fetch(`${server.url}/v1/rerank`, {
      method: 'OPTIONS',
      headers: {
        origin: 'http://app.example',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization,content-type',
      },
    })
    assert.equal(preflight.status, 204)
    assert.equal(preflight.headers.get('access-control-allow-origin'), 'http://app.example')
    assert.match(preflight.headers.get('access-control-allow-methods'), /\bPOST\b/)
    const allowedHeaders = preflight.headers.get('access-control-allow-headers').toLowerCase().split(/,\s*/)
    for (const h of ['authorization', 'content-type', 'x-request-id', 'x-client-name', 'x-fern-sdk-name'])
      assert.ok(allowedHeaders.includes(h), h)
    assert.match(preflight.headers.get('x-request-id'), /\S/)

    for (const origin of ['http://evil.example', 'http://app.example:8080', 'https://app.example']) {
      const other = await fetch(`${server.url}/v1/rerank`, {
        method: 'OPTIONS',
        headers: { origin, 'access-control-request-method': 'POST' },
      })
      assert.equal(other.status, 204)
      const cors = [...other.headers.keys()].filter((h) => h.startsWith('access-control-'))
      assert.deepEqual(cors, [], origin)
    }
    // Off by default: no CORS header, and OPTIONS is not an allowed method.
    const plain = await fetch(`${open.url}/v1/rerank`, {
      method: 'OPTIONS',
      headers: { origin: 'http://app.example', 'access-control-request-method': 'POST' },
    })
    assert.equal(plain.status, 405)
    assert.deepEqual(
      [...plain.headers.keys()].filter((h) => h.startsWith('access-control-') || h === 'vary'),
      [],
    )
  })

  test("/info: TEI's fields and ours, behind the key, as openapi.json describes it", async () => {
    assert.equal((await fetch(`${server.url}/info`)).status, 401)
    const res = await fetch(`${server.url}/info`, { headers: key })
    assert.equal(res.status, 200)
    const info = await res.json()
    assert.equal(info.model_id, 'reranker')
    assert.equal(info.model, 'reranker')
    assert.equal(info.version, '9.9.9')
    assert.deepEqual(info.model_type, { reranker: { id2label: { 0: 'LABEL_0' }, label2id: { LABEL_0: 0 } } })
    assert.equal(info.max_input_length, context.contextSize)
    assert.equal(info.max_client_batch_size, 1000)
    assert.equal(info.max_concurrent_requests, 1 + 1024)
    assert.equal(info.family, model.info.family)
    assert.equal(info.scoring, 'classifier')
    assert.equal(info.scoreSource, model.info.scoreSource)
    assert.equal(info.backend.backend, model.info.backend)
    assert.equal(info.backend.cpuBuild, model.info.cpuBuild)
    assert.equal(info.backend.gpuLayers, model.info.gpuLayers)
    assert.deepEqual(info.contexts, { count: 1, contextSize: context.contextSize, kvCacheType: context.kvCacheType })
    assert.deepEqual(info.cors, ['http://app.example'])
    assert.equal(info.auth.required, true)
    const ajv = new Ajv({ strict: false, allErrors: true })
    ajv.addSchema({ $id: 'openapi', components: openApiDocument({ authRequired: true }).components })
    const validate = ajv.compile({ $ref: 'openapi#/components/schemas/Info' })
    assert.ok(validate(info), JSON.stringify(validate.errors))
    assert.ok(openApiDocument({ authRequired: true }).paths['/info'].get.security.length)
  })

  test('a 503 (queue full) carries the request id too', async () => {
    const busyContext = await model.createRankingContext({ threads: 1 })
    const busy = await startServer({ contexts: [busyContext], modelName: 'reranker', port: 0, limits: { maxQueue: 0, maxDocuments: 2000 } })
    try {
      const hold = occupy(busy.url)
      await hold.running
      const res = await rerank(busy.url, { query: QUERY, documents: DOCUMENTS }, { 'x-request-id': 'busy-1' })
      assert.equal(res.status, 503)
      assert.equal(res.headers.get('x-request-id'), 'busy-1')
      assert.equal((await res.json()).request_id, 'busy-1')
      await hold.release()
    } finally {
      await busy.close()
      await busyContext.dispose()
    }
  })
})
