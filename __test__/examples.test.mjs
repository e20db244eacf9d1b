// The examples in examples/ run as a user runs them (in a child process of this runtime) and
// print what their header says, with the reference scores.

import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import path from 'node:path'
import { test } from 'node:test'
import { expected, fixture, root, TOLERANCE } from './support/helpers.mjs'

const RANK = path.join(root, 'examples', 'rank.mjs')
const QUERY = 'What is the capital of France?'

function run(args) {
  const out = spawnSync(process.execPath, [RANK, ...args], { cwd: root, encoding: 'utf8', timeout: 120_000 })
  if (out.error) throw out.error
  return out
}

/** The plain pairs of QUERY in the reference: the documents and their scores. */
function referencePairs(name) {
  return expected[name].pairs.filter((p) => p.query === QUERY && p.maxLength === null && p.instruction === null)
}

for (const name of ['qwen3-reranker-pooled.gguf', 'bert-reranker-stock.gguf']) {
  test(`examples/rank.mjs --json ranks ${name}'s documents best first, with the reference scores`, () => {
    const pairs = referencePairs(name)
    assert.ok(pairs.length >= 3, `${name}: too few reference pairs`)
    const out = run([
      '--model',
      fixture(name),
      '--context-size',
      String(expected[name].nCtxTrain),
      '--json',
      QUERY,
      ...pairs.map((p) => p.document),
    ])
    assert.equal(out.status, 0, out.stderr)
    const { model, query, results } = JSON.parse(out.stdout)
    assert.equal(query, QUERY)
    assert.equal(model.scoring, expected[name].scoring)
    assert.equal(results.length, pairs.length)
    assert.deepEqual(
      results.map((r) => r.index).sort((a, b) => a - b),
      pairs.map((_, i) => i),
    )
    for (let i = 1; i < results.length; i++) assert.ok(results[i - 1].score >= results[i].score, 'best first')
    for (const { index, score, document } of results) {
      assert.equal(document, pairs[index].document)
      assert.ok(Math.abs(score - pairs[index].score) <= TOLERANCE[name], `#${index}: ${score}, reference ${pairs[index].score}`)
    }
  })
}

test('examples/rank.mjs prints the model and one line per document, best first', () => {
  const name = 'bert-reranker-stock.gguf'
  // One line a document: documents with a line break of their own are left out here.
  const pairs = referencePairs(name).filter((p) => !p.document.includes('\n'))
  const out = run(['--model', fixture(name), QUERY, ...pairs.map((p) => p.document)])
  assert.equal(out.status, 0, out.stderr)
  const [header, ...lines] = out.stdout.trim().split('\n')
  assert.match(header, /reranker, scoring: /)
  assert.equal(lines.length, pairs.length)
  const best = pairs.reduce((a, b) => (b.score > a.score ? b : a))
  assert.match(lines[0], new RegExp(`^\\d\\.\\d{4}  #${pairs.indexOf(best)}  `))
})

test('examples/rank.mjs without a model or documents prints its usage and exits with 2', () => {
  const out = run([])
  assert.equal(out.status, 2)
  assert.match(out.stderr, /^usage: node examples\/rank\.mjs --model FILE/)
})

test('examples/rank.mjs with a missing model file exits with 1 and names the error code', () => {
  const out = run(['--model', path.join(root, 'fixtures', 'no-such-model.gguf'), QUERY, 'a document'])
  assert.equal(out.status, 1)
  assert.match(out.stderr, /^error ERR_[A-Z_]+: /)
})
