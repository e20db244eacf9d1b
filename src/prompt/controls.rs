//! The control-token scan: templates and fixed prompt texts split at the vocabulary's control
//! tokens, the rest tokenized as plain text; and NFC normalisation.

use unicode_normalization::UnicodeNormalization;

use super::{TokenId, Vocabulary};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Slot {
    Query,
    Document,
    Instruction,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Part {
    Control(TokenId),
    Literal(String),
    Slot(Slot),
}

/// The longest control token that `text` starts with.
pub(super) fn control_at<'c>(
    text: &str,
    controls: &'c [(String, TokenId)],
) -> Option<(&'c str, TokenId)> {
    controls
        .iter()
        .filter(|(control, _)| !control.is_empty() && text.starts_with(control.as_str()))
        .max_by_key(|(control, _)| control.len())
        .map(|(control, id)| (control.as_str(), *id))
}

/// A fixed text that may hold control tokens: split at them, the rest tokenized as plain text.
pub(super) fn tokenize_with_controls(text: &str, vocab: &dyn Vocabulary) -> Vec<TokenId> {
    let mut tokens = Vec::new();
    let mut literal = String::new();
    let mut rest = text;
    while !rest.is_empty() {
        if let Some((control, id)) = control_at(rest, vocab.control_tokens()) {
            tokens.extend(vocab.tokenize_plain(&std::mem::take(&mut literal)));
            tokens.push(id);
            rest = &rest[control.len()..];
            continue;
        }
        let c = rest.chars().next().expect("non-empty");
        literal.push(c);
        rest = &rest[c.len_utf8()..];
    }
    tokens.extend(vocab.tokenize_plain(&literal));
    tokens
}

/// NFC, as the reference tokenizers normalise.
pub fn normalize(text: &str) -> String {
    if unicode_normalization::is_nfc_quick(text.chars()) == unicode_normalization::IsNormalized::Yes
    {
        text.to_owned()
    } else {
        text.nfc().collect()
    }
}

pub(super) fn parse_template(
    template: &str,
    controls: &[(String, TokenId)],
) -> Result<Vec<Part>, String> {
    const SLOTS: [(&str, Slot); 3] = [
        ("{{query}}", Slot::Query),
        ("{{document}}", Slot::Document),
        ("{{instruction}}", Slot::Instruction),
    ];
    let mut parts = Vec::new();
    let mut literal = String::new();
    let mut rest = template;
    let (mut has_query, mut has_doc) = (false, false);
    'outer: while !rest.is_empty() {
        for (marker, slot) in SLOTS {
            if let Some(after) = rest.strip_prefix(marker) {
                if !literal.is_empty() {
                    parts.push(Part::Literal(std::mem::take(&mut literal)));
                }
                has_query |= slot == Slot::Query;
                if slot == Slot::Document {
                    if has_doc {
                        return Err("the template names {{document}} more than once".into());
                    }
                    has_doc = true;
                }
                parts.push(Part::Slot(slot));
                rest = after;
                continue 'outer;
            }
        }
        if let Some((text, id)) = control_at(rest, controls) {
            if !literal.is_empty() {
                parts.push(Part::Literal(std::mem::take(&mut literal)));
            }
            parts.push(Part::Control(id));
            rest = &rest[text.len()..];
            continue;
        }
        let c = rest.chars().next().expect("non-empty");
        literal.push(c);
        rest = &rest[c.len_utf8()..];
    }
    if !literal.is_empty() {
        parts.push(Part::Literal(literal));
    }
    if !has_query || !has_doc {
        return Err("the template must contain {{query}} and {{document}}".into());
    }
    Ok(parts)
}
