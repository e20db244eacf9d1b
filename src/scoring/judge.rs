//! Generative judges: a fixed prompt around the query and the document, then the logit of a
//! positive token (against an optional negative one) at the last position.
//!
//! | preset | model ids | prompt | tokenization | score |
//! |---|---|---|---|---|
//! | `qwen3-reranker` | Qwen/Qwen3-Reranker-0.6B/4B/8B | the official judge prompt | one string | `sigmoid(l("yes") − l("no"))` |
//! | `mxbai-rerank-v2` | mixedbread-ai/mxbai-rerank-base-v2, -large-v2 | mxbai-rerank's chat prompt | piece by piece | `sigmoid(l("1") − l("0"))` |
//! | `bge-reranker-v2-gemma` | BAAI/bge-reranker-v2-gemma | FlagEmbedding's `A: … B: …` prompt | piece by piece | `sigmoid(l("Yes"))` |
//!
//! Each preset follows its official code (read from the `mxbai-rerank` 0.1.6 and
//! `FlagEmbedding` 1.4.2 sources; see `fixtures/families/JUDGES.md`): the prompt bytes, which
//! pieces are tokenized separately, NFC or not, the truncation rule and the score formula.

use crate::model::ModelInspection;
use crate::prompt::{PieceLayout, PieceTruncation};

/// The official Qwen3-Reranker judge prompt, with placeholders.
pub const QWEN3_RERANK_TEMPLATE: &str = concat!(
    "<|im_start|>system\nJudge whether the Document meets the requirements based on the Query and the Instruct provided. ",
    "Note that the answer can only be \"yes\" or \"no\".<|im_end|>\n<|im_start|>user\n",
    "<Instruct>: {{instruction}}\n<Query>: {{query}}\n<Document>: {{document}}",
    "<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"
);

/// The instruction the Qwen3-Reranker authors use when none is given.
pub const DEFAULT_INSTRUCTION: &str =
    "Given a web search query, retrieve relevant passages that answer the query";

/// A judge: its prompt and the tokens whose logits make the score.
#[derive(Debug, PartialEq, Eq)]
pub struct JudgePreset {
    /// The name `model.info.judge` reports and the `judge` option takes.
    pub name: &'static str,
    /// Its score is `sigmoid(l(positive) − l(negative))`, or `sigmoid(l(positive))` without a
    /// negative token. Each must be a single token of the model's vocabulary.
    pub positive: &'static str,
    pub negative: Option<&'static str>,
    pub prompt: JudgePrompt,
}

/// How the judge's prompt is built.
#[derive(Debug, PartialEq, Eq)]
pub enum JudgePrompt {
    /// A template with `{{query}}`, `{{document}}` and `{{instruction}}`, tokenized as one
    /// string (control tokens parsed only in the template's own text).
    Template {
        template: &'static str,
        default_instruction: &'static str,
    },
    /// Pieces tokenized one by one and joined, as the official code of these judges does.
    Pieces(PieceLayout),
}

pub const QWEN3_RERANKER: JudgePreset = JudgePreset {
    name: "qwen3-reranker",
    positive: "yes",
    negative: Some("no"),
    prompt: JudgePrompt::Template {
        template: QWEN3_RERANK_TEMPLATE,
        default_instruction: DEFAULT_INSTRUCTION,
    },
};

pub const MXBAI_RERANK_V2: JudgePreset = JudgePreset {
    name: "mxbai-rerank-v2",
    positive: "1",
    negative: Some("0"),
    prompt: JudgePrompt::Pieces(PieceLayout {
        bos: false,
        prefix: "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n<|im_start|>user\n",
        query: "query: {query}",
        query_with_instruction: Some("instruction: {instruction}\nquery: {query}"),
        separator: "\n",
        document: "document: {document}",
        task: "You are a search relevance expert who evaluates how well documents match search queries. For each query-document pair, carefully analyze the semantic relationship between them, then provide your binary relevance judgment (0 for not relevant, 1 for relevant).\nRelevance:",
        suffix: "<|im_end|>\n<|im_start|>assistant\n",
        nfc: true,
        truncation: PieceTruncation::MxbaiRerank,
        reference_max_length: 8192,
    }),
};

pub const BGE_RERANKER_V2_GEMMA: JudgePreset = JudgePreset {
    name: "bge-reranker-v2-gemma",
    positive: "Yes",
    negative: None,
    prompt: JudgePrompt::Pieces(PieceLayout {
        bos: true,
        prefix: "",
        query: "A: {query}",
        query_with_instruction: None,
        separator: "\n",
        document: "B: {document}",
        task: "Given a query A and a passage B, determine whether the passage contains an answer to the query by providing a prediction of either 'Yes' or 'No'.",
        suffix: "",
        nfc: false,
        truncation: PieceTruncation::FlagLlmReranker,
        reference_max_length: 512,
    }),
};

