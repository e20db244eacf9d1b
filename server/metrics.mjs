// Metrics, in Prometheus' text exposition format (version 0.0.4), kept by hand: the package
// has no runtime dependencies, and counters, gauges and one histogram kind are a page of code.
// `serverMetrics` defines every metric the server exports (deploy/kubernetes.yaml's autoscaler
// names some of them; scripts/lint_deploy.mjs checks those names against this file).

const escapeLabel = (value) => String(value).replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')
const formatNumber = (n) => (n === Infinity ? '+Inf' : n === -Infinity ? '-Inf' : Number.isNaN(n) ? 'NaN' : String(n))

function labelText(labelNames, values) {
  if (labelNames.length === 0) return ''
  return `{${labelNames.map((name, i) => `${name}="${escapeLabel(values[i])}"`).join(',')}}`
}

export function createMetrics() {
  const families = []
  const family = (name, help, type, render) => families.push({ name, help, type, render })

  /** A counter with labels: `inc(labels, by)`. */
  function counter(name, help, labelNames = []) {
    const series = new Map()
    family(name, help, 'counter', () =>
      [...series.values()].map(({ values, value }) => `${name}${labelText(labelNames, values)} ${formatNumber(value)}`),
    )
    return {
      inc(labels = {}, by = 1) {
        const values = labelNames.map((l) => labels[l] ?? '')
        const key = values.join('\u0000')
        const s = series.get(key) ?? series.set(key, { values, value: 0 }).get(key)
        s.value += by
      },
    }
  }

  /** A gauge read when scraped. */
  function gauge(name, help, read) {
    family(name, help, 'gauge', () => [`${name} ${formatNumber(read())}`])
  }

  /** A histogram with labels: `observe(labels, value)`; buckets are upper bounds, ascending. */
  function histogram(name, help, buckets, labelNames = []) {
    const series = new Map()
    family(name, help, 'histogram', () =>
      [...series.values()].flatMap(({ values, counts, sum, count }) => {
        const lines = []
        let cumulative = 0
        buckets.forEach((le, i) => {
          cumulative += counts[i]
          lines.push(`${name}_bucket${labelText([...labelNames, 'le'], [...values, formatNumber(le)])} ${cumulative}`)
        })
        lines.push(`${name}_bucket${labelText([...labelNames, 'le'], [...values, '+Inf'])} ${count}`)
        lines.push(`${name}_sum${labelText(labelNames, values)} ${formatNumber(sum)}`)
        lines.push(`${name}_count${labelText(labelNames, values)} ${count}`)
        return lines
      }),
    )
    return {
      observe(labels, value) {
        const values = labelNames.map((l) => labels[l] ?? '')
        const key = values.join('\u0000')
        const s = series.get(key) ?? series.set(key, { values, counts: buckets.map(() => 0), sum: 0, count: 0 }).get(key)
        const at = buckets.findIndex((le) => value <= le)
        if (at >= 0) s.counts[at]++
        s.sum += value
        s.count++
      },
    }
  }

  function render() {
    const out = []
    for (const { name, help, type, render: lines } of families) {
      out.push(`# HELP ${name} ${help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}`)
      out.push(`# TYPE ${name} ${type}`)
      out.push(...lines())
    }
    return out.join('\n') + '\n'
  }

  return { counter, gauge, histogram, render }
}

export const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120]

/**
 * The server's metrics, registered in the order `/metrics` lists them. `pool` is the context
 * pool, `openConnections` reads the count of open connections; `modelLoadSeconds` is optional.
 */
export function serverMetrics({ pool, contexts, openConnections, modelLoadSeconds }) {
  const metrics = createMetrics()
  const requestsTotal = metrics.counter(
    'llama_rerank_http_requests_total',
    'HTTP requests answered, by route and status (499: the client went away first)',
    ['route', 'status'],
  )
  const requestSeconds = metrics.histogram(
    'llama_rerank_http_request_duration_seconds',
    "Time from the request's arrival to its answer, by route",
    LATENCY_BUCKETS,
    ['route'],
  )
  const queueWaitSeconds = metrics.histogram(
    'llama_rerank_queue_wait_seconds',
    'Time a scoring request waited for a ranking context',
    LATENCY_BUCKETS,
  )
  const documentsTotal = metrics.counter('llama_rerank_documents_scored_total', 'Documents scored')
  const pairTokensTotal = metrics.counter('llama_rerank_pair_tokens_total', 'Tokens of every scored (query, document) prompt')
  const tokensComputedTotal = metrics.counter(
    'llama_rerank_tokens_computed_total',
    'Tokens evaluated (a shared prompt prefix counts once per call)',
  )
  metrics.gauge('llama_rerank_queue_depth', 'Scoring requests waiting for a ranking context', () => pool.waiting)
  metrics.gauge('llama_rerank_inflight_calls', 'Scoring calls running on a ranking context', () => pool.running)
  metrics.gauge('llama_rerank_contexts', 'Ranking contexts (requests scored side by side)', () => contexts.length)
  metrics.gauge('llama_rerank_open_connections', 'Open HTTP connections', openConnections)
  if (modelLoadSeconds !== undefined) {
    metrics.gauge('llama_rerank_model_load_seconds', 'Time to load the model and create its contexts', () => modelLoadSeconds)
  }
  metrics.gauge('process_resident_memory_bytes', 'Resident memory size in bytes', () => process.memoryUsage.rss())
  // The same names as prom-client's defaults: RSS alone cannot tell a leak from V8 growing its heap.
  metrics.gauge('nodejs_heap_size_total_bytes', 'V8 heap size reserved, in bytes', () => process.memoryUsage().heapTotal)
  metrics.gauge(
    'nodejs_heap_size_used_bytes',
    'V8 heap in use (live objects and garbage not yet collected), in bytes',
    () => process.memoryUsage().heapUsed,
  )
  metrics.gauge(
    'nodejs_external_memory_bytes',
    'Memory of C++ objects bound to JavaScript objects, in bytes',
    () => process.memoryUsage().external,
  )
  const startedAt = Date.now() / 1000
  metrics.gauge('process_start_time_seconds', 'Start time of the process since the Unix epoch in seconds', () => startedAt)
  return { render: metrics.render, requestsTotal, requestSeconds, queueWaitSeconds, documentsTotal, pairTokensTotal, tokensComputedTotal }
}
