#!/usr/bin/env node
// llama-rerank vs node-llama-cpp vs llama.cpp's own prompt-processing rate (the limit).
//
//   npm run bench                       full run: every model x workload, 2 rounds (49 min to 2 h on 2 threads)
//   npm run bench -- --rounds 1 --model qwen3-pooled --workload a     a quick look
//
// Flags:
//   --rounds N          rounds of alternating measurements (default 2: A-B then B-A); medians over rounds
//   --model LIST        qwen3-pooled,qwen3-causal,bert (default: all)
//   --workload LIST     a,b (default: both)
//   --engines LIST      llama-rerank,node-llama-cpp,limit,own-limit (default: all). limit: llama.cpp's
//                       prompt-processing rate through node-llama-cpp's prebuilt binary (independent
//                       of our build); own-limit: the same through our build (bench/pp_rate.rs)
//   --docs N            use only the first N documents of each workload (quick checks)
//   --threads N         CPU threads of every engine (default 2)
//   --out PREFIX        write PREFIX.md and PREFIX.json (default: bench/results for a full run,
//                       bench/.work/results-quick for a run with any filter)
//   --skip-make         do not (re)generate the models, use bench/models as it is
//   --render FILE.json  only rewrite FILE.md (and FILE.json's summary) from FILE.json's measurements
//   --max-wait S        before each measurement, wait up to S seconds (default 120) until other
//                       processes use under 25% of the CPUs; 0 = do not wait. Their CPU share
//                       during each measurement is recorded either way.
//
// Every measurement runs in its own child process (peak RSS per engine), engines alternate
// within a round, and the order is reversed every other round. See bench/README.md.

import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { WORKLOADS } from './workloads.mjs'

const HERE = path.dirname(fileURLToPath(import.meta.url))
const ROOT = path.resolve(HERE, '..')
const WORK = path.join(HERE, '.work')
const MODELS_DIR = path.join(HERE, 'models')
const MiB = 1024 * 1024

// Qwen3-0.6B: 28 layers x (K + V) x 8 kv heads x 128 x 2 bytes (f16 cache) per token
const QWEN_KV_BYTES_PER_TOKEN = 28 * 2 * 8 * 128 * 2

const MODELS = {
  'qwen3-pooled': {
    file: 'qwen3-reranker-0.6b-shape-pooled-q8_0.gguf',
    label: 'Qwen3-Reranker-0.6B shape, pooled yes/no head, Q8_0',
    short: 'Qwen3 pooled head',
    contextSize: 4096,
    kvBytesPerToken: QWEN_KV_BYTES_PER_TOKEN,
    workloads: ['a', 'b'],
  },
  'qwen3-causal': {
    file: 'qwen3-reranker-0.6b-shape-causal-q8_0.gguf',
    label: 'Qwen3-Reranker-0.6B shape, plain causal LM head, Q8_0',
    short: 'Qwen3 causal',
    contextSize: 4096,
    kvBytesPerToken: QWEN_KV_BYTES_PER_TOKEN,
    workloads: ['a', 'b'],
  },
  bert: {
    file: 'bert-base-shape-reranker-f16.gguf',
    label: 'BERT-base cross-encoder shape, F16',
    short: 'BERT-base cross-encoder',
    contextSize: 512,
    kvBytesPerToken: 0, // an encoder keeps no KV cache
    workloads: ['a'],
    notRun: { b: 'not run: its 512-token context cannot hold 300–900-token documents' },
  },
}
const ENGINES = ['llama-rerank', 'node-llama-cpp', 'limit', 'own-limit']
const LIMITS = new Set(['limit', 'own-limit'])

// ------------------------------------------------------------------------------------------
// arguments
// ------------------------------------------------------------------------------------------

