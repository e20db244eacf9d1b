//! The `#[napi]` surface: thin classes over the core. Every promise settles through
//! [`settle`], which turns a [`RerankError`] into a JavaScript error with a stable `code`.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};

use napi::bindgen_prelude::*;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi_derive::napi;

use crate::context_worker::{
    ContextOptions, ContextShared, ContextWorker, ProgressSink, RankRequest,
};
use crate::engine::{inspect_file, LoadedModel, ModelLoadOptions};
use crate::error::{ErrorCode, RerankError};
use crate::exit_gate::GATE;
use crate::ffi::SignalHandle;
use crate::judge::JudgePreset;
use crate::prompt::OverflowPolicy;
use crate::scoring::{ScoreSource, ScoringMethod, ScoringPlan, ScoringRequest};

type CoreResult<T> = std::result::Result<T, RerankError>;

// ---------------------------------------------------------------------------------------------
// Errors and promises

fn js_error(env: &Env, error: &RerankError) -> Error {
    let build = || -> Result<Error> {
        let global = env.get_global()?;
        let ctor_name = if error.code.js_name() == "TypeError" {
            "TypeError"
        } else {
            "Error"
        };
        let ctor: Function<String, Unknown> = global.get_named_property(ctor_name)?;
        let instance = ctor.new_instance(error.to_string())?;
        let mut object = Object::from_unknown(instance)?;
        object.set_named_property("code", error.code.as_str())?;
        if error.code.js_name() != ctor_name {
            object.set_named_property("name", error.code.js_name())?;
        }
        // The cause chain as nested errors, innermost last.
        let mut cause: Option<Object> = None;
        for text in error.causes.iter().rev() {
            let err_ctor: Function<String, Unknown> = global.get_named_property("Error")?;
            let mut c = Object::from_unknown(err_ctor.new_instance(text.clone())?)?;
            if let Some(inner) = cause.take() {
                c.set_named_property("cause", inner)?;
            }
            cause = Some(c);
        }
        if let Some(c) = cause {
            object.set_named_property("cause", c)?;
        }
        Ok(Error::from(object.to_unknown()))
    };
    build().unwrap_or_else(|e| e)
}

/// Runs `work` off the JavaScript thread and settles a promise with its outcome.
fn settle<'env, T, V, F, C>(env: &'env Env, work: F, to_js: C) -> Result<PromiseRaw<'env, V>>
where
    T: Send + 'static,
    V: ToNapiValue,
    F: Future<Output = CoreResult<T>> + Send + 'static,
    C: FnOnce(&'env Env, T) -> Result<V> + 'static,
{
    env.spawn_future_with_callback(
        async move { Ok(work.await) },
        move |env, outcome| match outcome {
            Ok(value) => to_js(env, value),
            Err(error) => Err(js_error(env, &error)),
        },
    )
}

fn rejected<'env, V: ToNapiValue + 'static>(
    env: &'env Env,
    error: RerankError,
) -> Result<PromiseRaw<'env, V>> {
    settle(
        env,
        async move { Err::<(), _>(error) },
        |_, ()| -> Result<V> { unreachable!("always rejected") },
    )
}

/// Runs blocking work on tokio's blocking pool, turning a panic into an error.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> CoreResult<T> + Send + 'static,
) -> CoreResult<T> {
    tokio::task::spawn_blocking(move || {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|_| {
            Err(RerankError::new(
                ErrorCode::Internal,
                "a panic inside llama-rerank",
            ))
        })
    })
    .await
    .unwrap_or_else(|e| {
        Err(
            RerankError::new(ErrorCode::Internal, "a blocking task failed")
                .with_cause(e.to_string()),
        )
    })
}

