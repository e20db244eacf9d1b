// Which CPU kernels run: a native build (the default from source) uses every SIMD extension of
// this CPU; a portable build (the prebuilt packages) picks the best CPU module for it, and its
// baseline module, the one a CPU without AVX gets, loads and scores like the others.

import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { describe, test } from 'node:test'
import { expected, fixture, lib, RERANKERS, root, TOLERANCE } from './support/helpers.mjs'

/** The CPU's flags as the kernel reports them (x86 `flags`, arm64 `Features`). */
function cpuFlags() {
  try {
    const line =
      readFileSync('/proc/cpuinfo', 'utf8')
        .split('\n')
        .find((l) => /^(flags|Features)\s*:/.test(l)) ?? ''
    return new Set(
      line
        .replace(/^[^:]*:/, '')
        .trim()
        .split(/\s+/),
    )
  } catch {
    return null
  }
}

// CPU flag → the name llama.cpp's system info gives the kernels that use it.
const KERNELS = {
  avx: 'AVX',
  avx2: 'AVX2',
  fma: 'FMA',
  f16c: 'F16C',
  bmi2: 'BMI2',
  avx512f: 'AVX512',
  avx512vbmi: 'AVX512_VBMI',
  avx512_vnni: 'AVX512_VNNI',
  avx512_bf16: 'AVX512_BF16',
  avx_vnni: 'AVX_VNNI',
  asimddp: 'DOTPROD',
  i8mm: 'MATMUL_INT8',
  sve: 'SVE',
}
// A portable build has modules for the common levels only (e.g. Skylake-X: AVX-512 without
// VNNI): it is held to the main extensions.
const PORTABLE_KERNELS = new Set(['AVX', 'AVX2', 'FMA', 'F16C', 'AVX512', 'DOTPROD'])

/** Scores every reranker fixture's pairs in a child process with `env`; returns its report. */
function scoreInChild(env) {
  const script = `
    const lib = require(${JSON.stringify(root)})
    ;(async () => {
      const out = { worst: {}, info: null }
      const files = ${JSON.stringify(Object.fromEntries(RERANKERS.map((n) => [n, { path: fixture(n), pairs: expected[n].pairs, nCtxTrain: expected[n].nCtxTrain }])))}
      for (const [name, f] of Object.entries(files)) {
        const model = await lib.loadModel(f.path)
        out.info = model.info
        const contexts = new Map()
        let worst = 0
        for (const p of f.pairs) {
          const size = p.maxLength ?? f.nCtxTrain
          if (!contexts.has(size)) contexts.set(size, await model.createRankingContext({ contextSize: size }))
          const s = await contexts.get(size).rank(p.query, p.document, { instruction: p.instruction ?? undefined })
          if (!Number.isFinite(s)) throw new Error(name + ' ' + p.id + ': ' + s)
          worst = Math.max(worst, Math.abs(s - p.score))
        }
        out.worst[name] = worst
        await model.dispose()
      }
      process.stdout.write('REPORT ' + JSON.stringify(out) + '\\n')
    })().catch((e) => { process.stdout.write('ERROR ' + JSON.stringify({ code: e.code, message: e.message }) + '\\n'); process.exit(1) })
  `
  const r = spawnSync(process.execPath, ['-e', script], { env: { ...process.env, ...env }, encoding: 'utf8', timeout: 300_000 })
  const line = (r.stdout || '').split('\n').find((l) => l.startsWith('REPORT ') || l.startsWith('ERROR '))
  assert.ok(line, `child exited with ${r.status ?? r.signal}: ${r.stderr}`)
  return line.startsWith('REPORT ') ? { ok: true, ...JSON.parse(line.slice(7)) } : { ok: false, error: JSON.parse(line.slice(6)) }
}

