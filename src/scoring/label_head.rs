//! A pooled yes/no head that can be read off the language-model head.
//!
//! The reranker conversion of a Qwen3-Reranker copies the LM head's rows for its labels
//! (`yes`, `no`) into `cls.output.weight`, and llama.cpp ends RANK pooling with a softmax over
//! that head. Under RANK pooling llama.cpp runs in embeddings mode, which outputs every token
//! and, for these architectures, still computes the full LM head for each of them: about a
//! third more arithmetic per token and a `batch × n_vocab` logits buffer.
//!
//! When the file's LM head (`output.weight`, else the tied `token_embd.weight`) still holds the
//! head's rows byte for byte, in the same type, the pooled values are exactly
//! `softmax(logits[label tokens] + bias)` of the last token, with the same normed hidden
//! state and the same weights. Those logits come from a plain causal decode that outputs one
//! token per document. A file whose rows differ (an untied model, whose real LM head the
//! converter dropped, or a mixed quantization) keeps llama.cpp's pooling.

use std::path::Path;

use super::readout::softmax;
use crate::model::gguf::GgufHeader;
use crate::model::inspection::{ModelInspection, SOFTMAX_RANK_ARCHITECTURES};
use crate::prompt::TokenId;

const GGML_TYPE_F32: u32 = 0;

/// The head's labels as LM-head tokens, with the head's bias.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelHead {
    /// The token of each label, in the head's row order.
    pub tokens: Vec<TokenId>,
    /// `cls.output.bias`, zeros when the file has none.
    pub bias: Vec<f32>,
}

impl LabelHead {
    /// Checks whether the pooled head of the file at `path` is a slice of its LM head.
    /// `token_of` maps a label to its token when it is a single token. Any doubt gives `None`.
    pub fn detect(
        path: &Path,
        header: &GgufHeader,
        inspection: &ModelInspection,
        token_of: impl Fn(&str) -> Option<TokenId>,
    ) -> Option<Self> {
        if inspection.is_encoder
            || !SOFTMAX_RANK_ARCHITECTURES.contains(&inspection.architecture.as_str())
            || !inspection.has_cls_output
            || inspection.has_cls
            || header
                .tensors
                .iter()
                .any(|t| t.name.starts_with("cls.norm"))
            || inspection.classifier_labels.len() < 2
        {
            return None;
        }
        let head = header.tensor("cls.output.weight")?;
        let lm = header
            .tensor("output.weight")
            .or_else(|| header.tensor("token_embd.weight"))?;
        let n_labels = inspection.classifier_labels.len() as u64;
        if head.dims.len() != 2
            || lm.dims.len() != 2
            || head.dims[1] != n_labels
            || head.dims[0] != lm.dims[0]
            || head.ggml_type != lm.ggml_type
        {
            return None;
        }
        let tokens = inspection
            .classifier_labels
            .iter()
            .map(|label| token_of(label))
            .collect::<Option<Vec<TokenId>>>()?;
        if tokens.iter().any(|&t| t < 0) {
            return None;
        }
        let head_rows: Vec<u64> = (0..n_labels).collect();
        let lm_rows: Vec<u64> = tokens.iter().map(|&t| t as u64).collect();
        let head_bytes = header.read_rows(path, head, &head_rows).ok()??;
        let lm_bytes = header.read_rows(path, lm, &lm_rows).ok()??;
        if head_bytes != lm_bytes {
            return None;
        }
        let bias = match header.tensor("cls.output.bias") {
            None => vec![0.0; tokens.len()],
            Some(b) if b.ggml_type == GGML_TYPE_F32 && b.dims == [n_labels] => {
                let row = header.read_rows(path, b, &[0]).ok()??;
                row[0]
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect()
            }
            Some(_) => return None,
        };
        Some(Self { tokens, bias })
    }