fn parse_judge(value: Option<&str>) -> CoreResult<Option<&'static JudgePreset>> {
    match value {
        None | Some("auto") => Ok(None),
        Some(s) => JudgePreset::named(s).map(Some).ok_or_else(|| {
            let names: Vec<&str> = crate::judge::PRESETS.iter().map(|p| p.name).collect();
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

/// Hub settings from JavaScript's `process.env` (read on the JavaScript thread: Bun does not
/// mirror `process.env` changes into the C environment), falling back to the C environment.
fn hub_settings(env: &Env) -> crate::hub::HubSettings {
    let js_env: Option<Object> = env
        .get_global()
        .and_then(|g| g.get_named_property::<Object>("process"))
        .and_then(|p| p.get_named_property::<Object>("env"))
        .ok();
    let mut vars = std::collections::HashMap::new();
    for name in crate::hub::ENV_NAMES {
        let value = match &js_env {
            Some(object) => object.get::<String>(name).ok().flatten(),
            None => std::env::var(name).ok(),
        };
        if let Some(v) = value {
            vars.insert(*name, v);
        }
    }
    crate::hub::HubSettings::from_vars(|name| vars.get(name).cloned())
}

// ---------------------------------------------------------------------------------------------
// Teardown

/// Live contexts per JavaScript environment (keyed by the env's address). When an
/// environment is torn down (process exit, worker thread end), its contexts are disposed and
/// their threads joined, so no llama.cpp call is running while the process unloads.
static LIVE_CONTEXTS: Mutex<Vec<(usize, Weak<ContextWorker>)>> = Mutex::new(Vec::new());

/// Registers the environment's cleanup hook once; call on the JavaScript thread before work
/// that may start a context for this environment.
fn watch_env(env: &Env) -> Result<usize> {
    static WATCHED: Mutex<Vec<usize>> = Mutex::new(Vec::new());
    let key = env.raw() as usize;
    let mut watched = WATCHED.lock().unwrap_or_else(|p| p.into_inner());
    if !watched.contains(&key) {
        env.add_env_cleanup_hook(key, |key| {
            WATCHED
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .retain(|k| *k != key);
            dispose_contexts_of(Some(key));
        })?;
        watched.push(key);
    }
    Ok(key)
}

/// Records a context as live for the environment `key`, from the thread that started it, so
/// that an exit right after it started still finds it.
fn track_context(key: usize, worker: &Arc<ContextWorker>) {
    let mut live = LIVE_CONTEXTS.lock().unwrap_or_else(|p| p.into_inner());
    live.retain(|(_, w)| w.strong_count() > 0);
    live.push((key, Arc::downgrade(worker)));
}

/// Starts a context thread for the environment `key`, under the exit gate.
fn start_context(key: usize, shared: Arc<ContextShared>) -> CoreResult<Arc<ContextWorker>> {
    let _pass = GATE.enter()?;
    let worker = Arc::new(ContextWorker::start(shared)?);
    track_context(key, &worker);
    Ok(worker)
}

/// Disposes the live contexts of one JavaScript environment (all of them for `None`) and
/// joins their threads: a running call stops after its current batch, and nothing of
/// llama.cpp runs afterwards.
fn dispose_contexts_of(key: Option<usize>) {
    let workers: Vec<Arc<ContextWorker>> = {
        let mut live = LIVE_CONTEXTS.lock().unwrap_or_else(|p| p.into_inner());
        let (mine, others): (Vec<_>, Vec<_>) = live
            .drain(..)
            .partition(|(k, _)| key.is_none_or(|key| *k == key));
        *live = others;
        mine.into_iter().filter_map(|(_, w)| w.upgrade()).collect()
    };
    for worker in workers {
        if let Some(thread) = worker.dispose() {
            let _ = thread.join();
        }
    }
}

/// The GPU backends compiled into this build (`"cuda"`, `"vulkan"`, `"metal"`), whether or
/// not a device is present; `[]` for a CPU-only build.
#[napi]
pub fn compiled_gpu_backends() -> Vec<String> {
    crate::compute_backend::compiled_gpu_backends()
        .into_iter()
        .map(String::from)
        .collect()
}

/// Called by the package's `process.on('exit')` handler (index.js). `process.exit()` and an
/// uncaught error end the process without the environment teardown that runs cleanup hooks:
/// `exit()` runs static destructors while a context thread may be inside `llama_decode`, which
/// crashed the process (SIGSEGV, SIGABRT) instead of letting it exit with its own status.
/// Disposing this environment's contexts and joining their threads first closes that window;
/// it waits at most for the batch being decoded. On the main thread the whole process is
/// going: the exit gate closes (model loads stop, no new work starts) and every context goes;
/// in a worker thread only that thread's contexts.
#[napi(js_name = "releaseForExit")]
pub fn release_for_exit(env: Env, main_thread: bool) {
    if main_thread {
        GATE.close();
        dispose_contexts_of(None);
    } else {
        dispose_contexts_of(Some(env.raw() as usize));
    }
}

// ---------------------------------------------------------------------------------------------
// Models

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
    /// `"lm-head"`: the last token's `yes`/`no` logits.
    #[napi(ts_type = "'pooled-head' | 'lm-head'")]
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
        // Refuse a non-reranker before reading its weights.
        let (_, inspection) = inspect_file(&path)?;
        let plan = ScoringPlan::detect(&inspection, &request).map_err(|e| RerankError {
            message: format!("{model_path}: {}", e.message),
            ..e
        })?;
        let model = LoadedModel::load(&path, &load_options, abort)?;
        Ok((model, plan, path.to_string_lossy().into_owned()))
    });
    settle(env, work, |_, (model, plan, path)| {
        let inspection = &model.inspection;
        let info = ModelInfo {
            architecture: inspection.architecture.clone(),
            name: inspection.name.clone(),
            family: inspection.family(),
            judge: plan.judge.map(|j| JudgeInfo {
                preset: j.name.into(),
                positive_token: j.positive.into(),
                negative_token: j.negative.map(Into::into),
            }),
            relevant_label: plan
                .label_softmax
                .then(|| inspection.classifier_labels[plan.label_index].clone()),
            scoring: plan.method.as_str().into(),
            score_source: plan.source.as_str().into(),
            head_evaluation: match (plan.method, plan.source) {
                (ScoringMethod::YesNo, ScoreSource::PooledHead) => Some(
                    if model.label_head.is_some() {
                        "lm-head-rows"
                    } else {
                        "pooling"
                    }
                    .into(),
                ),
                _ => None,
            },
            trained_context_length: model.trained_context_length(),
            classifier_labels: inspection.classifier_labels.clone(),
            has_rerank_template: inspection.rerank_template.is_some(),
            backend: model.placement.backend.clone(),
            gpu_device: model.placement.device.clone(),
            gpu_layers: model.placement.gpu_layers,
            layer_count: model.placement.layer_count,
            compiled_gpu_backends: compiled_gpu_backends(),
            cpu_features: crate::compute_backend::cpu_features(),
            cpu_build: crate::compute_backend::CpuBuild::current()
                .as_str()
                .to_owned(),
            cpu_variant: crate::compute_backend::cpu_variant(),
        };
        Ok(RerankerModel {
            state: Arc::new(Mutex::new(ModelState {
                model: Some(Arc::new(model)),
                contexts: Vec::new(),
            })),
            path,
            info,
            plan,
        })
    })
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
}

