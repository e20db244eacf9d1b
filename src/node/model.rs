//! `loadModel`, `RerankerModel` and the top-level `createRankingContext`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};

use napi::bindgen_prelude::*;
use napi_derive::napi;

use super::context::RankingContext;
use super::hub::hub_settings;
use super::lifecycle::{join_all, start_context, watch_env};
use super::promise::{blocking, js_error, rejected, settle, CoreResult};
use super::signal::SignalHandle;
use crate::error::RerankError;
use crate::llama::{open_model, KvCache, LoadedModel, ModelLoadOptions, OpenModel};
use crate::prompt::OverflowPolicy;
use crate::scoring::{JudgePreset, ScoringMethod, ScoringPlan, ScoringRequest, PRESETS};
use crate::worker::{ContextOptions, ContextShared, ContextWorker};

fn parse_judge(value: Option<&str>) -> CoreResult<Option<&'static JudgePreset>> {
    match value {
        None | Some("auto") => Ok(None),
        Some(s) => JudgePreset::named(s).map(Some).ok_or_else(|| {
            let names: Vec<&str> = PRESETS.iter().map(|p| p.name).collect();
            RerankError::invalid(format!(
                "judge must be \"auto\" or one of {names:?}, got {s:?}"
            ))
        }),
    }
}

fn parse_scoring(value: Option<&str>) -> CoreResult<Option<ScoringMethod>> {
    match value {
        None => Ok(None),
        Some(s) => ScoringMethod::parse(s).ok_or_else(|| {
            RerankError::invalid(format!(
                "scoring must be \"auto\", \"classifier\" or \"yes-no\", got {s:?}"
            ))
        }),
    }
}

/// The GPU backends compiled into this build (`"cuda"`, `"vulkan"`, `"metal"`), whether or
/// not a device is present; `[]` for a CPU-only build.
#[napi]
pub fn compiled_gpu_backends() -> Vec<String> {
    crate::llama::placement::compiled_gpu_backends()
        .into_iter()
        .map(String::from)
        .collect()
}

/// Options of `loadModel`.
#[napi(object, object_to_js = false)]
pub struct LoadModelOptions {
    /// Layers to offload to a GPU when the build has a GPU backend (CUDA, Vulkan, Metal) and
    /// a device is present: default all of them, like node-llama-cpp's `"auto"`; `0` keeps the
    /// model on the CPU. Ignored by CPU-only builds. `info.backend` and `info.gpuLayers` say
    /// what was done.
    pub gpu_layers: Option<u32>,
    /// Map the file instead of reading it (default true).
    pub use_mmap: Option<bool>,
    /// How to score: `"auto"` (default) reads it from the file's metadata; `"classifier"` or
    /// `"yes-no"` force a method on a file that does not say it is a reranker.
    #[napi(ts_type = "'auto' | 'classifier' | 'yes-no'")]
    pub scoring: Option<String>,
    /// The judge of a generative reranker: `"auto"` (default) picks it from the file's
    /// architecture and name (`general.name`/`basename`); a preset name forces it (and
    /// yes-no scoring), e.g. for a file whose name was changed. See `info.judge`.
    #[napi(ts_type = "'auto' | 'qwen3-reranker' | 'mxbai-rerank-v2' | 'bge-reranker-v2-gemma'")]
    pub judge: Option<String>,
    /// A cross-encoder with several labels: the label that means relevant (its softmax
    /// probability is the score). Without it, a label named `relevant` or `yes` is taken,
    /// else the model is refused with `ERR_NOT_A_RERANKER`.
    pub relevant_label: Option<String>,
    /// Aborts the load, including a `hf:` download in flight: the call rejects with an
    /// `AbortError` (`ABORT_ERR`) at once and the partial file stays in the cache, to be
    /// resumed by the next call.
    #[napi(ts_type = "AbortSignal")]
    pub signal: Option<SignalHandle>,
}

/// A generative judge: `sigmoid(l(positiveToken) − l(negativeToken))`, or
/// `sigmoid(l(positiveToken))` when it has no negative token, at the prompt's last token.
#[napi(object)]
#[derive(Clone)]
pub struct JudgeInfo {
    /// `"qwen3-reranker"`, `"mxbai-rerank-v2"` or `"bge-reranker-v2-gemma"`.
    pub preset: String,
    pub positive_token: String,
    pub negative_token: Option<String>,
}

