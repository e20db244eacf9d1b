//! The scoring layer: how a model's output becomes a relevance score. The plan is chosen from
//! the file's metadata ([`ScoringPlan::detect`]); judge presets carry their prompts and
//! tokens; a pooled yes/no head may be read off the LM head ([`LabelHead`]).

mod family;
pub mod judge;
pub mod label_head;
mod plan;
pub mod readout;

pub use family::family;
pub use judge::{JudgePreset, JudgePrompt, PRESETS, QWEN3_RERANKER};
pub use label_head::LabelHead;
pub use plan::{
    ModelOutput, NonFiniteScore, ScoreSource, ScoringMethod, ScoringPlan, ScoringRequest,
};
pub use readout::sigmoid;
