//! The llama.cpp side: loading a model, creating a scoring context, evaluating batches.
//!
//! Nothing here knows about Node. A [`LoadedModel`] is shared through `Arc`; a
//! [`ScoringContext`] owns one `Arc` of its model next to the llama.cpp context that borrows
//! it (through `self_cell`), so the model is freed only after the last context is gone.

use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use llama_cpp_2::context::params::{LlamaContextParams, LlamaPoolingType};
use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::token::LlamaToken;

use crate::batch_scheduler::BatchScheduler;
use crate::error::{ErrorCode, RerankError, Result};
use crate::gguf::{GgufError, GgufHeader};
use crate::model_inspection::ModelInspection;
use crate::prompt::{PairTokens, TokenId, Vocabulary};
use crate::scoring::{ModelOutput, ScoreSource, ScoringMethod, ScoringPlan};

/// The process-wide llama.cpp backend, initialised on first use.
pub fn backend() -> &'static LlamaBackend {
    static BACKEND: OnceLock<LlamaBackend> = OnceLock::new();
    BACKEND.get_or_init(|| {
        let verbose =
            std::env::var_os("LLAMA_RERANK_VERBOSE").is_some_and(|v| !v.is_empty() && v != "0");
        crate::ffi::install_log_callback(verbose);
        // A second init (another copy of llama.cpp in the process) is harmless: the backend
        // value carries no state.
        LlamaBackend::init().unwrap_or(LlamaBackend {})
    })
}

/// Options for loading a model.
#[derive(Debug, Clone, Default)]
pub struct ModelLoadOptions {
    pub gpu_layers: Option<u32>,
    pub use_mmap: Option<bool>,
}

/// A model in memory with what was learnt about it at load.
pub struct LoadedModel {
    pub model: LlamaModel,
    pub path: PathBuf,
    pub inspection: ModelInspection,
    pub file_size: u64,
    controls: Vec<(String, TokenId)>,
    pair: PairTokens,
}

impl std::fmt::Debug for LoadedModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedModel")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// Reads and validates a file's header, mapping failures to stable codes.
pub fn inspect_file(path: &Path) -> Result<(GgufHeader, ModelInspection)> {
    let display = path.display();
    match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(RerankError::new(
                ErrorCode::ModelNotFound,
                format!("model file not found: {display}"),
            ))
        }
        Ok(m) if m.is_dir() => {
            return Err(RerankError::new(
                ErrorCode::ModelLoad,
                format!("{display} is a directory, not a model file"),
            ))
        }
        _ => {}
    }
    let header = GgufHeader::read(path).map_err(|e| {
        let code = match &e {
            GgufError::NotGguf => ErrorCode::NotGguf,
            GgufError::Corrupt(_) | GgufError::UnsupportedVersion(_) => ErrorCode::ModelCorrupt,
            GgufError::Io(_) => ErrorCode::ModelLoad,
        };
        RerankError::new(code, format!("cannot load {display}")).caused_by(&e)
    })?;
    let inspection = ModelInspection::from_header(&header).map_err(|why| {
        RerankError::new(ErrorCode::ModelCorrupt, format!("cannot load {display}")).with_cause(why)
    })?;
    Ok((header, inspection))
}

impl LoadedModel {
    /// Loads the model at `path`. `abort` is polled during the load.
    pub fn load(path: &Path, options: &ModelLoadOptions, abort: Arc<AtomicBool>) -> Result<Self> {
        let (header, inspection) = inspect_file(path)?;
        let backend = backend();
        let mut params = LlamaModelParams::default();
        if let Some(n) = options.gpu_layers {
            params = params.with_n_gpu_layers(n);
        }
        if let Some(m) = options.use_mmap {
            params = params.with_use_mmap(m);
        }
        let abort_in_load = abort.clone();
        params = params.with_progress_callback(move |_| !abort_in_load.load(Ordering::Relaxed));
        crate::ffi::take_error_lines();
        let loaded = LlamaModel::load_from_file(backend, path, &params);
        let lines = crate::ffi::take_error_lines();
        if abort.load(Ordering::Relaxed) {
            return Err(RerankError::aborted());
        }
        let model = loaded.map_err(|e| {
            let mut err = RerankError::new(
                ErrorCode::ModelLoad,
                format!("llama.cpp could not load {}", path.display()),
            );
            for line in lines {
                err = err.with_cause(line);
            }
            err.caused_by(&e)
        })?;
        let (controls, pair) = vocabulary_tables(&model);
        Ok(Self {
            model,
            path: path.to_owned(),
            inspection,
            file_size: header.file_size,
            controls,
            pair,
        })
    }

    /// The context length the model was trained for.
    pub fn trained_context_length(&self) -> u32 {
        self.model.n_ctx_train()
    }

    /// The id of `word` if it is a single token.
    pub fn single_token(&self, word: &str) -> Option<TokenId> {
        match self.tokenize_plain(word).as_slice() {
            [t] => Some(*t),
            _ => None,
        }
    }
}

