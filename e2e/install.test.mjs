// End to end, as a user installs it: `npm run package` writes the tarballs, which go into fresh
// projects outside this repository, with cargo, rustc, cmake and the C compilers hidden from
// PATH; the installed package then ranks fixtures with the reference scores under Node
// (CommonJS, ESM), Bun 1.4 and Bun 1.3.9, through the API, compat, the server library
// (`llama-rerank/server`), the command line and the framework adapters (without their
// frameworks installed), and its types pass `tsc --strict`; Deno 2 runs it too. A second case
// installs the main tarball alone, which must build the addon from source, and a third one, with
// no toolchain, must fail with a message naming each missing tool and leave nothing installed.
//
// Run by scripts/test.sh under Node only (it drives Bun and Deno itself). Needs the npm registry
// for Bun 1.3.9, Deno and @types/node (cached in ~/.cache/llama-rerank-e2e).

import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { homedir, tmpdir } from 'node:os'
import path from 'node:path'
import { after, before, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { sharedLibraries } from '../lib/shared_libraries.mjs'

const require = createRequire(import.meta.url)
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const { platformSuffix } = require(path.join(root, 'lib', 'platform.cjs'))
const expected = JSON.parse(readFileSync(path.join(root, 'fixtures', 'expected.json'), 'utf8')).files
const suffix = platformSuffix()
const version = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')).version
const toolsCache = path.join(homedir(), '.cache', 'llama-rerank-e2e')
const DENO_VERSION = '2.9.6'
// Where scripts/setup.sh built the addon for this LLAMA_RERANK_CPU.
const cargoTarget = require(path.join(root, 'lib', 'cpu_build.cjs')).cpuBuild().targetDir

// Three plain pairs of each kind of fixture, with their reference scores.
const TOLERANCE = 1e-3
const JOBS = ['qwen3-reranker-pooled.gguf', 'bert-reranker-stock.gguf'].map((name) => {
  const file = expected[name]
  const pairs = file.pairs.filter((p) => p.maxLength === null && p.instruction === null).slice(0, 3)
  return {
    model: path.join(root, 'fixtures', name),
    contextSize: file.nCtxTrain,
    pairs: pairs.map(({ query, document, score }) => ({ query, document, score })),
  }
})

// What the installed package runs: each prints {file: [scores]} for the jobs in argv[2].
const PROBES = {
  'probe.cjs': `
const { loadModel } = require('llama-rerank')
const jobs = JSON.parse(require('node:fs').readFileSync(process.argv[2], 'utf8'))
;(async () => {
  const out = {}
  for (const job of jobs) {
    const model = await loadModel(job.model)
    const context = await model.createRankingContext({ contextSize: job.contextSize })
    out[job.model] = { scores: [], info: model.info }
    for (const p of job.pairs) out[job.model].scores.push(await context.rank(p.query, p.document))
    await model.dispose()
  }
  console.log(JSON.stringify(out))
})()
`,
  'probe.mjs': `
import { readFileSync } from 'node:fs'
import { loadModel } from 'llama-rerank'
const jobs = JSON.parse(readFileSync(process.argv[2], 'utf8'))
const out = {}
for (const job of jobs) {
  const model = await loadModel(job.model)
  const context = await model.createRankingContext({ contextSize: job.contextSize })
  out[job.model] = { scores: [], info: model.info }
  for (const p of job.pairs) out[job.model].scores.push(await context.rank(p.query, p.document))
  await model.dispose()
}
console.log(JSON.stringify(out))
`,
  'compat.mjs': `
import { readFileSync } from 'node:fs'
import { getLlama } from 'llama-rerank/compat'
const jobs = JSON.parse(readFileSync(process.argv[2], 'utf8'))
const llama = await getLlama()
const out = {}
for (const job of jobs) {
  const model = await llama.loadModel({ modelPath: job.model })
  const context = await model.createRankingContext({ contextSize: job.contextSize })
  out[job.model] = { scores: [] }
  for (const p of job.pairs) out[job.model].scores.push(await context.rank(p.query, p.document))
  await model.dispose()
}
console.log(JSON.stringify(out))
`,
  'server.mjs': `
import { readFileSync } from 'node:fs'
import { loadModel } from 'llama-rerank'
import { startServer, DEFAULT_LIMITS } from 'llama-rerank/server'
const jobs = JSON.parse(readFileSync(process.argv[2], 'utf8'))
const out = {}
for (const job of jobs) {
  const model = await loadModel(job.model)
  const context = await model.createRankingContext({ contextSize: job.contextSize })
  const query = job.pairs[0].query
  const documents = job.pairs.map((p) => p.document)
  const inProcess = await context.rankAll(query, documents)
  const server = await startServer({ contexts: [context], modelName: 'fixture', modelInfo: model.info, host: '127.0.0.1', port: 0 })
  const res = await fetch(server.url + '/v1/rerank', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query, documents }) })
  const body = await res.json()
  await server.close()
  await model.dispose()
  out[job.model] = { status: res.status, url: server.url, maxDocuments: DEFAULT_LIMITS.maxDocuments, inProcess, results: body.results }
}
console.log(JSON.stringify(out))
`,
  'server-types.mts': `
import { loadModel } from 'llama-rerank'
import { DEFAULT_LIMITS, startServer, type RunningServer, type StartServerOptions } from 'llama-rerank/server'
const model = await loadModel('model.gguf')
const options: StartServerOptions = {
  contexts: [await model.createRankingContext()],
  modelName: 'reranker',
  modelInfo: model.info,
  host: '127.0.0.1',
  port: 0,
  limits: { maxDocuments: DEFAULT_LIMITS.maxDocuments * 2, queueTimeoutMs: 0 },
  apiKeys: ['key'],
  log: (line: string) => console.error(line),
}
const server: RunningServer = await startServer(options)
const where: string = \`\${server.url} \${server.port} \${server.authRequired} \${server.pending}\`
await server.close()
// @ts-expect-error: the contexts are required
await startServer({ modelName: 'reranker' })
// @ts-expect-error: not a limit
await startServer({ ...options, limits: { maxDocs: 10 } })
console.log(where)
`,
  'adapters.mjs': `
import { readFileSync } from 'node:fs'
import { llamaRerank } from 'llama-rerank/ai-sdk'
import { LlamaRerankPostprocessor } from 'llama-rerank/llamaindex'
import { LlamaRerankCompressor } from 'llama-rerank/langchain'
const jobs = JSON.parse(readFileSync(process.argv[2], 'utf8'))
const out = { aiSdk: {}, llamaindex: {} }
for (const job of jobs) {
  const model = llamaRerank.reranking(job.model, { context: { contextSize: job.contextSize } })
  const postprocessor = new LlamaRerankPostprocessor({ model: job.model, context: { contextSize: job.contextSize } })
  out.aiSdk[job.model] = { scores: [] }
  out.llamaindex[job.model] = { scores: [] }
  for (const p of job.pairs) {
    const { ranking } = await model.doRerank({ documents: { type: 'text', values: [p.document] }, query: p.query })
    out.aiSdk[job.model].scores.push(ranking[0].relevanceScore)
    const [node] = await postprocessor.postprocessNodes([{ node: { getContent: () => p.document } }], p.query)
    out.llamaindex[job.model].scores.push(node.score)
  }
  await model.dispose()
  await postprocessor.dispose()
}
try {
  new LlamaRerankCompressor({ model: jobs[0].model })
  out.langchain = 'constructed'
} catch (error) {
  out.langchain = { code: error.code, packageName: error.packageName, message: error.message }
}
console.log(JSON.stringify(out))
`,
  'types.mts': `
import { loadModel, type ModelInfo, type RerankerModel, type RankingContext } from 'llama-rerank'
import { getLlama, type LlamaRankingContext } from 'llama-rerank/compat'
import { llamaRerank, type LlamaRerankRerankingModel } from 'llama-rerank/ai-sdk'
import { LlamaRerankPostprocessor } from 'llama-rerank/llamaindex'
const model: RerankerModel = await loadModel('model.gguf', { gpuLayers: 0, signal: AbortSignal.timeout(60_000) })
const info: ModelInfo = model.info
const where: string = \`\${info.backend} \${info.gpuLayers}/\${info.layerCount} \${info.cpuFeatures.join(' ')}\`
const context: RankingContext = await model.createRankingContext({ contextSize: 4096 })
const scores: number[] = await context.rankAll('query', ['a', 'b'])
const llama = await getLlama()
const compatContext: LlamaRankingContext = await (await llama.loadModel({ modelPath: 'model.gguf' })).createRankingContext()
const score: number = await compatContext.rank('query', 'document')
const reranking: LlamaRerankRerankingModel = llamaRerank.reranking('model.gguf', { context: { contextSize: 512 } })
const nodes: Array<{ score: number }> = await new LlamaRerankPostprocessor({ model: 'model.gguf', topN: 1 }).postprocessNodes([{ node: { getContent: () => 'text' } }], 'query')
console.log(where, scores, score, reranking.modelId, nodes)
`,
}

let work
let tarballs
let shim
let bun14
let bun139

/** Runs a command; returns its result, with stdout and stderr as text. */
function run(command, args, options = {}) {
  const result = spawnSync(command, args, { encoding: 'utf8', timeout: 900_000, maxBuffer: 64 << 20, ...options })
  if (result.error) throw result.error
  return result
}

function mustRun(command, args, options) {
  const result = run(command, args, options)
  assert.equal(
    result.status,
    0,
    `${command} ${args.join(' ')} exited with ${result.status ?? result.signal}\n${result.stdout}\n${result.stderr}`,
  )
  return result
}

/** A PATH of links to node, npm, npx, sh and env only: no cargo, rustc, cmake or C compiler. */
function makeShim() {
  const dir = path.join(work, 'bin-no-toolchain')
  mkdirSync(dir)
  for (const tool of ['node', 'npm', 'npx', 'sh', 'env']) {
    const found = mustRun('sh', ['-c', `command -v ${tool}`]).stdout.trim()
    symlinkSync(found, path.join(dir, tool))
  }
  for (const tool of ['cargo', 'rustc', 'cmake', 'cc', 'c++', 'gcc', 'g++', 'clang', 'clang++', 'make']) {
    const r = run(path.join(dir, 'sh'), ['-c', `command -v ${tool}`], { env: { PATH: dir } })
    assert.notEqual(r.status, 0, `${tool} is still reachable: ${r.stdout}`)
  }
  return dir
}

/** A fresh project with the probes and the jobs file. */
function newProject(name, manifest = {}) {
  const dir = path.join(work, name)
  mkdirSync(dir)
  writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name, version: '1.0.0', private: true, ...manifest }, null, 2))
  for (const [file, text] of Object.entries(PROBES)) writeFileSync(path.join(dir, file), text)
  writeFileSync(path.join(dir, 'jobs.json'), JSON.stringify(JOBS))
  return dir
}

