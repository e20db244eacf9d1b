#!/usr/bin/env node
import { readFileSync, statSync } from 'node:fs'
import { createRequire } from 'node:module'
import { availableParallelism } from 'node:os'
import path from 'node:path'
// llama-rerank: rank documents with a GGUF reranker, describe a model file, or serve /v1/rerank.
import { parseArgs } from 'node:util'
import { DEFAULT_MODEL, limitsOf, resolveServeSettings, serveOptionsHelp, serveParseOptions, UsageError } from '../server/options.mjs'

const require = createRequire(import.meta.url)
const pkg = require('../package.json')

export { DEFAULT_MODEL }

const HELP = `llama-rerank ${pkg.version}: score documents against a query with a GGUF reranker

Usage:
  llama-rerank rank  [--model M] --query Q [DOC ...] [--file docs.txt|docs.jsonl|-]
  llama-rerank info  [--model M]
  llama-rerank serve [--model M] [--host 127.0.0.1] [--port 8080] [--contexts N] [--api-key K] ...
  llama-rerank --help | --version

Models (--model, -m):
  a path to a .gguf file, or a Hugging Face URI downloaded once into the HF cache:
    hf:<owner>/<repo>/<file.gguf>    hf:<owner>/<repo>:<quant>    (e.g. :Q8_0)
    hf:<owner>/<repo>@<revision>/<file.gguf>    (a branch, tag or commit)
  Default: $LLAMA_RERANK_MODEL, else ${DEFAULT_MODEL}
  HF_HOME, HF_HUB_CACHE, HF_ENDPOINT, HF_TOKEN and HF_HUB_OFFLINE=1 are honoured;
  LLAMA_RERANK_HUB_TIMEOUT (seconds, default 30) ends a download that makes no progress.

rank:
  -q, --query Q           the query (required)
  DOC ...                 documents as arguments
  -f, --file F            more documents: one per line (.txt), JSON lines of strings or
                          {"text": ...} objects (.jsonl, .ndjson), a JSON array (.json);
                          "-" reads standard input (format sniffed). Repeatable.
  -k, --top-k N           print the N best only
  --instruction TEXT      the task instruction (generative rerankers such as Qwen3-Reranker)
  -c, --context-size N    tokens per (query, document) pair; longer documents are truncated
  -t, --threads N         CPU threads (default: all physical cores)
  --kv-cache-type T       f16 (default) or f32: the exact path for generative rerankers
                          (Qwen3 fixtures 5e-7 from transformers instead of 1.7e-4), twice the
                          KV memory; cross-encoders have no KV cache
  --json                  JSON lines: {"rank","index","score","document"} (default when piped)
  --table                 a table (default on a terminal)

info:
  --json                  JSON instead of text (default when piped)

serve (each option also from its environment variable; the command line wins):
${serveOptionsHelp()}
  Endpoints: POST /v1/rerank (Cohere v1, llama-server, Jina; also /rerank, /v1/reranking,
  /reranking; /rerank also takes text-embeddings-inference's {"query","texts"} body),
  POST /v2/rerank (Cohere v2), GET /health, GET /info (TEI's), GET /v1/models,
  GET /metrics (Prometheus), GET /openapi.json.
  SIGINT or SIGTERM stops accepting requests, finishes the running ones, then exits.

Exit status: 0 success, 1 failure (the message names an error code), 2 bad arguments,
130 interrupted.
`

const lib = () => require('../index.js')

function positiveInt(value, name, { allowZero = false } = {}) {
  if (value === undefined) return undefined
  const n = Number(value)
  if (!Number.isInteger(n) || n < 0 || (n === 0 && !allowZero)) {
    throw new UsageError(`${name} must be a ${allowZero ? 'non-negative' : 'positive'} integer, got ${JSON.stringify(value)}`)
  }
  return n
}

function kvCacheTypeOf(value) {
  if (value === undefined || value === 'f16' || value === 'f32') return value
  throw new UsageError(`--kv-cache-type must be f16 or f32, got ${JSON.stringify(value)}`)
}

function parse(args, options, { positionals = false } = {}) {
  try {
    return parseArgs({ args, options, allowPositionals: positionals, strict: true })
  } catch (error) {
    if (error.code?.startsWith('ERR_PARSE_ARGS')) throw new UsageError(error.message)
    throw error
  }
}

