// compat.d.ts: node-llama-cpp-style code type-checks against it (TypeScript, strict, nodenext).

import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { createRequire } from 'node:module'
import path from 'node:path'
import { test } from 'node:test'
import { root } from './support/helpers.mjs'

// Type-checking does not depend on the runtime: the node run does it once, Bun skips it.
const skip = typeof globalThis.Bun !== 'undefined' && 'type-checked in the node run'

test('compat.d.ts: node-llama-cpp ranking code compiles with only the import changed', { skip }, () => {
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc')
  const args = [
    tsc,
    '--noEmit',
    '--strict',
    '--target',
    'es2022',
    '--module',
    'nodenext',
    '--moduleResolution',
    'nodenext',
    '--lib',
    'es2022,esnext.disposable,dom',
    path.join(root, '__test__', 'support', 'compat-types.mts'),
  ]
  const out = spawnSync(process.execPath, args, { cwd: root, encoding: 'utf8', timeout: 120_000 })
  assert.equal(out.status, 0, `${out.stdout}${out.stderr}`)
})