const noToolchainEnv = () => ({ ...process.env, PATH: shim, CARGO_TARGET_DIR: '' })

function assertReferenceScores(stdout, label) {
  const out = JSON.parse(stdout.trim().split('\n').at(-1))
  for (const job of JOBS) {
    const got = out[job.model]?.scores
    assert.ok(got, `${label}: no scores for ${job.model}`)
    job.pairs.forEach((pair, i) => {
      const delta = Math.abs(got[i] - pair.score)
      assert.ok(delta <= TOLERANCE, `${label}: ${path.basename(job.model)} pair ${i}: ${got[i]}, reference ${pair.score}`)
    })
  }
  return out
}

function toolBun(version) {
  const dir = path.join(toolsCache, `bun-${version}`)
  const bin = path.join(dir, 'node_modules', 'bun', 'bin', 'bun.exe')
  // Not there yet on a fresh machine (spawning a missing file throws), or another version.
  if (!existsSync(bin) || run(bin, ['--version'], { timeout: 60_000 }).stdout?.trim() !== version) {
    mustRun('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', '--prefix', dir, `bun@${version}`])
  }
  assert.equal(mustRun(bin, ['--version']).stdout.trim(), version)
  return bin
}

/** Deno from npm (the `deno` package): its binary, installed once into the tools cache. */
function toolDeno(version) {
  const dir = path.join(toolsCache, `deno-${version}`)
  const bin = path.join(dir, 'node_modules', 'deno', process.platform === 'win32' ? 'deno.exe' : 'deno')
  if (!existsSync(bin) || !run(bin, ['--version'], { timeout: 60_000 }).stdout?.startsWith(`deno ${version} `)) {
    mustRun('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', '--prefix', dir, `deno@${version}`])
  }
  assert.ok(mustRun(bin, ['--version']).stdout.startsWith(`deno ${version} `))
  return bin
}

