// Which package of the addon index.js loads: the platform's CPU package (binding.js's usual
// path), or a GPU variant package (llama-rerank-<platform>-vulkan, -cuda) that the user added
// and that finds a device. The device probe runs the variant's addon in a child process with a
// timeout, so a driver that crashes or hangs cannot take this process down.
//
//   LLAMA_RERANK_BACKEND=auto (default)  a GPU variant when installed and its probe finds a
//                                        device (CUDA before Vulkan), else the CPU package
//   LLAMA_RERANK_BACKEND=cpu             the CPU package, nothing probed
//   LLAMA_RERANK_BACKEND=vulkan|cuda     that variant, not probed (ERR_BACKEND_NOT_INSTALLED
//                                        when its package is missing)
//
// LLAMA_RERANK_PROBE_TIMEOUT_MS bounds the probe (default 20000). docs/gpu.md has the details.
'use strict'

const { spawnSync } = require('node:child_process')
const path = require('node:path')
const { isMainThread } = require('node:worker_threads')
const { platformSuffix } = require('./platform.cjs')

const GPU_VARIANTS = ['cuda', 'vulkan']
const CHOICES = ['auto', 'cpu', ...GPU_VARIANTS]
const DEFAULT_PROBE_TIMEOUT_MS = 20_000
const PROBE = path.join(__dirname, 'variant_probe.cjs')
// The main thread's choice, for its worker threads (they get a copy of its environment): a
// worker loads the package the main thread loaded, without a probe of its own, so one process
// never holds two different addons (a probe that timed out in one thread and not in another).
const SHARED = 'LLAMA_RERANK_LOADED_VARIANT'

function typedError(code, message, cause) {
  const error = new Error(message, cause ? { cause } : undefined)
  error.code = code
  return error
}

/** The package name of GPU variant `variant` for this platform. */
const variantPackage = (variant, suffix = platformSuffix()) => `llama-rerank-${suffix}-${variant}`

/** The addon file of an installed package, or null when it is not installed. */
function resolvePackage(name, from) {
  try {
    return require.resolve(name, { paths: [from] })
  } catch {
    return null
  }
}

/**
 * Asks the addon at `file`, in a child process, which GPU devices it finds.
 * @returns {{ devices: Array<{ name: string, description: string }> } | { error: string }}
 */
function probe(file, env, timeout) {
  const started = process.hrtime.bigint()
  // Deno runs a script with `run` and needs the permissions its parent has.
  const args = process.versions.deno ? ['run', '-A', PROBE, file] : [PROBE, file]
  const r = spawnSync(process.execPath, args, {
    encoding: 'utf8',
    // Electron's execPath is the app itself unless told to run as Node.
    env: { ...env, ELECTRON_RUN_AS_NODE: '1' },
    timeout,
    killSignal: 'SIGKILL',
    windowsHide: true,
    maxBuffer: 1 << 20,
  })
  const ms = Number((process.hrtime.bigint() - started) / 1_000_000n)
  if (r.error?.code === 'ETIMEDOUT' || (r.signal && r.status === null && ms >= timeout)) {
    return { error: `its device probe did not answer within ${timeout} ms`, ms }
  }
  if (r.error) return { error: `its device probe could not start (${r.error.message})`, ms }
  if (r.status !== 0) {
    const last = (r.stderr || '').trim().split('\n').at(-1) || ''
    return { error: `its device probe failed (${r.signal ?? `exit code ${r.status}`}${last ? `: ${last.slice(0, 200)}` : ''})`, ms }
  }
  try {
    const devices = JSON.parse(r.stdout.trim().split('\n').at(-1))
    if (!Array.isArray(devices)) throw new Error('not a list')
    return { devices, ms }
  } catch {
    return { error: 'its device probe printed no device list', ms }
  }
}

/**
 * The package to load and why, from LLAMA_RERANK_BACKEND and the installed GPU variants.
 * Throws ERR_UNKNOWN_BACKEND (a value other than auto, cpu, vulkan, cuda) and
 * ERR_BACKEND_NOT_INSTALLED (a forced variant whose package is missing).
 * @returns {{ variant: 'cpu'|'vulkan'|'cuda', reason: string, file: string|null, forced: boolean, probes: Array<{ name: string, ms: number }> }}
 *   `file`: the GPU variant's addon, or null for binding.js's usual path (the CPU package).
 */
