// The deployment files of `llama-rerank serve` (deploy/Dockerfile, deploy/kubernetes.yaml) pass
// scripts/lint_deploy.mjs, and the linter fails on broken copies of them, naming each problem.

import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { test } from 'node:test'
import { lintDockerfile, lintKubernetes } from '../scripts/lint_deploy.mjs'
import { root } from './support/helpers.mjs'

const LINT = path.join(root, 'scripts', 'lint_deploy.mjs')
const dockerfile = readFileSync(path.join(root, 'deploy', 'Dockerfile'), 'utf8')
const kubernetes = readFileSync(path.join(root, 'deploy', 'kubernetes.yaml'), 'utf8')

/** Replaces `from` with `to`, failing if the file no longer has `from` (the test would test nothing). */
function breakText(text, from, to) {
  assert.ok(text.includes(from), `the file no longer has ${JSON.stringify(from)}`)
  return text.replace(from, to)
}

const messages = (problems) => problems.map((p) => `${p.line}: ${p.message}`).join('\n')

test('deploy/Dockerfile passes the Dockerfile lint', () => {
  assert.deepEqual(lintDockerfile(dockerfile), [])
})

test('a broken Dockerfile fails, with each problem named', () => {
  let broken = breakText(dockerfile, 'EXPOSE 8080', 'EXPOSE 80808')
  broken = breakText(broken, 'USER 1000:1000', 'USER node')
  broken = breakText(
    broken,
    'ENTRYPOINT ["node", "/app/node_modules/llama-rerank/bin/llama-rerank.mjs", "serve"]',
    'ENTRYPOINT node /app/node_modules/llama-rerank/bin/llama-rerank.mjs serve',
  )
  // biome-ignore lint/suspicious/noTemplateCurlyInString: the Dockerfile's build argument, as written there
  broken = breakText(broken, 'FROM ${BASE_IMAGE} AS install', 'FROM node:latest AS install')
  broken = breakText(broken, 'WORKDIR /app', 'WORKDIR /app\nCOPYY /out/ /app/')
  broken = breakText(broken, 'apt-get install -y --no-install-recommends libgomp1', 'apt-get install libgomp1')
  const found = messages(lintDockerfile(broken))
  for (const expected of [
    /EXPOSE 80808: not a port/,
    /USER node: use a numeric uid/,
    /ENTRYPOINT in shell form/,
    /FROM node:latest: pin a version/,
    /\[dockerfile-utils\] Unknown instruction: COPYY/,
    /apt-get install without --no-install-recommends/,
    /apt-get install without -y/,
  ]) {
    assert.match(found, expected)
  }
  // A FROM that names a build argument is checked at the argument's default.
  assert.match(
    // biome-ignore lint/suspicious/noTemplateCurlyInString: the Dockerfile's build argument, as written there
    messages(lintDockerfile(breakText(dockerfile, 'ARG BASE_IMAGE=node:${NODE_VERSION}-bookworm-slim', 'ARG BASE_IMAGE=node'))),
    /FROM \$\{BASE_IMAGE\} \(node\) has no tag: pin a version/,
  )
  assert.match(
    messages(lintDockerfile('FROM node:20\nRUN true\n')),
    /not a multi-stage build[\s\S]*runs as root[\s\S]*no HEALTHCHECK[\s\S]*EXPOSEs no port[\s\S]*no ENTRYPOINT/,
  )
})

test('deploy/kubernetes.yaml passes the schema, field and cross-reference checks; a broken copy fails', async () => {
  assert.deepEqual(await lintKubernetes(kubernetes), [])

  let broken = breakText(kubernetes, '          readinessProbe:', '          readinesProbe:')
  broken = breakText(broken, '              containerPort: 8080', '              containerPort: "8080"')
  broken = breakText(broken, '      targetPort: http', '      targetPort: web')
  broken = breakText(broken, '          name: llama_rerank_queue_depth', '          name: llama_rerank_queue_length')
  broken = breakText(broken, 'kind: PodDisruptionBudget', 'kind: PodDisruptionBudgett')
  broken = breakText(broken, '            secretName: llama-rerank-api-keys', '            secretName: api-keys')
  const found = messages(await lintKubernetes(broken))
  for (const expected of [
    /\d+: Deployment llama-rerank: \[schema\] \/spec\/template\/spec\/containers\/0\/ports\/0\/containerPort must be integer/,
    /unknown field "readinesProbe" at \/spec\/template\/spec\/containers\/0\/readinesProbe \(did you mean "readinessProbe"\?\)/,
    /Service llama-rerank: port http: targetPort "web" is not a named port/,
    /metric llama_rerank_queue_length is not one that the server exports \(server\/metrics.mjs\)/,
    /no schema for apiVersion policy\/v1 kind PodDisruptionBudgett/,
    /volume api-keys: no Secret api-keys in this file/,
  ]) {
    assert.match(found, expected)
  }
  // The problem's own line, not the document's.
  const typoLine = broken.split('\n').findIndex((l) => l.includes('readinesProbe')) + 1
  assert.match(found, new RegExp(`^${typoLine}: .*readinesProbe`, 'm'))
})

test('YAML errors and duplicate keys are problems', async () => {
  assert.match(messages(await lintKubernetes('apiVersion: v1\nkind: Secret\nkind: Secret\n')), /YAML: .*[Mm]ap keys must be unique/)
  assert.match(messages(await lintKubernetes('apiVersion: v1\n  kind: [Secret\n')), /YAML: /)
})

test('the command: exit 0 on the deploy files, 1 with FILE:LINE messages on broken ones', () => {
  const clean = spawnSync(process.execPath, [LINT], { cwd: root, encoding: 'utf8' })
  assert.equal(clean.status, 0, clean.stderr)
  assert.match(clean.stdout, /deploy\/Dockerfile and deploy\/kubernetes.yaml are clean/)
  const dir = mkdtempSync(path.join(tmpdir(), 'lint-deploy-'))
  try {
    const file = path.join(dir, 'Dockerfile')
    writeFileSync(file, breakText(dockerfile, 'EXPOSE 8080', 'EXPOSE 80808'))
    const broken = spawnSync(process.execPath, [LINT, '--dockerfile', file], { cwd: root, encoding: 'utf8' })
    assert.equal(broken.status, 1)
    assert.match(broken.stderr, /Dockerfile:\d+: EXPOSE 80808: not a port/)
    assert.match(broken.stderr, /lint_deploy: 1 problem\n/)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})
