//! The model family a file belongs to, as `model.info.family` reports it.

use super::judge::JudgePreset;
use crate::model::ModelInspection;

/// The model family, from the architecture and the tokenizer: `"bert"`, `"xlm-roberta"`,
/// `"jina-reranker-v2"` (an XLM-R stored with merged query/key/value projections, as Jina's
/// checkpoint is), `"roberta"`, `"distilbert"`, `"modernbert"`, `"jina-bert-v2"` (the
/// jina-reranker-v1 models), a judge preset's name, or the architecture itself.
pub fn family(info: &ModelInspection) -> String {
    if let Some(judge) = JudgePreset::for_model(info) {
        return judge.name.into();
    }
    match (info.architecture.as_str(), info.tokenizer_model.as_deref()) {
        ("bert", _) if info.is_distilbert() => "distilbert".into(),
        ("bert", Some("t5")) if info.has_merged_qkv => "jina-reranker-v2".into(),
        ("bert", Some("t5")) => "xlm-roberta".into(),
        ("bert", Some("gpt2")) => "roberta".into(),
        ("modern-bert", _) => "modernbert".into(),
        (arch, _) => arch.into(),
    }
}
