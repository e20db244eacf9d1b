// The options of `llama-rerank serve`: one table that drives the command's parser, its help
// text, the environment variables (`--max-queue` is also LLAMA_RERANK_MAX_QUEUE, as
// llama-server's flags are LLAMA_ARG_*), the docs' table (docs/server.md, checked by a test) and
// the test that sets each variable. The command line wins over the environment; an empty
// variable counts as unset.

import { DEFAULT_LIMITS } from './limits.mjs'

/** The model of `serve`, `rank` and `info` without --model or $LLAMA_RERANK_MODEL. */
export const DEFAULT_MODEL = 'hf:ggml-org/Qwen3-Reranker-0.6B-Q8_0-GGUF/qwen3-reranker-0.6b-q8_0.gguf'

/** A usage error: the command exits with status 2 and this message. */
export class UsageError extends Error {}

/** `--max-queue` -> `LLAMA_RERANK_MAX_QUEUE`. */
export const envName = (flag) => `LLAMA_RERANK_${flag.toUpperCase().replace(/-/g, '_')}`

function integer(value, name, { min = 1, max = Number.MAX_SAFE_INTEGER } = {}) {
  const n = typeof value === 'string' && /^\s*\d+\s*$/.test(value) ? Number(value) : Number.NaN
  if (!Number.isSafeInteger(n) || n < min) {
    throw new UsageError(`${name} must be a ${min === 0 ? 'non-negative' : 'positive'} integer, got ${JSON.stringify(value)}`)
  }
  if (n > max) throw new UsageError(`${name} must be at most ${max}, got ${n}`)
  return n
}

const positive = (value, name) => integer(value, name)
const nonNegative = (value, name) => integer(value, name, { min: 0 })

const oneOf =
  (...choices) =>
  (value, name) => {
    if (choices.includes(value)) return value
    throw new UsageError(`${name} must be ${choices.slice(0, -1).join(', ')} or ${choices.at(-1)}, got ${JSON.stringify(value)}`)
  }

/** A comma list: empty items are dropped. */
const list = (value) =>
  value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)

/** `--cors`: `*`, or exact origins (`scheme://host[:port]`, no path). */
function corsOrigins(value, name) {
  const origins = list(value)
  if (origins.length === 0) throw new UsageError(`${name} must be * or a comma list of origins, got ${JSON.stringify(value)}`)
  if (origins.includes('*')) {
    if (origins.length > 1) throw new UsageError(`${name}: * allows every origin and cannot be combined with others`)
    return ['*']
  }
  for (const origin of origins) {
    let url
    try {
      url = new URL(origin)
    } catch {}
    if (!url || url.origin !== origin) {
      throw new UsageError(
        `${name}: ${JSON.stringify(origin)} is not an origin such as https://app.example.com (scheme, host, port; no path)`,
      )
    }
  }
  return origins
}

/**
 * Every option of `serve`, in the help's order. `key` names the setting; `type` is parseArgs'
 * (`string` or `boolean`); `parse(value, name)` turns a string (from the command line or the
 * environment, `name` being the flag or the variable) into the setting, throwing a UsageError.
 * `multiple` options add up across the command line and their variable (API keys); their
 * variable's `envList` says how one variable holds several values.
 */