fn parse_overflow(value: Option<&str>) -> CoreResult<Option<OverflowPolicy>> {
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
            Ok(RankingContext { worker })
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

async fn join_all(threads: Vec<std::thread::JoinHandle<()>>) -> CoreResult<()> {
    if threads.is_empty() {
        return Ok(());
    }
    blocking(move || {
        for t in threads {
            let _ = t.join();
        }
        Ok(())
    })
    .await
}

/// The file a model argument names: a path, or an object with the path it was loaded from
/// (node-llama-cpp's `LlamaModel` has `filename`).
fn model_path_of(model: Unknown) -> CoreResult<String> {
    match model.get_type() {
        Ok(ValueType::String) => read_string(model, "model"),
        Ok(ValueType::Object) => {
            let object =
                Object::from_unknown(model).map_err(|e| RerankError::invalid(e.to_string()))?;
            // node-llama-cpp keeps the full path in `_modelPath`; its `filename` is the base name.
            for key in ["_modelPath", "modelPath", "path", "filename"] {
                if let Ok(Some(path)) = object.get::<String>(key) {
                    return Ok(path);
                }
            }
            Err(RerankError::invalid(
                "model must be a path or an object with a filename (such as node-llama-cpp's LlamaModel)",
            ))
        }
        Ok(t) => Err(RerankError::invalid(format!(
            "model must be a path or a model object, got {}",
            type_name(t)
        ))),
        Err(e) => Err(RerankError::invalid(e.to_string())),
    }
}

/// Loads the model and creates one ranking context that owns it: disposing the context
/// frees the model. `model` is a path or an object with the path it was loaded from, such as
/// node-llama-cpp's `LlamaModel`, so code that keeps node-llama-cpp for everything else swaps
/// only its ranking.
#[napi(
    ts_args_type = "model: string | { filename?: string; modelPath?: string; _modelPath?: string }, options?: RankingContextOptions",
    ts_return_type = "Promise<RankingContext>"
)]
pub fn create_ranking_context<'env>(
    env: &'env Env,
    model: Unknown,
    options: Option<RankingContextOptions>,
) -> Result<PromiseRaw<'env, RankingContext>> {
    let prepared = (|| {
        let path = model_path_of(model)?;
        let options = options
            .map(ContextOptions::try_from)
            .transpose()?
            .unwrap_or_default();
        CoreResult::Ok((path, options))
    })();
    let (path, options) = match prepared {
        Ok(p) => p,
        Err(e) => return rejected(env, e),
    };
    let hub = hub_settings(env);
    let key = watch_env(env)?;
    let work = blocking(move || {
        let model_path = crate::hub::resolve_model(&path, &hub, &AtomicBool::new(false))?;
        let (_, inspection) = inspect_file(&model_path)?;
        let plan = ScoringPlan::detect(&inspection, &ScoringRequest::method(options.scoring))
            .map_err(|e| RerankError {
                message: format!("{path}: {}", e.message),
                ..e
            })?;
        let model = LoadedModel::load(&model_path, &ModelLoadOptions::default(), Arc::default())?;
        let shared = ContextShared::new(Arc::new(model), plan, options)?;
        start_context(key, Arc::new(shared))
    });
    settle(env, work, |_, worker| Ok(RankingContext { worker }))
}

