// Runs the llama-rerank command as a child process, bounded in time.
import { spawn } from 'node:child_process'
import path from 'node:path'
import { root } from './helpers.mjs'

export const CLI = path.join(root, 'bin', 'llama-rerank.mjs')

/** A clean environment: no Hugging Face or llama-rerank variables from the caller. */
export function cleanEnv(extra = {}) {
  const env = { ...process.env }
  for (const k of Object.keys(env)) {
    if (k.startsWith('HF_') || k.startsWith('HUGGING') || k.startsWith('LLAMA_RERANK_')) delete env[k]
  }
  return { ...env, ...extra }
}

/** Runs the CLI to completion: { code, signal, stdout, stderr }. */
export function run(args, { input, env = cleanEnv(), timeout = 60_000 } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { env, stdio: ['pipe', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (d) => (stdout += d))
    child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d))
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`llama-rerank ${args.join(' ')} took over ${timeout} ms\n${stderr}`))
    }, timeout)
    child.on('error', reject)
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, stdout, stderr })
    })
    child.stdin.end(input ?? '')
  })
}

/**
 * Starts `llama-rerank serve --port 0 ...` and resolves once it listens:
 * { url, child, stderr(), exited: Promise<{ code, signal }> , stop(signal) }.
 */
export function serve(args, { env = cleanEnv(), timeout = 60_000 } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, 'serve', '--port', '0', ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] })
    let stderr = ''
    let ready = false
    const exited = new Promise((r) => child.on('close', (code, signal) => r({ code, signal })))
    // A server left behind by a failed test must not outlive it.
    const killer = setTimeout(() => child.kill('SIGKILL'), 5 * 60_000)
    killer.unref()
    exited.then(() => clearTimeout(killer))
    const timer = setTimeout(() => {
      if (!ready) {
        child.kill('SIGKILL')
        reject(new Error(`the server did not start in ${timeout} ms\n${stderr}`))
      }
    }, timeout)
    child.stderr.setEncoding('utf8').on('data', (d) => {
      stderr += d
      const m = !ready && stderr.match(/ on (http:\/\/[^\s]+) with/)
      if (m) {
        ready = true
        clearTimeout(timer)
        resolve({
          url: m[1],
          child,
          exited,
          stderr: () => stderr,
          stop: (signal = 'SIGTERM') => {
            child.kill(signal)
            return exited
          },
        })
      }
    })
    exited.then(({ code }) => {
      if (!ready) {
        clearTimeout(timer)
        reject(new Error(`the server exited with ${code} before listening\n${stderr}`))
      }
    })
  })
}
