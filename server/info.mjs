// GET /info: what Hugging Face text-embeddings-inference (TEI) answers there, with TEI's field
// names where they apply, and llama-rerank's own fields: the model's family and scoring, the
// backend it runs on, the contexts and the limits the server runs with.

/** TEI's `model_type` of a reranker: its labels (a one-logit head is TEI's LABEL_0). */
function modelType(info) {
  const labels = info?.classifierLabels?.length ? info.classifierLabels : ['LABEL_0']
  return {
    reranker: {
      id2label: Object.fromEntries(labels.map((label, i) => [String(i), label])),
      label2id: Object.fromEntries(labels.map((label, i) => [label, i])),
    },
  }
}

/** The backend fields of `model.info`, those present only (a GPU variant's fields are optional). */
function backendOf(info = {}) {
  const keys = [
    'backend',
    'gpuDevice',
    'gpuLayers',
    'layerCount',
    'compiledGpuBackends',
    'cpuBuild',
    'cpuVariant',
    'cpuFeatures',
    'variant',
    'variantReason',
  ]
  return Object.fromEntries(keys.filter((k) => info[k] !== undefined && info[k] !== null).map((k) => [k, info[k]]))
}

/**
 * The /info answer. `contexts` and `limits` are the ones the server runs with, read when asked
 * (the context size and KV cache type from the contexts themselves).
 */
export function infoOf({ modelName, modelInfo, contexts, limits, version, authRequired, publicMetrics, cors, accessLog }) {
  const first = contexts[0]
  return {
    // text-embeddings-inference's fields
    model_id: modelName,
    model_sha: null,
    model_type: modelType(modelInfo),
    max_concurrent_requests: contexts.length + limits.maxQueue,
    max_input_length: first.contextSize,
    max_client_batch_size: limits.maxDocuments,
    auto_truncate: false,
    version: version ?? null,
    // llama-rerank's
    model: modelName,
    architecture: modelInfo?.architecture ?? null,
    family: modelInfo?.family ?? null,
    scoring: modelInfo?.scoring ?? null,
    scoreSource: modelInfo?.scoreSource ?? null,
    backend: backendOf(modelInfo),
    contexts: { count: contexts.length, contextSize: first.contextSize, kvCacheType: first.kvCacheType ?? null },
    limits: { ...limits },
    auth: { required: authRequired, publicMetrics },
    cors: cors.origins,
    accessLog,
  }
}
