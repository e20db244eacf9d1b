//! Opening a model for ranking: the file's header checked and its scoring plan chosen before
//! llama.cpp reads the weights, then the load. What the napi layer and the cargo tests share.

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use super::model::{LoadedModel, ModelLoadOptions};
use super::placement::{compiled_gpu_backends, cpu_features, cpu_variant, CpuBuild};
use crate::error::{RerankError, Result};
use crate::model::inspect_file;
use crate::scoring::{family, JudgePreset, ScoringPlan, ScoringRequest};

/// A loaded model and how it is scored.
#[derive(Debug)]
pub struct OpenModel {
    pub model: Arc<LoadedModel>,
    pub plan: ScoringPlan,
}

/// Opens the model file at `path`: refuses a file that is not a reranker (or not one
/// llama.cpp computes as its reference does) before reading its weights, then loads it.
/// `name` is how the caller named the model (a path or a `hf:` URI), for error messages.
/// `abort` is polled during the load.
pub fn open_model(
    path: &Path,
    name: &str,
    request: &ScoringRequest,
    options: &ModelLoadOptions,
    abort: Arc<AtomicBool>,
) -> Result<OpenModel> {
    let (_, inspection) = inspect_file(path)?;
    let plan = ScoringPlan::detect(&inspection, request).map_err(|e| RerankError {
        message: format!("{name}: {}", e.message),
        ..e
    })?;
    let model = Arc::new(LoadedModel::load(path, options, abort)?);
    Ok(OpenModel { model, plan })
}

/// What a model file is, how it is scored and where it runs (`model.info` in JavaScript).
#[derive(Debug, Clone, PartialEq)]
pub struct ModelInfo {
    pub architecture: String,
    pub name: Option<String>,
    pub family: String,
    pub judge: Option<&'static JudgePreset>,
    pub relevant_label: Option<String>,
    pub scoring: &'static str,
    pub score_source: &'static str,
    pub head_evaluation: Option<&'static str>,
    pub trained_context_length: u32,
    pub classifier_labels: Vec<String>,
    pub has_rerank_template: bool,
    pub backend: String,
    pub gpu_device: Option<String>,
    pub gpu_layers: u32,
    pub layer_count: u32,
    pub compiled_gpu_backends: Vec<&'static str>,
    pub cpu_features: Vec<String>,
    pub cpu_build: &'static str,
    pub cpu_variant: Option<String>,
}

impl OpenModel {
    /// What the model is and how it is scored.
    pub fn info(&self) -> ModelInfo {
        let (model, plan) = (&self.model, self.plan);
        let inspection = &model.inspection;
        ModelInfo {
            architecture: inspection.architecture.clone(),
            name: inspection.name.clone(),
            family: family(inspection),
            judge: plan.judge(),
            relevant_label: plan
                .relevant_label()
                .map(|i| inspection.classifier_labels[i].clone()),
            scoring: plan.method().as_str(),
            score_source: plan.source().as_str(),
            head_evaluation: match plan {
                ScoringPlan::PooledYesNo { .. } if model.label_head.is_some() => {
                    Some("lm-head-rows")
                }
                ScoringPlan::PooledYesNo { .. } => Some("pooling"),
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
            cpu_features: cpu_features(),
            cpu_build: CpuBuild::current().as_str(),
            cpu_variant: cpu_variant(),
        }
    }
}
