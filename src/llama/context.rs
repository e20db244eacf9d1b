//! The llama.cpp side: loading a model, creating a scoring context, evaluating batches.
//!
//! Nothing here knows about Node. A [`LoadedModel`] is shared through `Arc`; a
//! [`ScoringContext`] owns one `Arc` of its model next to the llama.cpp context that borrows
//! it (through `self_cell`), so the model is freed only after the last context is gone.

use std::collections::HashMap;
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

use crate::batch_scheduler::{BatchScheduler, Plan};
use crate::compute_backend::ComputePlacement;
use crate::error::{ErrorCode, RerankError, Result};
use crate::ffi::DecodeInterrupt;
use crate::gguf::{GgufError, GgufHeader};
use crate::label_head::LabelHead;
use crate::model_inspection::ModelInspection;
use crate::prompt::{PairTokens, TokenId, Vocabulary};
use crate::scoring::{ModelOutput, ScoreSource, ScoringMethod, ScoringPlan};

/// The process-wide llama.cpp backend, initialised on first use.
pub fn backend() -> &'static LlamaBackend {
    &initialised_backend().0
}

/// The backend and whether a CPU backend could be registered for it (a portable build loads
/// its CPU module first).
fn initialised_backend() -> &'static (LlamaBackend, std::result::Result<(), String>) {
    static BACKEND: OnceLock<(LlamaBackend, std::result::Result<(), String>)> = OnceLock::new();
    BACKEND.get_or_init(|| {
        let verbose =
            std::env::var_os("LLAMA_RERANK_VERBOSE").is_some_and(|v| !v.is_empty() && v != "0");
        crate::ffi::install_log_callback(verbose);
        let cpu = crate::compute_backend::register_cpu_backend();
        // A second init (another copy of llama.cpp in the process) is harmless: the backend
        // value carries no state.
        (LlamaBackend::init().unwrap_or(LlamaBackend {}), cpu)
    })
}

