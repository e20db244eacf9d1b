// The process ends with its own status, never a crash, whatever it does while a ranking call
// is decoding: process.exit(), an uncaught error, a worker thread terminated, SIGINT. Each
// scenario runs in fresh child processes of the runtime under test (Node or Bun), many times:
// before the fix, process.exit(1) 5 ms into a rankAll of 40 documents of 200 words died with
// SIGSEGV or SIGABRT in 20 of 30 runs on the Qwen3 fixture.

import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { test } from 'node:test'
import { fixture, root } from './support/helpers.mjs'

const RANK = `
const { loadModel } = require(${JSON.stringify(path.join(root, 'index.js'))})
const words = 'the quick brown fox jumps over the lazy dog while a reranker scores documents about cities rivers and mountains'.split(' ')
const doc = (i) => Array.from({ length: 200 }, (_, j) => words[(i * 7 + j * 3) % words.length]).join(' ')
// Calls then(), when given, once rankAll is under way: 400 documents of 200 words, far more
// than any CPU scores before the exit that then() arranges lands. (Not from an onProgress
// callback: under Bun, a progress call still queued at exit lets the disposal's ERR_DISPOSED
// surface as an uncaught error, and the process exits with 1.)
async function startRanking(file, then) {
  const model = await loadModel(file)
  const context = await model.createRankingContext({ contextSize: 1024 })
  const ranking = context.rankAll('capital of France', Array.from({ length: 400 }, (_, i) => doc(i)))
  if (then) then()
  return ranking
}
`
const SCRIPTS = {
  // The reproduction: process.exit 5 ms into a rankAll.
  'exit.cjs': `${RANK}
startRanking(process.argv[2], () => setTimeout(() => process.exit(1), 5)).then(() => console.log('finished before the exit'))
`,
  // Exit at any point from the start: during the model load, the context's creation or the call.
  'exit-early.cjs': `${RANK}
startRanking(process.argv[2]).then(() => console.log('finished before the exit'))
setTimeout(() => process.exit(1), Math.floor(Math.random() * 60))
`,
  'uncaught.cjs': `${RANK}
startRanking(process.argv[2], () => setTimeout(() => { throw new Error('uncaught on purpose') }, 5)).then(() => console.log('finished before the exit'))
`,
  'sigint-handled.cjs': `${RANK}
process.on('SIGINT', () => process.exit(130))
startRanking(process.argv[2], () => setTimeout(() => process.kill(process.pid, 'SIGINT'), 5)).then(() => console.log('finished before the exit'))
`,
  'worker.cjs': `${RANK}
const { Worker, isMainThread, parentPort } = require('node:worker_threads')
if (isMainThread) {
  const worker = new Worker(__filename, { argv: [process.argv[2]] })
  worker.on('message', () => setTimeout(() => worker.terminate().then(() => process.exit(3)), 5))
} else {
  startRanking(process.argv[2], () => parentPort.postMessage('ranking')).then(() => console.log('finished before the exit'))
}
`,
}

const CASES = [
  // during: the exit comes while rankAll is under way.
  { script: 'exit.cjs', runs: 50, status: 1, during: true },
  { script: 'exit-early.cjs', runs: 30, status: 1, during: false },
  { script: 'uncaught.cjs', runs: 15, status: 1, during: true },
  { script: 'sigint-handled.cjs', runs: 15, status: 130, during: true },
  { script: 'worker.cjs', runs: 15, status: 3, during: true },
]

const dir = mkdtempSync(path.join(tmpdir(), 'llama-rerank-exit-'))
for (const [name, text] of Object.entries(SCRIPTS)) writeFileSync(path.join(dir, name), text)
process.on('exit', () => rmSync(dir, { recursive: true, force: true }))

for (const model of ['qwen3-reranker-pooled.gguf', 'bert-reranker-stock.gguf']) {
  for (const { script, runs, status, during } of CASES) {
    test(`${model}: ${script} while ranking, ${runs} runs: exit status ${status}, no signal`, { timeout: 300_000 }, () => {
      const outcomes = new Map()
      let finishedFirst = 0
      for (let i = 0; i < runs; i++) {
        const r = spawnSync(process.execPath, [path.join(dir, script), fixture(model)], { encoding: 'utf8', timeout: 60_000 })
        if (r.stdout.includes('finished before the exit')) finishedFirst++
        const key = r.signal ? `signal ${r.signal}` : `status ${r.status}`
        outcomes.set(key, (outcomes.get(key) ?? 0) + 1)
      }
      assert.deepEqual([...outcomes], [[`status ${status}`, runs]])
      if (during) assert.equal(finishedFirst, 0, 'every exit came while the call was running')
    })
  }
}