fn vocabulary_tables(model: &LlamaModel) -> (Vec<(String, TokenId)>, PairTokens) {
    let vocab = model.vocab();
    let mut controls = Vec::new();
    for token in vocab.tokens() {
        if vocab.is_control(token) {
            let piece = vocab.token_to_piece(token, true, None);
            if let Ok(text) = String::from_utf8(piece) {
                if !text.is_empty() {
                    controls.push((text, token.0));
                }
            }
        }
    }
    let present = |t: LlamaToken| (t.0 >= 0).then_some(t.0);
    let pair = PairTokens {
        bos: if vocab.should_add_bos() {
            present(vocab.bos())
        } else {
            None
        },
        eos: if vocab.should_add_eos() {
            present(vocab.eos())
        } else {
            None
        },
        sep: if vocab.should_add_sep() {
            present(vocab.sep())
        } else {
            None
        },
    };
    (controls, pair)
}

impl Vocabulary for LoadedModel {
    fn tokenize_plain(&self, text: &str) -> Vec<TokenId> {
        if text.is_empty() {
            return Vec::new();
        }
        self.model
            .vocab()
            .tokenize(text.as_bytes(), false, false)
            .into_iter()
            .map(|t| t.0)
            .collect()
    }
    fn control_tokens(&self) -> &[(String, TokenId)] {
        &self.controls
    }
    fn pair_tokens(&self) -> PairTokens {
        self.pair
    }
}

/// Options that shape a scoring context.
#[derive(Debug, Clone)]
pub struct ContextSettings {
    pub plan: ScoringPlan,
    pub context_size: u32,
    pub batch_size: u32,
    pub sequences: u32,
    pub threads: i32,
}

type BorrowedContext<'a> = LlamaContext<'a>;

self_cell::self_cell!(
    struct ContextCell {
        owner: Arc<LoadedModel>,
        #[covariant]
        dependent: BorrowedContext,
    }
);

/// A llama.cpp context set up for one scoring plan, with its batch buffer.
pub struct ScoringContext {
    cell: ContextCell,
    batch: LlamaBatch<'static>,
    settings: ContextSettings,
    yes_no: Option<(TokenId, TokenId)>,
}

/// What the caller lets happen between batches: progress, abort and disposal checks.
pub trait BatchObserver {
    /// Called before each batch; an error stops the work.
    fn before_batch(&mut self) -> Result<()>;
    /// Called after each batch with the number of sequences scored so far.
    fn after_batch(&mut self, done: usize, total: usize) -> Result<()>;
}

impl ScoringContext {
    pub fn new(model: Arc<LoadedModel>, settings: ContextSettings) -> Result<Self> {
        let plan = settings.plan;
        let yes_no = match (plan.method, plan.source) {
            (ScoringMethod::YesNo, ScoreSource::LmHead) => {
                let yes = model.single_token("yes");
                let no = model.single_token("no");
                match (yes, no) {
                    (Some(y), Some(n)) => Some((y, n)),
                    _ => {
                        return Err(RerankError::new(
                            ErrorCode::NotAReranker,
                            "yes-no scoring needs \"yes\" and \"no\" to be single tokens in the model's vocabulary",
                        ))
                    }
                }
            }
            _ => None,
        };
        let pooled = plan.source == ScoreSource::PooledHead;
        let n_ctx = settings.context_size.max(8);
        let n_batch = settings.batch_size.clamp(1, n_ctx);
        // Bidirectional models must see a whole batch in one micro-batch.
        let n_ubatch = if model.inspection.is_encoder {
            n_batch
        } else {
            n_batch.min(512)
        };
        let params = LlamaContextParams::default()
            .with_n_ctx(NonZeroU32::new(n_ctx))
            .with_n_batch(n_batch)
            .with_n_ubatch(n_ubatch)
            .with_n_seq_max(settings.sequences.max(1))
            .with_n_threads(settings.threads)
            .with_n_threads_batch(settings.threads)
            .with_embeddings(pooled)
            .with_pooling_type(if pooled {
                LlamaPoolingType::Rank
            } else {
                LlamaPoolingType::None
            })
            .with_kv_unified(true)
            // llama.cpp's CPU flash attention rounds queries to f16, which moves scores by
            // ~3e-4; exact attention keeps them within ~1e-5 of the reference.
            .with_flash_attention_policy(llama_cpp_sys_2::LLAMA_FLASH_ATTN_TYPE_DISABLED);
        crate::ffi::take_error_lines();
        let cell = ContextCell::try_new(model, |m| m.model.new_context(backend(), params))
            .map_err(|e| {
                let mut err = RerankError::new(
                    ErrorCode::ContextCreate,
                    format!("llama.cpp could not create a context of {n_ctx} tokens"),
                );
                for line in crate::ffi::take_error_lines() {
                    err = err.with_cause(line);
                }
                err.caused_by(&e)
            })?;
        let batch = LlamaBatch::new(n_batch as usize, settings.sequences.max(1) as i32);
        Ok(Self {
            cell,
            batch,
            settings,
            yes_no,
        })
    }

