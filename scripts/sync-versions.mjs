#!/usr/bin/env node
// Keeps every version in lock-step with package.json's: the per-platform packages in npm/ and
// the crate (Cargo.toml, Cargo.lock). The main package's optionalDependencies on the platform
// packages are written at packing time (scripts/package.mjs), from npm/ at this same version:
// in the repository they would break `npm ci` until the platform packages are published.
// Runs as npm's `version` script, so `npm version 0.2.0` is the one command that bumps all.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const readJson = (p) => JSON.parse(readFileSync(p, 'utf8'))
const writeJson = (p, v) => writeFileSync(p, JSON.stringify(v, null, 2) + '\n')

const mainPath = join(root, 'package.json')
const main = readJson(mainPath)
const { version } = main
for (const dir of readdirSync(join(root, 'npm')).sort()) {
  const manifestPath = join(root, 'npm', dir, 'package.json')
  const manifest = readJson(manifestPath)
  manifest.version = version
  writeJson(manifestPath, manifest)
}

const replaceOnce = (text, pattern, replacement, what) => {
  if (!pattern.test(text)) throw new Error(`sync-versions: cannot find ${what}`)
  return text.replace(pattern, replacement)
}
const cargoToml = join(root, 'Cargo.toml')
writeFileSync(
  cargoToml,
  replaceOnce(readFileSync(cargoToml, 'utf8'), /^version = "[^"]*"/m, `version = "${version}"`, 'the crate version in Cargo.toml'),
)
const cargoLock = join(root, 'Cargo.lock')
writeFileSync(
  cargoLock,
  replaceOnce(
    readFileSync(cargoLock, 'utf8'),
    /(name = "llama_rerank"\nversion = )"[^"]*"/,
    `$1"${version}"`,
    'llama_rerank in Cargo.lock',
  ),
)
console.log(`sync-versions: ${version} in package.json, npm/*, Cargo.toml and Cargo.lock`)
