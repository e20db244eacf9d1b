// The short soak of CI: the committed soak script in a child process (the full run is
// `node --expose-gc bench/soak.mjs`, its figures are in the README).

import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import path from 'node:path'
import { test } from 'node:test'
import { root } from './support/helpers.mjs'

test('1,000 rank calls and 20 context/model cycles: RSS growth under 50 MB', () => {
  const r = spawnSync(process.execPath, ['--expose-gc', path.join(root, 'bench', 'soak.mjs'), '--rank-calls', '1000', '--cycles', '20'], {
    encoding: 'utf8',
    timeout: 300_000,
  })
  assert.equal(r.status, 0, r.stderr)
  const report = JSON.parse(r.stdout.trim().split('\n').at(-1))
  assert.equal(report.rankCalls, 1000)
  assert.ok(report.rssGrowthMB < 50, JSON.stringify(report))
})