function parseArgs(argv) {
  const a = {
    rounds: 2,
    models: Object.keys(MODELS),
    workloads: ['a', 'b'],
    engines: ENGINES,
    threads: 2,
    out: null,
    skipMake: false,
    filtered: false,
    maxWait: 120,
    docs: 0,
  }
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i]
    const v = () => {
      const x = argv[++i]
      if (x == null) throw new Error(`${k} needs a value`)
      return x
    }
    const list = (allowed) => {
      const xs = v()
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)
      for (const x of xs) if (!allowed.includes(x)) throw new Error(`${k}: unknown ${x} (one of ${allowed.join(', ')})`)
      a.filtered = true
      return xs
    }
    if (k === '--rounds') {
      a.rounds = Number(v())
      a.filtered ||= a.rounds !== 2
    } else if (k === '--model') a.models = list(Object.keys(MODELS))
    else if (k === '--workload') a.workloads = list(Object.keys(WORKLOADS))
    else if (k === '--engines') a.engines = list(ENGINES)
    else if (k === '--threads') {
      a.threads = Number(v())
      a.filtered ||= a.threads !== 2
    } else if (k === '--out') a.out = v()
    else if (k === '--skip-make') a.skipMake = true
    else if (k === '--render') a.render = v()
    else if (k === '--max-wait') a.maxWait = Number(v())
    else if (k === '--docs') {
      a.docs = Number(v())
      a.filtered = true
    } else if (k === '--help' || k === '-h') {
      // The header comment, up to the first line that is not a comment.
      const lines = readFileSync(fileURLToPath(import.meta.url), 'utf8')
        .split('\n')
        .slice(1)
      const end = lines.findIndex((l) => !l.startsWith('//'))
      console.log(
        lines
          .slice(0, end)
          .map((l) => l.slice(3))
          .join('\n'),
      )
      process.exit(0)
    } else throw new Error(`unknown argument ${k}`)
  }
  if (!(a.rounds >= 1)) throw new Error('--rounds must be at least 1')
  a.out ??= a.filtered ? path.join(WORK, 'results-quick') : path.join(HERE, 'results')
  return a
}

// ------------------------------------------------------------------------------------------
// helpers
// ------------------------------------------------------------------------------------------

const log = (...x) => console.log('[bench]', ...x)
const median = (xs) => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((p, q) => p - q)
  if (!s.length) return NaN
  const m = s.length >> 1
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}
const fmt = (x, d = 0) => (Number.isFinite(x) ? x.toFixed(d) : '–')
const pct = (x) => (Number.isFinite(x) ? `${(100 * x).toFixed(0)}%` : '–')

function sh(cmd, args, opts = {}) {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], ...opts })
}

function topProcesses() {
  try {
    const out = sh('ps', ['-eo', 'pcpu,rss,etime,args', '--sort=-pcpu', '--no-headers'])
    return out
      .split('\n')
      .filter(Boolean)
      .slice(0, 8)
      .map((l) => l.trim().replace(/\s+/g, ' ').slice(0, 160))
      .filter((l) => !l.includes('bench/run.mjs') && !l.includes(' ps -eo'))
  } catch {
    return []
  }
}

/** The CPU's SIMD flags that select llama.cpp's kernels (/proc/cpuinfo; lscpu elsewhere). */
export function simdFlags() {
  let text = ''
  try {
    text = readFileSync('/proc/cpuinfo', 'utf8')
  } catch {
    try {
      text = sh('lscpu', [])
    } catch {}
  }
  const line = text.split('\n').find((l) => /^(flags|Features|Flags)\s*:/.test(l)) ?? ''
  const have = new Set(
    line
      .replace(/^[^:]*:/, '')
      .trim()
      .split(/\s+/),
  )
  const wanted = /^(sse4_2|avx|avx2|fma|f16c|bmi2|avx_vnni|avx512\w*|amx\w*|asimd|asimddp|i8mm|sve|sve2|sme)$/
  return [...have].filter((f) => wanted.test(f)).sort()
}

function machineInfo() {
  const cpus = os.cpus()
  return {
    cpu: cpus[0]?.model ?? 'unknown',
    logicalCpus: cpus.length,
    cpuFlags: simdFlags(),
    memoryGiB: +(os.totalmem() / 2 ** 30).toFixed(1),
    os: `${os.type()} ${os.release()}`,
    node: process.version,
  }
}

function ensureModels(args) {
  const needed = args.models.map((m) => MODELS[m].file)
  if (args.skipMake) {
    for (const f of needed) if (!existsSync(path.join(MODELS_DIR, f))) throw new Error(`missing bench/models/${f} (drop --skip-make)`)
    return
  }
  const venv = path.join(os.homedir(), '.cache', 'llama-rerank-bench', 'venv')
  const py = path.join(venv, 'bin', 'python')
  if (!existsSync(py)) {
    log(`creating a Python venv for gguf-py in ${venv}`)
    mkdirSync(path.dirname(venv), { recursive: true })
    sh('python3', ['-m', 'venv', venv], { stdio: 'inherit' })
    sh(py, ['-m', 'pip', 'install', '-q', '-r', path.join(HERE, 'requirements.txt')], { stdio: 'inherit' })
  }
  const only = args.models.flatMap((m) => ['--only', m])
  const r = spawnSync(py, [path.join(HERE, 'make_models.py'), ...only], { stdio: 'inherit' })
  if (r.status !== 0) throw new Error('make_models.py failed')
}

function buildPpRate() {
  log(
    `building the pp_rate example (cargo build --release --example pp_rate --no-default-features ${PP_RATE_FEATURES.join(' ')} --target ${HOST_TRIPLE})`,
  )
  const r = spawnSync(
    'cargo',
    ['build', '--release', '--example', 'pp_rate', '--no-default-features', ...PP_RATE_FEATURES, '--target', HOST_TRIPLE],
    { cwd: ROOT, env: cargoEnv, stdio: 'inherit' },
  )
  if (r.status !== 0) throw new Error('cargo build of the pp_rate example failed')
}