/// Options of `resolveModel`.
#[napi(object, object_to_js = false)]
pub struct ResolveModelOptions {
    /// Use the cache only, as `HF_HUB_OFFLINE=1` does (default: that variable).
    pub offline: Option<bool>,
    /// Draw a download progress bar on stderr (default: when stderr is a terminal).
    pub progress: Option<bool>,
    /// Stops a download in flight: the call rejects with an `AbortError` (`ABORT_ERR`) and the
    /// partial file stays in the cache, to be resumed by the next call.
    #[napi(ts_type = "AbortSignal")]
    pub signal: Option<SignalHandle>,
}

/// The local file a model argument names. A `hf:<owner>/<repo>[@<revision>]/<file.gguf>` or
/// `hf:<owner>/<repo>[@<revision>]:<quant>` URI is looked up in the Hugging Face cache
/// (`HF_HUB_CACHE`, `HF_HOME`) and downloaded from `HF_ENDPOINT` when missing, resuming an
/// interrupted download; a split GGUF resolves to its first shard, with every shard
/// downloaded beside it. A plain path is returned as is, without touching the network.
/// While another process downloads the same file, the call waits for it. Rejects with
/// `ERR_MODEL_NOT_FOUND`, `ERR_HUB_UNAUTHORIZED`, `ERR_HUB_OFFLINE`, `ERR_HUB_DOWNLOAD`,
/// `ERR_HUB_TIMEOUT` (no progress for `LLAMA_RERANK_HUB_TIMEOUT` seconds, default 30),
/// `ERR_HUB_INTEGRITY`, `ABORT_ERR` or `ERR_INVALID_ARG_VALUE`. `loadModel` and
/// `createRankingContext` do this themselves.
#[napi(ts_return_type = "Promise<string>")]
pub fn resolve_model<'env>(
    env: &'env Env,
    model: String,
    options: Option<ResolveModelOptions>,
) -> Result<PromiseRaw<'env, String>> {
    let mut settings = hub_settings(env);
    let mut abort = Arc::<AtomicBool>::default();
    if let Some(options) = options {
        settings.offline = options.offline.unwrap_or(settings.offline);
        settings.progress = options.progress.unwrap_or(settings.progress);
        if let Some(signal) = &options.signal {
            abort = signal.flag();
        }
    }
    if abort.load(Ordering::Acquire) {
        return rejected(env, RerankError::aborted());
    }
    let work = blocking(move || {
        if !crate::hub::is_hub_uri(&model) {
            return Ok(model);
        }
        let uri = crate::hub::parse(&model)?;
        crate::hub::resolve(&uri, &settings, &abort).map(|p| p.to_string_lossy().into_owned())
    });
    settle(env, work, |_, path| Ok(path))
}

