// The context pool: each request runs whole on the first free ranking context, in arrival order
// (lower `priority` numbers first), behind a bounded queue with a bounded wait.
import { HttpError } from './answers.mjs'

/**
 * Runs each job whole on the first free context, in arrival order, with a bounded queue and a
 * bounded wait. `estimateRetryAfter` turns the recent job time into a Retry-After in seconds.
 */
export function createPool(contexts, limits, { onSettled }) {
  const idle = [...contexts]
  const queue = []
  let running = 0
  let averageJobSeconds = 0
  const listeners = new Set()

  const notify = () => listeners.forEach((fn) => fn())

  /** Seconds until a waiting request at the end of the queue could expect a context. */
  const retryAfterSeconds = () => {
    const seconds = ((averageJobSeconds || 1) * (queue.length + running)) / contexts.length
    return Math.min(60, Math.max(1, Math.ceil(seconds)))
  }

  const busy = (message) =>
    new HttpError(503, message, { type: 'unavailable_error', headers: { 'retry-after': String(retryAfterSeconds()) } })

  function start(job, ctx) {
    running++
    clearTimeout(job.timer)
    const started = performance.now()
    job.onStart?.((started - job.queuedAt) / 1000)
    ctx
      .rankAll(job.query, job.texts, { signal: job.signal, instruction: job.instruction, onOverflow: job.onOverflow })
      .then((scores) => {
        const seconds = (performance.now() - started) / 1000
        averageJobSeconds = averageJobSeconds ? averageJobSeconds * 0.8 + seconds * 0.2 : seconds
        // This context ran nothing else since: the statistics are this job's.
        job.resolve({ scores, stats: ctx.lastCallStats })
      }, job.reject)
      .finally(() => {
        running--
        idle.push(ctx)
        onSettled?.()
        pump()
        notify()
      })
  }

  function pump() {
    while (idle.length && queue.length) start(queue.shift(), idle.shift())
  }

  function remove(job) {
    const at = queue.indexOf(job)
    if (at < 0) return false
    queue.splice(at, 1)
    clearTimeout(job.timer)
    notify()
    return true
  }

  return {
    get running() {
      return running
    },
    get waiting() {
      return queue.length
    },
    /** Called whenever a job leaves the queue or a context. */
    onChange(fn) {
      listeners.add(fn)
    },
    busy,
    /**
     * Scores on the first free context; rejects if `signal` aborts first, or on a full or slow
     * queue. A waiting job goes ahead of every waiting job with a higher `priority` number.
     */
    schedule(job) {
      return new Promise((resolve, reject) => {
        // Only a request that would wait needs a place in the queue.
        if (!idle.length && queue.length >= limits.maxQueue) {
          throw busy(`the server is busy: ${queue.length} requests waiting`)
        }
        Object.assign(job, { resolve, reject, queuedAt: performance.now() })
        job.signal.addEventListener(
          'abort',
          () => {
            if (remove(job)) reject(job.signal.reason)
          },
          { once: true },
        )
        if (limits.queueTimeoutMs) {
          job.timer = setTimeout(() => {
            const ahead = queue.indexOf(job)
            if (remove(job)) {
              reject(
                busy(`no ranking context became free within ${limits.queueTimeoutMs} ms (${ahead} requests ahead, ${running} running)`),
              )
            }
          }, limits.queueTimeoutMs)
          job.timer.unref?.()
        }
        // Cohere's `priority`: lower numbers first; equal priorities in arrival order.
        const priority = job.priority ?? 0
        const behind = queue.findIndex((waiting) => (waiting.priority ?? 0) > priority)
        if (behind < 0) queue.push(job)
        else queue.splice(behind, 0, job)
        pump()
      })
    },
  }
}
