#!/usr/bin/env node
// Every fixture pair of every model family, scored through the built addon, written as JSON:
// a record of the engine's exact output, to compare two builds or two versions of the code
// bit for bit (a refactoring must not move a single score).
//
//   node bench/fixture_scores.mjs [--root <checkout>] [out.json]  write the scores (default: stdout)
//   node bench/fixture_scores.mjs --compare a.json b.json          compare two records; exit 1 on any difference
//
// --root scores with another checkout's build and fixtures (e.g. the code before a change).
//
// Each pair is scored alone at the context size its test uses (its maxLength, else the
// default), then every pair of a file again in one rankAll call per query, so both the
// single-document and the shared-prefix paths are covered. Scores are kept as the hex of their
// float64 bits, next to the number.
import { readFileSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const args = process.argv.slice(2)
const rootAt = args.indexOf('--root')
const root = rootAt >= 0 ? path.resolve(args.splice(rootAt, 2)[1]) : path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')

const bits = (x) => {
  const view = new DataView(new ArrayBuffer(8))
  view.setFloat64(0, x)
  return view.getBigUint64(0).toString(16).padStart(16, '0')
}

function compare(aFile, bFile) {
  const a = JSON.parse(readFileSync(aFile, 'utf8'))
  const b = JSON.parse(readFileSync(bFile, 'utf8'))
  let pairs = 0
  const differences = []
  const keys = new Set([...Object.keys(a.models), ...Object.keys(b.models)])
  for (const key of keys) {
    const [x, y] = [a.models[key], b.models[key]]
    if (x == null || y == null) {
      differences.push(`${key}: only in ${x == null ? bFile : aFile}`)
      continue
    }
    if (JSON.stringify(x.info) !== JSON.stringify(y.info)) differences.push(`${key}: model.info differs`)
    if (JSON.stringify(x.error) !== JSON.stringify(y.error)) differences.push(`${key}: error differs`)
    for (const kind of ['alone', 'together']) {
      const [p, q] = [x[kind] ?? [], y[kind] ?? []]
      if (p.length !== q.length) differences.push(`${key} ${kind}: ${p.length} vs ${q.length} scores`)
      for (let i = 0; i < Math.min(p.length, q.length); i++) {
        pairs++
        if (p[i].bits !== q[i].bits) differences.push(`${key} ${kind} ${p[i].id}: ${p[i].score} vs ${q[i].score}`)
      }
    }
  }
  console.log(`${pairs} scores compared over ${keys.size} models: ${differences.length} differences`)
  for (const d of differences) console.log(`  ${d}`)
  return differences.length === 0
}

if (args[0] === '--help' || args[0] === '-h') {
  process.stdout.write(
    `${readFileSync(fileURLToPath(import.meta.url), 'utf8')
      .replace(/^#!.*\n/, '')
      .split('\n\n')[0]
      .replace(/^\/\/ ?/gm, '')}\n`,
  )
  process.exit(0)
}
const unknown = args.find((a, i) => a.startsWith('-') && !(a === '--compare' && i === 0))
if (unknown) {
  console.error(`fixture_scores: unknown option ${unknown} (see --help)`)
  process.exit(2)
}
if (args[0] === '--compare') {
  process.exit(compare(args[1], args[2]) ? 0 : 1)
}

const require = createRequire(import.meta.url)
const lib = require(path.join(root, 'index.js'))
const load = (file) => JSON.parse(readFileSync(path.join(root, file), 'utf8')).files

/** The context size at which a judge cuts where its reference does with max_length = maxLength. */
function judgeContext(file, pair) {
  if (pair.maxLength == null) return undefined
  if (file.presetName === 'mxbai-rerank-v2') return pair.maxLength + file.predefinedLength
  return pair.maxLength + 2 * (file.sepTokens.length + file.promptTokens.length)
}

// (key, file, load options, pairs, context size of a pair)
const runs = []
for (const [name, file] of Object.entries(load('fixtures/expected.json'))) {
  if (!file.pairs) continue
  const options = file.isReranker ? {} : { scoring: 'yes-no' }
  runs.push([name, path.join('fixtures', name), options, file.pairs, (p) => p.maxLength ?? file.nCtxTrain])
}
for (const [name, file] of Object.entries(load('fixtures/families/expected-crossencoders.json'))) {
  const options = file.family === 'bert-multilabel' ? { relevantLabel: 'entailment' } : {}
  runs.push([name, path.join('fixtures/families', name), options, file.pairs, (p) => p.maxLength ?? undefined])
}
for (const [name, file] of Object.entries(load('fixtures/families/expected-judges.json'))) {
  runs.push([name, path.join('fixtures/families', name), {}, file.pairs, (p) => judgeContext(file, p)])
}

const record = (id, score) => ({ id, score, bits: bits(score) })
const out = { models: {} }
for (const [key, file, options, pairs, contextOf] of runs) {
  const entry = {}
  out.models[key] = entry
  let model
  try {
    model = await lib.loadModel(path.join(root, file), options)
  } catch (e) {
    entry.error = { code: e.code, message: e.message.replaceAll(root, '<root>') } // the same in any checkout
    continue
  }
  const { cpuFeatures, cpuVariant, cpuBuild, ...info } = model.info
  entry.info = info
  const contexts = new Map()
  const contextFor = async (size) => {
    if (!contexts.has(size)) contexts.set(size, await model.createRankingContext({ contextSize: size, threads: 2 }))
    return contexts.get(size)
  }
  try {
    entry.alone = []
    for (const pair of pairs) {
      const context = await contextFor(contextOf(pair))
      const opts = pair.instruction ? { instruction: pair.instruction } : {}
      const [score] = await context.rankAll(pair.query, [pair.document], opts)
      entry.alone.push(record(pair.id, score))
    }
    // All documents of a query (and instruction) in one call, at the default context size.
    entry.together = []
    const groups = new Map()
    for (const pair of pairs) {
      const k = JSON.stringify([pair.query, pair.instruction ?? null])
      if (!groups.has(k)) groups.set(k, [])
      groups.get(k).push(pair)
    }
    const context = await contextFor(undefined)
    for (const group of groups.values()) {
      const opts = group[0].instruction ? { instruction: group[0].instruction } : {}
      const scores = await context.rankAll(
        group[0].query,
        group.map((p) => p.document),
        opts,
      )
      group.forEach((p, i) => entry.together.push(record(p.id, scores[i])))
    }
  } finally {
    for (const c of contexts.values()) await c.dispose()
    await model.dispose()
  }
  console.error(`${key}: ${entry.alone.length} + ${entry.together.length} scores`)
}

const text = `${JSON.stringify(out, null, 1)}\n`
if (args[0]) writeFileSync(args[0], text)
else process.stdout.write(text)