// ---------------------------------------------------------------------------------------------
// Ranking contexts

/// Per-call options.
#[napi(object, object_to_js = false)]
pub struct RankOptions<'a> {
    /// Generative rerankers: the task instruction for this call.
    pub instruction: Option<String>,
    /// Over-long pairs for this call: `"truncate"` or `"throw"`.
    #[napi(ts_type = "'truncate' | 'throw'")]
    pub on_overflow: Option<String>,
    /// Stops the call, within one node of the running decode's graph (milliseconds); it
    /// rejects with an `AbortError` and the context stays usable.
    #[napi(ts_type = "AbortSignal")]
    pub signal: Option<SignalHandle>,
    /// Called after every evaluated batch with the documents done so far.
    #[napi(ts_type = "(done: number, total: number) => void")]
    pub on_progress: Option<Function<'a, FnArgs<(u32, u32)>, Unknown<'static>>>,
}

/// What the last call of a context cost.
#[napi(object)]
pub struct CallStatistics {
    /// Documents scored.
    pub documents: u32,
    /// Tokens of all (query, document) prompts.
    pub pair_tokens: u32,
    /// Tokens evaluated: the prompt prefix the documents share once, then each document's
    /// remainder (fewer than `pairTokens` for generative rerankers).
    pub tokens_computed: u32,
    /// Tokens of the shared prompt prefix (0 for cross-encoders).
    pub prefix_tokens: u32,
    /// llama.cpp decode calls.
    pub decode_calls: u32,
    /// KV cache cells of the llama.cpp context (0 for cross-encoders, which keep none).
    pub kv_cells: u32,
}

/// A document with its score and its position in the input.
#[napi(object)]
pub struct RankedDocument {
    pub document: String,
    pub score: f64,
    pub index: u32,
}

/// Ranks documents against a query with one model. Calls queue in FIFO order.
#[napi]
pub struct RankingContext {
    worker: Arc<ContextWorker>,
}

fn read_string(value: Unknown, what: &str) -> CoreResult<String> {
    match value.get_type() {
        Ok(ValueType::String) => {
            String::from_unknown(value).map_err(|e| RerankError::invalid(format!("{what}: {e}")))
        }
        Ok(t) => Err(RerankError::invalid(format!(
            "{what} must be a string, got {}",
            type_name(t)
        ))),
        Err(e) => Err(RerankError::invalid(format!("{what}: {e}"))),
    }
}

fn type_name(t: ValueType) -> &'static str {
    match t {
        ValueType::Undefined => "undefined",
        ValueType::Null => "null",
        ValueType::Boolean => "boolean",
        ValueType::Number => "number",
        ValueType::String => "string",
        ValueType::Symbol => "symbol",
        ValueType::Object => "object",
        ValueType::Function => "function",
        ValueType::BigInt => "bigint",
        _ => "unknown",
    }
}

/// The arguments of `rankAll` and `rankAndSort`, checked.
fn many_arguments(
    query: Unknown,
    documents: Unknown,
    options: Option<RankOptions>,
) -> CoreResult<(String, Vec<String>, CallOptions)> {
    Ok((
        read_string(query, "query")?,
        read_documents(documents)?,
        call_options(options)?,
    ))
}

fn read_documents(value: Unknown) -> CoreResult<Vec<String>> {
    if !value.is_array().unwrap_or(false) {
        let t = value.get_type().map(type_name).unwrap_or("unknown");
        return Err(RerankError::invalid(format!(
            "documents must be an array of strings, got {t}"
        )));
    }
    let array = Array::from_unknown(value).map_err(|e| RerankError::invalid(e.to_string()))?;
    let mut out = Vec::with_capacity(array.len() as usize);
    for i in 0..array.len() {
        let item: Unknown = array
            .get(i)
            .map_err(|e| RerankError::invalid(e.to_string()))?
            .ok_or_else(|| {
                RerankError::invalid(format!("documents[{i}] must be a string, got undefined"))
            })?;
        out.push(read_string(item, &format!("documents[{i}]"))?);
    }
    Ok(out)
}

struct CallOptions {
    instruction: Option<String>,
    overflow: Option<OverflowPolicy>,
    abort: Arc<AtomicBool>,
    progress: Option<ProgressSink>,
}

