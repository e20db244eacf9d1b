//! How a model's output becomes a relevance score, chosen from its metadata.
//!
//! | kind | read | score |
//! |---|---|---|
//! | cross-encoder | pooled classifier value (RANK pooling) | `sigmoid(raw)` |
//! | generative reranker with a pooled yes/no head | llama.cpp's softmax over the head | `P(yes)` as is |
//! | generative reranker as a plain causal LM | last token's logits for `yes` and `no` | `sigmoid(l_yes - l_no)` |

use crate::model_inspection::{ModelInspection, SOFTMAX_RANK_ARCHITECTURES};

/// What the score means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScoringMethod {
    /// A cross-encoder: one classifier logit, squashed with a sigmoid.
    Classifier,
    /// A generative judge: the probability of `yes` against `no`.
    YesNo,
}

impl ScoringMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            ScoringMethod::Classifier => "classifier",
            ScoringMethod::YesNo => "yes-no",
        }
    }
    pub fn parse(s: &str) -> Option<Option<Self>> {
        match s {
            "auto" => Some(None),
            "classifier" => Some(Some(ScoringMethod::Classifier)),
            "yes-no" => Some(Some(ScoringMethod::YesNo)),
            _ => None,
        }
    }
}

/// Which part of the network the score is read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScoreSource {
    /// llama.cpp's RANK pooling through the file's classifier head.
    PooledHead,
    /// The language-model logits of the last token.
    LmHead,
}

impl ScoreSource {
    pub fn as_str(self) -> &'static str {
        match self {
            ScoreSource::PooledHead => "pooled-head",
            ScoreSource::LmHead => "lm-head",
        }
    }
}

/// The full recipe for turning one decoded sequence into a score.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScoringPlan {
    pub method: ScoringMethod,
    pub source: ScoreSource,
    /// For a pooled yes/no head: which element of the pooled output is `P(yes)`.
    pub yes_index: usize,
}

impl ScoringPlan {
    /// Picks the scoring for a file, or explains why it is not a reranker.
    /// `forced` overrides the metadata (the caller's `scoring` option).
    pub fn detect(info: &ModelInspection, forced: Option<ScoringMethod>) -> Result<Self, String> {
        let softmax_rank = SOFTMAX_RANK_ARCHITECTURES.contains(&info.architecture.as_str());
        let yes_no_head = match (info.label_index("yes"), info.label_index("no")) {
            (Some(y), Some(_)) if info.has_classifier_head() && softmax_rank => Some(y),
            _ => None,
        };
        let not_a_reranker = |why: &str| {
            Err(format!(
                "not a reranker: {why} (found {}). Pass scoring: \"classifier\" or \"yes-no\" to force a method",
                info.describe()
            ))
        };
        let method = match forced {
            Some(m) => m,
            None if yes_no_head.is_some() => ScoringMethod::YesNo,
            None if info.has_classifier_head() && !softmax_rank => ScoringMethod::Classifier,
            None if info.has_classifier_head() => {
                return not_a_reranker(
                    "its classifier head has no yes/no labels, and llama.cpp ends this architecture with a softmax",
                )
            }
            None if info.is_encoder => {
                return not_a_reranker("an encoder without a classifier head is an embedding model")
            }
            None if softmax_rank && info.has_reranker_hints() => ScoringMethod::YesNo,
            None => return not_a_reranker("no classifier head and nothing in the file names it a reranker"),
        };
        match method {
            ScoringMethod::YesNo => {
                if info.is_encoder {
                    return Err(format!(
                        "yes-no scoring needs a generative model, and {} is an encoder",
                        info.architecture
                    ));
                }
                // A file that carries the pooled head is always scored through it: untied
                // conversions have no usable LM head.
                Ok(match yes_no_head {
                    Some(yes_index) => ScoringPlan {
                        method,
                        source: ScoreSource::PooledHead,
                        yes_index,
                    },
                    None => ScoringPlan {
                        method,
                        source: ScoreSource::LmHead,
                        yes_index: 0,
                    },
                })
            }
            ScoringMethod::Classifier => {
                if !info.has_classifier_head() {
                    return Err(format!(
                        "classifier scoring needs a classifier head (cls or cls.output tensors), found {}",
                        info.describe()
                    ));
                }
                if softmax_rank && info.classifier_width() == 1 {
                    return Err(format!(
                        "llama.cpp ends {} with a softmax over a one-wide head: every score would be 1",
                        info.architecture
                    ));
                }
                Ok(ScoringPlan {
                    method,
                    source: ScoreSource::PooledHead,
                    yes_index: 0,
                })
            }
        }
    }

    /// Turns what was read from the model into a score in [0, 1].
    /// `pooled` is the RANK-pooled output; `yes_no_logits` the last token's two logits.
    pub fn score(&self, read: ModelOutput) -> Result<f64, NonFiniteScore> {
        let score = match (self.method, read) {
            (ScoringMethod::Classifier, ModelOutput::Pooled(values)) => sigmoid(values[0] as f64),
            (ScoringMethod::YesNo, ModelOutput::Pooled(values)) => values[self.yes_index] as f64,
            (_, ModelOutput::YesNoLogits { yes, no }) => sigmoid(yes as f64 - no as f64),
        };
        if score.is_finite() {
            Ok(score.clamp(0.0, 1.0))
        } else {
            Err(NonFiniteScore(score))
        }
    }
}