/// The backend, or `ERR_CPU_BACKEND_MISSING` when no CPU backend could be registered.
pub fn ready_backend() -> Result<&'static LlamaBackend> {
    let (backend, cpu) = initialised_backend();
    cpu.as_ref().map(|()| backend).map_err(|why| {
        RerankError::new(
            ErrorCode::CpuBackendMissing,
            format!("llama.cpp cannot run on this CPU: {why}"),
        )
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
    /// Set when the file's pooled yes/no head is a slice of its LM head: it is then read off
    /// the last token's logits instead of through llama.cpp's pooling.
    pub label_head: Option<LabelHead>,
    /// Where the layers run (CPU, or a GPU backend and how many layers it holds).
    pub placement: ComputePlacement,
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
    /// Holds an exit-gate pass throughout, so a process exit waits for (and stops) the load.
    pub fn load(path: &Path, options: &ModelLoadOptions, abort: Arc<AtomicBool>) -> Result<Self> {
        let _pass = crate::exit_gate::GATE.enter()?;
        let (header, inspection) = inspect_file(path)?;
        let backend = ready_backend()?;
        let mut params = LlamaModelParams::default();
        if let Some(n) = options.gpu_layers {
            params = params.with_n_gpu_layers(n);
        }
        if let Some(m) = options.use_mmap {
            params = params.with_use_mmap(m);
        }
        let abort_in_load = abort.clone();
        // Stops at the next progress callback on abort, or when the process starts exiting.
        params = params.with_progress_callback(move |_| {
            !abort_in_load.load(Ordering::Relaxed) && !crate::exit_gate::GATE.exiting()
        });
        crate::ffi::take_error_lines();
        let loaded = LlamaModel::load_from_file(backend, path, &params);
        let lines = crate::ffi::take_error_lines();
        if abort.load(Ordering::Relaxed) || crate::exit_gate::GATE.exiting() {
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
        let placement = ComputePlacement::for_model(model.n_layer(), options.gpu_layers);
        let mut loaded = Self {
            model,
            path: path.to_owned(),
            inspection,
            file_size: header.file_size,
            label_head: None,
            placement,
            controls,
            pair,
        };
        let label_head = LabelHead::detect(path, &header, &loaded.inspection, |label| {
            loaded.single_token(label)
        });
        loaded.label_head = label_head;
        Ok(loaded)
    }

    /// The context length the model was trained for.
    pub fn trained_context_length(&self) -> u32 {
        self.model.n_ctx_train()
    }

    /// The text's tokens as node-llama-cpp's `model.tokenize(text, specialTokens)` gives them:
    /// no BOS or EOS added; with `special`, the text of control tokens (`<|im_end|>`) becomes
    /// those tokens, otherwise it stays text.
    pub fn tokenize_text(&self, text: &str, special: bool) -> Vec<TokenId> {
        if text.is_empty() {
            return Vec::new();
        }
        self.model
            .vocab()
            .tokenize(text.as_bytes(), false, special)
            .into_iter()
            .map(|t| t.0)
            .collect()
    }

    /// The text of `tokens` (llama.cpp's detokenizer); control tokens are rendered only with
    /// `special`. An id outside the vocabulary is `ERR_INVALID_ARG_VALUE` (llama.cpp would
    /// abort the process).
    pub fn detokenize(&self, tokens: &[TokenId], special: bool) -> Result<String> {
        let vocab = self.model.vocab();
        let n_tokens = vocab.n_tokens();
        if let Some(bad) = tokens.iter().find(|&&t| t < 0 || t >= n_tokens) {
            return Err(RerankError::invalid(format!(
                "token {bad} is not in the vocabulary (0 to {})",
                n_tokens - 1
            )));
        }
        if tokens.is_empty() {
            return Ok(String::new());
        }
        let ids: Vec<LlamaToken> = tokens.iter().map(|&t| LlamaToken(t)).collect();
        let bytes = vocab.detokenize(&ids, false, special);
        Ok(String::from_utf8_lossy(&bytes).into_owned())
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
        self.tokenize_text(text, false)
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
    /// Tokens per (query, document) pair at most.
    pub context_size: u32,
    /// Tokens per decode call.
    pub batch_size: u32,
    pub threads: i32,
}

/// Shared prompt prefixes shorter than this are recomputed rather than copied.
const MIN_SHARED_PREFIX: usize = 8;
/// KV cache sizes are rounded up to this many cells.
const KV_GRANULE: u32 = 256;

type BorrowedContext<'a> = LlamaContext<'a>;

self_cell::self_cell!(
    struct ContextCell {
        owner: Arc<LoadedModel>,
        #[covariant]
        dependent: BorrowedContext,
    }
);

/// A llama.cpp context of a given KV size, with its batch buffer.
struct LiveContext {
    cell: ContextCell,
    batch: LlamaBatch<'static>,
    kv_size: u32,
    /// Polled by llama.cpp's abort callback; dropped after the context (field order).
    _interrupt: Arc<DecodeInterrupt>,
}

/// What one call cost: tokens evaluated and how.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CallStats {
    pub documents: usize,
    /// Tokens of all pairs, as prompts.
    pub pair_tokens: usize,
    /// Tokens evaluated: the shared prefix once, then each document's remainder.
    pub tokens_computed: usize,
    pub prefix_tokens: usize,
    pub decode_calls: usize,
    /// KV cells of the llama.cpp context used for the call.
    pub kv_cells: usize,
}

/// Scores token sequences with one model and one scoring plan.
///
/// The llama.cpp context is sized from what calls need, not from `context_size`: a causal
/// model's KV cache holds the shared prompt prefix plus one batch of documents, and grows
/// (by re-creating the context) only when a call needs more.
pub struct ScoringContext {
    model: Arc<LoadedModel>,
    live: Option<LiveContext>,
    settings: ContextSettings,
    /// The judge's positive and negative token of an LM-head plan.
    judge_tokens: Option<(TokenId, Option<TokenId>)>,
    last_stats: CallStats,
    interrupt: Arc<DecodeInterrupt>,
}

/// What the caller lets happen between batches: progress, abort and disposal checks.
pub trait BatchObserver {
    /// Called before each batch; an error stops the work.
    fn before_batch(&mut self) -> Result<()>;
    /// Called after each batch with the number of sequences scored so far.
    fn after_batch(&mut self, done: usize, total: usize) -> Result<()>;
}

/// How one call is laid out in the KV cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallLayout {
    /// Tokens shared by every sequence, evaluated once into sequence 0.
    pub prefix: usize,
    /// The decode calls for the rest of each sequence.
    pub plan: Plan,
    /// KV cells the call needs at most.
    pub kv_needed: usize,
}

/// The longest token prefix shared by all sequences, leaving each at least one token.
pub fn shared_prefix_len<S: AsRef<[TokenId]>>(sequences: &[S]) -> usize {
    let Some(first) = sequences.first().map(AsRef::as_ref) else {
        return 0;
    };
    let mut len = first.len();
    for s in &sequences[1..] {
        len = len.min(
            first
                .iter()
                .zip(s.as_ref())
                .take_while(|(a, b)| a == b)
                .count(),
        );
    }
    let shortest = sequences
        .iter()
        .map(|s| s.as_ref().len())
        .min()
        .unwrap_or(0);
    len.min(shortest.saturating_sub(1))
}

/// The distinct sequences in first-seen order, how many inputs each stands for, and the
/// distinct sequence of every input.
fn deduplicate(sequences: &[Vec<TokenId>]) -> (Vec<&[TokenId]>, Vec<usize>, Vec<usize>) {
    let mut index: HashMap<&[TokenId], usize> = HashMap::new();
    let mut unique: Vec<&[TokenId]> = Vec::new();
    let mut copies: Vec<usize> = Vec::new();
    let of_input = sequences
        .iter()
        .map(|s| {
            *index
                .entry(s.as_slice())
                .and_modify(|&mut u| copies[u] += 1)
                .or_insert_with(|| {
                    unique.push(s);
                    copies.push(1);
                    unique.len() - 1
                })
        })
        .collect();
    (unique, copies, of_input)
}

impl ScoringContext {
    /// Tokens per micro-batch of causal models at most.
    const MAX_CAUSAL_UBATCH: u32 = 128;

    pub fn new(model: Arc<LoadedModel>, settings: ContextSettings) -> Result<Self> {
        let plan = settings.plan;
        let judge_tokens = match (plan.method, plan.source) {
            (ScoringMethod::YesNo, ScoreSource::LmHead) => {
                let judge = plan.judge.unwrap_or(&crate::judge::QWEN3_RERANKER);
                let single = |word: &str| {
                    model.single_token(word).ok_or_else(|| {
                        RerankError::new(
                            ErrorCode::NotAReranker,
                            format!(
                                "the {} judge reads the logit of {word:?}, which is not a single token in the model's vocabulary",
                                judge.name
                            ),
                        )
                    })
                };
                let positive = single(judge.positive)?;
                let negative = judge.negative.map(single).transpose()?;
                Some((positive, negative))
            }
            _ => None,
        };
        let mut context = Self {
            model,
            live: None,
            settings,
            judge_tokens,
            last_stats: CallStats::default(),
            interrupt: Arc::default(),
        };
        // Create a first context now, so that a model llama.cpp cannot run fails here and
        // not on the first call.
        let initial = if context.is_encoder() {
            context.settings.context_size
        } else {
            context
                .batch_tokens()
                .saturating_mul(2)
                .min(context.settings.context_size)
        };
        context.ensure_kv(initial as usize)?;
        Ok(context)
    }

    pub fn model(&self) -> &Arc<LoadedModel> {
        &self.model
    }

    pub fn settings(&self) -> &ContextSettings {
        &self.settings
    }

    /// What the last `score` call cost.
    pub fn last_stats(&self) -> CallStats {
        self.last_stats
    }

    /// What interrupts a running decode: the caller sets the flags it watches.
    pub fn interrupt(&self) -> &Arc<DecodeInterrupt> {
        &self.interrupt
    }

    /// The KV cells of the current llama.cpp context (0 before the first one).
    pub fn kv_size(&self) -> u32 {
        self.live.as_ref().map_or(0, |l| l.kv_size)
    }

    fn is_encoder(&self) -> bool {
        self.model.inspection.is_encoder
    }

    /// Whether llama.cpp's RANK pooling computes the score (embeddings mode).
    fn pooled(&self) -> bool {
        self.settings.plan.source == ScoreSource::PooledHead && self.label_head().is_none()
    }

    /// The pooled head read off the LM head, when the file allows it.
    fn label_head(&self) -> Option<&LabelHead> {
        match (self.settings.plan.method, self.settings.plan.source) {
            (ScoringMethod::YesNo, ScoreSource::PooledHead) => self.model.label_head.as_ref(),
            _ => None,
        }
    }

    fn batch_tokens(&self) -> u32 {
        self.settings
            .batch_size
            .min(self.settings.context_size)
            .max(2)
    }

    /// Documents in one decode call: one. A document that shares a decode call with others
    /// attends over their (masked) KV cells too, and ggml's reductions over KV cells (the
    /// softmax sum in groups of 8, the attention-value dot products in 32-wide accumulators)
    /// then group its terms differently depending on where its cells landed: its score moved
    /// by up to 3e-3 on the Qwen3-0.6B-shaped model with the batch's composition. One
    /// document per call keeps its cells right after the prefix, exactly where they are when
    /// it is ranked alone, so a score is bit-identical however a call is packed; matrix
    /// products are row-independent, so the micro-batch size and the thread count do not
    /// matter either (`bench/invariance.mjs` measures all of it). Measured on both benchmark
    /// models this is no slower: a document no longer attends over the others' cells.
    const DOCUMENTS_PER_CALL: u32 = 1;

    /// Decides prefix reuse and packing for a call.
    pub fn layout<S: AsRef<[TokenId]>>(&self, sequences: &[S]) -> CallLayout {
        let prefix = if self.is_encoder() || sequences.len() < 2 {
            0
        } else {
            match shared_prefix_len(sequences) {
                p if p >= MIN_SHARED_PREFIX => p,
                _ => 0,
            }
        };
        let scheduler = BatchScheduler {
            max_tokens: self.batch_tokens() as usize,
            max_sequences: Self::DOCUMENTS_PER_CALL as usize,
            split: !self.is_encoder(),
        };
        let lengths: Vec<usize> = sequences
            .iter()
            .map(|s| s.as_ref().len() - prefix)
            .collect();
        let plan = scheduler.plan(&lengths);
        let kv_needed = prefix + plan.max_cells;
        CallLayout {
            prefix,
            plan,
            kv_needed,
        }
    }

    /// Makes sure the llama.cpp context holds at least `cells` KV cells.
    fn ensure_kv(&mut self, cells: usize) -> Result<()> {
        let wanted = if self.is_encoder() {
            // Encoders keep no KV cache; their context size bounds the batch.
            self.settings.context_size
        } else {
            (cells.max(1) as u32)
                .div_ceil(KV_GRANULE)
                .saturating_mul(KV_GRANULE)
                .max(KV_GRANULE)
        };
        if self.live.as_ref().is_some_and(|l| l.kv_size >= wanted) {
            return Ok(());
        }
        // Free the old context before allocating the larger one.
        self.live = None;
        let n_batch = if self.is_encoder() {
            wanted
        } else {
            self.batch_tokens().min(wanted)
        };
        // Bidirectional models must see a whole batch in one micro-batch. Causal ones take at
        // most MAX_CAUSAL_UBATCH tokens per graph: an abort waits for one graph node, and the
        // largest node's time grows with the micro-batch (~150 ms at 512 tokens on a 2 GHz
        // Xeon, 2 threads, Qwen3-0.6B shape; see README "Abort latency"). Scores do not
        // depend on it.
        let n_ubatch = if self.is_encoder() {
            n_batch
        } else {
            n_batch.min(Self::MAX_CAUSAL_UBATCH)
        };
        // Sequence 0 holds the shared prefix; documents use 1..=DOCUMENTS_PER_CALL. llama.cpp
        // needs `n_seq_max <= n_batch`, or it aborts the process.
        let n_seq = Self::DOCUMENTS_PER_CALL + 1;
        debug_assert!(n_seq <= n_batch);
        let pooled = self.pooled();
        let params = LlamaContextParams::default()
            .with_n_ctx(NonZeroU32::new(wanted))
            .with_n_batch(n_batch)
            .with_n_ubatch(n_ubatch)
            .with_n_seq_max(n_seq)
            .with_n_threads(self.settings.threads)
            .with_n_threads_batch(self.settings.threads)
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
        let (params, _) = crate::ffi::with_abort_callback(params, &self.interrupt);
        crate::ffi::take_error_lines();
        let cell = ContextCell::try_new(self.model.clone(), |m| {
            m.model.new_context(backend(), params)
        })
        .map_err(|e| {
            let mut err = RerankError::new(
                ErrorCode::ContextCreate,
                format!("llama.cpp could not create a context of {wanted} tokens"),
            );
            for line in crate::ffi::take_error_lines() {
                err = err.with_cause(line);
            }
            err.caused_by(&e)
        })?;
        let batch = LlamaBatch::new(n_batch as usize, n_seq as i32);
        self.live = Some(LiveContext {
            cell,
            batch,
            kv_size: wanted,
            _interrupt: self.interrupt.clone(),
        });
        Ok(())
    }

    /// Scores token sequences; each must be at most `context_size` tokens long.
    pub fn score(
        &mut self,
        sequences: &[Vec<TokenId>],
        observer: &mut dyn BatchObserver,
    ) -> Result<Vec<f64>> {
        if let Some(i) = sequences.iter().position(Vec::is_empty) {
            return Err(RerankError::invalid(format!(
                "document {i} gives an empty input"
            )));
        }
        if sequences.is_empty() {
            return Ok(Vec::new());
        }
        // Identical inputs are evaluated once and share the score.
        let (unique, copies, of_input) = deduplicate(sequences);
        let scores = self.score_unique(&unique, &copies, observer)?;
        Ok(of_input.into_iter().map(|u| scores[u]).collect())
    }

    /// Scores distinct token sequences; `copies[i]` is how many inputs sequence `i` stands
    /// for: statistics and progress count inputs.
    fn score_unique(
        &mut self,
        sequences: &[&[TokenId]],
        copies: &[usize],
        observer: &mut dyn BatchObserver,
    ) -> Result<Vec<f64>> {
        let total = sequences.len();
        let inputs: usize = copies.iter().sum();
        let mut scores = vec![f64::NAN; total];
        let layout = self.layout(sequences);
        self.ensure_kv(layout.kv_needed)?;
        self.last_stats = CallStats {
            documents: inputs,
            pair_tokens: sequences.iter().zip(copies).map(|(s, n)| s.len() * n).sum(),
            tokens_computed: layout.prefix
                + layout.plan.steps.iter().map(|s| s.tokens()).sum::<usize>(),
            prefix_tokens: layout.prefix,
            decode_calls: layout.plan.steps.len()
                + layout.prefix.div_ceil(self.batch_tokens() as usize),
            kv_cells: if self.is_encoder() {
                0
            } else {
                self.kv_size() as usize
            },
        };
        let plan = self.settings.plan;
        let pooled = self.pooled();
        let judge_tokens = self.judge_tokens;
        let label_head = self.label_head().cloned();
        let live = self.live.as_mut().expect("ensure_kv created a context");
        let n_batch = live.cell.borrow_dependent().n_batch() as usize;
        let batch = &mut live.batch;
        let prefix = layout.prefix;
        live.cell.with_dependent_mut(|_, ctx| -> Result<()> {
            ctx.clear_kv_cache();
            if prefix > 0 {
                observer.before_batch()?;
                // The shared prefix, once, into sequence 0. Pooled contexts must output every
                // token of a batch; the pooled value of the prefix is not read.
                let tokens = &sequences[0][..prefix];
                for start in (0..prefix).step_by(n_batch) {
                    batch.clear();
                    for (pos, &t) in tokens.iter().enumerate().skip(start).take(n_batch) {
                        batch
                            .add(LlamaToken(t), pos as i32, &[0], pooled)
                            .map_err(add_error)?;
                    }
                    ctx.decode(batch).map_err(|e| decode_failed(&e, observer))?;
                }
            }
            let mut done = 0;
            for step in &layout.plan.steps {
                observer.before_batch()?;
                batch.clear();
                // (document, sequence id, batch index of its last token)
                let mut finishing: Vec<(usize, i32, i32)> = Vec::new();
                for piece in &step.pieces {
                    let seq = piece.slot as i32 + 1;
                    if piece.start == 0 && prefix > 0 {
                        ctx.copy_kv_cache_seq(0, seq, None, None)
                            .map_err(|e| internal(e.to_string()))?;
                    }
                    let (from, to) = (prefix + piece.start, prefix + piece.end);
                    for (pos, &t) in sequences[piece.sequence]
                        .iter()
                        .enumerate()
                        .take(to)
                        .skip(from)
                    {
                        let output = pooled || (piece.last && pos + 1 == to);
                        batch
                            .add(LlamaToken(t), pos as i32, &[seq], output)
                            .map_err(add_error)?;
                    }
                    if piece.last {
                        finishing.push((piece.sequence, seq, batch.n_tokens() - 1));
                    }
                }
                ctx.decode(batch).map_err(|e| decode_failed(&e, observer))?;
                for &(idx, seq, last_index) in &finishing {
                    let read = if pooled {
                        let values = ctx.embeddings_seq_ith(seq).map_err(|e| {
                            RerankError::new(
                                ErrorCode::Decode,
                                "llama.cpp returned no pooled output",
                            )
                            .with_cause(e.to_string())
                        })?;
                        plan.score(ModelOutput::Pooled(values))
                    } else if let Some(head) = &label_head {
                        let values = head.pooled_values(ctx.get_logits_ith(last_index));
                        plan.score(ModelOutput::Pooled(&values))
                    } else {
                        let (positive, negative) =
                            judge_tokens.expect("lm-head plans carry the judge's tokens");
                        let logits = ctx.get_logits_ith(last_index);
                        plan.score(ModelOutput::JudgeLogits {
                            positive: logits[positive as usize],
                            negative: negative.map(|n| logits[n as usize]),
                        })
                    };
                    scores[idx] = read.map_err(|bad| {
                        RerankError::new(
                            ErrorCode::NonFiniteScore,
                            format!(
                                "the model produced a non-finite value ({}) for document {idx}",
                                bad.0
                            ),
                        )
                    })?;
                    // Free the document's cells; the prefix stays with sequence 0.
                    ctx.clear_kv_cache_seq(Some(seq as u32), None, None)
                        .map_err(|e| internal(e.to_string()))?;
                }
                done += finishing
                    .iter()
                    .map(|&(idx, _, _)| copies[idx])
                    .sum::<usize>();
                observer.after_batch(done, inputs)?;
            }
            Ok(())
        })?;
        Ok(scores)
    }
}

fn internal(message: String) -> RerankError {
    RerankError::new(ErrorCode::Internal, "llama.cpp KV cache operation failed").with_cause(message)
}

fn add_error(e: llama_cpp_2::llama_batch::BatchAddError) -> RerankError {
    RerankError::new(ErrorCode::Internal, "batch overflow").with_cause(e.to_string())
}

/// A failed decode: the abort, disposal or exit that interrupted it, if one did; else
/// llama.cpp's error.
fn decode_failed(e: &dyn std::error::Error, observer: &mut dyn BatchObserver) -> RerankError {
    match observer.before_batch() {
        Err(stop) => stop,
        Ok(()) => decode_error(e),
    }
}

fn decode_error(e: &dyn std::error::Error) -> RerankError {
    let mut err = RerankError::new(ErrorCode::Decode, "llama.cpp failed to evaluate a batch");
    for line in crate::ffi::take_error_lines() {
        err = err.with_cause(line);
    }
    err.with_cause(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::{deduplicate, shared_prefix_len};

    #[test]
    fn duplicates_are_evaluated_once() {
        let inputs = vec![vec![1, 2], vec![3], vec![1, 2], vec![1, 2], vec![3, 4]];
        let (unique, copies, of_input) = deduplicate(&inputs);
        assert_eq!(unique, vec![&[1, 2][..], &[3][..], &[3, 4][..]]);
        assert_eq!(copies, vec![3, 1, 1]);
        assert_eq!(of_input, vec![0, 1, 0, 0, 2]);
    }

    #[test]
    fn shared_prefix_leaves_one_token_each() {
        assert_eq!(shared_prefix_len(&[vec![1, 2, 3, 4], vec![1, 2, 3, 5]]), 3);
        assert_eq!(shared_prefix_len(&[vec![1, 2, 3], vec![1, 2, 3]]), 2);
        assert_eq!(shared_prefix_len(&[vec![1, 2, 3], vec![1, 2]]), 1);
        assert_eq!(shared_prefix_len(&[vec![9], vec![1, 2]]), 0);
        assert_eq!(shared_prefix_len(&[vec![1, 2, 3]]), 2);
        assert_eq!(shared_prefix_len::<Vec<i32>>(&[]), 0);
    }
}