/// Every preset, by name.
pub const PRESETS: [&JudgePreset; 3] = [&QWEN3_RERANKER, &MXBAI_RERANK_V2, &BGE_RERANKER_V2_GEMMA];

impl JudgePreset {
    /// The preset called `name`.
    pub fn named(name: &str) -> Option<&'static JudgePreset> {
        PRESETS.into_iter().find(|p| p.name == name)
    }

    /// The preset a file's metadata names: the architecture plus, where the converter leaves
    /// nothing else (these judges convert as plain causal LMs), `general.name`/`basename`.
    pub fn for_model(info: &ModelInspection) -> Option<&'static JudgePreset> {
        let named = |needle: &str| {
            [&info.name, &info.basename]
                .into_iter()
                .flatten()
                .any(|n| squash(n).contains(needle))
        };
        match info.architecture.as_str() {
            "qwen3" | "qwen3vl" => Some(&QWEN3_RERANKER),
            "qwen2" if named("mxbairerank") => Some(&MXBAI_RERANK_V2),
            "gemma" if named("bgererankerv2gemma") => Some(&BGE_RERANKER_V2_GEMMA),
            _ => None,
        }
    }

    /// Whether the file's name says it is this judge (not just the architecture's default).
    pub fn named_in(&self, info: &ModelInspection) -> bool {
        match self.name {
            "qwen3-reranker" => info.has_reranker_hints(),
            _ => Self::for_model(info).is_some_and(|p| p == self),
        }
    }
}

/// Lowercase letters and digits only: "Mxbai Rerank Base v2" and "mxbai-rerank-base-v2" agree.
fn squash(text: &str) -> String {
    text.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prompt::test_vocab::{text, CharVocab};
    use crate::prompt::{OverflowPolicy, PromptBuilder, PromptTemplate};

    fn inspection(arch: &str, name: Option<&str>, basename: Option<&str>) -> ModelInspection {
        ModelInspection {
            architecture: arch.into(),
            name: name.map(Into::into),
            basename: basename.map(Into::into),
            pooling_type: None,
            classifier_labels: vec![],
            has_cls: false,
            has_cls_output: false,
            rerank_template: None,
            trained_context_length: Some(1024),
            is_encoder: false,
            tokenizer_model: Some("gpt2".into()),
            has_token_types: false,
        }
    }

    #[test]
    fn presets_come_from_architecture_and_name() {
        let q = inspection("qwen3", Some("Qwen3 Reranker 0.6B"), None);
        assert_eq!(JudgePreset::for_model(&q), Some(&QWEN3_RERANKER));
        let m = inspection(
            "qwen2",
            Some("Mxbai Rerank Base v2"),
            Some("mxbai-rerank-base"),
        );
        assert_eq!(JudgePreset::for_model(&m), Some(&MXBAI_RERANK_V2));
        let m = inspection("qwen2", None, Some("mxbai-rerank-large-v2"));
        assert_eq!(JudgePreset::for_model(&m), Some(&MXBAI_RERANK_V2));
        let g = inspection("gemma", Some("Bge Reranker v2 Gemma"), None);
        assert_eq!(JudgePreset::for_model(&g), Some(&BGE_RERANKER_V2_GEMMA));
        assert!(BGE_RERANKER_V2_GEMMA.named_in(&g));
        // The name alone, or the architecture alone, is not enough.
        assert_eq!(
            JudgePreset::for_model(&inspection("qwen2", Some("Qwen2.5 0.5B Instruct"), None)),
            None
        );
        assert_eq!(
            JudgePreset::for_model(&inspection("llama", Some("mxbai-rerank-base-v2"), None)),
            None
        );
        assert_eq!(
            JudgePreset::for_model(&inspection("gemma2", Some("gemma 2 9b it"), None)),
            None
        );
    }

    #[test]
    fn presets_are_found_by_name() {
        for p in PRESETS {
            assert_eq!(JudgePreset::named(p.name), Some(p));
        }
        assert_eq!(JudgePreset::named("qwen3"), None);
    }

    #[test]
    fn official_prompt_shape() {
        let v = CharVocab::qwen();
        let JudgePrompt::Template {
            template,
            default_instruction,
        } = QWEN3_RERANKER.prompt
        else {
            panic!("Qwen3-Reranker's prompt is a template")
        };
        let b = PromptBuilder::new(
            &PromptTemplate::Text(template.into()),
            default_instruction,
            &v,
        )
        .unwrap();
        let e = b
            .encode(&v, "q", "d", None, 10_000, OverflowPolicy::Throw)
            .unwrap();
        let t = text(&e.tokens);
        assert!(t.starts_with("[S]system\nJudge whether"));
        assert!(t.contains("[E]\n[S]user\n<Instruct>: Given a web search query"));
        assert!(t.ends_with("<Query>: q\n<Document>: d[E]\n[S]assistant\n<think>\n\n</think>\n\n"));
        assert_eq!(e.tokens.iter().filter(|&&t| t < 0).count(), 5);
        assert!(!e.truncated);
    }
}
