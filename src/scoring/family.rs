//! The model family a file belongs to, as `model.info.family` reports it.

use super::judge::JudgePreset;
use crate::model::ModelInspection;

/// The model family, from the architecture and the tokenizer: `"bert"`, `"xlm-roberta"`,
/// `"roberta"`, `"distilbert"`, `"modernbert"`, `"jina-bert-v2"`, a judge preset's name,
/// or the architecture itself.
pub fn family(info: &ModelInspection) -> String {
    if let Some(judge) = JudgePreset::for_model(info) {
        return judge.name.into();
    }
    match (info.architecture.as_str(), info.tokenizer_model.as_deref()) {
        ("bert", _) if info.is_distilbert() => "distilbert".into(),
        ("bert", Some("t5")) => "xlm-roberta".into(),
        ("bert", Some("gpt2")) => "roberta".into(),
        ("modern-bert", _) => "modernbert".into(),
        (arch, _) => arch.into(),
    }
}