/// What a model file is and how it will be scored.
#[napi(object)]
#[derive(Clone)]
pub struct ModelInfo {
    /// `general.architecture`, e.g. `"qwen3"` or `"bert"`.
    pub architecture: String,
    /// `general.name`, if the file has one.
    pub name: Option<String>,
    /// The model family, from the architecture and tokenizer: `"bert"`, `"xlm-roberta"`,
    /// `"roberta"`, `"modernbert"`, a judge's preset name (`"qwen3-reranker"`,
    /// `"mxbai-rerank-v2"`, `"bge-reranker-v2-gemma"`), or else the architecture.
    pub family: String,
    /// The judge of a yes-no plan: its preset and the tokens whose logits make the score.
    pub judge: Option<JudgeInfo>,
    /// The label scored, for a cross-encoder with several labels.
    pub relevant_label: Option<String>,
    /// `"classifier"`: sigmoid of a cross-encoder's logit; `"yes-no"`: P(yes) of a generative judge.
    #[napi(ts_type = "'classifier' | 'yes-no'")]
    pub scoring: String,
    /// `"pooled-head"`: llama.cpp's RANK pooling through the file's classifier head;
    /// `"lm-head"`: the last token's `yes`/`no` logits; `"hidden-state"`: the first token's
    /// hidden state with the file's classifier applied in f64 (jina-bert-v2, whose llama.cpp
    /// head would return `tanh` of the logit).
    #[napi(ts_type = "'pooled-head' | 'lm-head' | 'hidden-state'")]
    pub score_source: String,
    /// How a pooled yes/no head is computed. `"lm-head-rows"`: the head's rows are the LM
    /// head's rows for its labels, byte for byte, so the same values come from the last
    /// token's logits, without llama.cpp's pooling (which computes the LM head for every
    /// token). `"pooling"`: llama.cpp's RANK pooling. Absent for other plans.
    #[napi(ts_type = "'lm-head-rows' | 'pooling'")]
    pub head_evaluation: Option<String>,
    /// The context length the model was trained for.
    pub trained_context_length: u32,
    /// `{arch}.classifier.output_labels`, e.g. `["yes", "no"]`; empty when absent.
    pub classifier_labels: Vec<String>,
    /// Whether the file carries `tokenizer.chat_template.rerank`.
    pub has_rerank_template: bool,
    /// Where the layers run: `"CPU"`, or the GPU backend holding them (`"Vulkan"`, `"CUDA"`,
    /// `"Metal"`).
    pub backend: String,
    /// The GPU's name, when layers run on one.
    pub gpu_device: Option<String>,
    /// Layers offloaded to the GPU, out of `layerCount` (llama.cpp counts the output layer).
    pub gpu_layers: u32,
    /// The model's offloadable layers.
    pub layer_count: u32,
    /// GPU backends compiled into this build, present device or not (`"cuda"`, `"vulkan"`, `"metal"`).
    pub compiled_gpu_backends: Vec<String>,
    /// The CPU features of the kernels running, from llama.cpp's system info
    /// (e.g. `["SSE3", "AVX", "AVX2", "F16C", "FMA", "AVX512", "OPENMP"]`). In a portable build
    /// they are those of the CPU module picked for this CPU.
    pub cpu_features: Vec<String>,
    /// How the CPU kernels were chosen: `"native"` (compiled for the building machine's CPU: a
    /// source install), `"portable"` (ggml's CPU modules, the best for this CPU picked at load:
    /// the prebuilt packages) or `"fixed"` (one kernel set, whatever the CPU).
    #[napi(ts_type = "'native' | 'portable' | 'fixed'")]
    pub cpu_build: String,
    /// In a portable build, the CPU module in use (`"haswell"`, `"skylakex"`, `"icelake"`,
    /// `"x64"`, …); otherwise absent.
    pub cpu_variant: Option<String>,
    /// Which package of the addon runs: `"cpu"` (the platform package, `llama-rerank-<platform>`)
    /// or a GPU variant package (`llama-rerank-<platform>-vulkan`, `-cuda`), picked at load:
    /// a GPU variant when one is installed and finds a device, or when `LLAMA_RERANK_BACKEND`
    /// forces it (docs/gpu.md).
    #[napi(ts_type = "'cpu' | 'vulkan' | 'cuda'")]
    pub variant: String,
    /// Why: the package loaded and the device its probe found, or why it fell back to the CPU
    /// package (no GPU variant installed, no device, a probe that failed) or was forced.
    pub variant_reason: String,
}

struct ModelState {
    model: Option<Arc<LoadedModel>>,
    contexts: Vec<Weak<ContextWorker>>,
}

