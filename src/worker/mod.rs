//! One thread per ranking context: it owns the llama.cpp context and takes calls in FIFO
//! order. Nothing is freed under running work: disposal is a flag the thread reads between
//! batches; the context is dropped by the thread itself once its current batch is done.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;

use crate::error::{ErrorCode, RerankError, Result};
use crate::llama::{BatchObserver, CallStats, ContextSettings, LoadedModel, ScoringContext};
use crate::prompt::{EncodedPair, OverflowPolicy, PromptBuilder, PromptTemplate};
use crate::scoring::{JudgePrompt, ScoringMethod, ScoringPlan, ScoringRequest};

/// Default upper bound of the context size, whatever the model was trained for.
pub const DEFAULT_MAX_CONTEXT: u32 = 8192;
/// Default tokens per decode call of causal models. 128 rather than llama.cpp's 512: measured
/// on the Qwen3-0.6B shape, (b) workload, 2 threads, it is ~25% faster here (60-63 s against
/// 79-80 s for 4 documents), and it bounds how long an abort waits for the running graph node.
pub const DEFAULT_CAUSAL_BATCH: u32 = 128;

/// What a caller may choose for a context; `None` means the default.
#[derive(Debug, Clone, Default)]
pub struct ContextOptions {
    pub context_size: Option<u32>,
    pub batch_size: Option<u32>,
    pub threads: Option<u32>,
    pub instruction: Option<String>,
    pub template: Option<String>,
    pub scoring: Option<ScoringMethod>,
    pub overflow: Option<OverflowPolicy>,
}

/// Reports progress `(done, total, stop_requested)`; an `Err` stops the call with that error.
/// `stop_requested()` tells a sink that waits for its listener when to give up waiting.
pub type ProgressSink = Box<dyn FnMut(usize, usize, &dyn Fn() -> bool) -> Result<()> + Send>;

/// One `rankAll` call.
pub struct RankRequest {
    pub query: String,
    pub documents: Vec<String>,
    pub instruction: Option<String>,
    pub overflow: OverflowPolicy,
    pub abort: Arc<AtomicBool>,
    pub progress: Option<ProgressSink>,
}

type Reply = tokio::sync::oneshot::Sender<Result<Vec<f64>>>;

/// What every thread that touches a context shares: the immutable parts.
pub struct ContextShared {
    pub model: Arc<LoadedModel>,
    pub builder: PromptBuilder,
    pub settings: ContextSettings,
    pub default_overflow: OverflowPolicy,
    /// Set once by `dispose()`; read by the context thread between batches.
    pub disposed: Arc<AtomicBool>,
}

impl ContextShared {
    /// Resolves the options against the model: scoring plan, sizes, prompt.
    pub fn new(
        model: Arc<LoadedModel>,
        default_plan: ScoringPlan,
        options: ContextOptions,
    ) -> Result<Self> {
        let plan = match options.scoring {
            Some(m) if m != default_plan.method() => {
                ScoringPlan::detect(&model.inspection, &ScoringRequest::method(Some(m)))?
            }
            _ => default_plan,
        };
        let (template, default_instruction) = match (plan.judge(), options.template) {
            (None, Some(_)) => {
                return Err(RerankError::invalid(
                    "template applies to yes-no scoring only; cross-encoders take the pair as is",
                ))
            }
            (None, None) => (PromptTemplate::Pair, ""),
            (Some(judge), custom) => match (&judge.prompt, custom) {
                (JudgePrompt::Template { default_instruction, .. }, Some(t)) => {
                    (PromptTemplate::Text(t), *default_instruction)
                }
                (JudgePrompt::Template { template, default_instruction }, None) => {
                    (PromptTemplate::Text((*template).into()), *default_instruction)
                }
                (JudgePrompt::Pieces(_), Some(_)) => {
                    return Err(RerankError::invalid(format!(
                        "template does not apply to the {} judge, whose prompt is tokenized piece by piece as its reference does; use instruction",
                        judge.name
                    )))
                }
                (JudgePrompt::Pieces(layout), None) => (PromptTemplate::Pieces(layout), ""),
            },
        };
        let instruction = options
            .instruction
            .unwrap_or_else(|| default_instruction.into());
        let builder = PromptBuilder::new(&template, &instruction, model.as_ref())
            .map_err(RerankError::invalid)?;
        let trained = model.trained_context_length().max(8);
        // A judge whose reference cuts at its own max_length gets that cut by default.
        let default_context = builder
            .reference_context_size()
            .map_or(DEFAULT_MAX_CONTEXT, |n| n.min(u32::MAX as usize) as u32);
        let context_size = match options.context_size {
            Some(0) => return Err(RerankError::invalid("contextSize must be positive")),
            Some(n) => n.min(trained),
            None => trained.min(default_context),
        };
        let batch_size = match options.batch_size {
            Some(0) => return Err(RerankError::invalid("batchSize must be positive")),
            Some(n) if !model.inspection.is_encoder => n.min(context_size),
            None if !model.inspection.is_encoder => DEFAULT_CAUSAL_BATCH.min(context_size),
            // Bidirectional models see a whole pair in one batch.
            _ => context_size,
        };
        let threads = match options.threads {
            Some(0) | None => num_cpus::get_physical().max(1) as i32,
            Some(n) => n.min(1024) as i32,
        };
        Ok(ContextShared {
            model,
            builder,
            settings: ContextSettings {
                plan,
                context_size,
                batch_size,
                threads,
            },
            default_overflow: options.overflow.unwrap_or(OverflowPolicy::Truncate),
            disposed: Arc::new(AtomicBool::new(false)),
        })
    }