    pub fn model(&self) -> &Arc<LoadedModel> {
        self.cell.borrow_owner()
    }

    pub fn settings(&self) -> &ContextSettings {
        &self.settings
    }

    /// Scores token sequences; each must be at most `context_size` tokens long.
    pub fn score(
        &mut self,
        sequences: &[Vec<TokenId>],
        observer: &mut dyn BatchObserver,
    ) -> Result<Vec<f64>> {
        let total = sequences.len();
        let mut scores = vec![f64::NAN; total];
        let scheduler = BatchScheduler {
            max_tokens: self.settings.batch_size.min(self.settings.context_size) as usize,
            max_sequences: self.settings.sequences.max(1) as usize,
        };
        let lengths: Vec<usize> = sequences.iter().map(Vec::len).collect();
        let mut done = 0;
        for group in scheduler.plan(&lengths) {
            observer.before_batch()?;
            self.evaluate_group(sequences, &group, &mut scores)?;
            done += group.len();
            observer.after_batch(done, total)?;
        }
        Ok(scores)
    }

    fn evaluate_group(
        &mut self,
        sequences: &[Vec<TokenId>],
        group: &[usize],
        scores: &mut [f64],
    ) -> Result<()> {
        let plan = self.settings.plan;
        let pooled = plan.source == ScoreSource::PooledHead;
        let n_batch = self.settings.batch_size.min(self.settings.context_size) as usize;
        let yes_no = self.yes_no;
        let batch = &mut self.batch;
        self.cell.with_dependent_mut(|_, ctx| -> Result<()> {
            ctx.clear_kv_cache();
            // A group is either several sequences that fit one batch, or one long sequence
            // evaluated in chunks (causal models only).
            let mut last_index = vec![0i32; group.len()];
            let chunks: Vec<(usize, usize, usize)> =
                if group.len() == 1 && sequences[group[0]].len() > n_batch {
                    let len = sequences[group[0]].len();
                    (0..len)
                        .step_by(n_batch)
                        .map(|s| (0, s, (s + n_batch).min(len)))
                        .collect()
                } else {
                    Vec::new()
                };
            let decode_error = |e: &dyn std::error::Error| {
                let mut err =
                    RerankError::new(ErrorCode::Decode, "llama.cpp failed to evaluate a batch");
                for line in crate::ffi::take_error_lines() {
                    err = err.with_cause(line);
                }
                err.with_cause(e.to_string())
            };
            let add_error = |e: llama_cpp_2::llama_batch::BatchAddError| {
                RerankError::new(ErrorCode::Internal, "batch overflow").with_cause(e.to_string())
            };
            if chunks.is_empty() {
                batch.clear();
                for (slot, &idx) in group.iter().enumerate() {
                    let tokens = &sequences[idx];
                    let last = tokens.len().saturating_sub(1);
                    for (pos, &t) in tokens.iter().enumerate() {
                        let output = pooled || pos == last;
                        batch
                            .add(LlamaToken(t), pos as i32, &[slot as i32], output)
                            .map_err(add_error)?;
                    }
                    last_index[slot] = batch.n_tokens() - 1;
                }
                ctx.decode(batch).map_err(|e| decode_error(&e))?;
            } else {
                let tokens = &sequences[group[0]];
                for (_, start, end) in &chunks {
                    batch.clear();
                    for (pos, &t) in tokens[*start..*end].iter().enumerate() {
                        let pos = start + pos;
                        let output = pooled || pos == tokens.len() - 1;
                        batch
                            .add(LlamaToken(t), pos as i32, &[0], output)
                            .map_err(add_error)?;
                    }
                    last_index[0] = batch.n_tokens() - 1;
                    ctx.decode(batch).map_err(|e| decode_error(&e))?;
                }
            }
            for (slot, &idx) in group.iter().enumerate() {
                let score = if pooled {
                    let values = ctx.embeddings_seq_ith(slot as i32).map_err(|e| {
                        RerankError::new(ErrorCode::Decode, "llama.cpp returned no pooled output")
                            .with_cause(e.to_string())
                    })?;
                    plan.score(ModelOutput::Pooled(values))
                } else {
                    let (yes, no) = yes_no.expect("lm-head plans carry yes/no ids");
                    let logits = ctx.get_logits_ith(last_index[slot]);
                    plan.score(ModelOutput::YesNoLogits {
                        yes: logits[yes as usize],
                        no: logits[no as usize],
                    })
                };
                scores[idx] = score.map_err(|bad| {
                    RerankError::new(
                        ErrorCode::NonFiniteScore,
                        format!(
                            "the model produced a non-finite value ({}) for document {idx}",
                            bad.0
                        ),
                    )
                })?;
            }
            Ok(())
        })
    }
}
