#!/usr/bin/env node
// Capacity figures per model shape (docs/capacity.md): documents/s per core with 1 and 2
// threads on documents of a stated length, and memory: RSS of Node with the addon, of the
// model, and of each ranking context at a stated context size. Each figure comes from its own
// child process (so that RSS belongs to one model), and every line carries the CPU flags and
// /proc/loadavg.
//
//   node bench/capacity.mjs [--shapes bert,qwen3] [--threads 1,2] [--out FILE]
//
// Models: the benchmark's shapes in bench/models/ (bench/make_models.py; bench/README.md):
// BERT-base cross-encoder F16 (context 512, 16 documents a call) and Qwen3-Reranker-0.6B pooled
// Q8_0 (context 1024, 4 documents a call: it runs at tens of tokens/s per core). Documents:
// the benchmark's seeded prose cut to 120-136 tokens of the model's tokenizer.
//
// Memory (in the first thread count's child only): RSS after loading, then per context after
// a call on one such document and after a call on a document that fills the whole context (a
// KV cache's pages are resident only once written, so the full call shows the worst case).
import { spawnSync } from 'node:child_process'
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { addon, cpuFlags, root, workloadFor } from './common.mjs'
import { WORKLOADS } from './workloads.mjs'

const SHAPES = {
  bert: { name: 'BERT-base cross-encoder (F16)', file: 'bert-base-shape-reranker-f16.gguf', contextSize: 512, documents: 16 },
  qwen3: {
    name: 'Qwen3-Reranker-0.6B (pooled head, Q8_0)',
    file: 'qwen3-reranker-0.6b-shape-pooled-q8_0.gguf',
    contextSize: 1024,
    documents: 4,
  },
}
const MIN_TOKENS = 120
const MAX_TOKENS = 136
const MiB = 1024 * 1024
const loadavg = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')
const rss = () => process.memoryUsage().rss / MiB

// ---------------------------------------------------------------------------------------------
// Child: one model, one thread count. Prints `CAPACITY {json}`.

async function child(shapeKey, threads, memory) {
  const shape = SHAPES[shapeKey]
  const lr = addon()
  const baseline = rss()
  const model = await lr.loadModel(path.join(root, 'bench', 'models', shape.file))
  const afterLoad = rss()
  WORKLOADS.capacity = {
    name: 'capacity',
    documents: shape.documents,
    minTokens: MIN_TOKENS,
    maxTokens: MAX_TOKENS,
    seed: 0xcafe,
    style: 'prose',
    query: WORKLOADS.a.query,
  }
  const first = await model.createRankingContext({ contextSize: shape.contextSize, threads })
  const workload = workloadFor(first, 'capacity')
  await first.rankAll(workload.query, workload.documents.slice(0, 1))
  const memoryOf = {}
  if (memory) {
    // A document longer than the context: truncated to fill it.
    const long = workload.documents.join(' ').repeat(Math.ceil((2 * shape.contextSize) / (MIN_TOKENS * shape.documents)) + 1)
    memoryOf.oneShort = rss()
    await first.rankAll(workload.query, [long])
    memoryOf.oneFull = rss()
    const second = await model.createRankingContext({ contextSize: shape.contextSize, threads })
    await second.rankAll(workload.query, [long])
    memoryOf.twoFull = rss()
    await second.dispose()
  }
  // The timed call: every document, one context, `threads` threads.
  const load = loadavg()
  const t = performance.now()
  await first.rankAll(workload.query, workload.documents)
  const seconds = (performance.now() - t) / 1000
  const pairTokens = workload.documents.reduce((n, d) => n + first.calculateInputLength(workload.query, d), 0)
  process.stdout.write(
    `CAPACITY ${JSON.stringify({
      shape: shapeKey,
      threads,
      documents: workload.documents.length,
      docTokens: workload.docTokens,
      pairTokens,
      seconds,
      docsPerSecond: workload.documents.length / seconds,
      baseline,
      afterLoad,
      ...memoryOf,
      peak: process.resourceUsage().maxRSS / 1024,
      load: `${load} → ${loadavg()}`,
    })}\n`,
  )
  await model.dispose()
}

