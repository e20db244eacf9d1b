// A ranking context that nothing refers to any more while its call runs (as after
// `await (await model.createRankingContext()).rankAll(…)`) must not be disposed under the call
// when the garbage collector takes it: the call holds its context until it settles.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import path from 'node:path'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')

// Run in a child: Node exposes gc() only with --expose-gc; Bun has Bun.gc.
const child = `
const lib = require(${JSON.stringify(path.join(root, 'index.js'))})
const collect = globalThis.Bun ? () => Bun.gc(true) : () => globalThis.gc()
;(async () => {
  const model = await lib.loadModel(${JSON.stringify(path.join(root, 'fixtures', 'qwen3-reranker-pooled.gguf'))})
  const docs = Array.from({ length: 24 }, (_, j) => 'document ' + j + ' about the history of bicycles '.repeat(20))
  const outcomes = []
  for (let i = 0; i < 3; i++) {
    const call = (await model.createRankingContext({ threads: 1 })).rankAll('what is a bicycle?', docs)
    const settled = call.then((s) => 'scored ' + s.length, (e) => 'rejected ' + e.code)
    let done = false
    settled.then(() => (done = true))
    // collect while the call runs, until it settles
    while (!done) {
      collect()
      await new Promise((r) => setTimeout(r, 5))
    }
    outcomes.push(await settled)
  }
  await model.dispose()
  console.log(JSON.stringify(outcomes))
})()
`

test('a context collected while its call runs does not dispose the call', () => {
  const args = globalThis.Bun ? ['-e', child] : ['--expose-gc', '-e', child]
  const run = spawnSync(process.execPath, args, { encoding: 'utf8', timeout: 300_000 })
  assert.equal(run.status, 0, run.stderr)
  assert.deepEqual(JSON.parse(run.stdout.trim().split('\n').pop()), ['scored 24', 'scored 24', 'scored 24'])
})
