// Runs the bug report's reproduction (bugreport-qwen3.mjs) on both Qwen3-Reranker conversions,
// with the runtime running this test (node or bun): finite scores that match the reference.
// Then runs it again with the import line switched back to node-llama-cpp, to show what the
// report was about.

import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { describe, test } from 'node:test'
import { expected, fixture, root, TOLERANCE } from './support/helpers.mjs'

const script = path.join(root, '__test__', 'support', 'bugreport-qwen3.mjs')
const source = readFileSync(script, 'utf8')
const IMPORT_LINE = /^import \{ getLlama \} from 'llama-rerank\/compat'.*$/m
const QUERY = 'What is the capital of France?'

/** Runs the script with this runtime; returns its exit code and what it printed. */
function run(file, modelPath) {
  const out = spawnSync(process.execPath, [file, modelPath], {
    cwd: root,
    encoding: 'utf8',
    timeout: 120_000,
    // node-llama-cpp: use the CPU binary it ships, look for no GPU
    env: { ...process.env, NODE_LLAMA_CPP_GPU: 'false' },
  })
  return { status: out.status, stdout: out.stdout, stderr: out.stderr }
}

/** `rank: x` then `score<TAB>document` lines, best first. */
function parse(stdout) {
  const lines = stdout.trim().split('\n')
  const rank = Number(/^rank: (.*)$/.exec(lines[0])[1])
  const ranked = lines.slice(1).map((line) => {
    const [score, document] = line.split('\t')
    return { score: Number(score), document }
  })
  return { rank, ranked }
}

const referenceScore = (name, document) =>
  expected[name].pairs.find((p) => p.query === QUERY && p.document === document && p.instruction === null).score

test('the script differs from the report only by its import line', () => {
  assert.equal(source.match(new RegExp(IMPORT_LINE, 'gm')).length, 1)
  assert.equal((source.match(/^import /gm) ?? []).length, 1, 'one import, the one that changed')
})

for (const name of ['qwen3-reranker-pooled.gguf', 'qwen3-reranker-causal.gguf']) {
  describe(name, () => {
    test('llama-rerank/compat: finite scores that match transformers', () => {
      const out = run(script, fixture(name))
      assert.equal(out.status, 0, out.stderr)
      const { rank, ranked } = parse(out.stdout)
      const relevant = 'Paris is the capital and largest city of France.'
      assert.ok(Number.isFinite(rank))
      assert.ok(Math.abs(rank - referenceScore(name, relevant)) <= TOLERANCE[name], `rank ${rank}`)
      assert.equal(ranked.length, 2)
      assert.equal(ranked[0].document, relevant)
      for (const { score, document } of ranked) {
        assert.ok(Number.isFinite(score), `${document}: ${score}`)
        assert.ok(Math.abs(score - referenceScore(name, document)) <= TOLERANCE[name], `${document}: ${score}`)
      }
    })

    test('node-llama-cpp 3.21.1 (import switched back): what the report was about', (t) => {
      const dir = mkdtempSync(path.join(tmpdir(), 'llama-rerank-bugreport-'))
      const original = path.join(dir, 'bugreport-node-llama-cpp.mjs')
      writeFileSync(original, source.replace(IMPORT_LINE, `import { getLlama } from '${import.meta.resolve('node-llama-cpp')}'`))
      const out = run(original, fixture(name))
      rmSync(dir, { recursive: true, force: true })
      if (name === 'qwen3-reranker-causal.gguf') {
        assert.notEqual(out.status, 0)
        assert.match(out.stderr, /Computing rankings is not supported for this model/)
        return
      }
      assert.equal(out.status, 0, out.stderr)
      const { rank } = parse(out.stdout)
      const reference = referenceScore(name, 'Paris is the capital and largest city of France.')
      t.diagnostic(`node-llama-cpp: ${rank}, reference: ${reference}`)
      assert.ok(Math.abs(rank - reference) > 0.03, 'node-llama-cpp drifts from the reference')
    })
  })
}