// The PATH shims (links to node, npm, sh) are POSIX; on Windows the release workflow's
// smoke step installs the tarballs instead.
const posixOnly = process.platform === 'win32' ? 'the hidden-toolchain PATH shims are POSIX-only' : false

before(() => {
  if (posixOnly) return
  work = mkdtempSync(path.join(tmpdir(), 'llama-rerank-e2e-'))
  shim = makeShim()
  const packed = mustRun('npm', ['run', '--silent', 'package', '--', path.join(work, 'tarballs')], { cwd: root })
  process.stderr.write(packed.stdout)
  tarballs = {
    main: path.join(work, 'tarballs', `llama-rerank-${version}.tgz`),
    platform: path.join(work, 'tarballs', `llama-rerank-${suffix}-${version}.tgz`),
  }
  assert.deepEqual(readdirSync(path.join(work, 'tarballs')).sort(), [path.basename(tarballs.main), path.basename(tarballs.platform)].sort())
  bun14 = path.join(root, 'node_modules', 'bun', 'bin', 'bun.exe')
  bun139 = toolBun('1.3.9')
})

after(() => {
  if (work && !process.env.KEEP_E2E) rmSync(work, { recursive: true, force: true })
})

test("the tarballs hold the package and nothing of the repository's tests, fixtures or builds", { skip: posixOnly }, () => {
  const mainFiles = mustRun('tar', ['tzf', tarballs.main]).stdout.trim().split('\n')
  for (const f of [
    'package/index.js',
    'package/binding.js',
    'package/index.d.ts',
    'package/compat.js',
    'package/compat.mjs',
    'package/compat.d.ts',
    'package/bin/llama-rerank.mjs',
    'package/server/index.mjs',
    'package/server/index.d.ts',
    'package/lib/install.cjs',
    'package/integrations/pool.mjs',
    'package/integrations/ai-sdk.mjs',
    'package/integrations/ai-sdk.d.ts',
    'package/integrations/langchain.mjs',
    'package/integrations/langchain.d.ts',
    'package/integrations/llamaindex.mjs',
    'package/integrations/llamaindex.d.ts',
    'package/Cargo.toml',
    'package/Cargo.lock',
    'package/build.rs',
    'package/src/lib.rs',
  ]) {
    assert.ok(mainFiles.includes(f), `${f} missing from the main tarball`)
  }
  assert.deepEqual(
    mainFiles.filter((f) => /(__test__|fixtures|bench|e2e|target)\/|\.node$|\.gguf$/.test(f)),
    [],
  )
  const platformFiles = mustRun('tar', ['tzf', tarballs.platform]).stdout.trim().split('\n').sort()
  // A portable build (LLAMA_RERANK_CPU=portable) ships llama.cpp, ggml and the CPU modules too.
  const libraries = sharedLibraries().map((f) => `package/${path.basename(f)}`)
  assert.deepEqual(platformFiles, ['package/README.md', `package/llama-rerank.${suffix}.node`, 'package/package.json', ...libraries].sort())
  if (process.env.LLAMA_RERANK_CPU === 'portable') {
    assert.ok(
      libraries.some((f) => /ggml-cpu-x64\./.test(f)),
      `no baseline CPU module among ${libraries.join(', ')}`,
    )
  }
  const manifest = JSON.parse(mustRun('tar', ['xzf', tarballs.main, '-O', 'package/package.json']).stdout)
  assert.equal(manifest.optionalDependencies[`llama-rerank-${suffix}`], version)
})

