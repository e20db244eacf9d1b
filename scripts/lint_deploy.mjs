#!/usr/bin/env node
// Lints the deployment files, offline:
//
// - deploy/Dockerfile with dockerfile-utils (the Dockerfile validator behind VS Code's Docker
//   language server: syntax, instructions, flags, JSON forms), then this project's rules, read
//   with dockerfile-ast: multi-stage, pinned base images (build arguments read at their
//   defaults), a numeric non-root USER, HEALTHCHECK,
//   valid EXPOSE ports, an exec-form ENTRYPOINT (so SIGTERM reaches the server and it drains),
//   apt-get hygiene, no remote ADD.
// - deploy/kubernetes.yaml: parsed with `yaml` (duplicate keys are errors), each document
//   validated against the Kubernetes API's JSON schemas that kubernetes-models ships compiled,
//   then type-checked against the same models' TypeScript types, which reject unknown fields
//   (the JSON schemas accept them, so a typo such as `readinesProbe` would pass unseen), then
//   checked across documents: selectors, named ports, probes, resources, secrets, the HPA's
//   target and its metric (which must be one the server exports).
//
//   node scripts/lint_deploy.mjs [--dockerfile deploy/Dockerfile] [--kubernetes deploy/kubernetes.yaml]
//
// Exit status: 0 clean, 1 problems (each printed as FILE:LINE: message), 2 bad arguments.
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { DockerfileParser } from 'dockerfile-ast'
import { validate as validateDockerfile } from 'dockerfile-utils'
import ts from 'typescript'
import { isMap, isSeq, LineCounter, parseAllDocuments } from 'yaml'
import { checkServeEnv, SERVE_OPTIONS } from '../server/options.mjs'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const require = createRequire(import.meta.url)

// ---------------------------------------------------------------------------------------------
// Dockerfile

