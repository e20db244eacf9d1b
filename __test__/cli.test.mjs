// The llama-rerank command on the fixtures: table and JSON output, documents from arguments,
// files and standard input, --top-k, info, hf: URIs, exit codes and messages.

import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, before, describe, test } from 'node:test'
import { cleanEnv, run } from './support/cli-helpers.mjs'
import { startFakeHub } from './support/fake-hub.mjs'
import { expected, fixture, root } from './support/helpers.mjs'

const POOLED = fixture('qwen3-reranker-pooled.gguf')
const file = expected['qwen3-reranker-pooled.gguf']
const QUERY = 'What is the capital of France?'
const pairs = file.pairs.filter((p) => p.query === QUERY && p.instruction === null && p.maxLength === null)
const docs = pairs.map((p) => p.document)
const refScore = (doc) => pairs.find((p) => p.document === doc).score
const byScore = [...pairs].sort((a, b) => b.score - a.score)
const version = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')).version

const scratch = mkdtempSync(path.join(tmpdir(), 'llama-rerank-cli-'))
after(() => rmSync(scratch, { recursive: true, force: true }))

const jsonLines = (stdout) =>
  stdout
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l))

// Documents a line-based format can carry (the others hold newlines or are blank).
const lineDocs = docs.filter((d) => d.trim() !== '' && !d.includes('\n'))

/** Rows of `given` documents (input order), best first with the reference's scores. */
function assertRanked(rows, { given = docs, n = given.length } = {}) {
  assert.equal(rows.length, n)
  rows.forEach((r, i) => {
    assert.equal(r.rank, i + 1)
    assert.equal(r.document, given[r.index])
    assert.ok(Math.abs(r.score - refScore(r.document)) <= 1e-3, `${r.document}: ${r.score} vs ${refScore(r.document)}`)
    if (i > 0) assert.ok(rows[i - 1].score >= r.score)
  })
  const best = byScore.filter((p) => given.includes(p.document)).slice(0, n)
  assert.deepEqual(
    rows.map((r) => r.document),
    best.map((p) => p.document),
  )
}

test('--version and --help', async () => {
  const v = await run(['--version'])
  assert.equal(v.code, 0)
  assert.equal(v.stdout.trim(), `llama-rerank ${version}`)
  const h = await run(['--help'])
  assert.equal(h.code, 0)
  for (const word of ['rank', 'info', 'serve', '--top-k', '--contexts', 'hf:ggml-org/Qwen3-Reranker-0.6B-Q8_0-GGUF']) {
    assert.ok(h.stdout.includes(word), word)
  }
  assert.equal((await run(['rank', '--help'])).code, 0)
})

test('JSON lines when piped, best first, scores as the reference', async () => {
  const r = await run(['rank', '--model', POOLED, '--query', QUERY, ...docs])
  assert.equal(r.code, 0, r.stderr)
  assertRanked(jsonLines(r.stdout))
  assert.equal(r.stderr, '') // no progress bar off a terminal
})

test('--table prints a ranked table', async () => {
  const r = await run(['rank', '-m', POOLED, '-q', QUERY, '--table', ...docs])
  assert.equal(r.code, 0, r.stderr)
  const lines = r.stdout.split('\n').slice(0, -1)
  assert.match(lines[0], /^\s*rank\s+score\s+index\s+document$/)
  assert.equal(lines.length, docs.length + 1)
  byScore.forEach((p, i) => {
    const m = lines[i + 1].match(/^\s*(\d+) {2}(\d\.\d{4})\s+(\d+) {2}(.*)$/)
    assert.ok(m, lines[i + 1])
    assert.equal(Number(m[1]), i + 1)
    assert.ok(Math.abs(Number(m[2]) - p.score) <= 1e-3)
    assert.equal(docs[Number(m[3])], p.document)
    assert.equal(m[4], p.document.replace(/\s+/g, ' ').trim()) // one line per document
  })
})

test('--top-k keeps the best k', async () => {
  const r = await run(['rank', '-m', POOLED, '-q', QUERY, '--top-k', '2', '--json', ...docs])
  assert.equal(r.code, 0, r.stderr)
  assertRanked(jsonLines(r.stdout), { n: 2 })
})

test('documents from standard input: text lines and JSON lines', async () => {
  const text = await run(['rank', '-m', POOLED, '-q', QUERY, '--file', '-'], { input: lineDocs.join('\n') + '\n\n' })
  assert.equal(text.code, 0, text.stderr)
  assertRanked(jsonLines(text.stdout), { given: lineDocs })
  const jsonl = docs.map((d, i) => JSON.stringify(i % 2 ? d : { id: i, text: d })).join('\n')
  const fromJsonl = await run(['rank', '-m', POOLED, '-q', QUERY, '-f', '-'], { input: jsonl })
  assert.equal(fromJsonl.code, 0, fromJsonl.stderr)
  assertRanked(jsonLines(fromJsonl.stdout))
})

test('documents from .txt and .jsonl files, added to the arguments', async () => {
  const txt = path.join(scratch, 'docs.txt')
  const jsonl = path.join(scratch, 'docs.jsonl')
  const multiLine = docs.filter((d) => !lineDocs.includes(d))
  writeFileSync(txt, lineDocs.slice(1).join('\r\n'))
  writeFileSync(jsonl, multiLine.map((text) => JSON.stringify({ text })).join('\n'))
  const r = await run(['rank', '-m', POOLED, '-q', QUERY, lineDocs[0], '--file', txt, '--file', jsonl])
  assert.equal(r.code, 0, r.stderr)
  assertRanked(jsonLines(r.stdout), { given: [lineDocs[0], ...lineDocs.slice(1), ...multiLine] })
})