test('npm install of the tarballs with no toolchain on PATH: the API (CJS, ESM), compat and the CLI rank under Node, Bun 1.4 and Bun 1.3.9', {
  skip: posixOnly,
}, () => {
  const project = newProject('npm-prebuilt')
  const env = noToolchainEnv()
  mustRun('npm', ['install', '--no-audit', '--no-fund', tarballs.main, tarballs.platform], { cwd: project, env })
  const installed = path.join(project, 'node_modules', 'llama-rerank')
  assert.ok(existsSync(path.join(project, 'node_modules', `llama-rerank-${suffix}`, `llama-rerank.${suffix}.node`)))
  assert.ok(!existsSync(path.join(installed, `llama-rerank.${suffix}.node`)), 'the prebuilt path must not build')
  assert.ok(!existsSync(path.join(installed, 'target')))

  const node = path.join(shim, 'node')
  const cjs = assertReferenceScores(mustRun(node, ['probe.cjs', 'jobs.json'], { cwd: project, env }).stdout, 'node cjs')
  assert.equal(cjs[JOBS[0].model].info.backend, 'CPU')
  assertReferenceScores(mustRun(node, ['probe.mjs', 'jobs.json'], { cwd: project, env }).stdout, 'node esm')
  assertReferenceScores(mustRun(node, ['compat.mjs', 'jobs.json'], { cwd: project, env }).stdout, 'node compat')
  for (const [label, bun] of [
    ['bun 1.4', bun14],
    ['bun 1.3.9', bun139],
  ]) {
    assertReferenceScores(mustRun(bun, ['probe.mjs', 'jobs.json'], { cwd: project, env }).stdout, `${label} esm`)
    assertReferenceScores(mustRun(bun, ['probe.cjs', 'jobs.json'], { cwd: project, env }).stdout, `${label} cjs`)
    assertReferenceScores(mustRun(bun, ['compat.mjs', 'jobs.json'], { cwd: project, env }).stdout, `${label} compat`)
  }

  // The command line, through npx, one query at a time.
  for (const job of JOBS) {
    for (const pair of job.pairs) {
      const out = mustRun(
        path.join(shim, 'npx'),
        ['--no-install', 'llama-rerank', 'rank', '--model', job.model, '--query', pair.query, pair.document],
        { cwd: project, env },
      )
      const { score } = JSON.parse(out.stdout.trim().split('\n')[0])
      assert.ok(Math.abs(score - pair.score) <= TOLERANCE, `npx: ${score}, reference ${pair.score}`)
    }
  }
})