// The same target folder and --target as `npm run build` (scripts/setup.sh) and scripts/test.sh,
// so llama.cpp is not compiled again.
// LLAMA_RERANK_CPU=portable (or fixed) benchmarks that build (lib/cpu_build.cjs): pp_rate is
// built the same way.
const { cpuBuild, hostTriple } = createRequire(import.meta.url)('../lib/cpu_build.cjs')
const HOST_TRIPLE = hostTriple()
const CPU_BUILD = cpuBuild()
const cargoEnv = { ...process.env, CARGO_TARGET_DIR: CPU_BUILD.targetDir, RUSTFLAGS: CPU_BUILD.rustflags }
const PP_RATE_FEATURES = CPU_BUILD.features.length ? ['--features', CPU_BUILD.features.join(',')] : []
const childEnv = { ...process.env, NODE_LLAMA_CPP_SKIP_DOWNLOAD: 'true', NODE_LLAMA_CPP_GPU: 'false' }

// CPU accounting from /proc/stat, to tell how much other processes ran during a measurement
const USER_HZ = 100
function cpuStat() {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number)
    const total = f.reduce((x, y) => x + y, 0)
    return { total, idle: f[3] + (f[4] || 0) }
  } catch {
    return null
  }
}
function busySeconds(a, b) {
  return a && b ? (b.total - a.total - (b.idle - a.idle)) / USER_HZ : NaN
}
const sleep = (ms) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms)
/** Waits (at most maxWaitS) until the other processes use less than `threshold` of the CPUs. */
function waitIdle(maxWaitS, threshold = 0.25) {
  const ncpu = os.cpus().length
  const t0 = Date.now()
  for (;;) {
    const a = cpuStat()
    sleep(1000)
    const share = busySeconds(a, cpuStat()) / ncpu
    if (!(share >= threshold) || (Date.now() - t0) / 1000 >= maxWaitS) return { share, waitedS: (Date.now() - t0) / 1000 }
    sleep(4000)
  }
}

function runChild(args, timeoutMs = 30 * 60 * 1000) {
  const r = spawnSync(process.execPath, [path.join(HERE, 'child.mjs'), ...args], {
    cwd: ROOT,
    env: childEnv,
    encoding: 'utf8',
    maxBuffer: 64 * MiB,
    timeout: timeoutMs,
  })
  const line = (r.stdout || '').split('\n').find((l) => l.startsWith('BENCH_RESULT '))
  if (!line) {
    return { ok: false, error: `child exited with ${r.status ?? r.signal}: ${(r.stderr || '').trim().split('\n').slice(-3).join(' | ')}` }
  }
  return JSON.parse(line.slice('BENCH_RESULT '.length))
}

/** The independent limit: node-llama-cpp's own llama.cpp build (bench/nlc_pp_rate.mjs). */
function runIndependentLimit(modelPath, threads, encoder) {
  const r = spawnSync(
    process.execPath,
    [path.join(HERE, 'nlc_pp_rate.mjs'), modelPath, String(threads), '--batch', '512', '--reps', '4', ...(encoder ? ['--encoder'] : [])],
    {
      cwd: ROOT,
      env: childEnv,
      encoding: 'utf8',
      maxBuffer: 16 * MiB,
      timeout: 15 * 60 * 1000,
    },
  )
  const line = (r.stdout || '').split('\n').find((l) => l.startsWith('BENCH_RESULT '))
  if (!line)
    return { ok: false, error: `exited with ${r.status ?? r.signal}: ${(r.stderr || '').trim().split('\n').slice(-3).join(' | ')}` }
  return JSON.parse(line.slice('BENCH_RESULT '.length))
}

/** Our build's rate (bench/pp_rate.rs): a second figure, not the limit. */
function runOwnLimit(modelPath, threads) {
  const cmdArgs = [
    'run',
    '-q',
    '--release',
    '--example',
    'pp_rate',
    '--no-default-features',
    ...PP_RATE_FEATURES,
    '--target',
    HOST_TRIPLE,
    '--',
    modelPath,
    '--threads',
    String(threads),
    '--batch',
    '512',
    '--reps',
    '4',
  ]
  const r = spawnSync('cargo', cmdArgs, { cwd: ROOT, env: cargoEnv, encoding: 'utf8', maxBuffer: 16 * MiB, timeout: 15 * 60 * 1000 })
  const line = (r.stdout || '')
    .trim()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .pop()
  if (r.status !== 0 || !line) return { ok: false, error: (r.stderr || '').trim().split('\n').slice(-3).join(' | ') }
  const j = JSON.parse(line)
  return {
    ok: true,
    engine: 'own-limit',
    source: 'pp_rate (our build)',
    systemInfo: j.systemInfo,
    tokensPerSecond: j.tokensPerSecond,
    perRep: j.perRep,
    peakRssMiB: j.peakRssMiB,
    mode: j.mode,
    batch: j.batch,
    cpuSeconds: j.cpuSeconds,
  }
}

