//! A toy vocabulary for unit tests: every char is a token (its code point); `<|im_start|>`
//! and `<|im_end|>` are control tokens -1 and -2.

use super::{PairTokens, TokenId, Vocabulary};

/// A toy vocabulary: every char is a token (its code point), control tokens from a list.
pub struct CharVocab {
    pub controls: Vec<(String, TokenId)>,
    pub pair: PairTokens,
}

impl CharVocab {
    pub fn qwen() -> Self {
        Self {
            controls: vec![("<|im_start|>".into(), -1), ("<|im_end|>".into(), -2)],
            pair: PairTokens::default(),
        }
    }
}

impl Vocabulary for CharVocab {
    fn tokenize_plain(&self, text: &str) -> Vec<TokenId> {
        text.chars().map(|c| c as TokenId).collect()
    }
    fn control_tokens(&self) -> &[(String, TokenId)] {
        &self.controls
    }
    fn pair_tokens(&self) -> PairTokens {
        self.pair
    }
}

pub fn text(tokens: &[TokenId]) -> String {
    tokens
        .iter()
        .map(|&t| match t {
            -1 => "[S]".to_string(),
            -2 => "[E]".to_string(),
            t => char::from_u32(t as u32).unwrap().to_string(),
        })
        .collect()
}
