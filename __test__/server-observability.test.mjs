// `llama-rerank serve`'s /metrics (Prometheus text format, parsed with a Prometheus parser from
// npm, counters moving with the requests) and /openapi.json (validated with an OpenAPI 3
// validator from npm, and real answers validated against the schemas it declares).

import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { Validator } from '@seriousme/openapi-schema-validator'
import Ajv from 'ajv'
import parsePrometheusTextFormat from 'parse-prometheus-text-format'
import { openApiDocument } from '../server/index.mjs'
import { metric, occupy, serve } from './support/cli-helpers.mjs'
import { fixture, until } from './support/helpers.mjs'

const KEY = 'observability-key'
const QUERY = 'What is the capital of France?'
const DOCUMENTS = [
  'Paris is the capital and largest city of France.',
  'The mitochondria is the powerhouse of the cell.',
  'Bananas are yellow.',
]
const auth = { authorization: `Bearer ${KEY}` }

const post = (url, body) =>
  fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...auth }, body: JSON.stringify(body) })

/** A sample line of the text exposition format: `name{label="value",...} value`. */
const SAMPLE =
  /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{((?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*",?)*)\})? (-?[0-9.]+(?:e[+-]?[0-9]+)?|[+-]Inf|NaN)$/
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g

/**
 * Parses a scrape. parse-prometheus-text-format checks the syntax and gives each family's type,
 * but it merges the series of a labelled histogram into one (and drops their _sum and _count),
 * so the series are read here, line by line, with a strict pattern.
 */
function parseScrape(text) {
  assert.ok(text.endsWith('\n'), 'the exposition ends with a newline')
  const types = Object.fromEntries(parsePrometheusTextFormat(text).map((f) => [f.name, f.type]))
  const samples = []
  for (const line of text.trimEnd().split('\n')) {
    if (line.startsWith('#')) {
      assert.match(line, /^# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* \S/, line)
      continue
    }
    const m = SAMPLE.exec(line)
    assert.ok(m, `not a sample line: ${line}`)
    const labels = Object.fromEntries([...(m[2] ?? '').matchAll(LABEL)].map(([, k, v]) => [k, v]))
    samples.push({ name: m[1], labels, value: m[3] === '+Inf' ? Infinity : Number(m[3]) })
  }
  const scrape = { types, samples }
  // Histograms: cumulative buckets, and the +Inf bucket equals _count, for every series.
  for (const [name, type] of Object.entries(types)) {
    if (type !== 'HISTOGRAM') continue
    for (const count of samples.filter((s) => s.name === `${name}_count`)) {
      const buckets = samples
        .filter((s) => s.name === `${name}_bucket` && sameSeries(s.labels, count.labels))
        .map((s) => [s.labels.le === '+Inf' ? Infinity : Number(s.labels.le), s.value])
        .sort((a, b) => a[0] - b[0])
      buckets.forEach(([, c], i) => i === 0 || assert.ok(c >= buckets[i - 1][1], `${name}: buckets are cumulative`))
      assert.equal(buckets.at(-1)[0], Infinity)
      assert.equal(buckets.at(-1)[1], count.value, `${name}: +Inf bucket = _count`)
    }
  }
  return scrape
}

const sameSeries = (a, b) => {
  const strip = ({ le, ...rest }) => JSON.stringify(Object.entries(rest).sort())
  return strip(a) === strip(b)
}

/** The value of a counter or gauge series, or a histogram's count; 0 when it has no sample yet. */
function sampleValue(scrape, name, labels = {}) {
  const names = scrape.types[name] === 'HISTOGRAM' ? [`${name}_count`] : [name]
  const s = scrape.samples.find((x) => names.includes(x.name) && Object.entries(labels).every(([k, v]) => x.labels[k] === v))
  return s?.value ?? 0
}

describe('serve: /metrics', () => {
  let server
  const scrape = async () => {
    const res = await fetch(`${server.url}/metrics`, { headers: auth })
    assert.equal(res.status, 200)
    assert.match(res.headers.get('content-type'), /^text\/plain; version=0\.0\.4/)
    return parseScrape(await res.text())
  }
  before(async () => {
    server = await serve([
      '--model',
      fixture('qwen3-reranker-pooled.gguf'),
      '--threads',
      '1',
      '--contexts',
      '2',
      '--api-key',
      KEY,
      '--max-documents',
      '2000',
    ])
  })
  after(async () => {
    const { code } = await server.stop()
    assert.equal(code, 0, server.stderr())
  })

  test('parses as Prometheus text and has every family, with its type', async () => {
    const families = await scrape()
    const types = {
      llama_rerank_http_requests_total: 'COUNTER',
      llama_rerank_http_request_duration_seconds: 'HISTOGRAM',
      llama_rerank_queue_wait_seconds: 'HISTOGRAM',
      llama_rerank_documents_scored_total: 'COUNTER',
      llama_rerank_pair_tokens_total: 'COUNTER',
      llama_rerank_tokens_computed_total: 'COUNTER',
      llama_rerank_queue_depth: 'GAUGE',
      llama_rerank_inflight_calls: 'GAUGE',
      llama_rerank_contexts: 'GAUGE',
      llama_rerank_open_connections: 'GAUGE',
      llama_rerank_model_load_seconds: 'GAUGE',
      process_resident_memory_bytes: 'GAUGE',
      process_start_time_seconds: 'GAUGE',
      nodejs_heap_size_total_bytes: 'GAUGE',
      nodejs_heap_size_used_bytes: 'GAUGE',
      nodejs_external_memory_bytes: 'GAUGE',
    }
    for (const [name, type] of Object.entries(types)) assert.equal(families.types[name], type, name)
    assert.equal(sampleValue(families, 'llama_rerank_contexts'), 2)
    assert.equal(sampleValue(families, 'llama_rerank_queue_depth'), 0)
    assert.equal(sampleValue(families, 'llama_rerank_inflight_calls'), 0)
    const load = sampleValue(families, 'llama_rerank_model_load_seconds')
    assert.ok(load > 0 && load < 60, `model load ${load} s`)
    assert.ok(sampleValue(families, 'process_resident_memory_bytes') > 10e6)
  })

  test('the counters move with the requests: by route and status, documents, tokens, latency', async () => {
    const before = await scrape()
    const answer = await (await post(`${server.url}/v1/rerank`, { query: QUERY, documents: DOCUMENTS })).json()
    assert.equal((await post(`${server.url}/rerank`, { query: QUERY, texts: DOCUMENTS.slice(0, 2) })).status, 200)
    assert.equal((await post(`${server.url}/v1/rerank`, { query: QUERY, documents: 'oops' })).status, 400)
    assert.equal((await fetch(`${server.url}/v1/rerank`, { method: 'POST', body: '{}' })).status, 401)
    assert.equal((await fetch(`${server.url}/nowhere`, { headers: auth })).status, 404)
    const after = await scrape()

    const delta = (name, labels) => sampleValue(after, name, labels) - sampleValue(before, name, labels)
    assert.equal(delta('llama_rerank_http_requests_total', { route: '/v1/rerank', status: '200' }), 1)
    assert.equal(delta('llama_rerank_http_requests_total', { route: '/rerank', status: '200' }), 1)
    assert.equal(delta('llama_rerank_http_requests_total', { route: '/v1/rerank', status: '400' }), 1)
    assert.equal(delta('llama_rerank_http_requests_total', { route: '/v1/rerank', status: '401' }), 1)
    assert.equal(delta('llama_rerank_http_requests_total', { route: 'other', status: '404' }), 1, 'unknown paths share one label value')
    assert.equal(delta('llama_rerank_http_requests_total', { route: '/metrics', status: '200' }), 1, 'the previous scrape')
    assert.equal(delta('llama_rerank_documents_scored_total'), 5)
    // The first call's pair tokens are its usage; the shared prefix makes computed tokens fewer.
    const pairTokens = delta('llama_rerank_pair_tokens_total')
    assert.ok(pairTokens > answer.usage.prompt_tokens, `${pairTokens} pair tokens over two calls`)
    const computed = delta('llama_rerank_tokens_computed_total')
    assert.ok(computed > 0 && computed < pairTokens, `${computed} computed of ${pairTokens}`)
    assert.equal(delta('llama_rerank_http_request_duration_seconds', { route: '/v1/rerank' }), 3)
    assert.equal(delta('llama_rerank_queue_wait_seconds'), 2)
  })

  test('queue depth and in-flight calls are visible while requests wait', async () => {
    // Both contexts held by requests that no CPU finishes in a test's time, two more behind them.
    const gauge = (name) => metric(server.url, name, {}, auth)
    const held = [occupy(server.url, { headers: auth }), occupy(server.url, { headers: auth })]
    await until(async () => (await gauge('llama_rerank_inflight_calls')) === 2, 'both contexts to be busy')
    const waiting = Array.from({ length: 2 }, () => post(`${server.url}/v1/rerank`, { query: QUERY, documents: DOCUMENTS }))
    await until(async () => (await gauge('llama_rerank_queue_depth')) === 2, 'two requests to wait')
    const families = await scrape()
    assert.equal(sampleValue(families, 'llama_rerank_inflight_calls'), 2, 'two contexts busy')
    assert.equal(sampleValue(families, 'llama_rerank_queue_depth'), 2, 'two requests wait')
    for (const h of held) assert.equal(await h.release(), 'AbortError')
    for (const res of await Promise.all(waiting)) assert.equal(res.status, 200)
    await until(async () => (await gauge('llama_rerank_inflight_calls')) === 0, 'the contexts to be free')
    const idle = await scrape()
    assert.equal(sampleValue(idle, 'llama_rerank_queue_depth'), 0)
    assert.equal(sampleValue(idle, 'llama_rerank_inflight_calls'), 0)
  })
})

describe('serve: /openapi.json', () => {
  let server
  let doc
  before(async () => {
    server = await serve(['--model', fixture('bert-reranker-pooler.gguf'), '--threads', '1', '--api-key', KEY])
    const res = await fetch(`${server.url}/openapi.json`)
    assert.equal(res.status, 200)
    doc = await res.json()
  })
  after(async () => {
    const { code } = await server.stop()
    assert.equal(code, 0, server.stderr())
  })

  test('is a valid OpenAPI 3 document, and its $refs resolve', async () => {
    const validator = new Validator()
    const result = await validator.validate(structuredClone(doc)) // resolveRefs() rewrites what it is given
    assert.equal(result.valid, true, JSON.stringify(result.errors, null, 2))
    assert.match(validator.version, /^3\./)
    assert.doesNotThrow(() => validator.resolveRefs())
  })

  test('without authentication, and with public metrics, it is valid too', async () => {
    for (const options of [{}, { authRequired: true, publicMetrics: true }]) {
      const result = await new Validator().validate(openApiDocument(options))
      assert.equal(result.valid, true, JSON.stringify(result.errors, null, 2))
    }
    assert.equal(openApiDocument({}).components.securitySchemes, undefined)
  })

  test('describes every route, both request shapes, and which routes need the key', () => {
    for (const route of [
      '/v1/rerank',
      '/rerank',
      '/v1/reranking',
      '/reranking',
      '/v2/rerank',
      '/health',
      '/v1/health',
      '/v1/models',
      '/models',
      '/metrics',
      '/openapi.json',
    ]) {
      assert.ok(doc.paths[route], route)
    }
    const teiBody = doc.paths['/rerank'].post.requestBody.content['application/json'].schema
    assert.deepEqual(
      teiBody.oneOf.map((s) => s.$ref),
      ['#/components/schemas/RerankRequest', '#/components/schemas/TeiRerankRequest'],
    )
    assert.deepEqual(doc.paths['/v1/rerank'].post.security, [{ bearer: [] }])
    assert.deepEqual(doc.paths['/metrics'].get.security, [{ bearer: [] }])
    assert.deepEqual(doc.paths['/health'].get.security, [])
    assert.ok(doc.paths['/v1/rerank'].post.responses['503'].headers['Retry-After'])
  })

  test('real answers match the schemas it declares', async () => {
    const ajv = new Ajv({ strict: false, allErrors: true })
    ajv.addSchema({ $id: 'openapi', components: doc.components })
    const check = (name, value) => {
      const validate = ajv.compile({ $ref: `openapi#/components/schemas/${name}` })
      assert.ok(validate(value), `${name}: ${JSON.stringify(validate.errors)}`)
    }
    const rerank = await (
      await post(`${server.url}/v1/rerank`, { query: QUERY, documents: DOCUMENTS, return_documents: true, top_n: 2 })
    ).json()
    check('RerankResponse', rerank)
    check(
      'TeiRerankResponse',
      await (await post(`${server.url}/rerank`, { query: QUERY, texts: DOCUMENTS, return_text: true, raw_scores: true })).json(),
    )
    check('ModelList', await (await fetch(`${server.url}/v1/models`, { headers: auth })).json())
    check('Error', await (await post(`${server.url}/v1/rerank`, { query: 1 })).json())
    check('RerankRequest', { query: QUERY, documents: ['a', { text: 'b' }], top_n: 1 })
    check('TeiRerankRequest', { query: QUERY, texts: ['a'], truncate: true, truncation_direction: 'Right' })
  })
})