// ------------------------------------------------------------------------------------------
// main
// ------------------------------------------------------------------------------------------

function render(file) {
  const res = JSON.parse(readFileSync(file, 'utf8'))
  const models = Object.keys(res.models)
  const workloads = Object.keys(res.workloads)
  const engines = ENGINES.filter((e) => LIMITS.has(e) || res.runs.some((r) => r.engine === e) || e === 'node-llama-cpp')
  const plans = models.flatMap((m) =>
    workloads.map((w) =>
      MODELS[m].workloads.includes(w) ? { model: m, workload: w } : { model: m, workload: w, notRun: MODELS[m].notRun?.[w] ?? 'not run' },
    ),
  )
  const modelFiles = Object.fromEntries(models.map((m) => [m, { bytes: res.models[m].bytes }]))
  res.summary = summarize({ models, engines }, plans, res.runs, modelFiles)
  writeFileSync(file, JSON.stringify(res, null, 1) + '\n')
  writeFileSync(file.replace(/\.json$/, '') + '.md', markdown(res))
  log(`rewrote ${file.replace(/\.json$/, '')}.md`)
}

async function main() {
  const args = parseArgs(process.argv.slice(2))
  if (args.render) return render(args.render)
  const started = new Date()
  const command = `node bench/run.mjs ${process.argv.slice(2).join(' ')}`.trim()
  mkdirSync(WORK, { recursive: true })
  const machine = machineInfo()
  const loadStart = os.loadavg()
  const procsStart = topProcesses()
  log(`machine: ${machine.cpu}, ${machine.logicalCpus} CPUs, load ${loadStart.map((x) => x.toFixed(2)).join(' ')}`)

  ensureModels(args)
  const modelFiles = {}
  for (const m of args.models) {
    const p = path.join(MODELS_DIR, MODELS[m].file)
    modelFiles[m] = { path: p, bytes: statSync(p).size }
    log(`${MODELS[m].file}: ${(modelFiles[m].bytes / MiB).toFixed(1)} MiB`)
  }
  try {
    require_addon()
  } catch (e) {
    throw new Error(`llama-rerank's addon does not load (run npm run build first): ${e.message}`)
  }
  if (args.engines.includes('own-limit')) buildPpRate()

  // workloads, fitted with each model's own tokenizer (llama-rerank's calculateInputLength)
  const plans = [] // { model, workload, file } or { model, workload, notRun }
  for (const m of args.models) {
    for (const w of args.workloads) {
      if (!MODELS[m].workloads.includes(w)) {
        plans.push({ model: m, workload: w, notRun: MODELS[m].notRun?.[w] ?? 'not run' })
        continue
      }
      const file = path.join(WORK, `workload-${m}-${w}.json`)
      const r = runChild(['prepare', modelFiles[m].path, w, String(MODELS[m].contextSize), file, String(args.docs)])
      if (!r.ok) throw new Error(`preparing workload ${w} for ${m} failed: ${r.error}`)
      log(
        `workload ${w} (${WORKLOADS[w].name}) for ${m}: ${r.documents} documents of ${r.docTokensMin}–${r.docTokensMax} tokens, ${r.pairTokens} pair tokens`,
      )
      plans.push({ model: m, workload: w, file })
    }
  }

  const runs = []
  const total =
    args.rounds *
    args.models.reduce(
      (n, m) =>
        n +
        plans.filter((p) => p.model === m && !p.notRun).length * args.engines.filter((e) => !LIMITS.has(e)).length +
        args.engines.filter((e) => LIMITS.has(e)).length,
      0,
    )
  const write = (done) => {
    const summary = summarize(args, plans, runs, modelFiles)
    const finished = new Date()
    const result = {
      command,
      complete: done,
      measurements: `${runs.length} of ${total}`,
      startedAt: started.toISOString(),
      minutes: +((finished - started) / 60000).toFixed(1),
      machine: {
        ...machine,
        loadAverageStart: loadStart,
        loadAverageEnd: os.loadavg(),
        busiestProcessesAtStart: procsStart,
        busiestProcessesAtEnd: topProcesses(),
      },
      settings: {
        documentsLimit: args.docs || null,
        rounds: args.rounds,
        threads: args.threads,
        contextSize: Object.fromEntries(args.models.map((m) => [m, MODELS[m].contextSize])),
        limitBatch: 512,
      },
      models: Object.fromEntries(args.models.map((m) => [m, { file: MODELS[m].file, label: MODELS[m].label, bytes: modelFiles[m].bytes }])),
      workloads: Object.fromEntries(args.workloads.map((w) => [w, { ...WORKLOADS[w] }])),
      summary,
      runs,
    }
    writeFileSync(args.out + '.json', JSON.stringify(result, null, 1) + '\n')
    writeFileSync(args.out + '.md', markdown(result))
    return result
  }
  const pairEngines = args.engines.filter((e) => !LIMITS.has(e))
  for (let round = 0; round < args.rounds; round++) {
    const reverse = round % 2 === 1
    for (const m of args.models) {
      const tasks = []
      for (const p of plans.filter((p) => p.model === m && !p.notRun)) {
        for (const e of pairEngines) tasks.push({ engine: e, plan: p })
      }
      const limitTasks = ['limit', 'own-limit'].filter((e) => args.engines.includes(e)).map((engine) => ({ engine }))
      tasks.splice(Math.min(2, tasks.length), 0, ...limitTasks)
      if (reverse) tasks.reverse()
      for (const t of tasks) {
        const idle = args.maxWait > 0 ? waitIdle(args.maxWait) : null
        const load1 = os.loadavg()[0]
        const s0 = cpuStat()
        const t0 = Date.now()
        let r
        if (t.engine === 'limit') {
          r = runIndependentLimit(modelFiles[m].path, args.threads, MODELS[m].contextSize <= 512)
        } else if (t.engine === 'own-limit') {
          r = runOwnLimit(modelFiles[m].path, args.threads)
        } else {
          r = runChild(['run', t.engine, modelFiles[m].path, t.plan.file, String(MODELS[m].contextSize), String(args.threads)])
        }
        const wallS = (Date.now() - t0) / 1000
        const others = (busySeconds(s0, cpuStat()) - (r.cpuSeconds ?? 0)) / (wallS * os.cpus().length)
        Object.assign(r, {
          engine: t.engine,
          modelKey: m,
          workload: t.plan?.workload ?? null,
          round,
          load1Before: +load1.toFixed(2),
          wallMs: Math.round(wallS * 1000),
          othersCpuShareBefore: idle ? +idle.share.toFixed(3) : null,
          waitedForIdleS: idle ? idle.waitedS : 0,
          othersCpuShareDuring: Number.isFinite(others) ? +Math.max(0, others).toFixed(3) : null,
        })
        runs.push(r)
        write(false)
        const what = LIMITS.has(t.engine) ? `${m} ${t.engine}` : `${m} ${t.plan.workload} ${t.engine}`
        if (!r.ok) log(`round ${round + 1}: ${what}: ${r.unsupported ? 'refused' : 'FAILED'}: ${r.error}`)
        else if (LIMITS.has(t.engine))
          log(`round ${round + 1}: ${what}: ${r.tokensPerSecond.toFixed(1)} tokens/s (others ${pct(r.othersCpuShareDuring)})`)
        else
          log(
            `round ${round + 1}: ${what}: ${r.docsPerSecond.toFixed(2)} docs/s, ${r.computedTokensPerSecond.toFixed(1)} tokens/s, peak RSS ${r.peakRssMiB.toFixed(0)} MiB (others ${pct(r.othersCpuShareDuring)})`,
          )
      }
    }
  }

  const result = write(true)
  log(`wrote ${path.relative(ROOT, args.out)}.md and .json (${result.minutes} min)`)
}

