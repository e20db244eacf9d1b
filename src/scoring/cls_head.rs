//! A one-output classifier applied to the first token's hidden state by us, in f64.
//!
//! llama.cpp's jina-bert-v2 graph (jina-reranker-v1-turbo-en, -tiny-en) loads the classifier
//! as `cls.weight` [n_embd, 1] + `cls.bias` [1] and, under RANK pooling, applies `tanh` after
//! it: the pooled value is `tanh(logit)`, which rounds to ±1 in f32 for |logit| > 9 and loses
//! the order of confident pairs. With CLS pooling llama.cpp returns the first token's hidden
//! state instead, and the logit is `cls.weight · h + cls.bias`, computed here from the file's
//! own weights, as the model's `JinaBertForSequenceClassification` head does.

use std::path::Path;

use crate::model::gguf::{GgufHeader, GgufTensor};

const GGML_TYPE_F32: u32 = 0;
const GGML_TYPE_F16: u32 = 1;
const GGML_TYPE_Q8_0: u32 = 8;
const GGML_TYPE_BF16: u32 = 30;

/// The classifier's weight row and bias, as f32 values.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassifierHead {
    pub weight: Vec<f32>,
    pub bias: f32,
}

/// An IEEE half-precision value as f32.
fn f16_to_f32(bits: u16) -> f32 {
    let sign = if bits & 0x8000 != 0 { -1.0f32 } else { 1.0 };
    let exp = (bits >> 10) & 0x1f;
    let frac = (bits & 0x3ff) as f32;
    match exp {
        0 => sign * frac * 2f32.powi(-24),
        31 if frac == 0.0 => sign * f32::INFINITY,
        31 => f32::NAN,
        e => sign * (1.0 + frac / 1024.0) * 2f32.powi(e as i32 - 15),
    }
}

/// The values of one row of `tensor`, in the types llama.cpp's converter and quantizer leave a
/// one-row classifier in (F32, F16, BF16, Q8_0); `None` for any other type.
fn row_values(bytes: &[u8], ggml_type: u32) -> Option<Vec<f32>> {
    Some(match ggml_type {
        GGML_TYPE_F32 => bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
        GGML_TYPE_F16 => bytes
            .chunks_exact(2)
            .map(|c| f16_to_f32(u16::from_le_bytes([c[0], c[1]])))
            .collect(),
        GGML_TYPE_BF16 => bytes
            .chunks_exact(2)
            .map(|c| f32::from_bits((u16::from_le_bytes([c[0], c[1]]) as u32) << 16))
            .collect(),
        GGML_TYPE_Q8_0 => bytes
            .chunks_exact(34)
            .flat_map(|block| {
                let d = f16_to_f32(u16::from_le_bytes([block[0], block[1]]));
                block[2..].iter().map(move |&q| d * (q as i8) as f32)
            })
            .collect(),
        _ => return None,
    })
}

fn read_row(path: &Path, header: &GgufHeader, tensor: &GgufTensor) -> Option<Vec<f32>> {
    let rows = header.read_rows(path, tensor, &[0]).ok()??;
    row_values(&rows[0], tensor.ggml_type)
}

impl ClassifierHead {
    /// Reads `cls.weight` [n_embd, 1] and `cls.bias` [1] of the file at `path`. `None` when
    /// the file has another head, or stores it in a type read here.
    pub fn detect(path: &Path, header: &GgufHeader) -> Option<Self> {
        if header.tensor("cls.output.weight").is_some() {
            return None;
        }
        let weight = header.tensor("cls.weight")?;
        if weight.dims.len() != 2 || weight.dims[1] != 1 {
            return None;
        }
        let weight = read_row(path, header, weight)?;
        let bias = match header.tensor("cls.bias") {
            None => 0.0,
            Some(b) if b.dims == [1] => *read_row(path, header, b)?.first()?,
            Some(_) => return None,
        };
        Some(Self { weight, bias })
    }

    /// The logit of a hidden state, in f64. NaN when the widths differ.
    pub fn logit(&self, hidden: &[f32]) -> f64 {
        if hidden.len() != self.weight.len() {
            return f64::NAN;
        }
        let dot: f64 = self
            .weight
            .iter()
            .zip(hidden)
            .map(|(&w, &h)| w as f64 * h as f64)
            .sum();
        dot + self.bias as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halves_decode() {
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0xc000), -2.0);
        assert_eq!(f16_to_f32(0x3555), 0.333_251_95);
        assert_eq!(f16_to_f32(0x0001), 2f32.powi(-24));
        assert!(f16_to_f32(0x7e00).is_nan());
    }

    #[test]
    fn q8_0_rows_decode() {
        let mut block = vec![0u8; 34];
        block[..2].copy_from_slice(&0x3800u16.to_le_bytes()); // 0.5
        block[2] = 4;
        block[3] = (-6i8) as u8;
        let v = row_values(&block, GGML_TYPE_Q8_0).unwrap();
        assert_eq!((v.len(), v[0], v[1], v[2]), (32, 2.0, -3.0, 0.0));
        assert!(row_values(&block, 2).is_none());
    }

    #[test]
    fn the_logit_is_an_f64_dot_product_plus_bias() {
        let head = ClassifierHead {
            weight: vec![0.5, -2.0, 1e-3],
            bias: 0.25,
        };
        let l = head.logit(&[2.0, 1.5, 1000.0]);
        assert!((l - (1.0 - 3.0 + 1.0 + 0.25)).abs() < 1e-6);
        assert!(head.logit(&[1.0]).is_nan());
    }
}
