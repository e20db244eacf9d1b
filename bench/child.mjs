// One benchmark measurement in its own process, so that peak RSS belongs to one engine.
// Spawned by bench/run.mjs; prints one line `BENCH_RESULT {json}` on stdout.
//
//   node bench/child.mjs prepare <model.gguf> <workload> <contextSize> <out.json> [<first N documents>]
//   node bench/child.mjs run <engine> <model.gguf> <workload.json> <contextSize> <threads>
//
// engine: "llama-rerank" or "node-llama-cpp".

import { readFileSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import { nodeLlamaCpp } from './node_llama_cpp.mjs'
import { buildWorkload } from './workloads.mjs'

const require = createRequire(import.meta.url)
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const MiB = 1024 * 1024

function report(obj) {
  const u = process.cpuUsage()
  obj.cpuSeconds = (u.user + u.system) / 1e6
  process.stdout.write('BENCH_RESULT ' + JSON.stringify(obj) + '\n')
}

const rssMiB = () => process.memoryUsage().rss / MiB
const peakRssMiB = () => process.resourceUsage().maxRSS / 1024 // maxRSS is in KiB

/**
 * Tokens the engine really evaluated in the last call, if it says so. llama-rerank may expose
 * either a cumulative counter `context.stats.tokensComputed` or the last call's
 * `context.lastCallStats.tokensComputed` (e.g. fewer than the pair tokens with prefix reuse).
 */
function computedCounter(ctx) {
  const cumulative = ctx.stats?.tokensComputed
  if (typeof cumulative === 'number') return { kind: 'stats.tokensComputed', value: cumulative }
  return null
}
function tokensComputedSince(ctx, before) {
  const now = computedCounter(ctx)
  if (now && before) return { field: now.kind, tokens: now.value - before.value }
  const last = ctx.lastCallStats?.tokensComputed
  if (typeof last === 'number') return { field: 'lastCallStats.tokensComputed', tokens: last }
  return null
}

async function openLlamaRerank(modelPath, contextSize, threads) {
  const lr = require(ROOT)
  const model = await lr.loadModel(modelPath)
  const rssAfterLoad = rssMiB()
  const ctx = await model.createRankingContext({ contextSize, threads })
  return { model, ctx, rssAfterLoad, info: { ...model.info }, engineVersion: require(path.join(ROOT, 'package.json')).version }
}

async function openNodeLlamaCpp(modelPath, contextSize, threads) {
  const { llama, version } = await nodeLlamaCpp()
  const model = await llama.loadModel({ modelPath })
  const rssAfterLoad = rssMiB()
  const ctx = await model.createRankingContext({ contextSize, threads })
  return {
    model,
    ctx,
    rssAfterLoad,
    info: { buildType: llama.buildType, gpu: llama.gpu, llamaCppRelease: llama.llamaCppRelease?.release, systemInfo: llama.systemInfo },
    engineVersion: version,
  }
}

async function prepare([modelPath, workload, contextSize, out, limit]) {
  const lr = require(ROOT)
  const model = await lr.loadModel(modelPath)
  const ctx = await model.createRankingContext({ contextSize: Number(contextSize), threads: 1 })
  const base = new Map()
  const docTokens = (q, d) => {
    if (!base.has(q)) base.set(q, ctx.calculateInputLength(q, ''))
    return ctx.calculateInputLength(q, d) - base.get(q)
  }
  const w = buildWorkload(workload, docTokens)
  if (Number(limit) > 0) {
    w.documents = w.documents.slice(0, Number(limit))
    w.targets = w.targets.slice(0, Number(limit))
    w.docTokens = w.docTokens.slice(0, Number(limit))
  }
  w.pairTokens = w.documents.map((d) => ctx.calculateInputLength(w.query, d))
  w.emptyPairTokens = base.get(w.query)
  w.model = path.basename(modelPath)
  writeFileSync(out, JSON.stringify(w, null, 1))
  await model.dispose()
  const sum = (a) => a.reduce((x, y) => x + y, 0)
  report({
    ok: true,
    documents: w.documents.length,
    docTokensMin: Math.min(...w.docTokens),
    docTokensMax: Math.max(...w.docTokens),
    pairTokens: sum(w.pairTokens),
  })
}

async function run([engine, modelPath, workloadFile, contextSize, threads]) {
  const w = JSON.parse(readFileSync(workloadFile, 'utf8'))
  contextSize = Number(contextSize)
  threads = Number(threads)
  const result = { engine, model: path.basename(modelPath), workload: w.key, contextSize, threads }
  let opened
  try {
    opened =
      engine === 'llama-rerank'
        ? await openLlamaRerank(modelPath, contextSize, threads)
        : await openNodeLlamaCpp(modelPath, contextSize, threads)
  } catch (e) {
    const error = String(e?.message ?? e)
    report({ ...result, ok: false, unsupported: /not supported/i.test(error), error })
    return
  }
  const { ctx } = opened
  result.engineVersion = opened.engineVersion
  result.engineInfo = opened.info
  result.rssAfterLoadMiB = opened.rssAfterLoad
  result.rssAfterContextMiB = rssMiB()
  const pairTokens = w.documents.map((d) => ctx.calculateInputLength(w.query, d))
  result.pairTokens = pairTokens.reduce((x, y) => x + y, 0)
  result.documents = w.documents.length
  try {
    // warm-up: pages the weights in and lets llama.cpp allocate its compute buffers
    const warm = w.documents.slice(0, 2)
    const tw = performance.now()
    await ctx.rankAll(w.query, warm)
    result.warmupMs = performance.now() - tw

    const before = computedCounter(ctx)
    const batches = []
    const options = {}
    let last = performance.now()
    if (engine === 'llama-rerank') {
      options.onProgress = (done) => {
        const now = performance.now()
        batches.push({ done, ms: now - last })
        last = now
      }
    }
    const t0 = performance.now()
    last = t0
    const scores = await ctx.rankAll(w.query, w.documents, options)
    const ms = performance.now() - t0
    const computed = tokensComputedSince(ctx, before)
    result.ok = true
    result.ms = ms
    result.tokensComputed = computed ? computed.tokens : result.pairTokens
    result.tokensComputedSource = computed ? computed.field : 'sum of pair tokens'
    const kv = ctx.lastCallStats?.kvCells
    if (typeof kv === 'number' && kv > 0) result.kvCells = kv
    result.docsPerSecond = w.documents.length / (ms / 1000)
    result.promptTokensPerSecond = result.pairTokens / (ms / 1000)
    result.computedTokensPerSecond = result.tokensComputed / (ms / 1000)
    result.nonFinite = scores.filter((s) => !Number.isFinite(s)).length
    result.scoreMean = scores.reduce((x, y) => x + y, 0) / scores.length
    if (batches.length) {
      let prev = 0
      result.batches = batches.map((b) => {
        const docs = b.done - prev
        prev = b.done
        return { docs, ms: Math.round(b.ms) }
      })
    }
  } catch (e) {
    result.ok = false
    result.error = String(e?.message ?? e)
  }
  result.peakRssMiB = peakRssMiB()
  report(result)
  // node-llama-cpp keeps worker threads alive; leave without waiting for them
  process.exit(0)
}

const [mode, ...rest] = process.argv.slice(2)
const main = mode === 'prepare' ? prepare : run
main(rest).catch((e) => {
  report({ ok: false, error: String(e?.stack ?? e) })
  process.exit(1)
})