    /// The pooled head's output (llama.cpp's softmax) from the last token's full logits.
    pub fn pooled_values(&self, logits: &[f32]) -> Vec<f32> {
        let z: Vec<f64> = self
            .tokens
            .iter()
            .zip(&self.bias)
            .map(|(&t, &b)| logits[t as usize] as f64 + b as f64)
            .collect();
        softmax(&z).into_iter().map(|p| p as f32).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::model::gguf::{GgufHeader, GgufTensor};

    const N_EMBD: usize = 4;

    /// Deletes the file when dropped.
    struct TempFile(std::path::PathBuf);
    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    /// A raw tensor-data file (data_start 0): token_embd [N_EMBD x 6] F32, then the head.
    fn write_file(head_rows: &[usize], tweak: bool) -> (TempFile, std::path::PathBuf, GgufHeader) {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "llama-rerank-label-head-{}-{}.bin",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let embd: Vec<f32> = (0..6 * N_EMBD).map(|i| i as f32 * 0.25 - 1.0).collect();
        let mut head: Vec<f32> = head_rows
            .iter()
            .flat_map(|&r| embd[r * N_EMBD..(r + 1) * N_EMBD].to_vec())
            .collect();
        if tweak {
            head[5] = f32::from_bits(head[5].to_bits() ^ 1);
        }
        let bytes: Vec<u8> = embd
            .iter()
            .chain(&head)
            .flat_map(|v| v.to_le_bytes())
            .collect();
        std::fs::write(&path, &bytes).unwrap();
        let tensor = |name: &str, rows: usize, offset: usize| GgufTensor {
            name: name.into(),
            dims: vec![N_EMBD as u64, rows as u64],
            ggml_type: GGML_TYPE_F32,
            offset: offset as u64,
            shard: 0,
        };
        let header = GgufHeader {
            version: 3,
            metadata: Default::default(),
            tensors: vec![
                tensor("token_embd.weight", 6, 0),
                tensor("cls.output.weight", head_rows.len(), 6 * N_EMBD * 4),
            ],
            file_size: bytes.len() as u64,
            data_start: 0,
            shards: Vec::new(),
        };
        (TempFile(path.clone()), path, header)
    }

    fn qwen3_inspection() -> ModelInspection {
        ModelInspection {
            architecture: "qwen3".into(),
            name: None,
            basename: None,
            pooling_type: Some(4),
            classifier_labels: vec!["yes".into(), "no".into()],
            has_cls: false,
            has_cls_output: true,
            rerank_template: None,
            trained_context_length: Some(512),
            is_encoder: false,
            tokenizer_model: None,
            has_token_types: true,
        }
    }

    fn vocab(label: &str) -> Option<TokenId> {
        match label {
            "yes" => Some(3),
            "no" => Some(1),
            _ => None,
        }
    }

    #[test]
    fn detects_a_head_made_of_lm_head_rows() {
        let (_dir, path, header) = write_file(&[3, 1], false);
        let head = LabelHead::detect(&path, &header, &qwen3_inspection(), vocab).unwrap();
        assert_eq!(head.tokens, vec![3, 1]);
        assert_eq!(head.bias, vec![0.0, 0.0]);
    }

    #[test]
    fn reads_the_head_bias() {
        let (_file, path, mut header) = write_file(&[3, 1], false);
        let mut bytes = std::fs::read(&path).unwrap();
        let offset = bytes.len();
        bytes.extend([0.5f32, -0.25].iter().flat_map(|v| v.to_le_bytes()));
        std::fs::write(&path, &bytes).unwrap();
        header.file_size = bytes.len() as u64;
        header.tensors.push(GgufTensor {
            name: "cls.output.bias".into(),
            dims: vec![2],
            ggml_type: GGML_TYPE_F32,
            offset: offset as u64,
            shard: 0,
        });
        let head = LabelHead::detect(&path, &header, &qwen3_inspection(), vocab).unwrap();
        assert_eq!(head.bias, vec![0.5, -0.25]);
    }

    #[test]
    fn refuses_a_head_that_differs_by_one_bit_or_in_row_order() {
        let (_dir, path, header) = write_file(&[3, 1], true);
        assert!(LabelHead::detect(&path, &header, &qwen3_inspection(), vocab).is_none());
        let (_dir, path, header) = write_file(&[1, 3], false);
        assert!(LabelHead::detect(&path, &header, &qwen3_inspection(), vocab).is_none());
    }

    #[test]
    fn refuses_other_shapes_of_file() {
        let (_dir, path, header) = write_file(&[3, 1], false);
        // a label that is not one token
        let none = |_: &str| None;
        assert!(LabelHead::detect(&path, &header, &qwen3_inspection(), none).is_none());
        // a dense layer before the head
        let mut dense = qwen3_inspection();
        dense.has_cls = true;
        assert!(LabelHead::detect(&path, &header, &dense, vocab).is_none());
        // an encoder
        let mut bert = qwen3_inspection();
        bert.architecture = "bert".into();
        bert.is_encoder = true;
        assert!(LabelHead::detect(&path, &header, &bert, vocab).is_none());
        // another type for the head than for the LM head
        let mut mixed = header.clone();
        mixed.tensors[1].ggml_type = 1;
        assert!(LabelHead::detect(&path, &mixed, &qwen3_inspection(), vocab).is_none());
        // a token id past the LM head
        let far = |l: &str| if l == "yes" { Some(6) } else { Some(1) };
        assert!(LabelHead::detect(&path, &header, &qwen3_inspection(), far).is_none());
    }

    #[test]
    fn pooled_values_add_the_bias_in_label_order() {
        let head = LabelHead {
            tokens: vec![3, 1],
            bias: vec![0.5, -0.5],
        };
        let logits = [0.0, 2.0, 9.0, 1.0];
        let p = head.pooled_values(&logits);
        let want = super::super::readout::sigmoid((1.0 + 0.5) - (2.0 - 0.5));
        assert!((p[0] as f64 - want).abs() < 1e-7, "{p:?}");
    }
}
