#!/usr/bin/env node
import { createRequire } from 'node:module'
// Ranks documents against a query with a GGUF reranker.
//   node examples/rank.mjs --model FILE [--instruction TEXT] [--context-size N] "query" "doc" ...
import { parseArgs } from 'node:util'

const require = createRequire(import.meta.url)
const { loadModel } = require('../index.js')

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    model: { type: 'string' },
    instruction: { type: 'string' },
    'context-size': { type: 'string' },
    json: { type: 'boolean', default: false },
  },
})

if (!values.model || positionals.length < 2) {
  console.error('usage: node examples/rank.mjs --model FILE [--instruction TEXT] [--context-size N] [--json] "query" "document" ...')
  process.exit(2)
}

const [query, ...documents] = positionals
try {
  const model = await loadModel(values.model)
  const context = await model.createRankingContext({
    instruction: values.instruction,
    contextSize: values['context-size'] ? Number(values['context-size']) : undefined,
  })
  const ranked = await context.rankAndSort(query, documents)
  if (values.json) {
    console.log(JSON.stringify({ model: model.info, query, results: ranked }, null, 2))
  } else {
    console.log(`${model.info.architecture} reranker, scoring: ${model.info.scoring} (${model.info.scoreSource})`)
    for (const { score, index, document } of ranked) {
      const text = document.length > 70 ? document.slice(0, 67) + '...' : document
      console.log(`${score.toFixed(4)}  #${index}  ${text}`)
    }
  }
  await context.dispose()
  await model.dispose()
} catch (error) {
  console.error(`error ${error.code ?? ''}: ${error.message}`)
  process.exit(1)
}
