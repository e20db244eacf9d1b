//! Building the token sequence for one (query, document) pair.
//!
//! The tokenization contract (docs/models.md, "Tokenization"):
//! - a generative prompt is tokenized as one string, split only at the control tokens that
//!   the template's own text holds; query, document and instruction are plain text, so a
//!   document holding `<|im_end|>` never injects a control token;
//! - cross-encoders get `[BOS] q [EOS] [SEP]? d [EOS]` following the vocabulary's flags;
//! - inputs are normalised to NFC first, as the reference tokenizers do;
//! - an over-long pair is cut from the end of the text run that holds the document (the
//!   document's tail, then what stands before it), so the template's prefix and suffix stay.

mod builder;
mod controls;
mod pieces;
#[cfg(test)]
pub(crate) mod test_vocab;

pub use builder::{longest_first, PromptBuilder};
pub use controls::normalize;
pub use pieces::{PieceLayout, PieceTruncation};

/// A token id, as llama.cpp numbers them.
pub type TokenId = i32;

/// What prompt building needs from a tokenizer. The llama.cpp vocabulary implements it;
/// tests use a toy one.
pub trait Vocabulary {
    /// Tokenizes `text` as plain text: no control token is recognised, nothing is added.
    fn tokenize_plain(&self, text: &str) -> Vec<TokenId>;
    /// The control tokens a template may name, as (text, id).
    fn control_tokens(&self) -> &[(String, TokenId)];
    /// Special tokens and flags for cross-encoder pairs.
    fn pair_tokens(&self) -> PairTokens;
}

/// The special tokens around a cross-encoder pair, each present only if the vocabulary
/// asks for it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PairTokens {
    pub bos: Option<TokenId>,
    pub eos: Option<TokenId>,
    pub sep: Option<TokenId>,
}

/// How a pair becomes tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PromptTemplate {
    /// `[BOS] q [EOS] [SEP]? d [EOS]`.
    Pair,
    /// A text template with `{{query}}`, `{{document}}` and optionally `{{instruction}}`.
    Text(String),
    /// A judge's pieces, each tokenized on its own (see [`PieceLayout`]).
    Pieces(&'static PieceLayout),
}

/// What to do with a pair longer than the context.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OverflowPolicy {
    Truncate,
    Throw,
}

/// A pair that does not fit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputTooLong {
    pub tokens: usize,
    pub limit: usize,
    /// True when not even an empty document would fit: the template alone is too long.
    pub template_too_long: bool,
}

/// A pair's tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedPair {
    pub tokens: Vec<TokenId>,
    pub truncated: bool,
}
