//! Helpers shared by the cargo integration tests: fixture paths, opening a model the way the
//! napi layer does, and ranking through a context thread.
#![allow(dead_code)] // each test file uses its own subset

use std::path::PathBuf;
use std::sync::Arc;

use llama_rerank::error::{RerankError, Result};
use llama_rerank::llama::{open_model, BatchObserver, LoadedModel, ModelLoadOptions, OpenModel};
use llama_rerank::prompt::OverflowPolicy;
use llama_rerank::scoring::{ScoringPlan, ScoringRequest};
use llama_rerank::worker::{ContextOptions, ContextShared, ContextWorker, RankRequest};
use serde_json::Value;

/// `fixtures/` of the repository, or a file in it.
pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// The `files` of a reference JSON under `fixtures/` (e.g. `expected.json`).
pub fn expected_files(relative: &str) -> Value {
    let text = std::fs::read_to_string(fixtures().join(relative)).unwrap();
    serde_json::from_str::<Value>(&text).unwrap()["files"].clone()
}

/// Opens a fixture (a path under `fixtures/`) as `loadModel` does, with default load options.
pub fn open(relative: &str, request: &ScoringRequest) -> Result<OpenModel> {
    open_model(
        &fixtures().join(relative),
        relative,
        request,
        &ModelLoadOptions::default(),
        Default::default(),
    )
}

/// Opens a fixture with the scoring its metadata gives, panicking on a refusal.
pub fn load(relative: &str) -> (Arc<LoadedModel>, ScoringPlan) {
    let opened =
        open(relative, &ScoringRequest::default()).unwrap_or_else(|e| panic!("{relative}: {e}"));
    (opened.model, opened.plan)
}

/// A context thread over `model` with these options.
pub fn worker(
    model: &Arc<LoadedModel>,
    plan: ScoringPlan,
    options: ContextOptions,
) -> ContextWorker {
    ContextWorker::start(Arc::new(
        ContextShared::new(model.clone(), plan, options).unwrap(),
    ))
    .unwrap()
}

/// One `rankAll` call, truncating over-long pairs.
pub fn rank_all(
    worker: &ContextWorker,
    query: &str,
    documents: &[&str],
    instruction: Option<&str>,
) -> Result<Vec<f64>> {
    worker
        .submit(RankRequest {
            query: query.into(),
            documents: documents.iter().map(|d| d.to_string()).collect(),
            instruction: instruction.map(str::to_owned),
            overflow: OverflowPolicy::Truncate,
            abort: Default::default(),
            progress: None,
        })
        .blocking_recv()
        .unwrap()
}

/// A fixture pair's token ids, as the reference tokenizer gave them.
pub fn reference_tokens(pair: &Value) -> Vec<i32> {
    pair["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_i64().unwrap() as i32)
        .collect()
}

/// A batch observer that lets every batch run.
pub struct NoChecks;

impl BatchObserver for NoChecks {
    fn before_batch(&mut self) -> std::result::Result<(), RerankError> {
        Ok(())
    }
    fn after_batch(&mut self, _: usize, _: usize) -> std::result::Result<(), RerankError> {
        Ok(())
    }
}