// ---------------------------------------------------------------------------------------------
// Parent

async function main() {
  const { values } = await import('node:util').then(({ parseArgs }) =>
    parseArgs({
      options: {
        shapes: { type: 'string', default: 'bert,qwen3' },
        threads: { type: 'string', default: '1,2' },
        out: { type: 'string', default: path.join(root, 'bench', '.work', 'capacity.md') },
      },
    }),
  )
  const command = `node bench/capacity.mjs ${process.argv.slice(2).join(' ')}`.trim()
  console.log(`# ${command}\n# CPU flags: ${cpuFlags()}`)
  const rows = []
  for (const shapeKey of values.shapes.split(',')) {
    for (const threads of values.threads.split(',').map(Number)) {
      const memory = threads === Number(values.threads.split(',')[0])
      const out = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--child', shapeKey, String(threads), String(memory)], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'inherit'],
      })
      const line = out.stdout.split('\n').find((l) => l.startsWith('CAPACITY '))
      if (!line) throw new Error(`the ${shapeKey} child (threads ${threads}) failed: ${out.status}\n${out.stdout}`)
      const r = JSON.parse(line.slice('CAPACITY '.length))
      rows.push(r)
      console.log(
        `${SHAPES[shapeKey].name}, threads ${threads}: ${r.docsPerSecond.toFixed(3)} docs/s (${(r.docsPerSecond / threads).toFixed(3)} per core), ${r.documents} documents of ${Math.min(...r.docTokens)}-${Math.max(...r.docTokens)} tokens, ${(r.pairTokens / r.seconds).toFixed(0)} pair tokens/s; RSS node+addon ${r.baseline.toFixed(0)} MiB, +model ${(r.afterLoad - r.baseline).toFixed(0)} MiB${memory ? `, 1st context +${(r.oneShort - r.afterLoad).toFixed(0)} (short document) +${(r.oneFull - r.afterLoad).toFixed(0)} (full context), 2nd context +${(r.twoFull - r.oneFull).toFixed(0)} MiB (full)` : ''}; CPU flags ${cpuFlags()}; loadavg ${r.load}`,
      )
    }
  }
  const lines = [
    `Command: \`${command}\`; CPU flags: ${cpuFlags()}.`,
    '',
    '| model shape | file | context size | threads | docs/s | docs/s per core | pair tokens/s | load average (during) |',
    '|---|---:|---:|---:|---:|---:|---:|---|',
    ...rows.map((r) => {
      const s = SHAPES[r.shape]
      const size = statSync(path.join(root, 'bench', 'models', s.file)).size / MiB
      return `| ${s.name} | ${size.toFixed(0)} MiB | ${s.contextSize} | ${r.threads} | ${r.docsPerSecond.toFixed(3)} | ${(r.docsPerSecond / r.threads).toFixed(3)} | ${(r.pairTokens / r.seconds).toFixed(0)} | ${r.load} |`
    }),
    '',
    '| model shape | context size | Node + addon | model (after load) | a context, after a 120-136-token document | a context, after a full-context document | 2nd context, full | peak RSS, 2 contexts |',
    '|---|---:|---:|---:|---:|---:|---:|---:|',
    ...rows
      .filter((r) => r.oneFull !== undefined)
      .map(
        (r) =>
          `| ${SHAPES[r.shape].name} | ${SHAPES[r.shape].contextSize} | ${r.baseline.toFixed(0)} MiB | +${(r.afterLoad - r.baseline).toFixed(0)} MiB | +${(r.oneShort - r.afterLoad).toFixed(0)} MiB | +${(r.oneFull - r.afterLoad).toFixed(0)} MiB | +${(r.twoFull - r.oneFull).toFixed(0)} MiB | ${r.peak.toFixed(0)} MiB |`,
      ),
  ]
  const text = `${lines.join('\n')}\n`
  mkdirSync(path.dirname(values.out), { recursive: true })
  writeFileSync(values.out, text)
  console.log(`\n${text}\nwritten to ${path.relative(root, values.out)}`)
}

if (process.argv[2] === '--child') await child(process.argv[3], Number(process.argv[4]), process.argv[5] === 'true')
else await main()
