// What the measurement scripts (abort_latency, disconnect_latency, load_test, soak) share: the
// repository's root, the addon, the default fixture model, their command-line options, the
// benchmark's workloads sized with a context's tokenizer, and the summary helpers.
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { buildWorkload } from './workloads.mjs'

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')

/** The model measured when --model is not given. */
export const DEFAULT_MODEL = path.join(root, 'fixtures', 'qwen3-reranker-pooled.gguf')

/** The addon (the repository's build), loaded when first asked for. */
export const addon = () => createRequire(import.meta.url)(path.join(root, 'index.js'))

/** The script's options (node:util parseArgs' `options`), with `--model` (default DEFAULT_MODEL) added. */
export function parseOptions(options) {
  return parseArgs({ options: { model: { type: 'string', default: DEFAULT_MODEL }, ...options } }).values
}

/** The benchmark's workload `key` (bench/workloads.mjs), documents sized in `context`'s tokens. */
export function workloadFor(context, key) {
  const empty = new Map()
  return buildWorkload(key, (q, d) => {
    if (!empty.has(q)) empty.set(q, context.calculateInputLength(q, ''))
    return context.calculateInputLength(q, d) - empty.get(q)
  })
}

/** The CPU features that matter for llama.cpp's kernels (Linux), else the architecture. */
export function cpuFlags() {
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('flags'))
    const set = new Set(line.split(':')[1].trim().split(/\s+/))
    return ['avx2', 'fma', 'f16c', 'avx512f'].filter((f) => set.has(f)).join(' ')
  } catch {
    return process.arch
  }
}

/** The q-quantile of ascending `xs` (nearest rank). */
export const quantile = (xs, q) => xs[Math.min(xs.length - 1, Math.ceil(q * xs.length) - 1)]