function selectVariant({ env = process.env, from = __dirname } = {}) {
  const raw = env.LLAMA_RERANK_BACKEND ?? ''
  const choice = raw.trim().toLowerCase() || 'auto'
  if (!CHOICES.includes(choice)) {
    throw typedError('ERR_UNKNOWN_BACKEND', `LLAMA_RERANK_BACKEND must be one of ${CHOICES.join(', ')}, not ${JSON.stringify(raw)}`)
  }
  const suffix = platformSuffix()
  const cpuPackage = `llama-rerank-${suffix}`
  const probes = []
  // napi-rs's own override of the addon file: that file is loaded, as binding.js does.
  if (env.NAPI_RS_NATIVE_LIBRARY_PATH) {
    return {
      variant: null,
      reason: `NAPI_RS_NATIVE_LIBRARY_PATH names the addon (${env.NAPI_RS_NATIVE_LIBRARY_PATH})`,
      file: null,
      forced: true,
      probes,
    }
  }
  if (choice === 'cpu') {
    return {
      variant: 'cpu',
      reason: `forced by LLAMA_RERANK_BACKEND=cpu: the CPU package ${cpuPackage}, no GPU variant probed`,
      file: null,
      forced: true,
      probes,
    }
  }
  if (choice !== 'auto') {
    const name = variantPackage(choice, suffix)
    const file = resolvePackage(name, from)
    if (!file) {
      throw typedError(
        'ERR_BACKEND_NOT_INSTALLED',
        `LLAMA_RERANK_BACKEND=${choice}, but ${name} is not installed: npm install ${name} (docs/gpu.md), or unset LLAMA_RERANK_BACKEND`,
      )
    }
    return { variant: choice, reason: `forced by LLAMA_RERANK_BACKEND=${choice}: ${name}, not probed`, file, forced: true, probes }
  }
  const shared = isMainThread ? null : sharedSelection(env, from)
  if (shared) return shared
  const timeout = Number(env.LLAMA_RERANK_PROBE_TIMEOUT_MS) > 0 ? Number(env.LLAMA_RERANK_PROBE_TIMEOUT_MS) : DEFAULT_PROBE_TIMEOUT_MS
  const misses = []
  for (const variant of GPU_VARIANTS) {
    const name = variantPackage(variant, suffix)
    const file = resolvePackage(name, from)
    if (!file) continue
    const result = probe(file, env, timeout)
    probes.push({ name, ms: result.ms })
    if (result.devices?.length) {
      const found = result.devices.map((d) => `${d.name} (${d.description})`).join(', ')
      return { variant, reason: `${name} is installed and found ${found}`, file, forced: false, probes }
    }
    misses.push(`${name} is installed but ${result.error ?? 'found no device'}`)
  }
  const why = misses.length ? misses.join('; ') : 'no GPU variant package is installed'
  return { variant: 'cpu', reason: `${why}: the CPU package ${cpuPackage}`, file: null, forced: false, probes }
}

/** In a worker thread, the auto choice its main thread made for this same package, or null. */
function sharedSelection(env, from) {
  let shared
  try {
    shared = JSON.parse(env[SHARED] ?? '')
  } catch {
    return null
  }
  if (shared?.from !== from || !shared.selection) return null
  const { variant, reason, file } = shared.selection
  // The same reason word for word: model.info is one per process, whichever thread reads it.
  return { variant, reason, file, forced: false, probes: [] }
}

/** On the main thread, after an auto choice loaded: kept for the worker threads it starts. */
function rememberSelection(selection, { env = process.env, from = __dirname } = {}) {
  if (!isMainThread || selection.forced) return
  env[SHARED] = JSON.stringify({ from, selection: { variant: selection.variant, reason: selection.reason, file: selection.file } })
}

/**
 * Requires the loader (binding.js) with the selected addon: a GPU variant's file goes through
 * NAPI_RS_NATIVE_LIBRARY_PATH, napi-rs's override, set only while the loader runs.
 */
function loadSelected(selection, requireLoader) {
  if (!selection.file) return requireLoader()
  const key = 'NAPI_RS_NATIVE_LIBRARY_PATH'
  const had = Object.hasOwn(process.env, key)
  const before = process.env[key]
  process.env[key] = selection.file
  try {
    return requireLoader()
  } finally {
    if (had) process.env[key] = before
    else delete process.env[key]
  }
}

/** ERR_BACKEND_LOAD: the GPU variant's addon did not load in this process. */
function variantLoadError(selection, cause) {
  return typedError(
    'ERR_BACKEND_LOAD',
    `llama-rerank: the ${selection.variant} variant (${selection.file}) did not load: ${cause?.cause?.message ?? cause?.message}. ` +
      'LLAMA_RERANK_BACKEND=cpu loads the CPU package instead.',
    cause,
  )
}

module.exports = { selectVariant, loadSelected, rememberSelection, variantLoadError, variantPackage, GPU_VARIANTS }
