//! Planning the decode calls of one ranking call: the prompt prefix its documents share,
//! identical documents evaluated once, and the documents' tokens spread over decode calls.
//!
//! Every document gets its own sequence id ("slot") while it is being evaluated. For causal
//! models the documents' tokens form one stream that fills every decode call to
//! `max_tokens`: a document may start in one call and end in the next (its earlier tokens
//! wait in the KV cache), so no call runs half-empty. A slot is reused once its document's
//! last token has been evaluated. Bidirectional models must see a whole document in one call,
//! so for them documents are only packed whole. Packing never changes scores: sequences do
//! not see each other.

use std::collections::HashMap;

use crate::prompt::TokenId;

/// Limits of one decode call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchLimits {
    /// Tokens per decode call.
    pub max_tokens: usize,
    /// Documents in flight at once (sequence ids available).
    pub max_documents: usize,
    /// Whether a document may be split across decode calls (causal models).
    pub split: bool,
}

/// A run of one document's tokens inside a decode call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Piece {
    /// Index of the document in the call.
    pub document: usize,
    /// Its slot (sequence id minus one) while it is in flight.
    pub slot: usize,
    /// Token range, relative to the part of the document that is evaluated.
    pub start: usize,
    pub end: usize,
    /// Whether the range ends the document: its score is read after this call.
    pub last: bool,
}

/// One decode call.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DecodeCall {
    pub pieces: Vec<Piece>,
}

impl DecodeCall {
    pub fn tokens(&self) -> usize {
        self.pieces.iter().map(|p| p.end - p.start).sum()
    }
}

/// The decode calls of a ranking call and the KV cells they keep at most.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BatchPlan {
    pub steps: Vec<DecodeCall>,
    /// Cells held at once by documents in flight (not counting a shared prefix).
    pub max_cells: usize,
}

impl BatchLimits {
    /// Plans the evaluation of documents of the given lengths (in tokens), in input order.
    pub fn plan(&self, lengths: &[usize]) -> BatchPlan {
        let max_tokens = self.max_tokens.max(1);
        let mut free: Vec<usize> = (0..self.max_documents.max(1)).rev().collect();
        // (document, slot, tokens evaluated so far)
        let mut active: Vec<(usize, usize, usize)> = Vec::new();
        let mut next = 0;
        let mut plan = BatchPlan::default();
        loop {
            let mut budget = max_tokens;
            let mut step = DecodeCall::default();
            for (document, slot, done) in active.iter_mut() {
                if budget == 0 {
                    break;
                }
                let take = budget.min(lengths[*document] - *done);
                let end = *done + take;
                step.pieces.push(Piece {
                    document: *document,
                    slot: *slot,
                    start: *done,
                    end,
                    last: end == lengths[*document],
                });
                *done = end;
                budget -= take;
            }
            while budget > 0 && next < lengths.len() {
                let len = lengths[next];
                let fits = self.split || len <= budget || step.pieces.is_empty();
                if !fits {
                    break;
                }
                let Some(slot) = free.pop() else { break };
                let take = if self.split { budget.min(len) } else { len };
                step.pieces.push(Piece {
                    document: next,
                    slot,
                    start: 0,
                    end: take,
                    last: take == len,
                });
                active.push((next, slot, take));
                budget = budget.saturating_sub(take);
                next += 1;
            }
            if step.pieces.is_empty() {
                break;
            }
            let cells: usize = active.iter().map(|a| a.2).sum();
            plan.max_cells = plan.max_cells.max(cells);
            active.retain(|&(document, slot, done)| {
                let finished = done == lengths[document];
                if finished {
                    free.push(slot);
                }
                !finished
            });
            plan.steps.push(step);
        }
        plan
    }
}

/// How one call is laid out in the KV cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallLayout {
    /// Tokens shared by every sequence, evaluated once into sequence 0.
    pub prefix: usize,
    /// The decode calls for the rest of each sequence.
    pub plan: BatchPlan,
    /// KV cells the call needs at most.
    pub kv_needed: usize,
}

/// The longest token prefix shared by all sequences, leaving each at least one token.
pub fn shared_prefix_len<S: AsRef<[TokenId]>>(sequences: &[S]) -> usize {
    let Some(first) = sequences.first().map(AsRef::as_ref) else {
        return 0;
    };
    let mut len = first.len();
    for s in &sequences[1..] {
        len = len.min(
            first
                .iter()
                .zip(s.as_ref())
                .take_while(|(a, b)| a == b)
                .count(),
        );
    }
    let shortest = sequences
        .iter()
        .map(|s| s.as_ref().len())
        .min()
        .unwrap_or(0);
    len.min(shortest.saturating_sub(1))
}