test('--instruction reaches a generative reranker', async () => {
  const pair = file.pairs.find((p) => p.instruction !== null)
  const r = await run(['rank', '-m', POOLED, '-q', pair.query, '--instruction', pair.instruction, pair.document])
  assert.equal(r.code, 0, r.stderr)
  const [row] = jsonLines(r.stdout)
  assert.ok(Math.abs(row.score - pair.score) <= 1e-3, `${row.score} vs ${pair.score}`)
})

test('info describes the file and how it is scored', async () => {
  const r = await run(['info', '--model', POOLED])
  assert.equal(r.code, 0, r.stderr)
  const info = JSON.parse(r.stdout)
  assert.equal(info.path, POOLED)
  assert.equal(info.architecture, 'qwen3')
  assert.equal(info.scoring, 'yes-no')
  assert.equal(info.scoreSource, 'pooled-head')
  assert.equal(info.headEvaluation, 'pooling') // untied: its head is not in the file's LM head
  assert.equal(info.trainedContextLength, file.nCtxTrain)
  assert.deepEqual(info.classifierLabels, ['yes', 'no'])
  assert.ok(info.size > 0)
})

describe('exit codes and messages', () => {
  test('a missing model exits 1 naming ERR_MODEL_NOT_FOUND', async () => {
    const r = await run(['rank', '-m', path.join(scratch, 'nope.gguf'), '-q', 'q', 'd'])
    assert.equal(r.code, 1)
    assert.match(r.stderr, /^llama-rerank: ERR_MODEL_NOT_FOUND: .*nope\.gguf/)
    assert.equal(r.stdout, '')
  })

  test('a file that is not a reranker exits 1 naming ERR_NOT_A_RERANKER', async () => {
    const r = await run(['info', '-m', fixture('bert-embedding.gguf')])
    assert.equal(r.code, 1)
    assert.match(r.stderr, /ERR_NOT_A_RERANKER/)
  })

  const usage = [
    [['rank', '-m', POOLED, 'doc'], /missing --query/],
    [['rank', '-m', POOLED, '-q', 'q'], /no documents/],
    [['rank', '-m', POOLED, '-q', 'q', '--top-k', '0', 'd'], /--top-k must be a positive integer/],
    [['rank', '-m', POOLED, '-q', 'q', '--context-size', 'big', 'd'], /--context-size must be a positive integer/],
    [['rank', '-m', POOLED, '-q', 'q', '--frobnicate', 'd'], /Unknown option '--frobnicate'/],
    [['rank', '-m', POOLED, '-q', 'q', '--file', path.join(scratch, 'missing.txt')], /cannot read .*missing\.txt: no such file/],
    [['rank', '-m', POOLED, '-q', 'q', '--json', '--table', 'd'], /exclude each other/],
    [['serve', '-m', POOLED, '--port', '70000'], /--port must be at most 65535/],
    [['frobnicate'], /unknown command "frobnicate"/],
    [[], /Usage:/],
  ]
  for (const [args, message] of usage) {
    test(`bad arguments exit 2: ${args.filter((a) => a !== POOLED).join(' ') || '(none)'}`, async () => {
      const r = await run(args)
      assert.equal(r.code, 2, r.stderr)
      assert.match(r.stderr, message)
      assert.equal(r.stdout, '')
    })
  }
})

describe('hf: URIs on the command line', () => {
  let hub
  let env
  before(async () => {
    hub = await startFakeHub({
      repos: {
        // The default model's repository, served with the tiny fixture.
        'ggml-org/Qwen3-Reranker-0.6B-Q8_0-GGUF': { files: { 'qwen3-reranker-0.6b-q8_0.gguf': POOLED } },
      },
    })
    env = cleanEnv({ HF_ENDPOINT: hub.url, HF_HUB_CACHE: path.join(scratch, 'hf-cache'), HF_HOME: path.join(scratch, 'hf-home') })
  })
  after(() => hub.close())

  test('without --model the default Qwen3-Reranker URI is downloaded, then used from the cache', async () => {
    const first = await run(['rank', '-q', QUERY, ...docs], { env })
    assert.equal(first.code, 0, first.stderr)
    assertRanked(jsonLines(first.stdout))
    assert.ok(hub.requests.some((r) => r.path === '/ggml-org/Qwen3-Reranker-0.6B-Q8_0-GGUF/resolve/main/qwen3-reranker-0.6b-q8_0.gguf'))
    hub.reset()
    const second = await run(['info', '--model', 'hf:ggml-org/Qwen3-Reranker-0.6B-Q8_0-GGUF:Q8_0'], { env })
    assert.equal(second.code, 0, second.stderr)
    assert.match(
      JSON.parse(second.stdout).path,
      /models--ggml-org--Qwen3-Reranker-0\.6B-Q8_0-GGUF\/snapshots\/[0-9a-f]{40}\/qwen3-reranker-0\.6b-q8_0\.gguf$/,
    )
    assert.deepEqual(hub.requests, [])
  })

  test('a missing hub file exits 1 naming ERR_MODEL_NOT_FOUND; offline, ERR_HUB_OFFLINE', async () => {
    const missing = await run(['rank', '-m', 'hf:ggml-org/Qwen3-Reranker-0.6B-Q8_0-GGUF/other.gguf', '-q', 'q', 'd'], { env })
    assert.equal(missing.code, 1)
    assert.match(missing.stderr, /ERR_MODEL_NOT_FOUND: hf:ggml-org\/Qwen3-Reranker-0\.6B-Q8_0-GGUF\/other\.gguf: not found/)
    const offline = await run(['info', '-m', 'hf:someone/else/model.gguf'], { env: { ...env, HF_HUB_OFFLINE: '1' } })
    assert.equal(offline.code, 1)
    assert.match(offline.stderr, /ERR_HUB_OFFLINE/)
  })
})
