// node-llama-cpp as the benchmark runs it: its CPU prebuilt binary only, never downloading or
// building llama.cpp (run.mjs also sets NODE_LLAMA_CPP_SKIP_DOWNLOAD=true, NODE_LLAMA_CPP_GPU=false).
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')

/** node-llama-cpp's Llama on its CPU prebuilt binary, and the package's version. */
export async function nodeLlamaCpp() {
  const { getLlama } = await import('node-llama-cpp')
  const llama = await getLlama({
    gpu: false,
    build: 'never',
    usePrebuiltBinaries: true,
    skipDownload: true,
    progressLogs: false,
    logLevel: 'error',
  })
  const { version } = JSON.parse(readFileSync(path.join(ROOT, 'node_modules', 'node-llama-cpp', 'package.json'), 'utf8'))
  return { llama, version }
}