const modelOf = (values) => values.model ?? process.env.LLAMA_RERANK_MODEL ?? DEFAULT_MODEL

// ---------------------------------------------------------------------------------------------
// Documents

function fromJsonValue(value, where) {
  if (typeof value === 'string') return value
  if (value !== null && typeof value === 'object') {
    for (const key of ['text', 'document', 'content']) {
      if (typeof value[key] === 'string') return value[key]
    }
  }
  throw new UsageError(`${where}: expected a string or an object with a "text" string`)
}

function parseJsonLines(text, source) {
  const docs = []
  text.split('\n').forEach((line, i) => {
    if (!line.trim()) return
    let value
    try {
      value = JSON.parse(line)
    } catch (error) {
      throw new UsageError(`${source}:${i + 1}: not JSON: ${error.message}`)
    }
    docs.push(fromJsonValue(value, `${source}:${i + 1}`))
  })
  return docs
}

function parseJsonArray(text, source) {
  let value
  try {
    value = JSON.parse(text)
  } catch (error) {
    throw new UsageError(`${source}: not JSON: ${error.message}`)
  }
  if (!Array.isArray(value)) throw new UsageError(`${source}: expected a JSON array of documents`)
  return value.map((v, i) => fromJsonValue(v, `${source}[${i}]`))
}

const parseLines = (text) =>
  text
    .split('\n')
    .map((l) => l.replace(/\r$/, ''))
    .filter((l) => l.trim() !== '')