function require_addon() {
  // loads the addon the same way the children do, to fail early with a clear message
  const r = spawnSync(process.execPath, ['-e', `require(${JSON.stringify(ROOT)})`], { encoding: 'utf8' })
  if (r.status !== 0) throw new Error((r.stderr || '').trim().split('\n').slice(-2).join(' '))
}

// ------------------------------------------------------------------------------------------
// summary
// ------------------------------------------------------------------------------------------

function summarize(args, plans, runs, modelFiles) {
  const rows = []
  const limits = {}
  const ownLimits = {}
  const limitOf = (engine, m) => {
    const lr = runs.filter((r) => r.engine === engine && r.modelKey === m && r.ok)
    return {
      tokensPerSecond: median(lr.map((r) => r.tokensPerSecond)),
      rounds: lr.map((r) => r.tokensPerSecond),
      peakRssMiB: median(lr.map((r) => r.peakRssMiB)),
      othersCpuShare: median(lr.map((r) => r.othersCpuShareDuring)),
      systemInfo: lr[0]?.systemInfo ?? null,
      mode: lr[0]?.mode ?? null,
    }
  }
  for (const m of args.models) {
    limits[m] = limitOf('limit', m)
    ownLimits[m] = limitOf('own-limit', m)
  }
  for (const p of plans) {
    if (p.notRun) {
      rows.push({ model: p.model, workload: p.workload, engine: null, status: p.notRun })
      continue
    }
    const limitByRound = new Map(
      runs.filter((r) => r.engine === 'limit' && r.modelKey === p.model && r.ok).map((r) => [r.round, r.tokensPerSecond]),
    )
    const ownLimitByRound = new Map(
      runs.filter((r) => r.engine === 'own-limit' && r.modelKey === p.model && r.ok).map((r) => [r.round, r.tokensPerSecond]),
    )
    const ofEngine = (e) => runs.filter((r) => r.engine === e && r.modelKey === p.model && r.workload === p.workload)
    const nlcByRound = new Map(
      ofEngine('node-llama-cpp')
        .filter((r) => r.ok)
        .map((r) => [r.round, r.docsPerSecond]),
    )
    for (const e of args.engines.filter((x) => !LIMITS.has(x))) {
      const all = ofEngine(e)
      const ok = all.filter((r) => r.ok)
      if (!ok.length) {
        const first = all[0]
        const status = !first
          ? 'not measured (the run stopped before it)'
          : first.unsupported
            ? `refuses the file: "${first.error}"`
            : `failed: ${first.error}`
        rows.push({ model: p.model, workload: p.workload, engine: e, status })
        continue
      }
      const ratioRounds =
        e === 'llama-rerank' ? ok.filter((r) => nlcByRound.has(r.round)).map((r) => r.docsPerSecond / nlcByRound.get(r.round)) : []
      const limitFractionRounds = ok
        .filter((r) => limitByRound.has(r.round))
        .map((r) => r.computedTokensPerSecond / limitByRound.get(r.round))
      const ownLimitFractionRounds = ok
        .filter((r) => ownLimitByRound.has(r.round))
        .map((r) => r.computedTokensPerSecond / ownLimitByRound.get(r.round))
      const batchMs = ok.flatMap((r) => (r.batches ?? []).map((b) => b.ms))
      const batchDocs = ok.flatMap((r) => (r.batches ?? []).map((b) => b.docs))
      rows.push({
        model: p.model,
        workload: p.workload,
        engine: e,
        status: 'ok',
        rounds: ok.length,
        documents: ok[0].documents,
        pairTokens: ok[0].pairTokens,
        tokensComputed: median(ok.map((r) => r.tokensComputed)),
        tokensComputedSource: ok[0].tokensComputedSource,
        seconds: median(ok.map((r) => r.ms / 1000)),
        docsPerSecond: median(ok.map((r) => r.docsPerSecond)),
        docsPerSecondRounds: ok.map((r) => +r.docsPerSecond.toFixed(3)),
        promptTokensPerSecond: median(ok.map((r) => r.promptTokensPerSecond)),
        computedTokensPerSecond: median(ok.map((r) => r.computedTokensPerSecond)),
        peakRssMiB: Math.max(...ok.map((r) => r.peakRssMiB)),
        rssAfterLoadMiB: median(ok.map((r) => r.rssAfterLoadMiB)),
        rssAfterContextMiB: median(ok.map((r) => r.rssAfterContextMiB)),
        ratioToNodeLlamaCpp: ratioRounds.length ? median(ratioRounds) : null,
        ratioRounds: ratioRounds.map((x) => +x.toFixed(3)),
        limitFraction: limitFractionRounds.length ? median(limitFractionRounds) : null,
        limitFractionRounds: limitFractionRounds.map((x) => +x.toFixed(3)),
        ownLimitFraction: ownLimitFractionRounds.length ? median(ownLimitFractionRounds) : null,
        batches: batchMs.length
          ? {
              count: median(ok.map((r) => r.batches.length)),
              medianMs: median(batchMs),
              medianDocs: median(batchDocs),
              maxMs: Math.max(...batchMs),
            }
          : null,
        kvCells: median(ok.map((r) => r.kvCells ?? MODELS[p.model].contextSize)),
        memoryBudgetMiB:
          modelFiles[p.model].bytes / MiB +
          (MODELS[p.model].kvBytesPerToken * median(ok.map((r) => r.kvCells ?? MODELS[p.model].contextSize))) / MiB +
          300,
        othersCpuShare: median(ok.map((r) => r.othersCpuShareDuring)),
        engineInfo: ok[0].engineInfo,
        engineVersion: ok[0].engineVersion,
      })
    }
  }
  return { limits, ownLimits, rows, targets: targets(rows) }
}