/** Problems of a Dockerfile: { line, message }. */
export function lintDockerfile(text) {
  const problems = []
  const at = (range, message) => problems.push({ line: (range?.start.line ?? 0) + 1, message })

  // Every diagnostic counts, warnings included; the settings turn the optional checks into errors.
  const ERROR = 2
  const settings = Object.fromEntries(
    [
      'deprecatedMaintainer',
      'directiveCasing',
      'emptyContinuationLine',
      'instructionCasing',
      'instructionCmdMultiple',
      'instructionEntrypointMultiple',
      'instructionHealthcheckMultiple',
      'instructionJSONInSingleQuotes',
      'instructionWorkdirRelative',
    ].map((k) => [k, ERROR]),
  )
  for (const d of validateDockerfile(text, settings)) at(d.range, `[dockerfile-utils] ${d.message}`)

  const dockerfile = DockerfileParser.parse(text)
  const froms = dockerfile.getFROMs()
  if (froms.length === 0) {
    at(undefined, 'no FROM instruction')
    return problems
  }
  if (froms.length < 2) at(froms[0].getRange(), 'not a multi-stage build: build in one stage, run from a slim one')
  // A FROM may name a build argument declared before the first FROM (ARG BASE_IMAGE=node:20-…):
  // the image is checked with the arguments' defaults, as a build without --build-arg gets it.
  const firstFrom = froms[0].getRange().start.line
  const globals = new Map()
  const expand = (s) => s.replace(/\$\{(\w+)\}|\$(\w+)/g, (_, a, b) => globals.get(a ?? b) ?? '')
  for (const arg of dockerfile.getInstructions().filter((i) => i.getKeyword() === 'ARG' && i.getRange().start.line < firstFrom)) {
    const property = arg.getProperty()
    if (property) globals.set(property.getName(), expand(property.getValue() ?? ''))
  }
  for (const from of froms) {
    const written = from.getArguments()[0]?.getValue() ?? ''
    const image = expand(written)
    const isStage = froms.some((f) => f !== from && f.getBuildStage() === image)
    if (isStage || image === 'scratch') continue
    const shown = image === written ? image : `${written} (${image || 'empty'})`
    const [name, digest] = image.split('@')
    const tag = /:([^/:]+)$/.exec(name)?.[1]
    if (!tag && !digest) at(from.getRange(), `FROM ${shown} has no tag: pin a version`)
    else if (tag === 'latest') at(from.getRange(), `FROM ${shown}: pin a version, not latest`)
  }

  // The final stage: the instructions after the last FROM.
  const finalFrom = froms.at(-1)
  const finalLine = finalFrom.getRange().start.line
  const final = dockerfile.getInstructions().filter((i) => i.getRange().start.line > finalLine)
  const inFinal = (keyword) => final.filter((i) => i.getKeyword() === keyword)

  const users = inFinal('USER')
  const user = users.at(-1)?.getArgumentsContent()?.trim()
  if (!user) at(finalFrom.getRange(), 'the final stage runs as root: add USER with a numeric non-root uid')
  else if (/^(root|0)(:|$)/.test(user)) at(users.at(-1).getRange(), `USER ${user} is root`)
  else if (!/^\d+(:\d+)?$/.test(user))
    at(users.at(-1).getRange(), `USER ${user}: use a numeric uid (Kubernetes' runAsNonRoot cannot check a name)`)

  const healthchecks = inFinal('HEALTHCHECK')
  if (healthchecks.length === 0) at(finalFrom.getRange(), 'the final stage has no HEALTHCHECK')
  else if (/^\s*NONE\b/i.test(healthchecks.at(-1).getArgumentsContent() ?? '')) at(healthchecks.at(-1).getRange(), 'HEALTHCHECK NONE')

  if (inFinal('EXPOSE').length === 0) at(finalFrom.getRange(), 'the final stage EXPOSEs no port')
  for (const expose of dockerfile.getInstructions().filter((i) => i.getKeyword() === 'EXPOSE')) {
    for (const arg of expose.getArguments()) {
      const value = arg.getValue()
      const m = /^(\d+)(?:-(\d+))?(?:\/(tcp|udp|sctp))?$/i.exec(value)
      const ok = m && [m[1], m[2] ?? m[1]].every((p) => Number(p) >= 1 && Number(p) <= 65535)
      if (!ok && !value.startsWith('$')) at(expose.getRange(), `EXPOSE ${value}: not a port (1-65535, optionally /tcp or /udp)`)
    }
  }

  const entrypoints = inFinal('ENTRYPOINT')
  if (entrypoints.length === 0) at(finalFrom.getRange(), 'the final stage has no ENTRYPOINT')
  else if (!entrypoints.at(-1).getOpeningBracket()) {
    at(
      entrypoints.at(-1).getRange(),
      'ENTRYPOINT in shell form: /bin/sh would get SIGTERM instead of the server, which then never drains; use the JSON (exec) form',
    )
  }

  for (const run of dockerfile.getInstructions().filter((i) => i.getKeyword() === 'RUN')) {
    const command = run.getArgumentsContent() ?? ''
    if (/\bapt-get\s+(-\S+\s+)*install\b/.test(command)) {
      if (!/--no-install-recommends/.test(command)) at(run.getRange(), 'apt-get install without --no-install-recommends')
      if (!/(^|\s)(-y|--yes|-qy|-yq)\b/.test(command)) at(run.getRange(), 'apt-get install without -y')
      if (!/rm\s+-rf\s+\/var\/lib\/apt\/lists/.test(command))
        at(run.getRange(), 'apt-get install without removing /var/lib/apt/lists in the same RUN')
    }
    if (/\b(curl|wget)\b[^|]*\|\s*(ba|z|da)?sh\b/.test(command) && !/pipefail/.test(text)) {
      at(run.getRange(), 'a download piped into a shell without `set -o pipefail`: a failed download would go unnoticed')
    }
  }
  for (const add of dockerfile.getInstructions().filter((i) => i.getKeyword() === 'ADD')) {
    if (/https?:\/\//.test(add.getArgumentsContent() ?? '')) at(add.getRange(), 'ADD of a URL: download in a RUN and check it, or COPY')
  }
  return problems
}

// ---------------------------------------------------------------------------------------------
// Kubernetes

/** The kubernetes-models module of an apiVersion and kind, e.g. apps/v1 Deployment → kubernetes-models/apps/v1/Deployment. */
function modelModule(apiVersion, kind) {
  if (typeof apiVersion !== 'string' || typeof kind !== 'string' || !/^[A-Za-z]+$/.test(kind)) return null
  const id = `kubernetes-models/${apiVersion}/${kind}`
  try {
    require.resolve(id)
    return id
  } catch {
    return null
  }
}

/**
 * Fields that the manifest's kubernetes-models TypeScript type does not have: { index, path, message }.
 * Walks each object with the type checker, so every unknown field is found (a type-check of the
 * whole literal would stop at the first), with its path.
 */
function unknownFields(manifests) {
  const file = path.join(root, '__lint_deploy_manifests__.ts')
  const typed = manifests.filter((m) => m.module)
  if (typed.length === 0) return []
  const source = typed
    .map((m) => `import type { I${m.doc.kind} as T${m.index} } from '${m.module}'\nexport declare const manifest${m.index}: T${m.index}\n`)
    .join('')
  const options = {
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    types: [],
  }
  const host = ts.createCompilerHost(options)
  const readFile = host.readFile.bind(host)
  const fileExists = host.fileExists.bind(host)
  const getSourceFile = host.getSourceFile.bind(host)
  host.fileExists = (f) => f === file || fileExists(f)
  host.readFile = (f) => (f === file ? source : readFile(f))
  host.getSourceFile = (f, language, ...rest) =>
    f === file ? ts.createSourceFile(f, source, language) : getSourceFile(f, language, ...rest)
  const program = ts.createProgram([file], options, host)
  const checker = program.getTypeChecker()
  const sourceFile = program.getSourceFile(file)
  const declared = new Map()
  ts.forEachChild(sourceFile, (node) => {
    if (ts.isVariableStatement(node))
      for (const d of node.declarationList.declarations) declared.set(d.name.getText(sourceFile), checker.getTypeAtLocation(d))
  })

  const problems = []
  /** The object types a value may have: unions split, undefined dropped; null when anything goes. */
  const objectTypes = (type) => {
    const members = (type.isUnion() ? type.types : [type]).filter((t) => !(t.flags & (ts.TypeFlags.Undefined | ts.TypeFlags.Null)))
    if (members.some((t) => t.flags & (ts.TypeFlags.Any | ts.TypeFlags.Unknown))) return null
    return members.filter((t) => t.flags & ts.TypeFlags.Object)
  }
  function walk(value, type, at, index) {
    if (value === null || typeof value !== 'object') return
    const candidates = objectTypes(type)
    if (!candidates || candidates.length === 0) return // a primitive's type mismatch is the schema's to report
    if (Array.isArray(value)) {
      const element = candidates.map((t) => checker.getIndexTypeOfType(t, ts.IndexKind.Number)).find(Boolean)
      if (element) value.forEach((v, i) => walk(v, element, [...at, i], index))
      return
    }
    // Maps (labels, annotations, stringData) take any key.
    if (candidates.some((t) => checker.getIndexTypeOfType(t, ts.IndexKind.String))) return
    for (const [key, v] of Object.entries(value)) {
      const owner = candidates.find((t) => t.getProperty(key))
      if (!owner) {
        const known = candidates.flatMap((t) => t.getProperties().map((p) => p.name))
        const near = known.find((k) => editDistance(k.toLowerCase(), key.toLowerCase()) <= 2)
        problems.push({
          index,
          path: [...at, key],
          message: `unknown field "${key}" at /${[...at, key].join('/')}${near ? ` (did you mean "${near}"?)` : ''}`,
        })
        continue
      }
      walk(v, checker.getTypeOfSymbol(owner.getProperty(key)), [...at, key], index)
    }
  }
  for (const m of typed) {
    const type = declared.get(`manifest${m.index}`)
    if (type) walk(m.doc, type, [], m.index)
  }
  return problems
}

/** Levenshtein distance: how many one-character edits turn a into b. */
function editDistance(a, b) {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const row = [i]
    for (let j = 1; j <= b.length; j++)
      row[j] = Math.min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1))
    previous = row
  }
  return previous[b.length]
}

