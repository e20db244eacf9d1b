//! Judges whose official code tokenizes the prompt piece by piece: the layout of the pieces,
//! and its encoding with the reference's truncation rule.

use super::controls::normalize;
use super::{EncodedPair, InputTooLong, OverflowPolicy, TokenId, Vocabulary};

/// `[BOS] prefix Q sep D sep task suffix`, every piece tokenized on its own. `prefix` and
/// `suffix` may hold control tokens; the others are plain text.
#[derive(Debug, PartialEq, Eq)]
pub struct PieceLayout {
    /// Put the vocabulary's BOS token first.
    pub bos: bool,
    pub prefix: &'static str,
    /// The query piece, `{query}` replaced.
    pub query: &'static str,
    /// The query piece when an instruction is given (`{instruction}` and `{query}` replaced);
    /// `None`: the instruction replaces the task prompt instead.
    pub query_with_instruction: Option<&'static str>,
    pub separator: &'static str,
    /// The document piece, `{document}` replaced.
    pub document: &'static str,
    /// The task prompt after the document (the default one where an instruction replaces it).
    pub task: &'static str,
    pub suffix: &'static str,
    /// Normalise query, document and instruction to NFC (what the reference tokenizer does).
    pub nfc: bool,
    pub truncation: PieceTruncation,
    /// The official `max_length` default, which sets the default context size.
    pub reference_max_length: usize,
}

/// How an over-long pair is cut, as the official code cuts it. Both cap the query piece at
/// `⌊3M/4⌋` tokens and cut `sep + document` from the right, and keep the other pieces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PieceTruncation {
    /// mxbai-rerank: `M = limit − (prefix + task + suffix + sep)`; `Q + sep + D ≤ M`.
    MxbaiRerank,
    /// FlagEmbedding's `FlagLLMReranker`: `M = limit − 2·(sep + task)`; the document piece is
    /// first cut to `M`, then `BOS + Q + sep + D ≤ M + sep + task`, and `sep + task` follow.
    FlagLlmReranker,
}

/// A judge's pieces with the fixed ones tokenized once.
#[derive(Debug, Clone)]
pub(super) struct PieceTokens {
    pub(super) layout: &'static PieceLayout,
    pub(super) bos: Option<TokenId>,
    pub(super) prefix: Vec<TokenId>,
    pub(super) separator: Vec<TokenId>,
    pub(super) task: Vec<TokenId>,
    pub(super) suffix: Vec<TokenId>,
    /// The instruction used when a call gives none (`None`: the layout's own default).
    pub(super) default_instruction: Option<String>,
}

/// `template` with each `{name}` of `values` replaced in one pass (a value's own text is never
/// searched for placeholders).
fn fill_placeholders(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    'outer: while !rest.is_empty() {
        for (name, value) in values {
            if let Some(after) = rest.strip_prefix(name) {
                out.push_str(value);
                rest = after;
                continue 'outer;
            }
        }
        let c = rest.chars().next().expect("non-empty");
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

impl PieceTokens {
    /// Tokens kept outside the budget `M` the reference truncates against.
    pub(super) fn reserve(&self, task: &[TokenId]) -> usize {
        match self.layout.truncation {
            PieceTruncation::MxbaiRerank => {
                self.prefix.len() + task.len() + self.suffix.len() + self.separator.len()
            }
            PieceTruncation::FlagLlmReranker => 2 * (self.separator.len() + task.len()),
        }
    }

    pub(super) fn encode(
        &self,
        vocab: &dyn Vocabulary,
        query: &str,
        document: &str,
        instruction: Option<&str>,
        limit: usize,
        overflow: OverflowPolicy,
    ) -> Result<EncodedPair, InputTooLong> {
        let layout = self.layout;
        let text = |t: &str| {
            if layout.nfc {
                normalize(t)
            } else {
                t.to_owned()
            }
        };
        let instruction = instruction
            .filter(|i| !i.is_empty())
            .map(text)
            .or_else(|| self.default_instruction.as_deref().map(text));
        let query = text(query);
        let query_piece = match (&instruction, layout.query_with_instruction) {
            (Some(i), Some(t)) => {
                fill_placeholders(t, &[("{instruction}", i), ("{query}", &query)])
            }
            _ => fill_placeholders(layout.query, &[("{query}", &query)]),
        };
        // Where the layout has no instruction line, an instruction replaces the task prompt.
        let task = match (&instruction, layout.query_with_instruction) {
            (Some(i), None) => vocab.tokenize_plain(i),
            _ => self.task.clone(),
        };
        let mut q = vocab.tokenize_plain(&query_piece);
        let d_piece = fill_placeholders(layout.document, &[("{document}", &text(document))]);
        let d = vocab.tokenize_plain(&d_piece);
        let mut rest: Vec<TokenId> = self.separator.iter().copied().chain(d).collect();
        let untruncated = self.bos.iter().count()
            + self.prefix.len()
            + q.len()
            + rest.len()
            + self.separator.len()
            + task.len()
            + self.suffix.len();
        let reserve = self.reserve(&task);
        let too_long = |template_too_long| InputTooLong {
            tokens: untruncated,
            limit,
            template_too_long,
        };
        if limit <= reserve + self.bos.iter().count() {
            return Err(too_long(true));
        }
        let mut budget = limit - reserve;
        if layout.truncation == PieceTruncation::MxbaiRerank {
            budget = budget.min(layout.reference_max_length);
        }
        let (q_len, rest_len) = (q.len(), rest.len());
        q.truncate(budget * 3 / 4);
        match layout.truncation {
            PieceTruncation::MxbaiRerank => {
                let allowed = budget - q.len();
                if rest.len() > allowed {
                    rest.truncate(allowed);
                }
            }
            PieceTruncation::FlagLlmReranker => {
                rest.truncate(self.separator.len() + budget);
                let first = self.bos.iter().count() + q.len();
                let allowed = budget + self.separator.len() + task.len();
                let excess = (first + rest.len()).saturating_sub(allowed);
                // As transformers' `only_second` truncation: nothing is cut when the excess is
                // not smaller than the second part.
                if excess > 0 && rest.len() > excess {
                    rest.truncate(rest.len() - excess);
                }
            }
        }
        let truncated = q.len() < q_len || rest.len() < rest_len;
        let mut tokens = Vec::with_capacity(untruncated.min(limit));
        tokens.extend(self.bos);
        tokens.extend_from_slice(&self.prefix);
        tokens.extend(q);
        tokens.extend(rest);
        tokens.extend_from_slice(&self.separator);
        tokens.extend(task);
        tokens.extend_from_slice(&self.suffix);
        if tokens.len() > limit {
            return Err(too_long(true));
        }
        if truncated && overflow == OverflowPolicy::Throw {
            return Err(too_long(false));
        }
        Ok(EncodedPair { tokens, truncated })
    }
}