    /// Tokens of one pair under the context's limits.
    pub fn encode(
        &self,
        query: &str,
        document: &str,
        instruction: Option<&str>,
        overflow: OverflowPolicy,
    ) -> Result<EncodedPair> {
        let limit = self.settings.context_size as usize;
        self.builder
            .encode(
                self.model.as_ref(),
                query,
                document,
                instruction,
                limit,
                overflow,
            )
            .map_err(|e| {
                let msg = if e.template_too_long {
                    format!(
                        "the prompt template alone needs more than the context's {} tokens",
                        e.limit
                    )
                } else {
                    format!(
                        "the input is {} tokens long, over the context's {} tokens",
                        e.tokens, e.limit
                    )
                };
                RerankError::new(ErrorCode::InputTooLong, msg)
            })
    }
}

/// The handle of a context's thread. After `dispose()` it holds nothing of the model: the
/// memory goes back as soon as the thread has finished its current batch, whether or not the
/// JavaScript object is ever collected.
pub struct ContextWorker {
    shared: Mutex<Option<Arc<ContextShared>>>,
    disposed: Arc<AtomicBool>,
    context_size: u32,
    last_stats: Arc<Mutex<Option<CallStats>>>,
    sender: Mutex<Option<mpsc::Sender<(RankRequest, Reply)>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl ContextWorker {
    /// Starts the thread and creates the llama.cpp context on it.
    pub fn start(shared: Arc<ContextShared>) -> Result<Self> {
        let (sender, receiver) = mpsc::channel::<(RankRequest, Reply)>();
        let (ready_tx, ready_rx) = mpsc::channel::<Result<()>>();
        let thread_shared = shared.clone();
        let last_stats: Arc<Mutex<Option<CallStats>>> = Arc::default();
        let thread_stats = last_stats.clone();
        let thread = std::thread::Builder::new()
            .name("llama-rerank-context".into())
            .spawn(move || {
                let created = catch_unwind(AssertUnwindSafe(|| {
                    ScoringContext::new(thread_shared.model.clone(), thread_shared.settings.clone())
                }))
                .unwrap_or_else(|_| {
                    Err(RerankError::new(
                        ErrorCode::Internal,
                        "panic while creating the context",
                    ))
                });
                let mut context = match created {
                    Ok(c) => {
                        let _ = ready_tx.send(Ok(()));
                        c
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                while let Ok((request, reply)) = receiver.recv() {
                    if thread_shared.disposed.load(Ordering::Acquire) {
                        let _ = reply.send(Err(RerankError::disposed("ranking context")));
                        continue;
                    }
                    let result = catch_unwind(AssertUnwindSafe(|| {
                        run(&thread_shared, &mut context, request)
                    }))
                    .unwrap_or_else(|_| {
                        Err(RerankError::new(ErrorCode::Internal, "panic while ranking"))
                    });
                    if result.is_ok() {
                        *thread_stats.lock().unwrap_or_else(|p| p.into_inner()) =
                            Some(context.last_stats());
                    }
                    let _ = reply.send(result);
                }
                drop(context);
            })
            .map_err(|e| {
                RerankError::new(ErrorCode::ContextCreate, "cannot start the context thread")
                    .caused_by(&e)
            })?;
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(Self {
                disposed: shared.disposed.clone(),
                context_size: shared.settings.context_size,
                last_stats,
                shared: Mutex::new(Some(shared)),
                sender: Mutex::new(Some(sender)),
                thread: Mutex::new(Some(thread)),
            }),
            Ok(Err(e)) => {
                let _ = thread.join();
                Err(e)
            }
            Err(_) => {
                let _ = thread.join();
                Err(RerankError::new(
                    ErrorCode::Internal,
                    "the context thread ended unexpectedly",
                ))
            }
        }
    }

    /// Queues a call; the answer arrives on the returned receiver.
    pub fn submit(&self, request: RankRequest) -> tokio::sync::oneshot::Receiver<Result<Vec<f64>>> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let sender = self.sender.lock().unwrap_or_else(|p| p.into_inner());
        match sender.as_ref() {
            Some(s) if !self.disposed.load(Ordering::Acquire) => {
                if let Err(mpsc::SendError((_, reply))) = s.send((request, tx)) {
                    let _ = reply.send(Err(RerankError::disposed("ranking context")));
                }
            }
            _ => {
                let _ = tx.send(Err(RerankError::disposed("ranking context")));
            }
        }
        rx
    }

    pub fn is_disposed(&self) -> bool {
        self.disposed.load(Ordering::Acquire)
    }

    /// The context's model, prompt and settings, or `ERR_DISPOSED`.
    pub fn shared(&self) -> Result<Arc<ContextShared>> {
        self.shared
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .ok_or_else(|| RerankError::disposed("ranking context"))
    }

    /// What the last successful call cost, if there was one.
    pub fn last_stats(&self) -> Option<CallStats> {
        *self.last_stats.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Tokens per pair at most.
    pub fn context_size(&self) -> u32 {
        self.context_size
    }

    /// Marks the context disposed and closes its queue; returns the thread to join.
    /// Running work stops inside its current decode; queued calls reject as disposed.
    pub fn dispose(&self) -> Option<JoinHandle<()>> {
        self.disposed.store(true, Ordering::Release);
        self.sender.lock().unwrap_or_else(|p| p.into_inner()).take();
        self.shared.lock().unwrap_or_else(|p| p.into_inner()).take();
        self.thread.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

impl Drop for ContextWorker {
    fn drop(&mut self) {
        // Closing the queue lets the thread finish and free the context on its own.
        self.dispose();
    }
}

/// What stops a running call between its batches (its abort signal, the context's disposal)
/// and reports its progress.
struct CallStops<'a> {
    shared: &'a ContextShared,
    abort: &'a AtomicBool,
    progress: Option<ProgressSink>,
}

impl CallStops<'_> {
    fn check(&self) -> Result<()> {
        if self.abort.load(Ordering::Acquire) {
            return Err(RerankError::aborted());
        }
        if self.shared.disposed.load(Ordering::Acquire) {
            return Err(RerankError::disposed("ranking context"));
        }
        Ok(())
    }
}

impl BatchObserver for CallStops<'_> {
    fn before_batch(&mut self) -> Result<()> {
        self.check()
    }
    fn after_batch(&mut self, done: usize, total: usize) -> Result<()> {
        // An abort or disposal during the batch is answered before the progress round trip.
        self.check()?;
        let (shared, abort) = (self.shared, self.abort);
        let stop = || abort.load(Ordering::Acquire) || shared.disposed.load(Ordering::Acquire);
        if let Some(progress) = self.progress.as_mut() {
            progress(done, total, &stop)?;
        }
        self.check()
    }
}

fn run(
    shared: &ContextShared,
    context: &mut ScoringContext,
    request: RankRequest,
) -> Result<Vec<f64>> {
    let RankRequest {
        query,
        documents,
        instruction,
        overflow,
        abort,
        progress,
    } = request;
    let mut stops = CallStops {
        shared,
        abort: &abort,
        progress,
    };
    stops.check()?;
    let mut sequences = Vec::with_capacity(documents.len());
    for (i, document) in documents.iter().enumerate() {
        let encoded = shared
            .encode(&query, document, instruction.as_deref(), overflow)
            .map_err(|mut e| {
                e.message = format!("document {i}: {}", e.message);
                e
            })?;
        sequences.push(encoded.tokens);
        if i % 64 == 63 {
            stops.check()?;
        }
    }
    // The same flags also stop a decode that is running, within one node of its graph.
    context
        .interrupt()
        .watch(vec![abort.clone(), shared.disposed.clone()]);
    let scores = context.score(&sequences, &mut stops);
    context.interrupt().watch(Vec::new());
    scores
}