/// A reranker model in memory. Create ranking contexts from it.
#[napi]
pub struct RerankerModel {
    state: Arc<Mutex<ModelState>>,
    path: String,
    info: ModelInfo,
    plan: ScoringPlan,
}

/// Loads a GGUF reranker. Rejects with `ERR_MODEL_NOT_FOUND`, `ERR_NOT_GGUF`,
/// `ERR_MODEL_CORRUPT`, `ERR_MODEL_LOAD`, `ERR_NOT_A_RERANKER`, `ERR_UNSUPPORTED_RERANKER` or
/// (a portable build without a CPU module it can run) `ERR_CPU_BACKEND_MISSING`; `hf:` URIs
/// also with the hub errors (README "Models from the Hugging Face hub").
#[napi(ts_return_type = "Promise<RerankerModel>")]
pub fn load_model<'env>(
    env: &'env Env,
    model_path: String,
    options: Option<LoadModelOptions>,
) -> Result<PromiseRaw<'env, RerankerModel>> {
    let options = options.unwrap_or(LoadModelOptions {
        gpu_layers: None,
        use_mmap: None,
        scoring: None,
        judge: None,
        relevant_label: None,
        signal: None,
    });
    let request = match (|| {
        CoreResult::Ok(ScoringRequest {
            method: parse_scoring(options.scoring.as_deref())?,
            judge: parse_judge(options.judge.as_deref())?,
            relevant_label: options.relevant_label.clone(),
        })
    })() {
        Ok(r) => r,
        Err(e) => return rejected(env, e),
    };
    let abort = options
        .signal
        .as_ref()
        .map(SignalHandle::flag)
        .unwrap_or_default();
    if abort.load(Ordering::Acquire) {
        return rejected(env, RerankError::aborted());
    }
    let load_options = ModelLoadOptions {
        gpu_layers: options.gpu_layers,
        use_mmap: options.use_mmap,
    };
    let hub = hub_settings(env);
    let work = blocking(move || {
        // A `hf:` URI becomes the cached file, downloaded when missing; a path stays as is.
        let path = crate::hub::resolve_model(&model_path, &hub, &abort)?;
        let opened = open_model(&path, &model_path, &request, &load_options, abort)?;
        let info = opened.info();
        Ok((opened, info, path.to_string_lossy().into_owned()))
    });
    settle(env, work, |_, (opened, info, path)| {
        let OpenModel { model, plan } = opened;
        Ok(RerankerModel {
            state: Arc::new(Mutex::new(ModelState {
                model: Some(model),
                contexts: Vec::new(),
            })),
            path,
            info: ModelInfo::from(info),
            plan,
        })
    })
}

impl From<crate::llama::ModelInfo> for ModelInfo {
    fn from(info: crate::llama::ModelInfo) -> Self {
        let strings = |v: Vec<&str>| v.into_iter().map(String::from).collect();
        let (variant, variant_reason) = super::variant::current();
        ModelInfo {
            architecture: info.architecture,
            name: info.name,
            family: info.family,
            judge: info.judge.map(|j| JudgeInfo {
                preset: j.name.into(),
                positive_token: j.positive.into(),
                negative_token: j.negative.map(Into::into),
            }),
            relevant_label: info.relevant_label,
            scoring: info.scoring.into(),
            score_source: info.score_source.into(),
            head_evaluation: info.head_evaluation.map(Into::into),
            trained_context_length: info.trained_context_length,
            classifier_labels: info.classifier_labels,
            has_rerank_template: info.has_rerank_template,
            backend: info.backend,
            gpu_device: info.gpu_device,
            gpu_layers: info.gpu_layers,
            layer_count: info.layer_count,
            compiled_gpu_backends: strings(info.compiled_gpu_backends),
            cpu_features: info.cpu_features,
            cpu_build: info.cpu_build.into(),
            cpu_variant: info.cpu_variant,
            variant,
            variant_reason,
        }
    }
}