test('the framework adapters import without their frameworks: ai-sdk and llamaindex rank, langchain names @langchain/core', {
  skip: posixOnly,
}, () => {
  const project = path.join(work, 'npm-prebuilt')
  for (const framework of ['ai', '@ai-sdk/provider', '@langchain/core', '@llamaindex/core']) {
    assert.ok(!existsSync(path.join(project, 'node_modules', framework)), `${framework} must not be installed with llama-rerank`)
  }
  const env = noToolchainEnv()
  for (const [label, runtime] of [
    ['node', path.join(shim, 'node')],
    ['bun 1.4', bun14],
  ]) {
    const out = JSON.parse(mustRun(runtime, ['adapters.mjs', 'jobs.json'], { cwd: project, env }).stdout.trim().split('\n').at(-1))
    assertReferenceScores(JSON.stringify(out.aiSdk), `${label} llama-rerank/ai-sdk`)
    assertReferenceScores(JSON.stringify(out.llamaindex), `${label} llama-rerank/llamaindex`)
    assert.equal(out.langchain.code, 'ERR_MISSING_PEER_DEPENDENCY', `${label}: ${JSON.stringify(out.langchain)}`)
    assert.equal(out.langchain.packageName, '@langchain/core')
    assert.match(out.langchain.message, /npm install @langchain\/core/)
  }
})