/** Edit distance of two short strings. */
function distance(a, b) {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const next = [i]
    for (let j = 1; j <= b.length; j++) next.push(Math.min(row[j] + 1, next[j - 1] + 1, row[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1)))
    row = next
  }
  return row[b.length]
}

/**
 * A container variable of `llama-rerank serve` (server/options.mjs) with a value it would
 * refuse, or a name one or two letters off a serve variable's (a typo the server would ignore).
 */
function serveEnvProblem({ name, value }) {
  if (!name?.startsWith('LLAMA_RERANK_')) return undefined
  const problem = checkServeEnv(name, typeof value === 'string' ? value : undefined)
  if (problem === undefined) return undefined
  if (problem !== 'unknown') return `env ${name}: ${problem}`
  const near = SERVE_OPTIONS.map((o) => o.env).find((env) => distance(env, name) <= 2)
  return near ? `env ${name} is not a variable of llama-rerank serve (did you mean ${near}?)` : undefined
}

const labelsMatch = (selector, labels) => Object.entries(selector ?? {}).every(([k, v]) => labels?.[k] === v)

/** Cross-document checks of the objects: { index, message }. */
function crossCheck(manifests, serverSource) {
  const problems = []
  const of = (kind) => manifests.filter((m) => m.doc?.kind === kind)
  const deployments = of('Deployment')
  const secrets = new Set(of('Secret').map((m) => m.doc.metadata?.name))

  for (const { doc, index } of deployments) {
    const add = (message) => problems.push({ index, message })
    const spec = doc.spec ?? {}
    const podLabels = spec.template?.metadata?.labels
    if (!labelsMatch(spec.selector?.matchLabels, podLabels)) add('spec.selector.matchLabels do not match spec.template.metadata.labels')
    const pod = spec.template?.spec ?? {}
    const volumes = new Set((pod.volumes ?? []).map((v) => v.name))
    for (const v of pod.volumes ?? []) {
      if (v.secret && !secrets.has(v.secret.secretName)) add(`volume ${v.name}: no Secret ${v.secret.secretName} in this file`)
    }
    for (const c of pod.containers ?? []) {
      const where = `container ${c.name}`
      const ports = new Set((c.ports ?? []).map((p) => p.name).filter(Boolean))
      for (const probe of ['startupProbe', 'readinessProbe', 'livenessProbe']) {
        const p = c[probe]
        if (!p && probe !== 'startupProbe') add(`${where}: no ${probe}`)
        if (p?.httpGet && typeof p.httpGet.port === 'string' && !ports.has(p.httpGet.port))
          add(`${where}: ${probe} port "${p.httpGet.port}" is not a named port of the container`)
        if (p?.httpGet && p.httpGet.path !== '/health') add(`${where}: ${probe} should GET /health (the one route open without a key)`)
      }
      if (!c.resources?.requests?.memory || !c.resources?.requests?.cpu)
        add(`${where}: set resources.requests.cpu and .memory (sized from the model)`)
      if (!c.resources?.limits?.memory) add(`${where}: set resources.limits.memory`)
      for (const m of c.volumeMounts ?? []) if (!volumes.has(m.name)) add(`${where}: volumeMount ${m.name} has no volume`)
      for (const e of c.env ?? []) {
        const ref = e.valueFrom?.secretKeyRef
        if (ref && !secrets.has(ref.name) && !ref.optional) add(`${where}: env ${e.name} needs Secret ${ref.name}, not in this file`)
        const envProblem = serveEnvProblem(e)
        if (envProblem) add(`${where}: ${envProblem}`)
      }
    }
    const runsAsNonRoot =
      pod.securityContext?.runAsNonRoot === true || (pod.containers ?? []).every((c) => c.securityContext?.runAsNonRoot === true)
    if (!runsAsNonRoot) add('set securityContext.runAsNonRoot: true')
  }

  const podLabelsOf = (selector) => deployments.find((d) => labelsMatch(selector, d.doc.spec?.template?.metadata?.labels))
  for (const { doc, index } of of('Service')) {
    const target = podLabelsOf(doc.spec?.selector)
    if (!doc.spec?.selector || !target) {
      problems.push({ index, message: 'spec.selector matches the pods of no Deployment in this file' })
      continue
    }
    const named = new Set(target.doc.spec.template.spec.containers.flatMap((c) => (c.ports ?? []).map((p) => p.name)))
    for (const p of doc.spec.ports ?? []) {
      if (typeof p.targetPort === 'string' && !named.has(p.targetPort))
        problems.push({
          index,
          message: `port ${p.name ?? p.port}: targetPort "${p.targetPort}" is not a named port of ${target.doc.metadata.name}'s containers`,
        })
    }
  }
  for (const { doc, index } of of('PodDisruptionBudget')) {
    if (!podLabelsOf(doc.spec?.selector?.matchLabels))
      problems.push({ index, message: 'spec.selector matches the pods of no Deployment in this file' })
  }
  for (const { doc, index } of of('HorizontalPodAutoscaler')) {
    const ref = doc.spec?.scaleTargetRef ?? {}
    if (!deployments.some((d) => ref.kind === 'Deployment' && d.doc.metadata?.name === ref.name)) {
      problems.push({ index, message: `scaleTargetRef ${ref.kind}/${ref.name} is not a Deployment in this file` })
    }
    if ((doc.spec?.minReplicas ?? 1) > doc.spec?.maxReplicas) problems.push({ index, message: 'minReplicas is above maxReplicas' })
    for (const m of doc.spec?.metrics ?? []) {
      const name = m.pods?.metric?.name ?? m.object?.metric?.name
      if (name?.startsWith('llama_rerank_') && !serverSource.includes(`'${name}'`)) {
        problems.push({ index, message: `metric ${name} is not one that the server exports (server/metrics.mjs)` })
      }
    }
  }
  return problems
}