/** Documents of one --file: by extension, or sniffed for standard input and others. */
function parseDocuments(text, source) {
  const ext = path.extname(source).toLowerCase()
  if (ext === '.jsonl' || ext === '.ndjson') return parseJsonLines(text, source)
  if (ext === '.json') return parseJsonArray(text, source)
  if (ext === '.txt' || ext === '.text') return parseLines(text)
  const trimmed = text.trimStart()
  if (trimmed.startsWith('[')) {
    try {
      return parseJsonArray(text, source)
    } catch {
      return parseLines(text)
    }
  }
  const lines = parseLines(text)
  if (lines.length && lines.every((l) => /^\s*[{"]/.test(l))) {
    try {
      return parseJsonLines(text, source)
    } catch {
      return lines
    }
  }
  return lines
}

async function readStdin() {
  const chunks = []
  for await (const chunk of process.stdin) chunks.push(chunk)
  return Buffer.concat(chunks).toString('utf8')
}

async function readDocuments(files) {
  const docs = []
  for (const file of files) {
    let text
    if (file === '-') {
      text = await readStdin()
    } else {
      try {
        text = readFileSync(file, 'utf8')
      } catch (error) {
        throw new UsageError(`cannot read ${file}: ${error.code === 'ENOENT' ? 'no such file' : error.message}`)
      }
    }
    docs.push(...parseDocuments(text, file === '-' ? 'stdin' : file))
  }
  return docs
}

// ---------------------------------------------------------------------------------------------
// Output

const oneLine = (s) => s.replace(/\s+/g, ' ').trim()

function truncate(s, width) {
  if (width <= 1 || s.length <= width) return s
  return s.slice(0, Math.max(0, width - 1)) + '…'
}

function printTable(rows, out) {
  const width = out.columns || 100
  const rankW = Math.max(4, String(rows.length).length)
  const indexW = Math.max(5, ...rows.map((r) => String(r.index).length))
  const head = `${'rank'.padStart(rankW)}  ${'score'.padEnd(6)}  ${'index'.padStart(indexW)}  document`
  const lines = [head]
  for (const r of rows) {
    const prefix = `${String(r.rank).padStart(rankW)}  ${r.score.toFixed(4)}  ${String(r.index).padStart(indexW)}  `
    lines.push(prefix + truncate(oneLine(r.document), width - prefix.length))
  }
  out.write(lines.join('\n') + '\n')
}

/** A one-line bar on stderr, drawn only on a terminal and only once a run lasts. */
function progressBar() {
  const err = process.stderr
  if (!err.isTTY) return { onProgress: undefined, clear() {} }
  const started = Date.now()
  let drawn = false
  return {
    onProgress(done, total) {
      const elapsed = (Date.now() - started) / 1000
      if (!drawn && (elapsed < 0.5 || done >= total)) return
      drawn = true
      const cells = 24
      const full = Math.round((done / Math.max(total, 1)) * cells)
      err.write(`\r\x1b[K[${'='.repeat(full)}${' '.repeat(cells - full)}] ${done}/${total} documents  ${elapsed.toFixed(1)} s`)
    },
    clear() {
      if (drawn) err.write('\r\x1b[K')
    },
  }
}

// ---------------------------------------------------------------------------------------------
// Commands

async function rank(args) {
  const { values, positionals } = parse(
    args,
    {
      model: { type: 'string', short: 'm' },
      query: { type: 'string', short: 'q' },
      file: { type: 'string', short: 'f', multiple: true },
      'top-k': { type: 'string', short: 'k' },
      instruction: { type: 'string' },
      'context-size': { type: 'string', short: 'c' },
      threads: { type: 'string', short: 't' },
      'kv-cache-type': { type: 'string' },
      json: { type: 'boolean' },
      table: { type: 'boolean' },
    },
    { positionals: true },
  )
  if (values.query === undefined) throw new UsageError('missing --query')
  if (values.json && values.table) throw new UsageError('--json and --table exclude each other')
  const topK = positiveInt(values['top-k'], '--top-k')
  const contextSize = positiveInt(values['context-size'], '--context-size')
  const threads = positiveInt(values.threads, '--threads')
  const kvCacheType = kvCacheTypeOf(values['kv-cache-type'])
  const documents = [...positionals, ...(await readDocuments(values.file ?? []))]
  if (documents.length === 0) {
    throw new UsageError('no documents: pass them as arguments or with --file (- for standard input)')
  }

  const abort = new AbortController()
  const onSignal = () => abort.abort()
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)

  const model = await lib().loadModel(modelOf(values), { signal: abort.signal })
  try {
    const context = await model.createRankingContext({ contextSize, threads, kvCacheType })
    const bar = progressBar()
    let ranked
    try {
      ranked = await context.rankAndSort(values.query, documents, {
        instruction: values.instruction,
        signal: abort.signal,
        onProgress: bar.onProgress,
      })
    } finally {
      bar.clear()
    }
    const rows = ranked
      .slice(0, topK ?? ranked.length)
      .map((r, i) => ({ rank: i + 1, index: r.index, score: r.score, document: r.document }))
    const asJson = values.json || (!values.table && !process.stdout.isTTY)
    if (asJson) {
      process.stdout.write(rows.map((r) => JSON.stringify(r)).join('\n') + (rows.length ? '\n' : ''))
    } else {
      printTable(rows, process.stdout)
    }
  } finally {
    await model.dispose()
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }
  return 0
}

const SCORING = {
  classifier: "classifier: sigmoid of the cross-encoder's relevance logit, in f64",
  'yes-no': 'yes-no: P("yes") of a generative judge over the official prompt',
}
const SOURCE = {
  'pooled-head': "pooled-head: the file's classifier head (cls.output)",
  'lm-head': 'lm-head: the last token\'s "yes"/"no" logits, sigmoid(yes - no)',
  'hidden-state': "hidden-state: the first token's hidden state, the file's classifier (cls.weight) applied in f64",
}

const HEAD = {
  'lm-head-rows': "lm-head-rows: the head is the LM head's yes/no rows, read off the last token's logits",
  pooling: "pooling: llama.cpp's RANK pooling (embeddings mode)",
}

async function info(args) {
  const { values } = parse(args, {
    model: { type: 'string', short: 'm' },
    json: { type: 'boolean' },
  })
  const name = modelOf(values)
  const model = await lib().loadModel(name)
  try {
    const i = model.info
    const size = statSync(model.path).size
    if (values.json || !process.stdout.isTTY) {
      process.stdout.write(JSON.stringify({ model: name, path: model.path, size, ...i }) + '\n')
      return 0
    }
    const rows = [
      ['model', name],
      ...(name !== model.path ? [['file', model.path]] : []),
      ['size', `${(size / 1e6).toFixed(1)} MB`],
      ['architecture', i.architecture],
      ['name', i.name ?? '(none)'],
      ['family', i.family],
      ...(i.judge
        ? [
            [
              'judge preset',
              `${i.judge.preset}: sigmoid(l(${JSON.stringify(i.judge.positiveToken)})${i.judge.negativeToken != null ? ` − l(${JSON.stringify(i.judge.negativeToken)})` : ''})`,
            ],
          ]
        : []),
      ...(i.relevantLabel ? [['relevant label', `${i.relevantLabel} (softmax over ${i.classifierLabels.join(', ')})`]] : []),
      ['scoring', SCORING[i.scoring] ?? i.scoring],
      ['score source', SOURCE[i.scoreSource] ?? i.scoreSource],
      ...(i.headEvaluation ? [['head evaluation', HEAD[i.headEvaluation] ?? i.headEvaluation]] : []),
      ['trained context', `${i.trainedContextLength} tokens`],
      ['classifier labels', i.classifierLabels.length ? i.classifierLabels.join(', ') : '(none)'],
      ['rerank template', i.hasRerankTemplate ? 'yes' : 'no'],
      ['backend', i.gpuLayers > 0 ? `${i.backend} (${i.gpuDevice}), ${i.gpuLayers}/${i.layerCount} layers` : `CPU, ${i.layerCount} layers`],
      ['GPU backends built', i.compiledGpuBackends.length ? i.compiledGpuBackends.join(', ') : '(none)'],
      ['CPU kernels', i.cpuFeatures.join(' ') || '(baseline)'],
      [
        'CPU build',
        i.cpuBuild === 'portable'
          ? `portable, module ${i.cpuVariant ?? '(none)'} picked for this CPU`
          : i.cpuBuild === 'native'
            ? "native (compiled for the building machine's CPU)"
            : 'fixed kernel set',
      ],
    ]
    const w = Math.max(...rows.map(([k]) => k.length))
    process.stdout.write(rows.map(([k, v]) => `${k.padEnd(w)}  ${v}`).join('\n') + '\n')
  } finally {
    await model.dispose()
  }
  return 0
}

/** Every API key: --api-key and $LLAMA_RERANK_API_KEY, and those of --api-key-file and $LLAMA_RERANK_API_KEY_FILE. */
async function apiKeysOf(settings) {
  const { parseApiKeys } = await import('../server/index.mjs')
  const keys = [...settings.apiKeys]
  for (const file of settings.apiKeyFiles) {
    let text
    try {
      text = readFileSync(file, 'utf8')
    } catch (error) {
      throw new UsageError(`cannot read --api-key-file ${file}: ${error.code === 'ENOENT' ? 'no such file' : error.message}`)
    }
    const fromFile = parseApiKeys(text)
    if (fromFile.length === 0) throw new UsageError(`--api-key-file ${file} has no keys (one a line; # starts a comment)`)
    keys.push(...fromFile)
  }
  if (keys.some((k) => k === '' || /\s/.test(k))) throw new UsageError('an API key must be non-empty and without spaces')
  return keys
}

const SERVE_HELP = `Usage: llama-rerank serve [OPTIONS]

Serves POST /v1/rerank (and the other routes of "llama-rerank --help") over HTTP.
Each option can also come from its environment variable; the command line wins. A boolean
variable takes 1, true, 0 or false; an empty variable counts as unset. API keys add up: those
of --api-key, --api-key-file and their variables are all accepted.

${serveOptionsHelp()}
`

async function serve(args) {
  const { values } = parse(args, serveParseOptions())
  // Every option from the command line, else the environment, else its default: the object the
  // server runs with (it is printed on the "settings:" line, keys left out).
  const settings = resolveServeSettings(values)
  const { host, port, contexts, contextSize, kvCacheType, gpuLayers } = settings
  const threads = settings.threads ?? Math.max(1, Math.floor(availableParallelism() / contexts))
  const limits = limitsOf(settings)
  const name = settings.model ?? DEFAULT_MODEL
  const apiKeys = await apiKeysOf(settings)
  const { isLoopbackHost } = await import('../server/index.mjs')
  // Checked before the model loads, so a misconfigured deployment fails at once.
  if (apiKeys.length === 0 && !isLoopbackHost(host) && !settings.insecureNoAuth) {
    throw new UsageError(
      `refusing to listen on ${host} without an API key: every machine that can reach it could use the server. ` +
        'Give --api-key KEY, --api-key-file FILE or LLAMA_RERANK_API_KEY, or --insecure-no-auth on a network you trust ' +
        '(or behind a proxy that checks keys)',
    )
  }

  const log = (line, entry) => process.stderr.write(entry ? `${line}\n` : `llama-rerank: ${line}\n`)
  const { apiKeys: _keys, apiKeyFiles, ...shown } = settings
  log(`settings: ${JSON.stringify({ ...shown, model: name, threads, apiKeys: apiKeys.length, apiKeyFiles }, (_, v) => v ?? null)}`)

  const { startServer } = await import('../server/index.mjs')
  const loadStarted = performance.now()
  const model = await lib().loadModel(name, gpuLayers === undefined ? {} : { gpuLayers })
  const pool = []
  for (let i = 0; i < contexts; i++) pool.push(await model.createRankingContext({ contextSize, threads, kvCacheType }))
  const modelLoadSeconds = (performance.now() - loadStarted) / 1000
  const modelName = name.startsWith('hf:') ? name.slice(3) : path.basename(name)
  let server
  try {
    server = await startServer({
      contexts: pool,
      modelName,
      modelInfo: model.info,
      host,
      port,
      limits,
      apiKeys,
      publicMetrics: settings.publicMetrics,
      cors: settings.cors,
      accessLog: settings.accessLog,
      modelLoadSeconds,
      version: pkg.version,
      log,
    })
  } catch (error) {
    await model.dispose()
    throw Object.assign(new Error(`cannot listen on ${host}:${port}: ${error.message}`), { code: error.code })
  }
  // The signal handlers go in before the line that says the server is ready: a supervisor (or a
  // test) that stops the server as soon as it reads that line must find them in place.
  const stopped = new Promise((resolve) => {
    let stopping = false
    const stop = (signal) => {
      if (stopping) {
        log(`${signal} again: exiting now`)
        process.exit(130)
      }
      stopping = true
      log(`${signal}: finishing ${server.pending} request(s), then exiting`)
      server.close().then(async () => {
        await model.dispose()
        log('stopped')
        resolve(0)
      })
    }
    process.on('SIGINT', () => stop('SIGINT'))
    process.on('SIGTERM', () => stop('SIGTERM'))
  })
  log(
    `serving ${modelName} (${model.info.architecture}, ${model.info.scoring}) on ${server.url} with ${contexts} context${contexts > 1 ? 's' : ''}; POST ${server.url}/v1/rerank`,
  )
  log(
    server.authRequired
      ? `API key required (${apiKeys.length} key${apiKeys.length > 1 ? 's' : ''}) on every route but /health and /openapi.json${settings.publicMetrics ? ' and /metrics' : ''}`
      : 'no API key: every client that reaches this address can use the server',
  )
  return await stopped
}

// ---------------------------------------------------------------------------------------------

async function main(argv) {
  const [command, ...rest] = argv
  if (command === undefined) {
    process.stderr.write(HELP)
    return 2
  }
  if (command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(HELP)
    return 0
  }
  if (command === '--version' || command === '-V' || command === '-v') {
    process.stdout.write(`llama-rerank ${pkg.version}\n`)
    return 0
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(command === 'serve' ? SERVE_HELP : HELP)
    return 0
  }
  switch (command) {
    case 'rank':
      return rank(rest)
    case 'info':
      return info(rest)
    case 'serve':
      return serve(rest)
    default:
      throw new UsageError(`unknown command ${JSON.stringify(command)}`)
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code
  },
  (error) => {
    if (error instanceof UsageError) {
      process.stderr.write(`llama-rerank: ${error.message}\nRun "llama-rerank --help" for usage.\n`)
      process.exitCode = 2
    } else if (error?.code === 'ABORT_ERR' || error?.name === 'AbortError') {
      process.stderr.write('llama-rerank: interrupted\n')
      process.exitCode = 130
    } else {
      process.stderr.write(`llama-rerank: ${error?.code ? `${error.code}: ` : ''}${error?.message ?? error}\n`)
      process.exitCode = 1
    }
  },
)
