//! `RankingContext`: ranking calls, their options and their statistics.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use napi::bindgen_prelude::*;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi_derive::napi;

use super::lifecycle::{join_all, release_for_exit};
use super::model::parse_overflow;
use super::promise::{js_error, rejected, settle, CoreResult};
use super::signal::SignalHandle;
use crate::error::{ErrorCode, RerankError};
use crate::prompt::OverflowPolicy;
use crate::worker::{ContextWorker, ProgressSink, RankRequest};

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
    /// Called by the package's `process.on('exit')` handler (index.js); internal, so left out
    /// of the types. `process.exit()` and an uncaught error end the process without the
    /// environment teardown that runs cleanup hooks: `exit()` runs static destructors while a
    /// context thread may be inside `llama_decode`, which crashed the process (SIGSEGV,
    /// SIGABRT) instead of letting it exit with its own status. Disposing this environment's
    /// contexts and joining their threads first closes that window; it waits at most for the
    /// batch being decoded. On the main thread the whole process is going: the exit gate closes
    /// (model loads stop, no new work starts) and every context goes; in a worker thread only
    /// that thread's contexts.
    #[napi(js_name = "releaseForExit", skip_typescript)]
    pub fn release_for_exit(env: Env, main_thread: bool) {
        release_for_exit(env, main_thread)
    }

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
    pub(super) fn new(worker: Arc<ContextWorker>) -> Self {
        Self { worker }
    }

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
        // The call holds its context until it settles: a JavaScript object collected while its
        // call runs (nothing refers to it after `context.rankAll(…)`) would otherwise drop the
        // last reference and dispose the context under the call.
        let worker = self.worker.clone();
        async move {
            let scores = match queued? {
                None => Ok(Vec::new()),
                Some(answer) => answer
                    .await
                    .unwrap_or_else(|_| Err(RerankError::disposed("ranking context"))),
            };
            drop(worker);
            scores
        }
    }
}