/** Problems of a Kubernetes YAML file: { line, message }. */
export async function lintKubernetes(text, { serverSource = readFileSync(path.join(root, 'server', 'metrics.mjs'), 'utf8') } = {}) {
  const problems = []
  const lineCounter = new LineCounter()
  const documents = parseAllDocuments(text, { lineCounter, prettyErrors: false })
  const manifests = []
  /** The line of a path in a manifest's YAML (its nearest existing parent's), else of the document. */
  const lineOf = (manifest, at) => {
    for (let n = at.length; n > 0; n--) {
      const parent = n === 1 ? manifest.document.contents : manifest.document.getIn(at.slice(0, n - 1), true)
      const last = at[n - 1]
      // A key's own line (a map value may start on the next one); an item's line in a list.
      const node = isMap(parent) ? parent.items.find((pair) => pair.key?.value === last)?.key : isSeq(parent) ? parent.items[last] : null
      if (node?.range) return lineCounter.linePos(node.range[0]).line
    }
    return manifest.line
  }
  for (const document of documents) {
    const line = lineCounter.linePos(document.range?.[0] ?? 0).line
    for (const e of [...document.errors, ...document.warnings]) {
      problems.push({ line: e.linePos?.[0]?.line ?? line, message: `YAML: ${e.message.split('\n')[0]}` })
    }
    if (document.errors.length) continue
    const doc = document.toJS()
    if (doc === null || doc === undefined) continue
    const manifest = { doc, line, index: manifests.length, module: null, document }
    manifests.push(manifest)
    const label = `${doc?.kind ?? '?'} ${doc?.metadata?.name ?? '(no name)'}`
    if (typeof doc !== 'object' || Array.isArray(doc)) {
      problems.push({ line, message: 'a document that is not a Kubernetes object' })
      continue
    }
    if (!doc.metadata?.name) problems.push({ line, message: `${label}: metadata.name is required` })
    manifest.module = modelModule(doc.apiVersion, doc.kind)
    if (!manifest.module) {
      problems.push({
        line,
        message: `${label}: no schema for apiVersion ${doc.apiVersion} kind ${doc.kind} (a typo, or an API this linter does not know)`,
      })
      continue
    }
    const { [doc.kind]: Model } = await import(manifest.module)
    try {
      new Model(doc).validate()
    } catch (error) {
      for (const e of error.errors ?? [{ instancePath: '', message: error.message }]) {
        problems.push({
          line: lineOf(
            manifest,
            e.instancePath
              .split('/')
              .slice(1)
              .map((k) => (/^\d+$/.test(k) ? Number(k) : k.replace(/~1/g, '/').replace(/~0/g, '~'))),
          ),
          message: `${label}: [schema] ${e.instancePath || '/'} ${e.message}${e.params?.allowedValues ? ` (${e.params.allowedValues.join(', ')})` : ''}`,
        })
      }
    }
  }
  for (const { index, path: at, message } of unknownFields(manifests)) {
    const m = manifests[index]
    problems.push({ line: lineOf(m, at), message: `${m.doc.kind} ${m.doc.metadata?.name}: [types] ${message}` })
  }
  for (const { index, message } of crossCheck(manifests, serverSource)) {
    const m = manifests[index]
    problems.push({ line: m.line, message: `${m.doc.kind} ${m.doc.metadata?.name}: ${message}` })
  }
  return problems
}