describe('CPU kernels', () => {
  test('info says how the kernels were chosen and which run', async () => {
    const model = await lib.loadModel(fixture('bert-reranker-stock.gguf'))
    try {
      const { cpuBuild, cpuVariant, cpuFeatures } = model.info
      assert.ok(['native', 'portable', 'fixed'].includes(cpuBuild), cpuBuild)
      if (process.env.LLAMA_RERANK_CPU) assert.equal(cpuBuild, process.env.LLAMA_RERANK_CPU)
      assert.equal(typeof cpuVariant === 'string', cpuBuild === 'portable', `variant ${cpuVariant} in a ${cpuBuild} build`)
      assert.ok(cpuFeatures.length > 0)
    } finally {
      await model.dispose()
    }
  })

  test("the kernels use this CPU's SIMD extensions", { skip: cpuFlags() == null && 'no /proc/cpuinfo' }, async () => {
    const model = await lib.loadModel(fixture('bert-reranker-stock.gguf'))
    try {
      const { cpuBuild, cpuFeatures } = model.info
      const flags = cpuFlags()
      const wanted = Object.entries(KERNELS)
        .filter(([flag, kernel]) => flags.has(flag) && (cpuBuild === 'native' || (cpuBuild === 'portable' && PORTABLE_KERNELS.has(kernel))))
        .map(([, kernel]) => kernel)
      const missing = wanted.filter((k) => !cpuFeatures.includes(k))
      assert.deepEqual(missing, [], `a ${cpuBuild} build on a CPU with ${wanted.join(' ')} runs ${cpuFeatures.join(' ')}`)
    } finally {
      await model.dispose()
    }
  })

  test('portable: the baseline module (a CPU without AVX) loads and scores like the reference', {
    skip: process.arch !== 'x64' && 'x86-64 only',
  }, async (t) => {
    const probe = await lib.loadModel(fixture('bert-reranker-stock.gguf'))
    const build = probe.info.cpuBuild
    await probe.dispose()
    if (build !== 'portable') return t.skip(`a ${build} build has no CPU modules`)
    const r = scoreInChild({ LLAMA_RERANK_CPU_VARIANT: 'x64' })
    assert.ok(r.ok, JSON.stringify(r.error))
    assert.equal(r.info.cpuVariant, 'x64')
    for (const k of ['AVX', 'AVX2', 'AVX512']) assert.ok(!r.info.cpuFeatures.includes(k), `the x64 module reports ${k}`)
    for (const [name, worst] of Object.entries(r.worst)) {
      assert.ok(worst <= TOLERANCE[name], `${name}: worst |Δp| ${worst} on the x64 module`)
      t.diagnostic(`${name}: worst |Δp| ${worst.toExponential(2)} (x64 module)`)
    }
  })

  test('portable: a module this machine lacks is ERR_CPU_BACKEND_MISSING, not a crash', async (t) => {
    const probe = await lib.loadModel(fixture('bert-reranker-stock.gguf'))
    const build = probe.info.cpuBuild
    await probe.dispose()
    if (build !== 'portable') return t.skip(`a ${build} build has no CPU modules`)
    const r = scoreInChild({ LLAMA_RERANK_CPU_VARIANT: 'no-such-cpu' })
    assert.equal(r.ok, false)
    assert.equal(r.error.code, 'ERR_CPU_BACKEND_MISSING', r.error.message)
  })
})

// One definition of what LLAMA_RERANK_CPU means for cargo (lib/cpu_build.cjs), read by
// setup.sh and test.sh through its --shell output, the install script, packing and the bench.
describe('LLAMA_RERANK_CPU build settings', () => {
  const script = `${root}/lib/cpu_build.cjs`
  const { cpuBuild } = createRequire(import.meta.url)(script)
  const shell = (env) =>
    spawnSync(process.execPath, [script, '--shell'], { encoding: 'utf8', env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env } })

  test("native targets this CPU after the caller's RUSTFLAGS unless they name one; portable and fixed keep them as they are", () => {
    assert.deepEqual(cpuBuild({}).features, [])
    assert.equal(cpuBuild({}).rustflags, '-C target-cpu=native')
    assert.equal(cpuBuild({ RUSTFLAGS: '-g' }).rustflags, '-g -C target-cpu=native')
    // Applied twice (test.sh's environment, then packing inside it), the flags stay the same.
    assert.equal(cpuBuild({ RUSTFLAGS: cpuBuild({ RUSTFLAGS: '-g' }).rustflags }).rustflags, '-g -C target-cpu=native')
    assert.equal(cpuBuild({ RUSTFLAGS: '-C target-cpu=skylake' }).rustflags, '-C target-cpu=skylake')
    assert.deepEqual(cpuBuild({ LLAMA_RERANK_CPU: 'portable' }).features, ['portable-cpu'])
    assert.equal(cpuBuild({ LLAMA_RERANK_CPU: 'Portable' }).rustflags, '')
    assert.equal(cpuBuild({ LLAMA_RERANK_CPU: 'fixed', RUSTFLAGS: '-g' }).rustflags, '-g')
    assert.throws(() => cpuBuild({ LLAMA_RERANK_CPU: 'avx2' }), /native, portable or fixed, not "avx2"/)
  })

  test('each build has its own target folder unless CARGO_TARGET_DIR says otherwise', () => {
    const dirs = ['native', 'portable', 'fixed'].map((cpu) => cpuBuild({ LLAMA_RERANK_CPU: cpu }).targetDir)
    assert.equal(new Set(dirs).size, 3)
    assert.equal(cpuBuild({ LLAMA_RERANK_CPU: 'portable', CARGO_TARGET_DIR: '/tmp/t' }).targetDir, '/tmp/t')
  })

  test('--shell exports quoted settings, and exits with 2 on an unknown value', () => {
    const ok = shell({ LLAMA_RERANK_CPU: 'portable', CARGO_TARGET_DIR: "/tmp/it's" })
    assert.equal(ok.status, 0, ok.stderr)
    assert.match(ok.stdout, /^export LLAMA_RERANK_CARGO_FEATURES='portable-cpu'$/m)
    assert.match(ok.stdout, /^export CARGO_TARGET_DIR='\/tmp\/it'\\''s'$/m)
    const bad = shell({ LLAMA_RERANK_CPU: 'avx2' })
    assert.equal(bad.status, 2)
    assert.equal(bad.stdout, '')
    assert.match(bad.stderr, /native, portable or fixed/)
  })
})