function targets(rows) {
  const get = (m, w, e = 'llama-rerank') => rows.find((r) => r.model === m && r.workload === w && r.engine === e && r.status === 'ok')
  const out = []
  const ratio = (m, w, need, label) => {
    const r = get(m, w)
    const v = r?.ratioToNodeLlamaCpp
    out.push({ target: label, need: `≥ ${need}×`, measured: v == null ? null : `${v.toFixed(2)}×`, met: v == null ? null : v >= need })
  }
  ratio('qwen3-pooled', 'a', 2.5, 'Qwen3 pooled head, (a) short passages: documents/s vs node-llama-cpp')
  ratio('qwen3-pooled', 'b', 1.5, 'Qwen3 pooled head, (b) QMD-like: documents/s vs node-llama-cpp')
  ratio('bert', 'a', 1.5, 'BERT cross-encoder, (a) short passages: documents/s vs node-llama-cpp')
  for (const r of rows.filter((r) => r.engine === 'llama-rerank' && r.status === 'ok')) {
    const name = `${MODELS[r.model].short}, (${r.workload})`
    out.push({
      target: `${name}: fraction of the independent llama.cpp limit for the tokens computed`,
      need: '≥ 90%',
      measured: pct(r.limitFraction),
      met: r.limitFraction == null ? null : r.limitFraction >= 0.9,
    })
    out.push({
      target: `${name}: peak RSS ≤ model + KV cache + 300 MiB`,
      need: `≤ ${fmt(r.memoryBudgetMiB)} MiB`,
      measured: `${fmt(r.peakRssMiB)} MiB`,
      met: r.peakRssMiB <= r.memoryBudgetMiB,
    })
  }
  return out
}

