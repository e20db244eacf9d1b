//! Packing sequences into decode batches.
//!
//! Every sequence gets its own sequence id inside a batch, so a batch holds as many
//! documents as fit in `max_tokens` and `max_sequences`. A sequence longer than a batch is
//! evaluated alone, in chunks (only causal models; bidirectional ones are given a batch as
//! large as their context). Packing never changes scores: sequences do not see each other.

/// Limits of one decode call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchScheduler {
    pub max_tokens: usize,
    pub max_sequences: usize,
}

impl BatchScheduler {
    /// Groups sequence indices into batches, keeping the input order.
    pub fn plan(&self, lengths: &[usize]) -> Vec<Vec<usize>> {
        let mut groups: Vec<Vec<usize>> = Vec::new();
        let mut current: Vec<usize> = Vec::new();
        let mut tokens = 0;
        for (i, &len) in lengths.iter().enumerate() {
            let fits = tokens + len <= self.max_tokens && current.len() < self.max_sequences;
            if !fits && !current.is_empty() {
                groups.push(std::mem::take(&mut current));
                tokens = 0;
            }
            current.push(i);
            tokens += len;
            if tokens >= self.max_tokens {
                groups.push(std::mem::take(&mut current));
                tokens = 0;
            }
        }
        if !current.is_empty() {
            groups.push(current);
        }
        groups
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packs_in_order_within_limits() {
        let s = BatchScheduler {
            max_tokens: 10,
            max_sequences: 3,
        };
        assert_eq!(s.plan(&[3, 3, 3, 3]), vec![vec![0, 1, 2], vec![3]]);
        assert_eq!(s.plan(&[6, 5, 4]), vec![vec![0], vec![1, 2]]);
        assert_eq!(s.plan(&[25, 1, 1]), vec![vec![0], vec![1, 2]]);
        assert_eq!(s.plan(&[10, 10]), vec![vec![0], vec![1]]);
        assert!(s.plan(&[]).is_empty());
    }

    #[test]
    fn every_index_once() {
        let s = BatchScheduler {
            max_tokens: 17,
            max_sequences: 4,
        };
        let lengths: Vec<usize> = (0..200).map(|i| (i * 7919) % 23 + 1).collect();
        let plan = s.plan(&lengths);
        let flat: Vec<usize> = plan.iter().flatten().copied().collect();
        assert_eq!(flat, (0..200).collect::<Vec<_>>());
        for g in &plan {
            let sum: usize = g.iter().map(|&i| lengths[i]).sum();
            assert!(g.len() == 1 || (sum <= 17 && g.len() <= 4));
        }
    }
}