/// Options of `createRankingContext`.
#[napi(object, object_to_js = false)]
pub struct RankingContextOptions {
    /// Tokens per (query, document) pair at most. Default: the trained context, at most 8192.
    pub context_size: Option<u32>,
    /// Tokens per decode call. Default: 128 for generative models, whose documents may span
    /// calls (llama.cpp evaluates at most 128 of their tokens per graph in any case, so that an
    /// abort lands within milliseconds); cross-encoders always take their context size (a
    /// pair must fit one call). Scores do not depend on it.
    pub batch_size: Option<u32>,
    /// Accepted and ignored (it used to set how many documents shared a decode call). Each
    /// decode call now evaluates one document, so that a score never depends on what else
    /// is in the call.
    pub sequences: Option<u32>,
    /// CPU threads. Default: all physical cores.
    pub threads: Option<u32>,
    /// Generative rerankers: the task instruction. Qwen3-Reranker: its `<Instruct>` line
    /// (default: the web-search one); mxbai-rerank-v2: an `instruction:` line before the query
    /// (default: none); bge-reranker-v2-gemma: replaces the task prompt after the passage.
    pub instruction: Option<String>,
    /// A prompt with `{{query}}` and `{{document}}` (and optionally `{{instruction}}`)
    /// placeholders, replacing the built-in judge prompt of generative rerankers.
    pub template: Option<String>,
    /// Override the model's scoring method.
    #[napi(ts_type = "'auto' | 'classifier' | 'yes-no'")]
    pub scoring: Option<String>,
    /// Over-long pairs: `"truncate"` (default) cuts the document's tail, `"throw"` rejects
    /// with `ERR_INPUT_TOO_LONG` before anything is evaluated.
    #[napi(ts_type = "'truncate' | 'throw'")]
    pub on_overflow: Option<String>,
    /// The type llama.cpp keeps the KV cache in: `"f16"` (default, llama.cpp's) or `"f32"`, the
    /// exact path for generative rerankers (Qwen3 fixtures: 5e-7 from the reference instead of
    /// 1.7e-4) at twice the cache memory. Cross-encoders have no KV cache.
    #[napi(ts_type = "'f16' | 'f32'")]
    pub kv_cache_type: Option<String>,
}

fn parse_kv_cache(value: Option<&str>) -> CoreResult<Option<KvCache>> {
    value
        .map(|v| {
            KvCache::parse(v).ok_or_else(|| {
                RerankError::invalid(format!("kvCacheType must be \"f16\" or \"f32\", got {v:?}"))
            })
        })
        .transpose()
}

pub(super) fn parse_overflow(value: Option<&str>) -> CoreResult<Option<OverflowPolicy>> {
    match value {
        None => Ok(None),
        Some("truncate") => Ok(Some(OverflowPolicy::Truncate)),
        Some("throw") => Ok(Some(OverflowPolicy::Throw)),
        Some(other) => Err(RerankError::invalid(format!(
            "onOverflow must be \"truncate\" or \"throw\", got {other:?}"
        ))),
    }
}

impl TryFrom<RankingContextOptions> for ContextOptions {
    type Error = RerankError;
    fn try_from(options: RankingContextOptions) -> CoreResult<Self> {
        Ok(ContextOptions {
            context_size: options.context_size,
            batch_size: options.batch_size,
            threads: options.threads,
            instruction: options.instruction,
            template: options.template,
            scoring: parse_scoring(options.scoring.as_deref())?,
            overflow: parse_overflow(options.on_overflow.as_deref())?,
            kv_cache: parse_kv_cache(options.kv_cache_type.as_deref())?,
        })
    }
}

impl RerankerModel {
    /// The loaded model, or the `ERR_DISPOSED` error.
    fn loaded(&self, env: &Env) -> Result<Arc<LoadedModel>> {
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state
            .model
            .clone()
            .ok_or_else(|| js_error(env, &RerankError::disposed("model")))
    }
}

#[napi]
impl RerankerModel {
    /// The path the model was loaded from.
    #[napi(getter)]
    pub fn path(&self) -> String {
        self.path.clone()
    }

    /// What the file is and how it is scored.
    #[napi(getter)]
    pub fn info(&self) -> ModelInfo {
        self.info.clone()
    }

    /// Internal: `index.js` records which package it loaded and why (`info.variant`,
    /// `info.variantReason`).
    #[napi(js_name = "setVariant", skip_typescript)]
    pub fn set_variant(variant: String, reason: String) {
        super::variant::set(variant, reason)
    }

    /// Whether `dispose()` has been called.
    #[napi(getter)]
    pub fn disposed(&self) -> bool {
        self.state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .model
            .is_none()
    }

    /// The tokens of `text` in the model's vocabulary, as node-llama-cpp's
    /// `model.tokenize(text, specialTokens)`: no BOS/EOS added; with `specialTokens`, the text
    /// of special tokens (e.g. `<|im_end|>`) becomes those tokens. Throws `ERR_DISPOSED`
    /// after `dispose()`.
    #[napi]
    pub fn tokenize(
        &self,
        env: &Env,
        text: String,
        special_tokens: Option<bool>,
    ) -> Result<Vec<i32>> {
        let model = self.loaded(env)?;
        Ok(model.tokenize_text(&text, special_tokens.unwrap_or(false)))
    }