/// What a decode produced for one sequence.
#[derive(Debug, Clone, Copy)]
pub enum ModelOutput<'a> {
    Pooled(&'a [f32]),
    YesNoLogits { yes: f32, no: f32 },
}

/// A score that is NaN or infinite; never handed to the caller.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NonFiniteScore(pub f64);

/// The logistic function in f64, stable for large |x|.
pub fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inspection(arch: &str) -> ModelInspection {
        ModelInspection {
            architecture: arch.into(),
            name: None,
            basename: None,
            pooling_type: None,
            classifier_labels: vec![],
            has_cls: false,
            has_cls_output: false,
            rerank_template: None,
            trained_context_length: Some(512),
            is_encoder: arch == "bert",
        }
    }

    #[test]
    fn cross_encoder_is_classifier() {
        let mut m = inspection("bert");
        m.has_cls_output = true;
        let plan = ScoringPlan::detect(&m, None).unwrap();
        assert_eq!(plan.method, ScoringMethod::Classifier);
        assert_eq!(plan.source, ScoreSource::PooledHead);
        let s = plan.score(ModelOutput::Pooled(&[2.0])).unwrap();
        assert!((s - 0.880_797_077_977_882_3).abs() < 1e-15);
    }

    #[test]
    fn qwen3_pooled_head_is_yes_no_without_second_sigmoid() {
        let mut m = inspection("qwen3");
        m.has_cls_output = true;
        m.pooling_type = Some(4);
        m.classifier_labels = vec!["yes".into(), "no".into()];
        let plan = ScoringPlan::detect(&m, None).unwrap();
        assert_eq!(
            (plan.method, plan.source),
            (ScoringMethod::YesNo, ScoreSource::PooledHead)
        );
        assert_eq!(
            plan.score(ModelOutput::Pooled(&[0.25, 0.75])).unwrap(),
            0.25
        );
        // Forcing yes-no still reads the head: the LM head of untied files is unusable.
        assert_eq!(
            ScoringPlan::detect(&m, Some(ScoringMethod::YesNo))
                .unwrap()
                .source,
            ScoreSource::PooledHead
        );
    }

    #[test]
    fn label_order_is_respected() {
        let mut m = inspection("qwen3");
        m.has_cls_output = true;
        m.classifier_labels = vec!["no".into(), "yes".into()];
        let plan = ScoringPlan::detect(&m, None).unwrap();
        assert!((plan.score(ModelOutput::Pooled(&[0.1, 0.9])).unwrap() - 0.9).abs() < 1e-6);
    }

    #[test]
    fn qwen3_causal_needs_a_reranker_hint() {
        let mut m = inspection("qwen3");
        let err = ScoringPlan::detect(&m, None).unwrap_err();
        assert!(err.contains("not a reranker"), "{err}");
        assert!(err.contains("architecture qwen3"), "{err}");
        m.name = Some("Qwen3-Reranker-0.6B".into());
        let plan = ScoringPlan::detect(&m, None).unwrap();
        assert_eq!(
            (plan.method, plan.source),
            (ScoringMethod::YesNo, ScoreSource::LmHead)
        );
        let s = plan
            .score(ModelOutput::YesNoLogits { yes: 1.5, no: -0.5 })
            .unwrap();
        assert!((s - sigmoid(2.0)).abs() < 1e-15);
        // a forced yes-no on a plain chat model works through the LM head
        m.name = Some("chat".into());
        assert_eq!(
            ScoringPlan::detect(&m, Some(ScoringMethod::YesNo))
                .unwrap()
                .source,
            ScoreSource::LmHead
        );
    }

    #[test]
    fn embedding_model_is_refused_and_cannot_be_forced_to_classify() {
        let mut m = inspection("bert");
        m.pooling_type = Some(1);
        assert!(ScoringPlan::detect(&m, None)
            .unwrap_err()
            .contains("embedding model"));
        assert!(ScoringPlan::detect(&m, Some(ScoringMethod::Classifier)).is_err());
        assert!(ScoringPlan::detect(&m, Some(ScoringMethod::YesNo)).is_err());
    }

    #[test]
    fn one_wide_head_on_softmax_arch_is_refused() {
        let mut m = inspection("qwen3");
        m.has_cls_output = true;
        assert!(ScoringPlan::detect(&m, None).is_err());
        assert!(ScoringPlan::detect(&m, Some(ScoringMethod::Classifier)).is_err());
    }

    #[test]
    fn non_finite_is_an_error_and_sigmoid_is_stable() {
        let plan = ScoringPlan {
            method: ScoringMethod::Classifier,
            source: ScoreSource::PooledHead,
            yes_index: 0,
        };
        assert!(plan.score(ModelOutput::Pooled(&[f32::NAN])).is_err());
        assert_eq!(sigmoid(-1000.0), 0.0);
        assert_eq!(sigmoid(1000.0), 1.0);
        let ln = ScoringPlan {
            method: ScoringMethod::YesNo,
            source: ScoreSource::LmHead,
            yes_index: 0,
        };
        assert!(ln
            .score(ModelOutput::YesNoLogits {
                yes: f32::INFINITY,
                no: f32::INFINITY
            })
            .is_err());
    }
}