// ---------------------------------------------------------------------------------------------

async function main() {
  let values
  try {
    ;({ values } = parseArgs({
      options: {
        dockerfile: { type: 'string', default: path.join(root, 'deploy', 'Dockerfile') },
        kubernetes: { type: 'string', default: path.join(root, 'deploy', 'kubernetes.yaml') },
      },
    }))
  } catch (error) {
    process.stderr.write(`lint_deploy: ${error.message}\n`)
    return 2
  }
  const shown = (file) => path.relative(process.cwd(), file) || file
  const report = []
  const read = (file) => {
    try {
      return readFileSync(file, 'utf8')
    } catch (error) {
      report.push(`${shown(file)}: cannot read: ${error.message}`)
      return null
    }
  }
  const dockerfile = read(values.dockerfile)
  if (dockerfile !== null) for (const p of lintDockerfile(dockerfile)) report.push(`${shown(values.dockerfile)}:${p.line}: ${p.message}`)
  const kubernetes = read(values.kubernetes)
  if (kubernetes !== null)
    for (const p of await lintKubernetes(kubernetes)) report.push(`${shown(values.kubernetes)}:${p.line}: ${p.message}`)
  if (report.length) {
    process.stderr.write(report.join('\n') + `\nlint_deploy: ${report.length} problem${report.length > 1 ? 's' : ''}\n`)
    return 1
  }
  process.stdout.write(`lint_deploy: ${shown(values.dockerfile)} and ${shown(values.kubernetes)} are clean\n`)
  return 0
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().then((code) => (process.exitCode = code))
}