/// The distinct sequences in first-seen order, how many inputs each stands for, and the
/// distinct sequence of every input.
pub(super) fn deduplicate(sequences: &[Vec<TokenId>]) -> (Vec<&[TokenId]>, Vec<usize>, Vec<usize>) {
    let mut index: HashMap<&[TokenId], usize> = HashMap::new();
    let mut unique: Vec<&[TokenId]> = Vec::new();
    let mut copies: Vec<usize> = Vec::new();
    let of_input = sequences
        .iter()
        .map(|s| {
            *index
                .entry(s.as_slice())
                .and_modify(|&mut u| copies[u] += 1)
                .or_insert_with(|| {
                    unique.push(s);
                    copies.push(1);
                    unique.len() - 1
                })
        })
        .collect();
    (unique, copies, of_input)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(s: BatchLimits, lengths: &[usize]) -> BatchPlan {
        let plan = s.plan(lengths);
        // every token of every document exactly once, in order, in one slot per document
        let mut seen = vec![0usize; lengths.len()];
        let mut slot_of = vec![None; lengths.len()];
        let mut finished = 0;
        for step in &plan.steps {
            assert!(step.tokens() <= s.max_tokens || (!s.split && step.pieces.len() == 1));
            let mut slots: Vec<usize> = step.pieces.iter().map(|p| p.slot).collect();
            slots.sort_unstable();
            slots.dedup();
            assert_eq!(slots.len(), step.pieces.len(), "a slot twice in one call");
            for p in &step.pieces {
                assert!(p.slot < s.max_documents);
                assert_eq!(p.start, seen[p.document]);
                assert_eq!(*slot_of[p.document].get_or_insert(p.slot), p.slot);
                seen[p.document] = p.end;
                assert_eq!(p.last, p.end == lengths[p.document]);
                finished += p.last as usize;
                if !s.split {
                    assert_eq!(
                        (p.start, p.end),
                        (0, lengths[p.document]),
                        "split although not allowed"
                    );
                }
            }
        }
        assert_eq!(seen, lengths);
        assert_eq!(finished, lengths.len());
        plan
    }

    #[test]
    fn causal_calls_are_filled_to_the_brim() {
        let s = BatchLimits {
            max_tokens: 10,
            max_documents: 3,
            split: true,
        };
        let plan = check(s, &[4, 4, 4, 4]);
        assert_eq!(
            plan.steps
                .iter()
                .map(DecodeCall::tokens)
                .collect::<Vec<_>>(),
            vec![10, 6]
        );
        let plan = check(s, &[25, 3]);
        assert_eq!(
            plan.steps
                .iter()
                .map(DecodeCall::tokens)
                .collect::<Vec<_>>(),
            vec![10, 10, 8]
        );
        assert_eq!(plan.max_cells, 25 + 3);
    }

    #[test]
    fn slots_are_reused_and_bounded() {
        let s = BatchLimits {
            max_tokens: 100,
            max_documents: 2,
            split: true,
        };
        let plan = check(s, &[5, 5, 5, 5, 5]);
        assert_eq!(plan.steps.len(), 3);
        assert_eq!(plan.max_cells, 10);
    }

    #[test]
    fn encoders_get_whole_documents() {
        let s = BatchLimits {
            max_tokens: 10,
            max_documents: 3,
            split: false,
        };
        let plan = check(s, &[3, 3, 3, 3]);
        assert_eq!(
            plan.steps
                .iter()
                .map(|s| s.pieces.len())
                .collect::<Vec<_>>(),
            vec![3, 1]
        );
        let plan = check(s, &[6, 5, 4]);
        assert_eq!(plan.steps.len(), 2);
        assert!(check(s, &[]).steps.is_empty());
    }

    #[test]
    fn many_random_plans_are_consistent() {
        let mut x: u64 = 88172645463325252;
        let mut rand = |m: usize| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % m as u64) as usize
        };
        for _ in 0..300 {
            let n = rand(40);
            let lengths: Vec<usize> = (0..n).map(|_| rand(60) + 1).collect();
            let split = rand(2) == 0;
            let max_tokens = if split { rand(70) + 1 } else { 60 + rand(30) };
            check(
                BatchLimits {
                    max_tokens,
                    max_documents: rand(8) + 1,
                    split,
                },
                &lengths,
            );
        }
    }

    #[test]
    fn duplicates_are_evaluated_once() {
        let inputs = vec![vec![1, 2], vec![3], vec![1, 2], vec![1, 2], vec![3, 4]];
        let (unique, copies, of_input) = deduplicate(&inputs);
        assert_eq!(unique, vec![&[1, 2][..], &[3][..], &[3, 4][..]]);
        assert_eq!(copies, vec![3, 1, 1]);
        assert_eq!(of_input, vec![0, 1, 0, 0, 2]);
    }

    #[test]
    fn shared_prefix_leaves_one_token_each() {
        assert_eq!(shared_prefix_len(&[vec![1, 2, 3, 4], vec![1, 2, 3, 5]]), 3);
        assert_eq!(shared_prefix_len(&[vec![1, 2, 3], vec![1, 2, 3]]), 2);
        assert_eq!(shared_prefix_len(&[vec![1, 2, 3], vec![1, 2]]), 1);
        assert_eq!(shared_prefix_len(&[vec![9], vec![1, 2]]), 0);
        assert_eq!(shared_prefix_len(&[vec![1, 2, 3]]), 2);
        assert_eq!(shared_prefix_len::<Vec<i32>>(&[]), 0);
    }
}
