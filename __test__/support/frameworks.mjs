// The published framework and client packages the integration tests run against, installed
// once from npm into ~/.cache/llama-rerank-frameworks (pinned versions; a new pin is a new
// folder), and a throwaway project that sees them beside this checkout's llama-rerank.
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { homedir, tmpdir } from 'node:os'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { root } from './helpers.mjs'

/** Exact versions: what the tests prove is what these versions do. */
export const PACKAGES = {
  ai: '7.0.173',
  '@ai-sdk/provider': '4.0.38',
  '@ai-sdk/cohere': '4.0.52',
  '@langchain/core': '1.4.0',
  '@langchain/classic': '1.0.50',
  '@langchain/cohere': '1.0.5',
  '@llamaindex/core': '0.6.23',
  '@llamaindex/cohere': '0.0.37',
  'cohere-ai': '8.1.0',
  '@types/node': '22.20.7',
}

const cacheRoot = path.join(homedir(), '.cache', 'llama-rerank-frameworks')

/**
 * The folder whose node_modules holds `packages`, installed on first use. The install goes to
 * a temporary folder renamed into place, so a concurrent or interrupted run never leaves a
 * half-installed cache behind.
 */
export function installPackages(packages = PACKAGES) {
  const key = createHash('sha256').update(JSON.stringify(packages)).digest('hex').slice(0, 16)
  const dir = path.join(cacheRoot, key)
  if (existsSync(path.join(dir, 'installed.json'))) return dir
  mkdirSync(cacheRoot, { recursive: true })
  const staging = `${dir}.tmp-${process.pid}`
  rmSync(staging, { recursive: true, force: true })
  mkdirSync(staging)
  writeFileSync(
    path.join(staging, 'package.json'),
    JSON.stringify({ name: 'llama-rerank-frameworks', private: true, dependencies: packages }, null, 2),
  )
  const r = spawnSync('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', '--ignore-scripts'], {
    cwd: staging,
    encoding: 'utf8',
    timeout: 900_000,
  })
  if (r.status !== 0) {
    rmSync(staging, { recursive: true, force: true })
    throw new Error(`npm install of ${Object.keys(packages).join(', ')} failed (${r.status ?? r.error}):\n${r.stdout}\n${r.stderr}`)
  }
  writeFileSync(path.join(staging, 'installed.json'), JSON.stringify(packages))
  try {
    renameSync(staging, dir)
  } catch (error) {
    // Another run got there first.
    rmSync(staging, { recursive: true, force: true })
    if (!existsSync(path.join(dir, 'installed.json'))) throw error
  }
  return dir
}

/**
 * A fresh project folder in which `import 'llama-rerank/...'` is this checkout and every
 * cached package is installed. llama-rerank's entry files are links to the checkout (so the
 * native addon is the one the tests load), its integrations are copies: a module resolves its
 * imports from where its real file is, and the adapters' imports of their framework must
 * resolve inside the project, as they do once installed.
 */
export function frameworkProject(packagesDir = installPackages()) {
  const project = mkdtempSync(path.join(tmpdir(), 'llama-rerank-frameworks-'))
  const modules = path.join(project, 'node_modules')
  mkdirSync(modules)
  for (const name of readdirSync(path.join(packagesDir, 'node_modules'))) {
    if (name.startsWith('.') || name === 'llama-rerank') continue
    symlinkSync(path.join(packagesDir, 'node_modules', name), path.join(modules, name))
  }
  const own = path.join(modules, 'llama-rerank')
  mkdirSync(own)
  for (const file of ['package.json', 'index.js', 'index.d.ts', 'compat.js', 'compat.mjs', 'compat.d.ts']) {
    symlinkSync(path.join(root, file), path.join(own, file))
  }
  cpSync(path.join(root, 'integrations'), path.join(own, 'integrations'), { recursive: true })
  writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'frameworks-test', private: true, type: 'module' }))
  return {
    dir: project,
    /** Imports a module as code in the project would (`import(specifier)` from there). */
    async import(specifier) {
      const file = path.join(project, `import-${createHash('sha256').update(specifier).digest('hex').slice(0, 12)}.mjs`)
      if (!existsSync(file)) writeFileSync(file, `export * from ${JSON.stringify(specifier)}\n`)
      return import(pathToFileURL(file).href)
    },
    /** Requires a CommonJS package as code in the project would. */
    require: createRequire(path.join(project, 'package.json')),
    remove() {
      rmSync(project, { recursive: true, force: true })
    },
  }
}
