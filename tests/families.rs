//! Every reranker family against its official implementation, without Node: the family and
//! scoring read from metadata alone, the input ids token by token, and the scores, on the
//! fixtures of `fixtures/families/` (made by make_family_fixtures.py and
//! make_judge_fixtures.py, references from transformers and the judges' own packages).

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use common::{expected_files, open, rank_all, reference_tokens};
use llama_rerank::error::{ErrorCode, RerankError};
use llama_rerank::llama::LoadedModel;
use llama_rerank::prompt::OverflowPolicy;
use llama_rerank::scoring::{family, JudgePreset, ScoringPlan, ScoringRequest};
use llama_rerank::worker::{ContextOptions, ContextShared, ContextWorker};
use serde_json::Value;

fn expected(file: &str) -> Vec<(String, Value)> {
    expected_files(&format!("families/{file}"))
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// |Δp| allowed against the reference, with the default F16 KV cache (docs/models.md, "Tolerances").
const TOLERANCE: f64 = 1e-3;

/// Opens `fixtures/families/<name>` with `request`: the model and its plan, or the refusal.
fn open_family(
    name: &str,
    request: &ScoringRequest,
) -> Result<(Arc<LoadedModel>, ScoringPlan), RerankError> {
    open(&format!("families/{name}"), request).map(|o| (o.model, o.plan))
}

fn shared(model: &Arc<LoadedModel>, plan: ScoringPlan, context: Option<u32>) -> ContextShared {
    ContextShared::new(
        model.clone(),
        plan,
        ContextOptions {
            context_size: context,
            threads: Some(2),
            ..Default::default()
        },
    )
    .unwrap()
}

fn score(worker: &ContextWorker, pair: &Value) -> f64 {
    rank_all(
        worker,
        pair["query"].as_str().unwrap(),
        &[pair["document"].as_str().unwrap()],
        pair["instruction"].as_str(),
    )
    .unwrap()[0]
}

/// The context size at which a judge cuts a pair where its reference does with `max_length`
/// = `maxLength`: the budget plus what the reference keeps outside it. `None`: the default.
fn judge_context(file: &Value, pair: &Value) -> Option<u32> {
    let m = pair["maxLength"].as_u64()? as u32;
    let len = |key: &str| file[key].as_array().map_or(0, Vec::len) as u32;
    Some(match file["presetName"].as_str().unwrap() {
        "mxbai-rerank-v2" => m + file["predefinedLength"].as_u64().unwrap() as u32,
        "bge-reranker-v2-gemma" => m + 2 * (len("sepTokens") + len("promptTokens")),
        other => panic!("no rule for {other}"),
    })
}

/// Checks ids and scores of every pair; returns the worst |Δp|.
fn check_pairs(
    name: &str,
    file: &Value,
    model: &Arc<LoadedModel>,
    plan: ScoringPlan,
    context_of: impl Fn(&Value) -> Option<u32>,
    reference: impl Fn(&Value) -> f64,
) -> f64 {
    let mut workers: BTreeMap<Option<u32>, ContextWorker> = BTreeMap::new();
    let mut worst = 0f64;
    for pair in file["pairs"].as_array().unwrap() {
        let id = pair["id"].as_str().unwrap();
        let context = context_of(pair);
        let shared = shared(model, plan, context);
        let encoded = shared
            .encode(
                pair["query"].as_str().unwrap(),
                pair["document"].as_str().unwrap(),
                pair["instruction"].as_str(),
                OverflowPolicy::Truncate,
            )
            .unwrap();
        assert_eq!(
            encoded.tokens,
            reference_tokens(pair),
            "{name} {id}: input ids"
        );
        let worker = workers
            .entry(context)
            .or_insert_with(|| ContextWorker::start(Arc::new(shared)).unwrap());
        let got = score(worker, pair);
        let want = reference(pair);
        let delta = (got - want).abs();
        assert!(delta <= TOLERANCE, "{name} {id}: {got} vs reference {want}");
        worst = worst.max(delta);
    }
    println!(
        "{name}: {} pairs, ids equal, worst |Δp| {worst:.2e}",
        file["pairs"].as_array().unwrap().len()
    );
    worst
}

#[test]
fn cross_encoders_match_transformers() {
    for (name, file) in expected("expected-crossencoders.json") {
        let file_family = file["family"].as_str().unwrap();
        let opened = open_family(&name, &ScoringRequest::default());
        if file["mustRefuse"].as_bool() == Some(true) {
            let err = opened.unwrap_err();
            assert_eq!(err.code, ErrorCode::UnsupportedReranker, "{name}: {err}");
            assert!(err.message.contains("DistilBERT"), "{name}: {err}");
            continue;
        }
        if file_family == "bert-multilabel" {
            // Three labels, none of them "relevant": refused unless the caller names one.
            let err = opened.unwrap_err();
            assert_eq!(err.code, ErrorCode::NotAReranker, "{name}: {err}");
            assert!(err.message.contains("relevantLabel"), "{name}: {err}");
            let labels: Vec<&str> = file["labels"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l.as_str().unwrap())
                .collect();
            let index = labels.iter().position(|l| *l == "entailment").unwrap();
            let request = ScoringRequest {
                relevant_label: Some("entailment".into()),
                ..Default::default()
            };
            let (model, plan) = open_family(&name, &request).unwrap();
            assert_eq!(plan, ScoringPlan::LabelSoftmax { label: index });
            check_pairs(
                &name,
                &file,
                &model,
                plan,
                |p| p["maxLength"].as_u64().map(|m| m as u32),
                |p| p["probs"][index].as_f64().unwrap(),
            );
            continue;
        }
        let (model, plan) = opened.unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(family(&model.inspection), file_family, "{name}");
        assert_eq!(plan.method().as_str(), "classifier", "{name}");
        check_pairs(
            &name,
            &file,
            &model,
            plan,
            |p| p["maxLength"].as_u64().map(|m| m as u32),
            |p| p["score"].as_f64().unwrap(),
        );
    }
}

#[test]
fn generative_judges_match_their_official_code() {
    for (name, file) in expected("expected-judges.json") {
        let (model, plan) = open_family(&name, &ScoringRequest::default())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let preset = file["presetName"].as_str().unwrap();
        assert_eq!(plan.method().as_str(), "yes-no", "{name}");
        assert_eq!(plan.source().as_str(), "lm-head", "{name}");
        assert_eq!(plan.judge().map(|j| j.name), Some(preset), "{name}");
        assert_eq!(
            family(&model.inspection),
            file["family"].as_str().unwrap(),
            "{name}"
        );
        check_pairs(
            &name,
            &file,
            &model,
            plan,
            |p| judge_context(&file, p),
            |p| p["score"].as_f64().unwrap(),
        );
    }
}

#[test]
fn a_judge_can_be_forced_but_not_on_a_cross_encoder() {
    // Forcing a preset takes that preset's prompt and tokens, whatever the file's name says.
    let request = ScoringRequest {
        judge: JudgePreset::named("mxbai-rerank-v2"),
        ..Default::default()
    };
    let (_, plan) = open_family("bge-reranker-v2-gemma-tiny.gguf", &request).unwrap();
    assert_eq!(plan.judge().unwrap().name, "mxbai-rerank-v2");
    // A cross-encoder cannot take a judge.
    let err = open_family("xlmr-reranker.gguf", &request).unwrap_err();
    assert_eq!(err.code, ErrorCode::NotAReranker, "{err}");
}
