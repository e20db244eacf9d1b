// The OpenAPI document served on /openapi.json.

/** OpenAPI 3.0 description of every route and both request shapes. */
export function openApiDocument({ modelName = 'reranker', authRequired = false, publicMetrics = false, version = '0' } = {}) {
  const ref = (name) => ({ $ref: `#/components/schemas/${name}` })
  const json = (schema, description) => ({ description, content: { 'application/json': { schema } } })
  const error = (description) => json(ref('Error'), description)
  const secured = authRequired ? { security: [{ bearer: [] }] } : {}
  const open = authRequired ? { security: [] } : {}
  const unauthorized = authRequired ? { 401: error('No API key, or not a valid one (with a WWW-Authenticate: Bearer header)') } : {}
  const busy = {
    ...error("Busy: the queue is full or no context became free within the queue timeout; retry after the Retry-After header's seconds"),
    headers: { 'Retry-After': { description: 'Seconds to wait before retrying', schema: { type: 'integer', minimum: 1 } } },
  }
  const rerankResponses = {
    400: error('Malformed JSON, a bad field, or more documents than --max-documents'),
    ...unauthorized,
    405: error('Not POST'),
    408: error('The body did not arrive within --body-timeout'),
    413: error(
      'The body is larger than --max-body-bytes, the request has more tokens than --max-request-tokens, or (TEI shape, truncate false) a pair is longer than the context',
    ),
    503: busy,
  }
  const rerankOperation = (operationId, summary, { tei = false, v2 = false } = {}) => ({
    post: {
      operationId,
      summary,
      ...secured,
      requestBody: {
        required: true,
        content: {
          'application/json': {
            schema: tei ? { oneOf: [ref('RerankRequest'), ref('TeiRerankRequest')] } : ref(v2 ? 'V2RerankRequest' : 'RerankRequest'),
          },
        },
      },
      responses: {
        200: json(
          tei ? { oneOf: [ref('RerankResponse'), ref('TeiRerankResponse')] } : ref('RerankResponse'),
          tei
            ? 'The documents by relevance, best first: a RerankResponse for a body with "documents", a TEI array for a body with "texts"'
            : 'The documents by relevance, best first',
        ),
        ...rerankResponses,
        ...(tei ? { 422: error('TEI shape, raw_scores: a score saturated at 0 or 1, so its logit cannot be recovered') } : {}),
      },
    },
  })
  const health = {
    get: {
      operationId: 'health',
      summary: 'Liveness and readiness: 200 while serving, 503 while shutting down',
      ...open,
      responses: {
        200: json({ type: 'object', properties: { status: { type: 'string', enum: ['ok'] } }, required: ['status'] }, 'Serving'),
        503: json(
          { type: 'object', properties: { status: { type: 'string', enum: ['shutting down'] } }, required: ['status'] },
          'Shutting down: finishing the requests it has',
        ),
      },
    },
  }
  const models = {
    get: {
      operationId: 'listModels',
      summary: 'The model served',
      ...secured,
      responses: { 200: json(ref('ModelList'), 'The one model this server ranks with'), ...unauthorized },
    },
  }
  return {
    openapi: '3.0.3',
    info: {
      title: 'llama-rerank server',
      version,
      description:
        `Scores (query, document) pairs with the GGUF reranker ${modelName}. POST /v1/rerank (also /v1/reranking, /reranking) takes Cohere's v1 rerank request, ` +
        'which is also llama-server\'s (with "texts" for "documents") and Jina\'s; POST /v2/rerank takes Cohere\'s v2 request; POST /rerank takes the v1 request too, ' +
        'and text-embeddings-inference\'s { query, texts } request when the body has "texts" and no "documents". A field a request shape does not define is a 400 that names it. ' +
        'Every error has the body { message, error: { code, message, type }, request_id }. Every answer has an X-Request-Id header: ' +
        "the request's own X-Request-Id (printable ASCII, at most 128 characters) or a new UUID.",
    },
    paths: {
      '/v1/rerank': rerankOperation('rerank', 'Rank documents against a query (llama-server, Jina and Cohere shape)'),
      '/rerank': rerankOperation(
        'rerankAny',
        'Rank documents: the /v1/rerank shape, or text-embeddings-inference\'s when the body has "texts"',
        { tei: true },
      ),
      '/v1/reranking': rerankOperation('reranking', 'Same as /v1/rerank'),
      '/reranking': rerankOperation('rerankingShort', "Same as /v1/rerank (llama-server's path)"),
      '/v2/rerank': rerankOperation('rerankV2', 'Rank documents against a query (Cohere v2 shape)', { v2: true }),
      '/health': health,
      '/v1/health': health,
      '/info': {
        get: {
          operationId: 'info',
          summary:
            "The model and the server's settings, as text-embeddings-inference's /info (its field names where they apply) with llama-rerank's own",
          ...secured,
          responses: {
            200: json(ref('Info'), 'The model, its backend, the contexts and the limits the server runs with'),
            ...unauthorized,
          },
        },
      },
      '/v1/models': models,
      '/models': { get: { ...models.get, operationId: 'listModelsShort' } },
      '/metrics': {
        get: {
          operationId: 'metrics',
          summary: 'Prometheus metrics (text exposition format 0.0.4)',
          ...(publicMetrics ? open : secured),
          responses: {
            200: { description: 'The metrics', content: { 'text/plain': { schema: { type: 'string' } } } },
            ...(publicMetrics ? {} : unauthorized),
          },
        },
      },
      '/openapi.json': {
        get: {
          operationId: 'openapi',
          summary: 'This document',
          ...open,
          responses: { 200: json({ type: 'object' }, 'The OpenAPI document') },
        },
      },
    },
    components: {
      ...(authRequired
        ? {
            securitySchemes: {
              bearer: {
                type: 'http',
                scheme: 'bearer',
                description: 'A key given to `llama-rerank serve` with --api-key, --api-key-file or LLAMA_RERANK_API_KEY',
              },
            },
          }
        : {}),
      schemas: {
        RerankRequest: {
          type: 'object',
          additionalProperties: false,
          required: ['query'],
          properties: {
            query: { type: 'string' },
            documents: {
              type: 'array',
              description: 'Strings, or objects scored by their "text" (or by their rank_fields)',
              items: {
                oneOf: [{ type: 'string' }, { type: 'object', additionalProperties: true, properties: { text: { type: 'string' } } }],
              },
            },
            texts: { type: 'array', items: { type: 'string' }, description: 'llama-server\'s name for "documents" (send one of the two)' },
            top_n: { type: 'integer', minimum: 1, nullable: true, description: 'Keep the best n (default: all)' },
            return_documents: {
              type: 'boolean',
              nullable: true,
              default: false,
              description: 'Each result carries its document as sent (a string as { text })',
            },
            rank_fields: {
              type: 'array',
              items: { type: 'string' },
              minItems: 1,
              nullable: true,
              description:
                'The fields of object documents to score: one field is scored alone, several as "field: value" lines in this order',
            },
            max_chunks_per_doc: {
              type: 'integer',
              minimum: 1,
              maximum: 1,
              nullable: true,
              description: "Only 1: each document is scored as one chunk, cut to the model's context",
            },
            model: { type: 'string', nullable: true, description: 'Echoed back; the server ranks with its one model' },
            instruction: { type: 'string', nullable: true, description: 'The task instruction of generative rerankers (Qwen3-Reranker)' },
          },
        },
        V2RerankRequest: {
          type: 'object',
          additionalProperties: false,
          required: ['query', 'documents'],
          properties: {
            query: { type: 'string' },
            documents: { type: 'array', items: { type: 'string' } },
            top_n: { type: 'integer', minimum: 1, nullable: true, description: 'Keep the best n (default: all)' },
            max_tokens_per_doc: {
              type: 'integer',
              minimum: 1,
              nullable: true,
              description:
                "Cut each document to its longest prefix of at most this many tokens (default: no cut beyond the model's context)",
            },
            priority: {
              type: 'integer',
              minimum: 0,
              maximum: 999,
              nullable: true,
              default: 0,
              description: 'Waiting requests with lower numbers are scored first',
            },
            return_documents: {
              type: 'boolean',
              nullable: true,
              default: false,
              description: 'Each result carries its document as { text }',
            },
            model: { type: 'string', nullable: true, description: 'Echoed back; the server ranks with its one model' },
            instruction: { type: 'string', nullable: true, description: 'The task instruction of generative rerankers (Qwen3-Reranker)' },
          },
        },
        RerankResponse: {
          type: 'object',
          required: ['id', 'object', 'model', 'results', 'usage', 'meta'],
          properties: {
            id: { type: 'string' },
            object: { type: 'string', enum: ['list'] },
            model: { type: 'string' },
            results: {
              type: 'array',
              items: {
                type: 'object',
                required: ['index', 'relevance_score'],
                properties: {
                  index: { type: 'integer', minimum: 0 },
                  relevance_score: { type: 'number', minimum: 0, maximum: 1 },
                  document: { type: 'object', additionalProperties: true, properties: { text: { type: 'string' } } },
                },
              },
            },
            usage: {
              type: 'object',
              required: ['prompt_tokens', 'total_tokens'],
              properties: { prompt_tokens: { type: 'integer', minimum: 0 }, total_tokens: { type: 'integer', minimum: 0 } },
            },
            meta: {
              type: 'object',
              description: "Cohere's meta: the API version of the route, and the tokens scored",
              required: ['api_version'],
              properties: {
                api_version: { type: 'object', required: ['version'], properties: { version: { type: 'string', enum: ['1', '2'] } } },
                tokens: {
                  type: 'object',
                  properties: { input_tokens: { type: 'integer', minimum: 0 }, output_tokens: { type: 'integer', minimum: 0 } },
                },
              },
            },
          },
        },
        TeiRerankRequest: {
          type: 'object',
          additionalProperties: false,
          required: ['query', 'texts'],
          properties: {
            query: { type: 'string' },
            texts: { type: 'array', items: { type: 'string' } },
            raw_scores: {
              type: 'boolean',
              nullable: true,
              default: false,
              description: 'The logit instead of the probability; cross-encoders only (400 for other models)',
            },
            return_text: { type: 'boolean', nullable: true, default: false },
            truncate: {
              type: 'boolean',
              nullable: true,
              default: false,
              description: 'false: a pair longer than the context is a 413; true: its document is cut',
            },
            truncation_direction: {
              type: 'string',
              enum: ['Right', 'Left', 'right', 'left'],
              default: 'Right',
              description: "Left is a 400 when a pair would be cut: only the document's tail can be cut",
            },
          },
        },
        TeiRerankResponse: {
          type: 'array',
          items: {
            type: 'object',
            required: ['index', 'score'],
            properties: {
              index: { type: 'integer', minimum: 0 },
              score: { type: 'number' },
              text: { type: 'string' },
            },
          },
        },
        ModelList: {
          type: 'object',
          required: ['object', 'data'],
          properties: {
            object: { type: 'string', enum: ['list'] },
            data: {
              type: 'array',
              items: {
                type: 'object',
                required: ['id', 'object', 'owned_by'],
                properties: { id: { type: 'string' }, object: { type: 'string', enum: ['model'] }, owned_by: { type: 'string' } },
              },
            },
          },
        },
        Error: {
          type: 'object',
          required: ['message', 'error'],
          properties: {
            message: { type: 'string', description: "The same as error.message (Cohere's clients read it here)" },
            error: {
              type: 'object',
              required: ['code', 'message', 'type'],
              properties: { code: { type: 'integer' }, message: { type: 'string' }, type: { type: 'string' } },
            },
            request_id: { type: 'string', description: 'The X-Request-Id of the answer' },
          },
        },
        Info: {
          type: 'object',
          required: [
            'model_id',
            'model_type',
            'max_concurrent_requests',
            'max_input_length',
            'max_client_batch_size',
            'version',
            'model',
            'family',
            'scoring',
            'backend',
            'contexts',
            'limits',
          ],
          properties: {
            model_id: { type: 'string', description: "TEI's: the model's name" },
            model_sha: { type: 'string', nullable: true },
            model_type: {
              type: 'object',
              description: "TEI's: { reranker: { id2label, label2id } } (a one-logit head is LABEL_0)",
              required: ['reranker'],
              properties: {
                reranker: {
                  type: 'object',
                  properties: {
                    id2label: { type: 'object', additionalProperties: { type: 'string' } },
                    label2id: { type: 'object', additionalProperties: { type: 'integer' } },
                  },
                },
              },
            },
            max_concurrent_requests: { type: 'integer', description: 'Requests scored and waiting at most: contexts + --max-queue' },
            max_input_length: { type: 'integer', description: 'Tokens per (query, document) pair: the context size' },
            max_client_batch_size: { type: 'integer', description: 'Documents per request at most: --max-documents' },
            auto_truncate: { type: 'boolean', description: "TEI's truncate default: false" },
            version: { type: 'string', nullable: true, description: "llama-rerank's version" },
            model: { type: 'string' },
            architecture: { type: 'string', nullable: true },
            family: { type: 'string', nullable: true },
            scoring: { type: 'string', nullable: true },
            scoreSource: { type: 'string', nullable: true },
            backend: {
              type: 'object',
              description: "model.info's backend fields: backend, gpuLayers, layerCount, cpuBuild, cpuVariant, variant, variantReason, ...",
              additionalProperties: true,
            },
            contexts: {
              type: 'object',
              required: ['count', 'contextSize'],
              properties: {
                count: { type: 'integer', minimum: 1 },
                contextSize: { type: 'integer', minimum: 1 },
                kvCacheType: { type: 'string', nullable: true },
              },
            },
            limits: {
              type: 'object',
              description: 'The limits the server runs with (DEFAULT_LIMITS merged with the options)',
              additionalProperties: { type: 'integer' },
            },
            auth: { type: 'object', properties: { required: { type: 'boolean' }, publicMetrics: { type: 'boolean' } } },
            cors: { type: 'array', items: { type: 'string' }, description: 'Allowed origins ([] when CORS is off)' },
            accessLog: { type: 'string', enum: ['json', 'off'] },
          },
        },
      },
    },
  }
}