fn call_options(options: Option<RankOptions>) -> CoreResult<CallOptions> {
    let Some(options) = options else {
        return Ok(CallOptions {
            instruction: None,
            overflow: None,
            abort: Arc::default(),
            progress: None,
        });
    };
    let abort = options
        .signal
        .as_ref()
        .map(SignalHandle::flag)
        .unwrap_or_default();
    let progress = match options.on_progress {
        None => None,
        Some(f) => {
            Some(progress_sink(&f).map_err(|e| RerankError::invalid(format!("onProgress: {e}")))?)
        }
    };
    Ok(CallOptions {
        instruction: options.instruction,
        overflow: parse_overflow(options.on_overflow.as_deref())?,
        abort,
        progress,
    })
}

type ProgressFunction =
    ThreadsafeFunction<FnArgs<(u32, u32)>, Unknown<'static>, FnArgs<(u32, u32)>, Status, false>;

/// A progress callback the context thread can call: it waits until JavaScript ran it, so
/// the last call lands before the promise settles and a throw stops the next batch.
fn progress_sink(f: &Function<FnArgs<(u32, u32)>, Unknown<'static>>) -> Result<ProgressSink> {
    let tsfn: ProgressFunction = f.build_threadsafe_function().build()?;
    let tsfn = Arc::new(tsfn);
    Ok(Box::new(move |done, total, stop| {
        let (tx, rx) = std::sync::mpsc::channel::<Option<Error>>();
        let status = tsfn.call_with_return_value(
            FnArgs {
                data: (done as u32, total as u32),
            },
            ThreadsafeFunctionCallMode::NonBlocking,
            move |ret, _env| {
                let _ = tx.send(ret.err());
                Ok(())
            },
        );
        if status != Status::Ok {
            return Ok(());
        }
        // Wait for JavaScript to have run the callback, but not past a disposal or abort
        // (the environment may be going away).
        loop {
            match rx.recv_timeout(std::time::Duration::from_millis(20)) {
                Ok(Some(thrown)) => {
                    return Err(
                        RerankError::new(ErrorCode::CallbackFailed, "onProgress threw")
                            .with_cause(thrown.reason.clone()),
                    )
                }
                Ok(None) | Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return Ok(()),
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) if stop() => return Ok(()),
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            }
        }
    }))
}

