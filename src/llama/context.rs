//! A scoring context: a llama.cpp context sized to what calls need, the batches of a call
//! evaluated in it, and each document's output read and turned into a score.
//!
//! A [`ScoringContext`] owns one `Arc` of its model next to the llama.cpp context that borrows
//! it (through `self_cell`), so the model is freed only after the last context is gone.

use std::num::NonZeroU32;
use std::sync::Arc;

use llama_cpp_2::context::params::{LlamaContextParams, LlamaPoolingType};
use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::token::LlamaToken;

use super::backend::backend;
use super::batch::{deduplicate, shared_prefix_len, BatchLimits, CallLayout};
use super::ffi::DecodeInterrupt;
use super::model::LoadedModel;
use crate::error::{ErrorCode, RerankError, Result};
use crate::prompt::TokenId;
use crate::scoring::{LabelHead, ModelOutput, NonFiniteScore, ScoringPlan};

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
    /// What is read from llama.cpp for each document.
    readout: Readout,
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

/// What a context reads from llama.cpp for each document, fixed at its creation from the
/// scoring plan and the model.
#[derive(Debug, Clone)]
enum Readout {
    /// llama.cpp's RANK pooling through the classifier head (embeddings mode).
    Pooled,
    /// A pooled yes/no head computed from the last token's logits: the head's rows are the LM
    /// head's rows for its labels (see [`LabelHead`]).
    LabelHead(LabelHead),
    /// The judge's positive (and negative) token's logit at the last token.
    JudgeLogits {
        positive: TokenId,
        negative: Option<TokenId>,
    },
}

impl Readout {
    fn new(plan: ScoringPlan, model: &LoadedModel) -> Result<Self> {
        match plan {
            ScoringPlan::Judge(judge) => {
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
                Ok(Readout::JudgeLogits {
                    positive: single(judge.positive)?,
                    negative: judge.negative.map(single).transpose()?,
                })
            }
            ScoringPlan::PooledYesNo { .. } => Ok(match &model.label_head {
                Some(head) => Readout::LabelHead(head.clone()),
                None => Readout::Pooled,
            }),
            ScoringPlan::Classifier | ScoringPlan::LabelSoftmax { .. } => Ok(Readout::Pooled),
        }
    }

    /// Whether llama.cpp's RANK pooling computes the score (embeddings mode).
    fn is_pooled(&self) -> bool {
        matches!(self, Readout::Pooled)
    }

    /// The score of sequence `seq`, whose last token has index `last_index` in the batch just
    /// decoded; the inner `Err` is a non-finite value.
    fn score(
        &self,
        plan: ScoringPlan,
        ctx: &LlamaContext,
        seq: i32,
        last_index: i32,
    ) -> Result<std::result::Result<f64, NonFiniteScore>> {
        Ok(match self {
            Readout::Pooled => {
                let values = ctx.embeddings_seq_ith(seq).map_err(|e| {
                    RerankError::new(ErrorCode::Decode, "llama.cpp returned no pooled output")
                        .with_cause(e.to_string())
                })?;
                plan.score(ModelOutput::Pooled(values))
            }
            Readout::LabelHead(head) => {
                let values = head.pooled_values(ctx.get_logits_ith(last_index));
                plan.score(ModelOutput::Pooled(&values))
            }
            Readout::JudgeLogits { positive, negative } => {
                let logits = ctx.get_logits_ith(last_index);
                plan.score(ModelOutput::JudgeLogits {
                    positive: logits[*positive as usize],
                    negative: negative.map(|n| logits[n as usize]),
                })
            }
        })
    }
}

impl ScoringContext {
    /// Tokens per micro-batch of causal models at most.
    const MAX_CAUSAL_UBATCH: u32 = 128;

    pub fn new(model: Arc<LoadedModel>, settings: ContextSettings) -> Result<Self> {
        let readout = Readout::new(settings.plan, &model)?;
        let mut context = Self {
            model,
            live: None,
            settings,
            readout,
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
        self.readout.is_pooled()
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
        let limits = BatchLimits {
            max_tokens: self.batch_tokens() as usize,
            max_documents: Self::DOCUMENTS_PER_CALL as usize,
            split: !self.is_encoder(),
        };
        let lengths: Vec<usize> = sequences
            .iter()
            .map(|s| s.as_ref().len() - prefix)
            .collect();
        let plan = limits.plan(&lengths);
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
        let (params, _) = super::ffi::with_abort_callback(params, &self.interrupt);
        super::ffi::take_error_lines();
        let cell = ContextCell::try_new(self.model.clone(), |m| {
            m.model.new_context(backend(), params)
        })
        .map_err(|e| {
            let mut err = RerankError::new(
                ErrorCode::ContextCreate,
                format!("llama.cpp could not create a context of {wanted} tokens"),
            );
            for line in super::ffi::take_error_lines() {
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
        let readout = &self.readout;
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
                    for (pos, &t) in sequences[piece.document]
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
                        finishing.push((piece.document, seq, batch.n_tokens() - 1));
                    }
                }
                ctx.decode(batch).map_err(|e| decode_failed(&e, observer))?;
                for &(idx, seq, last_index) in &finishing {
                    let read = readout.score(plan, ctx, seq, last_index)?;
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
    for line in super::ffi::take_error_lines() {
        err = err.with_cause(line);
    }
    err.with_cause(e.to_string())
}