    /// The text of `tokens`, as node-llama-cpp's `model.detokenize(tokens, specialTokens)`:
    /// special tokens are rendered only with `specialTokens`. Throws `ERR_INVALID_ARG_VALUE`
    /// for an id outside the vocabulary and `ERR_DISPOSED` after `dispose()`.
    #[napi]
    pub fn detokenize(
        &self,
        env: &Env,
        tokens: Vec<i32>,
        special_tokens: Option<bool>,
    ) -> Result<String> {
        let model = self.loaded(env)?;
        model
            .detokenize(&tokens, special_tokens.unwrap_or(false))
            .map_err(|e| js_error(env, &e))
    }

    /// Creates a context that ranks documents. Contexts of one model run in parallel.
    #[napi(ts_return_type = "Promise<RankingContext>")]
    pub fn create_ranking_context<'env>(
        &self,
        env: &'env Env,
        options: Option<RankingContextOptions>,
    ) -> Result<PromiseRaw<'env, RankingContext>> {
        let model = match self
            .state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .model
            .clone()
        {
            Some(m) => m,
            None => return rejected(env, RerankError::disposed("model")),
        };
        let shared = match options
            .map(ContextOptions::try_from)
            .transpose()
            .and_then(|o| ContextShared::new(model, self.plan, o.unwrap_or_default()))
        {
            Ok(s) => Arc::new(s),
            Err(e) => return rejected(env, e),
        };
        let state = self.state.clone();
        let key = watch_env(env)?;
        let work = blocking(move || start_context(key, shared));
        settle(env, work, move |_, worker| {
            let mut state = state.lock().unwrap_or_else(|p| p.into_inner());
            if state.model.is_none() {
                // The model was disposed while the context was being created.
                worker.dispose();
                return Err(Error::from_reason("the model has been disposed"));
            }
            state.contexts.retain(|w| w.strong_count() > 0);
            state.contexts.push(Arc::downgrade(&worker));
            drop(state);
            Ok(RankingContext::new(worker))
        })
    }

    /// Frees the model once its contexts finish their current batch; disposes them all.
    /// Idempotent.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn dispose<'env>(&self, env: &'env Env) -> Result<PromiseRaw<'env, ()>> {
        let threads: Vec<_> = {
            let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
            state.model = None;
            state
                .contexts
                .drain(..)
                .filter_map(|w| w.upgrade())
                .filter_map(|w| w.dispose())
                .collect()
        };
        settle(env, join_all(threads), |_, ()| Ok(()))
    }

    /// Same as `dispose()`, for `await using`.
    #[napi(well_known_symbol = "asyncDispose", ts_return_type = "Promise<void>")]
    pub fn async_dispose<'env>(&self, env: &'env Env) -> Result<PromiseRaw<'env, ()>> {
        self.dispose(env)
    }
}

/// Loads the model and creates one ranking context that owns it: disposing the context
/// frees the model. `model` is a path or an object with the path it was loaded from, such as
/// node-llama-cpp's `LlamaModel`, so code that keeps node-llama-cpp for everything else swaps
/// only its ranking.
// The native function takes the path: index.js reads it from such an object first, through
// the compat layer (compat.js, `modelArgumentPath`).
#[napi(
    ts_args_type = "model: string | { filename?: string; modelPath?: string; _modelPath?: string }, options?: RankingContextOptions",
    ts_return_type = "Promise<RankingContext>"
)]
pub fn create_ranking_context<'env>(
    env: &'env Env,
    model_path: String,
    options: Option<RankingContextOptions>,
) -> Result<PromiseRaw<'env, RankingContext>> {
    let options = match options.map(ContextOptions::try_from).transpose() {
        Ok(o) => o.unwrap_or_default(),
        Err(e) => return rejected(env, e),
    };
    let hub = hub_settings(env);
    let key = watch_env(env)?;
    let work = blocking(move || {
        let path = crate::hub::resolve_model(&model_path, &hub, &AtomicBool::new(false))?;
        let request = ScoringRequest::method(options.scoring);
        let opened = open_model(
            &path,
            &model_path,
            &request,
            &ModelLoadOptions::default(),
            Arc::default(),
        )?;
        let shared = ContextShared::new(opened.model, opened.plan, options)?;
        start_context(key, Arc::new(shared))
    });
    settle(env, work, |_, worker| Ok(RankingContext::new(worker)))
}