#[napi]
impl RankingContext {
    /// Scores one document against a query, in [0, 1].
    #[napi(
        ts_args_type = "query: string, document: string, options?: RankOptions",
        ts_return_type = "Promise<number>"
    )]
    pub fn rank<'env>(
        &self,
        env: &'env Env,
        query: Unknown,
        document: Unknown,
        options: Option<RankOptions>,
    ) -> Result<PromiseRaw<'env, f64>> {
        let prepared = (|| {
            let query = read_string(query, "query")?;
            let document = read_string(document, "document")?;
            CoreResult::Ok((query, vec![document], call_options(options)?))
        })();
        match prepared {
            Err(e) => rejected(env, e),
            Ok((query, documents, opts)) => {
                settle(env, self.run(query, documents, opts), |_, scores| {
                    Ok(scores[0])
                })
            }
        }
    }

    /// Scores every document against the query, in input order. `[]` for no documents.
    #[napi(
        ts_args_type = "query: string, documents: string[], options?: RankOptions",
        ts_return_type = "Promise<number[]>"
    )]
    pub fn rank_all<'env>(
        &self,
        env: &'env Env,
        query: Unknown,
        documents: Unknown,
        options: Option<RankOptions>,
    ) -> Result<PromiseRaw<'env, Vec<f64>>> {
        let prepared = many_arguments(query, documents, options);
        match prepared {
            Err(e) => rejected(env, e),
            Ok((query, documents, opts)) => {
                settle(env, self.run(query, documents, opts), |_, scores| {
                    Ok(scores)
                })
            }
        }
    }

    /// Scores the documents and sorts them by descending score (stable: ties keep input order).
    #[napi(
        ts_args_type = "query: string, documents: string[], options?: RankOptions",
        ts_return_type = "Promise<RankedDocument[]>"
    )]
    pub fn rank_and_sort<'env>(
        &self,
        env: &'env Env,
        query: Unknown,
        documents: Unknown,
        options: Option<RankOptions>,
    ) -> Result<PromiseRaw<'env, Vec<RankedDocument>>> {
        let prepared = many_arguments(query, documents, options);
        match prepared {
            Err(e) => rejected(env, e),
            Ok((query, documents, opts)) => {
                let kept = documents.clone();
                settle(env, self.run(query, documents, opts), move |_, scores| {
                    let mut ranked: Vec<RankedDocument> = kept
                        .into_iter()
                        .zip(scores)
                        .enumerate()
                        .map(|(index, (document, score))| RankedDocument {
                            document,
                            score,
                            index: index as u32,
                        })
                        .collect();
                    ranked.sort_by(|a, b| b.score.total_cmp(&a.score));
                    Ok(ranked)
                })
            }
        }
    }

    /// The number of tokens the pair takes, before any truncation.
    #[napi(ts_args_type = "query: string, document: string")]
    pub fn calculate_input_length(
        &self,
        env: Env,
        query: Unknown,
        document: Unknown,
    ) -> Result<u32> {
        let outcome = (|| {
            if self.worker.is_disposed() {
                return Err(RerankError::disposed("ranking context"));
            }
            let query = read_string(query, "query")?;
            let document = read_string(document, "document")?;
            let shared = self.worker.shared()?;
            shared
                .builder
                .encode(
                    shared.model.as_ref(),
                    &query,
                    &document,
                    None,
                    usize::MAX,
                    OverflowPolicy::Throw,
                )
                .map(|e| e.tokens.len() as u32)
                .map_err(|_| RerankError::new(ErrorCode::Internal, "unbounded encoding failed"))
        })();
        outcome.map_err(|e| js_error(&env, &e))
    }

    /// What the last successful `rank`/`rankAll`/`rankAndSort` call cost; `null` before one.
    #[napi(getter)]
    pub fn last_call_stats(&self) -> Option<CallStatistics> {
        self.worker.last_stats().map(|s| CallStatistics {
            documents: s.documents as u32,
            pair_tokens: s.pair_tokens as u32,
            tokens_computed: s.tokens_computed as u32,
            prefix_tokens: s.prefix_tokens as u32,
            decode_calls: s.decode_calls as u32,
            kv_cells: s.kv_cells as u32,
        })
    }

    /// Tokens per pair at most.
    #[napi(getter)]
    pub fn context_size(&self) -> u32 {
        self.worker.context_size()
    }

    /// Whether `dispose()` has been called (directly or through the model).
    #[napi(getter)]
    pub fn disposed(&self) -> bool {
        self.worker.is_disposed()
    }

    /// Stops running work inside its current decode, rejects queued calls with
    /// `ERR_DISPOSED` and frees the context. Idempotent.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn dispose<'env>(&self, env: &'env Env) -> Result<PromiseRaw<'env, ()>> {
        let thread = self.worker.dispose();
        settle(env, join_all(thread.into_iter().collect()), |_, ()| Ok(()))
    }

    /// Same as `dispose()`, for `await using`.
    #[napi(well_known_symbol = "asyncDispose", ts_return_type = "Promise<void>")]
    pub fn async_dispose<'env>(&self, env: &'env Env) -> Result<PromiseRaw<'env, ()>> {
        self.dispose(env)
    }
}

impl RankingContext {
    /// Queues the call now, on the JavaScript thread, so calls keep the order in which they
    /// were made; the returned future only waits for the answer.
    fn run(
        &self,
        query: String,
        documents: Vec<String>,
        opts: CallOptions,
    ) -> impl Future<Output = CoreResult<Vec<f64>>> + Send + 'static {
        let queued = (|| {
            let shared = self.worker.shared()?;
            if opts.abort.load(Ordering::Acquire) {
                return Err(RerankError::aborted());
            }
            if documents.is_empty() {
                return Ok(None);
            }
            let request = RankRequest {
                query,
                documents,
                instruction: opts.instruction,
                overflow: opts.overflow.unwrap_or(shared.default_overflow),
                abort: opts.abort,
                progress: opts.progress,
            };
            Ok(Some(self.worker.submit(request)))
        })();
        async move {
            match queued? {
                None => Ok(Vec::new()),
                Some(answer) => answer
                    .await
                    .unwrap_or_else(|_| Err(RerankError::disposed("ranking context"))),
            }
        }
    }
}
