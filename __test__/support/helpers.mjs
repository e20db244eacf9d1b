// Shared by the test files: where the fixtures are and what the reference says.
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const require = createRequire(import.meta.url)
export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
export const lib = require(path.join(root, 'index.js'))
export const fixtures = path.join(root, 'fixtures')
export const expected = JSON.parse(readFileSync(path.join(fixtures, 'expected.json'), 'utf8')).files
export const fixture = (name) => path.join(fixtures, name)

/** |Δp| allowed against transformers, per file (F16 KV cache for Qwen3; BERT has none). */
export const TOLERANCE = {
  'qwen3-reranker-causal.gguf': 1e-3,
  'qwen3-reranker-pooled.gguf': 1e-3,
  'qwen3-reranker-pooled-lmhead.gguf': 1e-3,
  'qwen3-chat.gguf': 1e-3,
  'bert-reranker-pooler.gguf': 2e-3,
  'bert-reranker-stock.gguf': 2e-3,
}

export const RERANKERS = Object.entries(expected)
  .filter(([, v]) => v.isReranker)
  .map(([name]) => name)

/** The context size a pair is scored with: its maxLength, or the model's trained length. */
export const contextSizeFor = (pair, file) => pair.maxLength ?? file.nCtxTrain

/**
 * Waits until `condition()` (sync or async) is truthy, checking every 10 ms. `timeout` is only an
 * upper bound for something broken: nothing waits for it to pass.
 */
export async function until(condition, what, timeout = 60_000) {
  const deadline = performance.now() + timeout
  for (;;) {
    const value = await condition()
    if (value) return value
    if (performance.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}
