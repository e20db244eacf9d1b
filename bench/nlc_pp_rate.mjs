// The benchmark's independent limit: llama.cpp's prompt-processing rate for a model, measured
// with node-llama-cpp's prebuilt llama.cpp (not our build), through its low-level context API.
// Spawned by bench/run.mjs; prints one line `BENCH_RESULT {json}` on stdout.
//
//   node bench/nlc_pp_rate.mjs <model.gguf> <threads> [--batch 512] [--reps 4] [--encoder]
//
// Decoders: one context with one sequence, batch size BATCH (node-llama-cpp uses it for both
// n_batch and n_ubatch), flash attention off (as llama-rerank), then BATCH pseudo-random tokens
// evaluated once to warm up and REPS more times, the sequence cleared before each: what
// llama-bench's pp test does (logits of the last token only).
// Encoders (BERT cross-encoders) have no plain context in node-llama-cpp: their rate is that of
// its ranking context on one BATCH-token input (a short query plus a random-token document that
// fills the rest), which is a single RANK-pooled decode of BATCH tokens.

import path from 'node:path'
import { performance } from 'node:perf_hooks'
import { nodeLlamaCpp } from './node_llama_cpp.mjs'

function report(obj) {
  const u = process.cpuUsage()
  obj.cpuSeconds = (u.user + u.system) / 1e6
  obj.peakRssMiB = process.resourceUsage().maxRSS / 1024
  process.stdout.write('BENCH_RESULT ' + JSON.stringify(obj) + '\n')
}

/** Deterministic pseudo-random token ids in [lo, hi). */
function randomTokens(n, lo, hi, seed = 12345) {
  let s = seed >>> 0
  const out = []
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0
    out.push(lo + (s % (hi - lo)))
  }
  return out
}

async function main() {
  const argv = process.argv.slice(2)
  const modelPath = argv[0]
  const threads = Number(argv[1] ?? 2)
  const opt = (name, dflt) => {
    const i = argv.indexOf(name)
    return i >= 0 ? Number(argv[i + 1]) : dflt
  }
  const batch = opt('--batch', 512)
  const reps = opt('--reps', 4)
  const encoder = argv.includes('--encoder')

  const { llama, version } = await nodeLlamaCpp()
  const result = {
    engine: 'limit',
    source: 'node-llama-cpp',
    engineVersion: version,
    buildType: llama.buildType,
    llamaCppRelease: llama.llamaCppRelease?.release,
    systemInfo: llama.systemInfo,
    model: path.basename(modelPath),
    threads,
    batch,
    mode: encoder ? 'encoder (ranking context)' : 'causal (last-token logits)',
  }
  const model = await llama.loadModel({ modelPath })
  // Ordinary ids, away from the control tokens: every benchmark model has over 30,000 tokens,
  // and the time of a decode does not depend on which ids it gets.
  const lo = 1000
  const hi = 20000
  const perRep = []
  if (encoder) {
    const ctx = await model.createRankingContext({ contextSize: batch, batchSize: batch, threads })
    const query = randomTokens(8, lo, hi, 7)
    // query + document + the special tokens fill the batch (node-llama-cpp keeps one cell free)
    let docLen = batch - query.length
    while (docLen > 0 && ctx.calculateInputLength(query, randomTokens(docLen, lo, hi)) > batch - 1) docLen--
    const doc = randomTokens(docLen, lo, hi)
    const tokens = ctx.calculateInputLength(query, doc)
    await ctx.rank(query, doc) // warm-up
    for (let r = 0; r < reps; r++) {
      const t0 = performance.now()
      await ctx.rank(query, doc)
      perRep.push(tokens / ((performance.now() - t0) / 1000))
    }
    result.tokens = tokens
  } else {
    const ctx = await model.createContext({ contextSize: batch * 2, batchSize: batch, sequences: 1, threads, flashAttention: false })
    const seq = ctx.getSequence()
    const tokens = randomTokens(batch, lo, hi)
    await seq.evaluateWithoutGeneratingNewTokens(tokens) // warm-up
    for (let r = 0; r < reps; r++) {
      await seq.clearHistory()
      const t0 = performance.now()
      await seq.evaluateWithoutGeneratingNewTokens(tokens)
      perRep.push(batch / ((performance.now() - t0) / 1000))
    }
    result.tokens = batch
  }
  const sorted = [...perRep].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  result.ok = true
  result.perRep = perRep.map((x) => +x.toFixed(1))
  result.tokensPerSecond = sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
  report(result)
  process.exit(0)
}

main().catch((e) => {
  report({ ok: false, engine: 'limit', source: 'node-llama-cpp', error: String(e?.stack ?? e) })
  process.exit(1)
})