export const SERVE_OPTIONS = Object.freeze(
  [
    {
      flag: 'model',
      short: 'm',
      key: 'model',
      arg: 'M',
      defaultHelp: DEFAULT_MODEL,
      help: 'a .gguf path or an hf: URI',
    },
    { flag: 'host', key: 'host', arg: 'H', default: '127.0.0.1', help: 'address to bind (0.0.0.0 for every interface)' },
    {
      flag: 'port',
      short: 'p',
      key: 'port',
      arg: 'P',
      default: 8080,
      parse: (v, n) => integer(v, n, { min: 0, max: 65535 }),
      help: 'port (0 picks a free one)',
    },
    { flag: 'contexts', key: 'contexts', arg: 'N', default: 1, parse: positive, help: 'requests scored side by side; threads are split' },
    {
      flag: 'context-size',
      short: 'c',
      key: 'contextSize',
      arg: 'N',
      parse: positive,
      defaultHelp: "the model's, at most 8192",
      help: 'tokens per pair',
    },
    {
      flag: 'threads',
      short: 't',
      key: 'threads',
      arg: 'N',
      parse: positive,
      defaultHelp: 'cores / contexts',
      help: 'threads per context',
    },
    { flag: 'kv-cache-type', key: 'kvCacheType', arg: 'T', default: 'f16', parse: oneOf('f16', 'f32'), help: 'f16 or f32, as for rank' },
    {
      flag: 'gpu-layers',
      key: 'gpuLayers',
      arg: 'N',
      parse: nonNegative,
      defaultHelp: 'all, on a GPU build with a device',
      help: 'layers to offload to a GPU; 0 keeps the model on the CPU; a CPU-only build accepts and ignores it',
    },
    {
      flag: 'api-key',
      key: 'apiKeys',
      arg: 'KEY',
      multiple: true,
      envList: 'one key',
      help: 'require "Authorization: Bearer KEY" on every route but /health and /openapi.json; repeatable',
    },
    {
      flag: 'api-key-file',
      key: 'apiKeyFiles',
      arg: 'F',
      multiple: true,
      envList: 'comma list of files',
      help: 'more keys, one a line (# comments); repeatable',
    },
    {
      flag: 'insecure-no-auth',
      key: 'insecureNoAuth',
      type: 'boolean',
      help: 'allow a non-loopback --host without a key (trusted networks, or behind a proxy that checks keys)',
    },
    {
      flag: 'public-metrics',
      key: 'publicMetrics',
      type: 'boolean',
      help: 'serve /metrics without a key (it is behind the key otherwise)',
    },
    {
      flag: 'cors',
      key: 'cors',
      arg: 'ORIGINS',
      parse: corsOrigins,
      defaultHelp: 'off, no CORS headers',
      help: 'answer browsers from these origins: a comma list of exact origins, or *',
    },
    {
      flag: 'access-log',
      key: 'accessLog',
      arg: 'F',
      default: 'json',
      parse: oneOf('json', 'off'),
      help: 'json: one JSON line per request on stderr; off: none',
    },
    {
      flag: 'max-documents',
      key: 'maxDocuments',
      limit: true,
      arg: 'N',
      parse: positive,
      help: 'documents per request at most (more is a 400)',
    },
    {
      flag: 'max-body-bytes',
      key: 'maxBodyBytes',
      limit: true,
      arg: 'N',
      defaultHelp: '8 MiB',
      parse: positive,
      help: 'request body size at most (more is a 413)',
    },
    {
      flag: 'max-request-tokens',
      key: 'maxRequestTokens',
      limit: true,
      arg: 'N',
      defaultHelp: '0, no limit',
      parse: nonNegative,
      help: 'tokens per request at most, over all its pairs (more is a 413, answered before any scoring)',
    },
    {
      flag: 'max-queue',
      key: 'maxQueue',
      limit: true,
      arg: 'N',
      parse: nonNegative,
      help: 'requests waiting for a context at most (more is a 503 with Retry-After)',
    },
    {
      flag: 'queue-timeout',
      key: 'queueTimeoutMs',
      limit: true,
      arg: 'MS',
      parse: nonNegative,
      help: 'longest wait for a context, then a 503 with Retry-After (0 waits forever)',
    },
    {
      flag: 'body-timeout',
      key: 'bodyTimeoutMs',
      limit: true,
      arg: 'MS',
      parse: positive,
      help: 'time to send the body once the headers are in, then a 408 and the connection is closed',
    },
    {
      flag: 'headers-timeout',
      key: 'headersTimeoutMs',
      limit: true,
      arg: 'MS',
      parse: positive,
      help: 'time to send the request headers',
    },
    {
      flag: 'send-timeout',
      key: 'sendTimeoutMs',
      limit: true,
      arg: 'MS',
      parse: positive,
      help: 'time for a client to take a written answer, then the connection is dropped',
    },
    {
      flag: 'keep-alive-timeout',
      key: 'keepAliveTimeoutMs',
      limit: true,
      arg: 'MS',
      parse: nonNegative,
      help: 'idle keep-alive connections are closed after this',
    },
    {
      flag: 'max-connections',
      key: 'maxConnections',
      limit: true,
      arg: 'N',
      parse: positive,
      help: 'open connections at most (more are closed)',
    },
  ].map((o) =>
    Object.freeze({
      type: 'string',
      multiple: false,
      parse: (v) => v,
      ...o,
      ...(o.limit ? { default: DEFAULT_LIMITS[o.key] } : {}),
      env: envName(o.flag),
    }),
  ),
)

/** The default of an option as the help and the docs show it, or undefined. */
export const defaultText = (o) => o.defaultHelp ?? (o.default === undefined ? undefined : String(o.default))

/** How an option's variable is written: booleans take 1/true/0/false; lists are described. */
export const envText = (o) =>
  o.type === 'boolean' ? `${o.env}=1` : o.envList && o.envList !== 'one key' ? `${o.env} (${o.envList})` : o.env

