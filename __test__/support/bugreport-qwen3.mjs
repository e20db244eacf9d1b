// The reproduction from the original bug report, written as a node-llama-cpp user writes it:
// node-llama-cpp refuses the plain causal Qwen3-Reranker file ("Computing rankings is not
// supported for this model") and scores the pooled one with a drifted prompt. The only change
// for llama-rerank is the import line.
//
//   node __test__/support/bugreport-qwen3.mjs fixtures/qwen3-reranker-pooled.gguf
//   node __test__/support/bugreport-qwen3.mjs fixtures/qwen3-reranker-causal.gguf
import { getLlama } from 'llama-rerank/compat' // was: import { getLlama } from "node-llama-cpp";

const modelPath = process.argv[2] ?? 'qwen3-reranker-0.6b-q8_0.gguf'

const llama = await getLlama()
const model = await llama.loadModel({ modelPath })
const context = await model.createRankingContext()

const query = 'What is the capital of France?'
const documents = ['The mitochondria is the powerhouse of the cell.', 'Paris is the capital and largest city of France.']

const score = await context.rank(query, documents[1])
console.log(`rank: ${score}`)

const ranked = await context.rankAndSort(query, documents)
for (const { document, score } of ranked) console.log(`${score}\t${document}`)

await llama.dispose()
