#!/usr/bin/env node
// node scripts/image_check.mjs --image IMAGE --host-project DIR [--fixtures DIR] [--variant x64]
//
// The comparison step of scripts/image_check.sh (which builds the image and installs the same
// tarballs into DIR). For each reranker fixture it starts two `llama-rerank serve` processes on
// 127.0.0.1 with port 0 (the log line gives the port): one in the image (`docker run --network
// host`, the fixtures mounted read-only) and one from DIR on this machine, with the same
// environment (the CPU module forced with LLAMA_RERANK_CPU_VARIANT, HF_HUB_OFFLINE=1) and
// thread count. It POSTs the fixture's pairs to /v1/rerank on both, one request per query and
// instruction, and requires the scores to be bit-identical, and each within the README's
// tolerance of the reference scores in fixtures/expected.json. Before that, `llama-rerank info`
// in the image must report the portable build running the forced module.
// Exit status: 0 all checks hold, 1 one failed, 2 bad arguments.
import { execFileSync, spawn, spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

const { values } = parseArgs({
  options: {
    image: { type: 'string' },
    'host-project': { type: 'string' },
    fixtures: { type: 'string', default: resolve(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures') },
    variant: { type: 'string', default: 'x64' },
    threads: { type: 'string', default: '2' },
  },
})
if (!values.image || !values['host-project']) {
  console.error('usage: node scripts/image_check.mjs --image IMAGE --host-project DIR [--fixtures DIR] [--variant x64]')
  process.exit(2)
}
const fixtures = resolve(values.fixtures)
const hostProject = resolve(values['host-project'])
const { files } = JSON.parse(readFileSync(join(fixtures, 'expected.json'), 'utf8'))
// The README's figures: Qwen3-Reranker within 1.7e-4 of transformers, BERT cross-encoders 4e-5.
const README_TOLERANCE = { qwen3: 1.7e-4, bert: 4e-5 }
const ENV = { LLAMA_RERANK_CPU_VARIANT: values.variant, HF_HUB_OFFLINE: '1', NODE_ENV: 'production' }
const CLI_IN_IMAGE = '/app/node_modules/llama-rerank/bin/llama-rerank.mjs'
const dockerEnv = Object.entries(ENV).flatMap(([k, v]) => ['-e', `${k}=${v}`])
const mount = ['-v', `${fixtures}:/models:ro`]
let failures = 0
const check = (ok, message) => {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${message}`)
  if (!ok) failures++
}

/** Starts a server (a child process); resolves with its URL once the log says it serves. */
function startServer(command, args, env, name) {
  const child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] })
  let log = ''
  const url = new Promise((resolveUrl, reject) => {
    child.stderr.setEncoding('utf8')
    child.stderr.on('data', (chunk) => {
      log += chunk
      const m = / on (http:\/\/127\.0\.0\.1:\d+) /.exec(log)
      if (m) resolveUrl(m[1])
    })
    child.on('exit', (code, signal) => reject(new Error(`${name} exited (${code ?? signal}) before serving:\n${log}`)))
  })
  return {
    child,
    url,
    log: () => log,
    stop: () =>
      new Promise((done) => {
        if (child.exitCode !== null || child.signalCode !== null) return done()
        child.on('exit', done)
        child.kill('SIGTERM')
      }),
  }
}

/** The fixture's pairs as /v1/rerank requests: one per (query, instruction); truncated pairs left out. */
function requestsOf(file) {
  const groups = new Map()
  file.pairs.forEach((pair, i) => {
    if (pair.maxLength != null) return
    const key = JSON.stringify([pair.query, pair.instruction])
    if (!groups.has(key)) groups.set(key, { query: pair.query, instruction: pair.instruction, pairs: [] })
    groups.get(key).pairs.push(i)
  })
  return [...groups.values()]
}

/** Scores of every request's pairs from one server: Map pair index → the score as the server wrote it. */
async function scoresFrom(url, file) {
  const scores = new Map()
  for (const group of requestsOf(file)) {
    const body = { query: group.query, documents: group.pairs.map((i) => file.pairs[i].document) }
    if (group.instruction != null) body.instruction = group.instruction
    const res = await fetch(`${url}/v1/rerank`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    })
    const text = await res.text()
    if (res.status !== 200) throw new Error(`${url}/v1/rerank answered ${res.status}: ${text}`)
    for (const result of JSON.parse(text).results) scores.set(group.pairs[result.index], result.relevance_score)
  }
  return scores
}

// 1. In the image, `llama-rerank info` with the module forced: the portable build, running it.
const anyReranker = Object.keys(files).find((name) => files[name].isReranker)
const infoOf = (env) =>
  JSON.parse(
    execFileSync(
      'docker',
      [
        'run',
        '--rm',
        '--network',
        'host',
        ...mount,
        ...env,
        '--entrypoint',
        'node',
        values.image,
        CLI_IN_IMAGE,
        'info',
        '--json',
        '--model',
        `/models/${anyReranker}`,
      ],
      { encoding: 'utf8' },
    ),
  )
const forced = infoOf(dockerEnv)
check(
  forced.cpuBuild === 'portable' && forced.cpuVariant === values.variant,
  `docker run … info (LLAMA_RERANK_CPU_VARIANT=${values.variant}): cpuBuild ${forced.cpuBuild}, cpuVariant ${forced.cpuVariant}, kernels ${forced.cpuFeatures.join(' ') || '(baseline)'}`,
)
const picked = infoOf(['-e', 'HF_HUB_OFFLINE=1'])
check(
  picked.cpuBuild === 'portable' && typeof picked.cpuVariant === 'string',
  `docker run … info (module picked at load): cpuVariant ${picked.cpuVariant}, kernels ${picked.cpuFeatures.join(' ')}`,
)

// The entrypoint as shipped: `serve` with the image's LLAMA_RERANK_HOST=0.0.0.0, as uid 1000, refuses to start without an API key.
const user = execFileSync('docker', ['run', '--rm', '--network', 'host', '--entrypoint', 'id', values.image, '-u'], {
  encoding: 'utf8',
}).trim()
check(user === '1000', `the image runs as uid ${user}`)
const keyless = spawnSync(
  'docker',
  ['run', '--rm', '--network', 'host', ...mount, ...dockerEnv, values.image, '--model', `/models/${anyReranker}`],
  {
    encoding: 'utf8',
  },
)
check(
  keyless.status === 2 && /refusing to listen on 0\.0\.0\.0 without an API key/.test(keyless.stderr),
  `the entrypoint without an API key: exit status ${keyless.status}, "${(/refusing[^:]*/.exec(keyless.stderr) ?? [keyless.stderr.trim()])[0]}…"`,
)

// 2. Each reranker fixture, served in the image and here: with the module forced, then with the
// module ggml picks for this CPU (the same on both sides of the comparison).
const rows = []
for (const variant of [values.variant, null]) {
  const env = variant ? ENV : { ...ENV, LLAMA_RERANK_CPU_VARIANT: '' }
  const envArgs = Object.entries(env).flatMap(([k, v]) => ['-e', `${k}=${v}`])
  const module = variant ?? picked.cpuVariant
  for (const [name, file] of Object.entries(files)) {
    if (!file.isReranker) continue
    const serveArgs = ['--host', '127.0.0.1', '--port', '0', '--threads', values.threads]
    const container = `llama-rerank-image-check-${process.pid}-${rows.length}`
    const inImage = startServer(
      'docker',
      [
        'run',
        '--rm',
        '--name',
        container,
        '--network',
        'host',
        ...mount,
        ...envArgs,
        values.image,
        '--model',
        `/models/${name}`,
        ...serveArgs,
      ],
      {},
      `the container for ${name}`,
    )
    const here = startServer(
      process.execPath,
      [
        join(hostProject, 'node_modules', 'llama-rerank', 'bin', 'llama-rerank.mjs'),
        'serve',
        '--model',
        join(fixtures, name),
        ...serveArgs,
      ],
      env,
      `the host server for ${name}`,
    )
    try {
      const [imageUrl, hostUrl] = await Promise.all([inImage.url, here.url])
      const fromImage = await scoresFrom(imageUrl, file)
      const fromHost = await scoresFrom(hostUrl, file)
      let identical = fromImage.size > 0 && fromImage.size === fromHost.size
      let worst = 0
      for (const [i, score] of fromImage) {
        if (!Object.is(score, fromHost.get(i))) identical = false
        worst = Math.max(worst, Math.abs(score - file.pairs[i].score))
      }
      const tolerance = README_TOLERANCE[file.arch]
      check(identical, `${name} (${module}): ${fromImage.size} pairs, image (${imageUrl}) and host (${hostUrl}) scores bit-identical`)
      // The README gives its figures to two significant digits: the worst difference, so rounded, must not exceed them.
      check(
        Number(worst.toPrecision(2)) <= tolerance,
        `${name} (${module}): worst |score - reference| ${worst.toExponential(3)} (README: within ${tolerance.toExponential(1)})`,
      )
      rows.push({ name, module, pairs: fromImage.size, identical, worst, first: fromImage.get(0) })
    } finally {
      await Promise.all([inImage.stop(), here.stop()])
      try {
        execFileSync('docker', ['rm', '-f', container], { stdio: 'ignore' })
      } catch {}
    }
  }
}

console.log('\n| fixture | CPU module | pairs | image = host, bit for bit | worst vs reference | pair 0 score |')
console.log('|---|---|---|---|---|---|')
for (const r of rows)
  console.log(`| ${r.name} | ${r.module} | ${r.pairs} | ${r.identical ? 'yes' : 'NO'} | ${r.worst.toExponential(3)} | ${r.first} |`)
console.log(failures === 0 ? '\nimage_check: all checks hold' : `\nimage_check: ${failures} check(s) failed`)
process.exit(failures === 0 ? 0 : 1)
