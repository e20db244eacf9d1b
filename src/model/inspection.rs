//! What a GGUF file says about itself, reduced to what decides how it is scored.

use super::gguf::GgufHeader;

/// Architectures whose attention is bidirectional: BERT-like encoders used as cross-encoders.
pub const ENCODER_ARCHITECTURES: &[&str] = &[
    "bert",
    "jina-bert-v2",
    "jina-bert-v3",
    "modern-bert",
    "nomic-bert",
    "nomic-bert-moe",
    "neo-bert",
    "eurobert",
];

/// Decoder architectures that llama.cpp finishes with a softmax under RANK pooling.
pub const SOFTMAX_RANK_ARCHITECTURES: &[&str] = &["qwen3", "qwen3vl"];

/// `LLAMA_POOLING_TYPE_*` values as stored in `{arch}.pooling_type`.
pub mod pooling {
    pub const NONE: u64 = 0;
    pub const MEAN: u64 = 1;
    pub const CLS: u64 = 2;
    pub const LAST: u64 = 3;
    pub const RANK: u64 = 4;

    pub fn name(value: u64) -> &'static str {
        match value {
            NONE => "none",
            MEAN => "mean",
            CLS => "cls",
            LAST => "last",
            RANK => "rank",
            _ => "unknown",
        }
    }
}

/// The metadata facts that decide scoring, read from the header alone.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelInspection {
    pub architecture: String,
    pub name: Option<String>,
    pub basename: Option<String>,
    pub pooling_type: Option<u64>,
    pub classifier_labels: Vec<String>,
    pub has_cls: bool,
    pub has_cls_output: bool,
    pub rerank_template: Option<String>,
    pub trained_context_length: Option<u64>,
    pub is_encoder: bool,
    /// `tokenizer.ggml.model`: `"bert"` (WordPiece), `"t5"` (SentencePiece unigram, XLM-R),
    /// `"gpt2"` (byte-level BPE), `"llama"` (SentencePiece BPE), …
    pub tokenizer_model: Option<String>,
    /// Whether the file has a token-type embedding (`token_types.weight`). BERT, RoBERTa and
    /// XLM-R conversions have one; DistilBERT has none.
    pub has_token_types: bool,
}

/// llama.cpp's limit on layers (`LLAMA_MAX_LAYERS`).
const MAX_LAYERS: u64 = 512;
const GGML_TYPE_F32: u32 = 0;

/// Rejects what llama.cpp would not refuse politely but abort the process on: a layer count
/// out of range (a `GGML_ASSERT` at load), a zero context length, and 1-D tensors (norms,
/// biases) stored in another type than F32 (an abort in the first decode).
fn validate_for_llama_cpp(header: &GgufHeader, architecture: &str) -> Result<(), String> {
    let key = |suffix: &str| format!("{architecture}.{suffix}");
    match header.get(&key("block_count")).map(|v| v.as_u64()) {
        Some(Some(n)) if (1..=MAX_LAYERS).contains(&n) => {}
        Some(_) => {
            return Err(format!(
                "{} is out of range (1 to {MAX_LAYERS})",
                key("block_count")
            ))
        }
        None => {}
    }
    if let Some(v) = header.get(&key("context_length")) {
        if v.as_u64().is_none_or(|n| n == 0) {
            return Err(format!(
                "{} must be a positive integer",
                key("context_length")
            ));
        }
    }
    if let Some(t) = header
        .tensors
        .iter()
        .find(|t| t.dims.len() == 1 && t.ggml_type != GGML_TYPE_F32)
    {
        return Err(format!(
            "tensor {} is one-dimensional but stored as ggml type {}; llama.cpp needs F32 norms and biases",
            t.name, t.ggml_type
        ));
    }
    Ok(())
}

impl ModelInspection {
    pub fn from_header(header: &GgufHeader) -> Result<Self, String> {
        let architecture = header
            .get_str("general.architecture")
            .ok_or("the file has no general.architecture key")?
            .to_owned();
        let arch_key = |suffix: &str| format!("{architecture}.{suffix}");
        validate_for_llama_cpp(header, &architecture)?;
        let classifier_labels = header
            .get(&arch_key("classifier.output_labels"))
            .and_then(|v| v.as_string_array())
            .unwrap_or_default();
        Ok(Self {
            name: header.get_str("general.name").map(str::to_owned),
            basename: header.get_str("general.basename").map(str::to_owned),
            pooling_type: header.get_u64(&arch_key("pooling_type")),
            classifier_labels,
            has_cls: header.has_tensor("cls.weight"),
            has_cls_output: header.has_tensor("cls.output.weight"),
            rerank_template: header
                .get_str("tokenizer.chat_template.rerank")
                .map(str::to_owned),
            trained_context_length: header.get_u64(&arch_key("context_length")),
            is_encoder: ENCODER_ARCHITECTURES.contains(&architecture.as_str()),
            tokenizer_model: header.get_str("tokenizer.ggml.model").map(str::to_owned),
            has_token_types: header.has_tensor("token_types.weight"),
            architecture,
        })
    }

    /// A DistilBERT sequence classifier: a BERT-architecture file with a `cls` dense layer
    /// (DistilBERT's `pre_classifier`) and no token-type embedding.
    pub fn is_distilbert(&self) -> bool {
        self.architecture == "bert" && self.has_cls && !self.has_token_types
    }

    pub fn has_classifier_head(&self) -> bool {
        self.has_cls || self.has_cls_output
    }

    /// The width of the pooled classifier output (`n_cls_out` in llama.cpp).
    pub fn classifier_width(&self) -> usize {
        self.classifier_labels.len().max(1)
    }

    /// Whether the file's own name or template says it is a reranker.
    pub fn has_reranker_hints(&self) -> bool {
        let named = [&self.name, &self.basename]
            .into_iter()
            .flatten()
            .any(|n| n.to_lowercase().contains("rerank"));
        named || self.rerank_template.is_some()
    }

    pub fn label_index(&self, label: &str) -> Option<usize> {
        self.classifier_labels
            .iter()
            .position(|l| l.eq_ignore_ascii_case(label))
    }

    /// One line that names what was found, for error messages.
    pub fn describe(&self) -> String {
        let mut parts = vec![format!("architecture {}", self.architecture)];
        if let Some(name) = &self.name {
            parts.push(format!("name {name:?}"));
        }
        parts.push(format!(
            "pooling {}",
            self.pooling_type.map_or("not set", pooling::name)
        ));
        match (self.has_cls, self.has_cls_output) {
            (false, false) => parts.push("no classifier head".into()),
            (true, true) => parts.push("classifier head cls + cls.output".into()),
            (true, false) => parts.push("classifier head cls".into()),
            (false, true) => parts.push("classifier head cls.output".into()),
        }
        if !self.classifier_labels.is_empty() {
            parts.push(format!("labels {:?}", self.classifier_labels));
        }
        parts.push(if self.rerank_template.is_some() {
            "a rerank template".into()
        } else {
            "no rerank template".into()
        });
        parts.join(", ")
    }
}