/** `parseArgs`' options of `serve`. */
export const serveParseOptions = () =>
  Object.fromEntries(
    SERVE_OPTIONS.map((o) => [o.flag, { type: o.type, ...(o.short ? { short: o.short } : {}), ...(o.multiple ? { multiple: true } : {}) }]),
  )

function envBoolean(value, name) {
  const v = value.trim().toLowerCase()
  if (v === '1' || v === 'true') return true
  if (v === '0' || v === 'false') return false
  throw new UsageError(`${name} must be 1, true, 0 or false, got ${JSON.stringify(value)}`)
}

/**
 * The settings of `serve` from parseArgs' `values` and the environment: for each option, the
 * command line's value, else its variable's, else its default (undefined: the library's own).
 * `multiple` options take both. Throws a UsageError naming the flag or the variable.
 */
export function resolveServeSettings(values, env = process.env) {
  const settings = {}
  for (const o of SERVE_OPTIONS) {
    const raw = env[o.env]
    const fromEnv = raw === undefined || raw === '' ? undefined : raw
    if (o.multiple) {
      const fromFlags = (values[o.flag] ?? []).map((v) => o.parse(v, `--${o.flag}`))
      const envValues = fromEnv === undefined ? [] : o.envList === 'one key' ? [fromEnv.trim()] : list(fromEnv)
      settings[o.key] = [...fromFlags, ...envValues.map((v) => o.parse(v, o.env))]
    } else if (o.type === 'boolean') {
      settings[o.key] = values[o.flag] === true || (fromEnv !== undefined && envBoolean(fromEnv, o.env))
    } else if (values[o.flag] !== undefined) {
      settings[o.key] = o.parse(values[o.flag], `--${o.flag}`)
    } else if (fromEnv !== undefined) {
      settings[o.key] = o.parse(fromEnv, o.env)
    } else {
      settings[o.key] = o.default
    }
  }
  return settings
}

/** The limits (`startServer`'s `limits`) in settings. */
export const limitsOf = (settings) => Object.fromEntries(SERVE_OPTIONS.filter((o) => o.limit).map((o) => [o.key, settings[o.key]]))

/** Words of `text` in lines of at most `width` characters. */
function wrap(text, width) {
  const lines = ['']
  for (const word of text.split(' ')) {
    const line = lines.at(-1)
    if (line && line.length + 1 + word.length > width) lines.push(word)
    else lines[lines.length - 1] = line ? `${line} ${word}` : word
  }
  return lines
}

/** The options' lines of the help: flag, argument, what it does, its default and its variable. */
export function serveOptionsHelp(width = 100) {
  const flagText = (o) => `${o.short ? `-${o.short}, ` : '    '}--${o.flag}${o.arg ? ` ${o.arg}` : ''}`
  const column = Math.max(...SERVE_OPTIONS.map((o) => flagText(o).length)) + 4
  const lines = []
  for (const o of SERVE_OPTIONS) {
    const d = defaultText(o)
    const text = wrap(o.help, width - column)
    const tail = `${d === undefined ? '' : `default ${d}; `}env ${envText(o)}`
    if (tail.length <= width - column) text.push(tail)
    else text.push(`default ${d}`, `env ${envText(o)}`)
    text.forEach((line, i) => lines.push(`  ${(i === 0 ? flagText(o) : '').padEnd(column - 2)}${line}`))
  }
  return lines.join('\n')
}

/** The docs' table of the options (docs/server.md holds it; a test checks it is this). */
export function serveOptionsMarkdown() {
  const cell = (text) => text.replace(/\|/g, '\\|')
  const rows = SERVE_OPTIONS.map((o) => {
    const flag = `\`--${o.flag}${o.arg ? ` ${o.arg}` : ''}\`${o.short ? ` (\`-${o.short}\`)` : ''}`
    const env = `\`${o.env}\`${o.type === 'boolean' ? ' (1, true, 0, false)' : o.envList ? ` (${o.envList})` : ''}`
    return `| ${flag} | ${env} | ${cell(defaultText(o) ?? '')} | ${cell(o.help)} |`
  })
  return ['| flag | environment variable | default | what |', '|---|---|---|---|', ...rows].join('\n')
}

/**
 * Checks one environment variable as `serve` would read it: undefined when `name` is a serve
 * option's variable and `value` is valid, else the message (`unknown` when no option has it).
 */
export function checkServeEnv(name, value) {
  const o = SERVE_OPTIONS.find((x) => x.env === name)
  if (!o) return 'unknown'
  if (value === undefined || value === '') return undefined
  try {
    if (o.type === 'boolean') envBoolean(value, name)
    else if (!o.multiple) o.parse(value, name)
  } catch (error) {
    if (error instanceof UsageError) return error.message
    throw error
  }
  return undefined
}
