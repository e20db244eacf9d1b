#!/usr/bin/env node
// node scripts/smoke_install.mjs <dir>
// Installs the tarballs `npm run package -- <dir>` wrote into a fresh project outside the
// checkout and ranks a fixture pair through the installed package, `require` and `import`,
// against the reference score. The release workflow runs it on every platform (on Windows,
// where the end-to-end test's PATH shims do not work, it is the install check).
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const dir = resolve(process.argv[2] ?? '')
const tarballs = readdirSync(dir)
  .filter((f) => f.endsWith('.tgz'))
  .map((f) => join(dir, f))
if (tarballs.length !== 2) {
  console.error(`smoke: expected the main and one platform tarball in ${dir}, found ${tarballs.length}`)
  process.exit(1)
}
const { files } = JSON.parse(readFileSync(join(root, 'fixtures', 'expected.json'), 'utf8'))
const name = 'qwen3-reranker-pooled.gguf'
const pair = files[name].pairs.find((p) => p.maxLength === null && p.instruction === null)
const job = { model: join(root, 'fixtures', name), contextSize: files[name].nCtxTrain, query: pair.query, document: pair.document }

const project = mkdtempSync(join(tmpdir(), 'llama-rerank-smoke-'))
const shell = process.platform === 'win32'
try {
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'smoke', version: '1.0.0', private: true }))
  writeFileSync(join(project, 'job.json'), JSON.stringify(job))
  const body = `const job = JSON.parse(fs.readFileSync('job.json', 'utf8'))
const model = await loadModel(job.model)
const context = await model.createRankingContext({ contextSize: job.contextSize })
console.log(JSON.stringify({ score: await context.rank(job.query, job.document), backend: model.info.backend }))
await model.dispose()`
  writeFileSync(join(project, 'probe.mjs'), `import fs from 'node:fs'\nimport { loadModel } from 'llama-rerank'\n${body}\n`)
  writeFileSync(
    join(project, 'probe.cjs'),
    `const fs = require('node:fs')\nconst { loadModel } = require('llama-rerank')\n;(async () => {\n${body}\n})()\n`,
  )
  execFileSync('npm', ['install', '--no-audit', '--no-fund', ...(shell ? tarballs.map((t) => JSON.stringify(t)) : tarballs)], {
    cwd: project,
    shell,
    stdio: 'inherit',
  })
  for (const probe of ['probe.cjs', 'probe.mjs']) {
    const out = JSON.parse(execFileSync(process.execPath, [probe], { cwd: project, encoding: 'utf8' }).trim())
    const delta = Math.abs(out.score - pair.score)
    console.log(`smoke: ${probe}: ${out.score} on ${out.backend}, reference ${pair.score} (|Δ| ${delta.toExponential(2)})`)
    if (!(delta <= 1e-3)) process.exit(1)
  }
} finally {
  rmSync(project, { recursive: true, force: true })
}
