// ESM entry of llama-rerank/compat: the same objects as the CommonJS one (compat.js).
import { createRequire } from 'node:module'

const compat = createRequire(import.meta.url)('./compat.js')

export const { getLlama, createRankingContext, Llama, LlamaModel, LlamaRankingContext, LlamaLogLevel, DisposedError, EventRelay } = compat