// ------------------------------------------------------------------------------------------
// markdown
// ------------------------------------------------------------------------------------------

function markdown(res) {
  const L = []
  const { summary, machine, settings } = res
  L.push('# Benchmark results', '')
  if (!res.complete) L.push(`**Partial: ${res.measurements} measurements so far.**`, '')
  L.push(`Command: \`${res.command}\` (${res.minutes} min, started ${res.startedAt}).`, '')
  L.push(
    `Machine: ${machine.cpu}, ${machine.logicalCpus} logical CPUs (${machine.cpuFlags.join(', ')}), ${machine.memoryGiB} GiB, ${machine.os}, Node ${machine.node}. ` +
      `Load average at start ${machine.loadAverageStart.map((x) => x.toFixed(2)).join(' / ')}, at end ${machine.loadAverageEnd.map((x) => x.toFixed(2)).join(' / ')}.`,
    '',
  )
  L.push(
    `Settings: ${settings.threads} threads for every engine; context size ${Object.entries(settings.contextSize)
      .map(([m, c]) => `${c} (${m})`)
      .join(', ')}; ` +
      `${settings.rounds} round(s), engines alternating in separate processes, order reversed every other round; values are medians over rounds ` +
      '(peak RSS: the largest). Models have random weights in the real shapes (`bench/make_models.py`).',
    '',
  )
  L.push('## Results', '')
  L.push(table(res))
  L.push('')
  L.push('- docs/s: documents per second of `rankAll(query, documents)` after a 2-document warm-up; model loading is not timed.')
  L.push(
    "- prompt tok/s: the pairs' tokens (each engine's `calculateInputLength`, summed) per second. computed tok/s: the tokens the engine evaluated per second " +
      '(llama-rerank: `stats.tokensComputed`/`lastCallStats.tokensComputed` when it reports one, else the pair tokens).',
  )
  L.push("- × nlc: llama-rerank's docs/s over node-llama-cpp's in the same round, median over rounds.")
  L.push(
    "- others' CPU: the share of all CPUs used by other processes while the measurement ran (from /proc/stat, minus the measuring process), median over rounds. Above a few % the numbers are disturbed: llama.cpp's threads spin and wait for each other, so a busy machine slows them far more than the CPU share suggests.",
  )
  const nlc = summary.rows.find((r) => r.engine === 'node-llama-cpp' && r.status === 'ok')
  if (nlc)
    L.push(
      `- node-llama-cpp ${nlc.engineVersion}: binary ${nlc.engineInfo?.buildType}, gpu ${nlc.engineInfo?.gpu} (getLlama({ gpu: false, build: 'never', usePrebuiltBinaries: true, skipDownload: true }) and NODE_LLAMA_CPP_SKIP_DOWNLOAD=true, NODE_LLAMA_CPP_GPU=false); default batch size and flash attention.`,
    )
  L.push(
    '- The limit is the rate for 512-token sequences. Shorter sequences attend over fewer KV cells, so an engine that keeps each pair in its own attention span can exceed 100% on short pairs (node-llama-cpp on Qwen3 (a), llama-rerank on BERT (a)); more than 100% is not an error.',
  )
  L.push(
    "- % limit: computed tok/s over the independent limit: llama.cpp's prompt-processing rate for the same file through node-llama-cpp's prebuilt binary (not our build), batch 512, one sequence, same threads, flash attention off (`bench/nlc_pp_rate.mjs`), measured in the same round. % own: the same over our build's rate (`bench/pp_rate.rs`), a second figure.",
  )
  L.push('')
  L.push('## llama.cpp limit (prompt processing, batch 512)', '')
  L.push("| model | measured with | tokens/s (median) | per round | peak RSS (MiB) | others' CPU |", '|---|---|---:|---|---:|---:|')
  for (const [kind, limits] of [
    ["node-llama-cpp's binary (the limit)", summary.limits],
    ['our build (pp_rate)', summary.ownLimits ?? {}],
  ]) {
    for (const [m, l] of Object.entries(limits)) {
      if (!l.rounds?.length) continue
      L.push(
        `| ${res.models[m].label} (${fmt(res.models[m].bytes / MiB)} MiB) | ${kind}${l.mode ? `, ${l.mode}` : ''} | ${fmt(l.tokensPerSecond, 1)} | ${l.rounds.map((x) => x.toFixed(1)).join(', ')} | ${fmt(l.peakRssMiB)} | ${pct(l.othersCpuShare)} |`,
      )
    }
  }
  L.push('', '## CPU kernels in use', '')
  L.push(`CPU flags: ${machine.cpuFlags.join(' ')}`, '')
  const lr = summary.rows.find((r) => r.engine === 'llama-rerank' && r.status === 'ok')
  if (lr?.engineInfo)
    L.push(
      `- llama-rerank: ${lr.engineInfo.cpuBuild ?? 'unknown'} build${lr.engineInfo.cpuVariant ? ` (module ${lr.engineInfo.cpuVariant})` : ''}, kernels ${(lr.engineInfo.cpuFeatures ?? []).join(' ')}`,
    )
  const sys = (l) => Object.values(l ?? {}).find((x) => x.systemInfo)?.systemInfo
  if (sys(summary.limits)) L.push(`- node-llama-cpp's binary: \`${sys(summary.limits).trim()}\``)
  if (sys(summary.ownLimits)) L.push(`- our build (pp_rate): \`${sys(summary.ownLimits).trim()}\``)
  L.push('', '## Acceptance targets (llama-rerank)', '')
  L.push('| target | needed | measured | met |', '|---|---|---|---|')
  for (const t of summary.targets)
    L.push(`| ${t.target} | ${t.need} | ${t.measured ?? '–'} | ${t.met == null ? 'not measured' : t.met ? 'yes' : '**no**'} |`)
  const withBatches = summary.rows.filter((r) => r.batches)
  if (withBatches.length) {
    L.push('', '## llama-rerank batches', '')
    L.push(
      '| model | workload | batches per call | documents per batch (median) | ms per batch (median) | slowest batch (ms) | RSS after load / after context (MiB) |',
      '|---|---|---:|---:|---:|---:|---|',
    )
    for (const r of withBatches)
      L.push(
        `| ${MODELS[r.model].short} | ${r.workload} | ${fmt(r.batches.count)} | ${fmt(r.batches.medianDocs)} | ${fmt(r.batches.medianMs)} | ${fmt(r.batches.maxMs)} | ${fmt(r.rssAfterLoadMiB)} / ${fmt(r.rssAfterContextMiB)} |`,
      )
  }
  L.push('', '## Busiest processes at start (`ps`, %CPU RSS-KiB elapsed command)', '', '```')
  L.push(...machine.busiestProcessesAtStart, '```', '')
  L.push('At end:', '', '```', ...machine.busiestProcessesAtEnd, '```', '')
  return L.join('\n')
}