test('Deno 2 runs the npm-installed package: the API (ESM, CommonJS), compat and the adapters rank', { skip: posixOnly }, () => {
  const project = path.join(work, 'npm-prebuilt')
  const deno = toolDeno(DENO_VERSION)
  const env = noToolchainEnv()
  // --node-modules-dir=manual: Deno resolves npm packages from the project's node_modules, as
  // npm installed them (Deno 2 picks this mode itself for a project with a package.json).
  const denoRun = (script) =>
    mustRun(deno, ['run', '--allow-all', '--node-modules-dir=manual', script, 'jobs.json'], { cwd: project, env }).stdout
  assertReferenceScores(denoRun('probe.mjs'), 'deno esm')
  assertReferenceScores(denoRun('probe.cjs'), 'deno cjs')
  assertReferenceScores(denoRun('compat.mjs'), 'deno compat')
  const out = JSON.parse(denoRun('adapters.mjs').trim().split('\n').at(-1))
  assertReferenceScores(JSON.stringify(out.aiSdk), 'deno llama-rerank/ai-sdk')
  assertReferenceScores(JSON.stringify(out.llamaindex), 'deno llama-rerank/llamaindex')
  assert.equal(out.langchain.code, 'ERR_MISSING_PEER_DEPENDENCY')
})

/** @types/node, installed once into the tools cache: the typeRoots for tsc. */
function nodeTypes() {
  const types = path.join(toolsCache, 'types-node')
  if (!existsSync(path.join(types, 'node_modules', '@types', 'node'))) {
    mustRun('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', '--prefix', types, '@types/node@22'])
  }
  return path.join(types, 'node_modules', '@types')
}

/** tsc --noEmit --strict over one file of a project, with the repository's TypeScript; extra flags pick the module settings. */
function typeCheck(project, file, moduleFlags) {
  const tsc = require.resolve('typescript/bin/tsc', { paths: [root] })
  return run(
    process.execPath,
    [
      tsc,
      '--noEmit',
      '--strict',
      '--target',
      'es2022',
      ...moduleFlags,
      '--lib',
      'es2022,esnext.disposable',
      '--typeRoots',
      nodeTypes(),
      '--types',
      'node',
      file,
    ],
    { cwd: project },
  )
}

test('tsc --strict accepts the published types (main, compat, ai-sdk, llamaindex)', { skip: posixOnly }, () => {
  const project = path.join(work, 'npm-prebuilt')
  const out = typeCheck(project, 'types.mts', ['--module', 'nodenext', '--moduleResolution', 'nodenext'])
  assert.equal(out.status, 0, `${out.stdout}${out.stderr}`)
})

test("import { startServer } from 'llama-rerank/server' under Node, Bun 1.4 and Bun 1.3.9: /v1/rerank answers rankAll's scores", {
  skip: posixOnly,
}, () => {
  const project = path.join(work, 'npm-prebuilt')
  const env = noToolchainEnv()
  for (const [label, runtime] of [
    ['node', path.join(shim, 'node')],
    ['bun 1.4', bun14],
    ['bun 1.3.9', bun139],
  ]) {
    const out = JSON.parse(mustRun(runtime, ['server.mjs', 'jobs.json'], { cwd: project, env }).stdout.trim().split('\n').at(-1))
    for (const job of JOBS) {
      const got = out[job.model]
      assert.ok(got, `${label}: nothing for ${job.model}`)
      assert.equal(got.status, 200, `${label}: ${JSON.stringify(got)}`)
      assert.match(got.url, /^http:\/\/127\.0\.0\.1:\d+$/)
      assert.equal(got.maxDocuments, 1000)
      assert.equal(got.results.length, job.pairs.length)
      for (const { index, relevance_score: score } of got.results) {
        assert.equal(
          score,
          got.inProcess[index],
          `${label}: ${path.basename(job.model)} document ${index}: served ${score}, rankAll ${got.inProcess[index]}`,
        )
      }
      const served = got.results.map((r) => r.relevance_score)
      assert.deepEqual(
        served,
        [...served].sort((a, b) => b - a),
        `${label}: best first`,
      )
    }
  }
})