export function table(res) {
  const { summary } = res
  const L = []
  L.push(
    "| model | workload | engine | docs/s | prompt tok/s | computed tok/s | tokens computed | × nlc | % limit | % own | peak RSS (MiB) | others' CPU |",
  )
  L.push('|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|')
  for (const r of summary.rows) {
    const model = MODELS[r.model].short
    const wl = `(${r.workload}) ${WORKLOADS[r.workload].name}`
    if (r.status !== 'ok') {
      L.push(`| ${model} | ${wl} | ${r.engine ?? '–'} | ${r.status} |||||||||`)
      continue
    }
    L.push(
      `| ${model} | ${wl} | ${r.engine} | ${fmt(r.docsPerSecond, 2)} | ${fmt(r.promptTokensPerSecond)} | ${fmt(r.computedTokensPerSecond)} | ${r.tokensComputed} | ${r.ratioToNodeLlamaCpp == null ? '' : r.ratioToNodeLlamaCpp.toFixed(2) + '×'} | ${pct(r.limitFraction)} | ${pct(r.ownLimitFraction)} | ${fmt(r.peakRssMiB)} | ${pct(r.othersCpuShare)} |`,
    )
  }
  return L.join('\n')
}

main().catch((e) => {
  console.error('[bench]', e.message)
  process.exit(1)
})