test("tsc --strict accepts llama-rerank/server's types (moduleResolution node16 and bundler) and refuses a wrong call", {
  skip: posixOnly,
}, () => {
  const project = path.join(work, 'npm-prebuilt')
  for (const flags of [
    ['--module', 'node16', '--moduleResolution', 'node16'],
    ['--module', 'esnext', '--moduleResolution', 'bundler'],
  ]) {
    const out = typeCheck(project, 'server-types.mts', flags)
    assert.equal(out.status, 0, `${flags.join(' ')}:\n${out.stdout}${out.stderr}`)
  }
})

test('bun add of the tarballs ranks with no toolchain and no install script', { skip: posixOnly }, () => {
  const project = newProject('bun-prebuilt')
  const env = noToolchainEnv()
  mustRun(bun14, ['add', tarballs.main, tarballs.platform], { cwd: project, env })
  assert.ok(!existsSync(path.join(project, 'node_modules', 'llama-rerank', `llama-rerank.${suffix}.node`)))
  assertReferenceScores(mustRun(bun14, ['probe.mjs', 'jobs.json'], { cwd: project, env }).stdout, 'bun add, bun')
  assertReferenceScores(mustRun(path.join(shim, 'node'), ['probe.cjs', 'jobs.json'], { cwd: project, env }).stdout, 'bun add, node')
})

test('the main tarball alone, with no toolchain: the install fails naming each missing tool and leaves no package', {
  skip: posixOnly,
}, () => {
  const project = newProject('source-no-toolchain')
  const env = { ...noToolchainEnv(), LIBCLANG_PATH: path.join(work, 'nowhere') }
  const r = run('npm', ['install', '--no-audit', '--no-fund', '--omit=optional', tarballs.main], { cwd: project, env })
  assert.notEqual(r.status, 0)
  const text = r.stdout + r.stderr
  for (const needle of [
    'no prebuilt llama-rerank-',
    'the Rust toolchain (cargo, rustc)',
    'CMake',
    'a C and C++ compiler',
    'Debian/Ubuntu:',
    'Fedora:',
    'macOS:',
    'Windows:',
  ]) {
    assert.ok(text.includes(needle), `"${needle}" missing from:\n${text}`)
  }
  assert.ok(!existsSync(path.join(project, 'node_modules', 'llama-rerank')), 'a failed install must not leave the package')
})

test('the main tarball alone builds the addon from source on install, then ranks', { skip: posixOnly }, () => {
  // npm's way of allowing a dependency's install script, as the README gives it.
  const project = newProject('source-build', { allowScripts: { 'llama-rerank': true } })
  // The shared target folder keeps llama.cpp's objects from the repository's own build.
  const env = { ...process.env, CARGO_TARGET_DIR: cargoTarget }
  mustRun('npm', ['install', '--no-audit', '--no-fund', '--omit=optional', tarballs.main], { cwd: project, env })
  const installed = path.join(project, 'node_modules', 'llama-rerank')
  assert.ok(existsSync(path.join(installed, `llama-rerank.${suffix}.node`)), 'the source build put no addon in the package')
  assert.ok(!existsSync(path.join(project, 'node_modules', `llama-rerank-${suffix}`)))
  assert.deepEqual(
    readdirSync(installed).filter((f) => f.includes('.tmp')),
    [],
  )
  assertReferenceScores(mustRun(process.execPath, ['probe.cjs', 'jobs.json'], { cwd: project, env }).stdout, 'source build, node')
  assertReferenceScores(mustRun(bun14, ['probe.mjs', 'jobs.json'], { cwd: project, env }).stdout, 'source build, bun')
})
