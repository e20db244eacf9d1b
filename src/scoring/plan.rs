//! How a model's output becomes a relevance score, chosen from its metadata.
//!
//! | kind | read | score |
//! |---|---|---|
//! | cross-encoder | pooled classifier value (RANK pooling) | `sigmoid(raw)` |
//! | cross-encoder with several labels | pooled values, one per label | `softmax(raw)[relevant label]` |
//! | generative reranker with a pooled yes/no head | llama.cpp's softmax over the head | `P(yes)` as is |
//! | generative judge as a plain causal LM | last token's logits (see [`super::judge`]) | `sigmoid(l_pos − l_neg)` or `sigmoid(l_pos)` |

use super::judge::{JudgePreset, QWEN3_RERANKER};
use super::readout::{sigmoid, softmax};
use crate::error::{ErrorCode, RerankError};
use crate::model::inspection::{ModelInspection, SOFTMAX_RANK_ARCHITECTURES};

/// What the score means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScoringMethod {
    /// A cross-encoder: one classifier logit, squashed with a sigmoid.
    Classifier,
    /// A generative judge: the probability of its positive token (`yes`) against the
    /// negative one (`no`).
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

/// What the caller asked for; everything left `None` comes from the file's metadata.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScoringRequest {
    /// The `scoring` option.
    pub method: Option<ScoringMethod>,
    /// The `judge` option: a judge preset (implies yes-no scoring).
    pub judge: Option<&'static JudgePreset>,
    /// The `relevantLabel` option: the label of a multi-label classifier that means relevant.
    pub relevant_label: Option<String>,
}

impl ScoringRequest {
    pub fn method(method: Option<ScoringMethod>) -> Self {
        Self {
            method,
            ..Self::default()
        }
    }
}

/// The full recipe for turning one decoded sequence into a score: which output of the network
/// is read, and how it becomes a score. Each kind carries what it needs (its judge, its label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScoringPlan {
    /// A cross-encoder: `sigmoid` of the first pooled value (llama.cpp's RANK pooling through
    /// the classifier head).
    Classifier,
    /// A cross-encoder with several labels: `softmax` over the pooled values, at the label that
    /// means relevant.
    LabelSoftmax {
        /// The index of the relevant label.
        label: usize,
    },
    /// A generative reranker converted with a pooled yes/no head (Qwen3-Reranker's): llama.cpp
    /// already ends with a softmax over the head, so `P(yes)` is read as is.
    PooledYesNo {
        /// The index of the `yes` label.
        yes: usize,
    },
    /// A generative judge as a plain causal LM: its positive token's logit against its negative
    /// one, at the prompt's last token.
    Judge(&'static JudgePreset),
}

/// Labels that name the relevant class of a multi-label classifier by themselves.
const RELEVANT_LABELS: [&str; 2] = ["relevant", "yes"];

impl ScoringPlan {
    /// Picks the scoring for a file, or explains why it is not a reranker
    /// (`ERR_NOT_A_RERANKER`) or not one llama.cpp computes as its reference does
    /// (`ERR_UNSUPPORTED_RERANKER`). `request` overrides the metadata.
    pub fn detect(info: &ModelInspection, request: &ScoringRequest) -> Result<Self, RerankError> {
        let softmax_rank = SOFTMAX_RANK_ARCHITECTURES.contains(&info.architecture.as_str());
        let yes_no_head = match (info.label_index("yes"), info.label_index("no")) {
            (Some(y), Some(_)) if info.has_classifier_head() && softmax_rank => Some(y),
            _ => None,
        };
        let not_a_reranker = |why: &str| {
            Err(RerankError::new(
                ErrorCode::NotAReranker,
                format!(
                    "not a reranker: {why} (found {}). Pass scoring: \"classifier\" or \"yes-no\" to force a method",
                    info.describe()
                ),
            ))
        };
        let unsupported = |why: String| Err(RerankError::new(ErrorCode::UnsupportedReranker, why));
        let judge_by_name = JudgePreset::for_model(info).filter(|j| j.named_in(info));
        let forced = match (request.method, request.judge) {
            (Some(ScoringMethod::Classifier), Some(j)) => {
                return Err(RerankError::invalid(format!(
                    "judge {:?} needs yes-no scoring, and scoring is \"classifier\"",
                    j.name
                )))
            }
            (None, Some(_)) => Some(ScoringMethod::YesNo),
            (m, _) => m,
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
            None if judge_by_name.is_some() => ScoringMethod::YesNo,
            None => return not_a_reranker("no classifier head and nothing in the file names it a reranker"),
        };
        match method {
            ScoringMethod::YesNo => {
                if info.is_encoder {
                    return Err(RerankError::new(
                        ErrorCode::NotAReranker,
                        format!(
                            "yes-no scoring needs a generative model, and {} is an encoder",
                            info.architecture
                        ),
                    ));
                }
                // A file that carries the pooled head is always scored through it: untied
                // conversions have no usable LM head.
                if let Some(label_index) = yes_no_head {
                    if let Some(j) = request.judge.filter(|j| j.name != "qwen3-reranker") {
                        return Err(RerankError::invalid(format!(
                            "this file carries a pooled yes/no head (Qwen3-Reranker's); judge {:?} does not apply",
                            j.name
                        )));
                    }
                    return Ok(ScoringPlan::PooledYesNo { yes: label_index });
                }
                // The caller's judge, else the one the file's architecture and name give,
                // else (a forced yes-no on an unnamed model) Qwen3-Reranker's prompt.
                let judge = request
                    .judge
                    .or(JudgePreset::for_model(info))
                    .unwrap_or(&QWEN3_RERANKER);
                Ok(ScoringPlan::Judge(judge))
            }
            ScoringMethod::Classifier => {
                if !info.has_classifier_head() {
                    return Err(RerankError::new(
                        ErrorCode::NotAReranker,
                        format!(
                            "classifier scoring needs a classifier head (cls or cls.output tensors), found {}",
                            info.describe()
                        ),
                    ));
                }
                if softmax_rank && info.classifier_width() == 1 {
                    return Err(RerankError::new(
                        ErrorCode::NotAReranker,
                        format!(
                            "llama.cpp ends {} with a softmax over a one-wide head: every score would be 1",
                            info.architecture
                        ),
                    ));
                }
                if info.is_distilbert() {
                    return unsupported(format!(
                        "a DistilBERT sequence classifier: the converter stores its pre_classifier as the cls layer, and llama.cpp applies tanh after it where DistilBERT applies ReLU, so every score would be wrong (found {})",
                        info.describe()
                    ));
                }
                if info.architecture == "jina-bert-v2" && info.has_cls && !info.has_cls_output {
                    return unsupported(format!(
                        "a jina-bert-v2 reranker: llama.cpp returns tanh of its logit, not the logit, and no reference implementation was available to verify a score for this family (found {})",
                        info.describe()
                    ));
                }
                let width = info.classifier_width();
                if width == 1 || softmax_rank {
                    return Ok(ScoringPlan::Classifier);
                }
                // Several labels: one of them must mean "relevant".
                let chosen = match &request.relevant_label {
                    Some(label) => info.label_index(label).ok_or_else(|| {
                        RerankError::invalid(format!(
                            "relevantLabel {label:?} is not one of the model's labels {:?}",
                            info.classifier_labels
                        ))
                    })?,
                    None => match RELEVANT_LABELS.iter().find_map(|l| info.label_index(l)) {
                        Some(i) => i,
                        None => {
                            return Err(RerankError::new(
                                ErrorCode::NotAReranker,
                                format!(
                                    "a classifier with {width} labels {:?}, none of which says relevant: pass relevantLabel to name the one to score (its softmax probability), found {}",
                                    info.classifier_labels,
                                    info.describe()
                                ),
                            ))
                        }
                    },
                };
                Ok(ScoringPlan::LabelSoftmax { label: chosen })
            }
        }
    }

    /// What the score means.
    pub fn method(self) -> ScoringMethod {
        match self {
            ScoringPlan::Classifier | ScoringPlan::LabelSoftmax { .. } => ScoringMethod::Classifier,
            ScoringPlan::PooledYesNo { .. } | ScoringPlan::Judge(_) => ScoringMethod::YesNo,
        }
    }

    /// Which part of the network the score is read from.
    pub fn source(self) -> ScoreSource {
        match self {
            ScoringPlan::Judge(_) => ScoreSource::LmHead,
            _ => ScoreSource::PooledHead,
        }
    }

    /// The judge whose prompt a yes-no plan uses (a pooled yes/no head is Qwen3-Reranker's);
    /// `None` for a cross-encoder, which takes the pair as is.
    pub fn judge(self) -> Option<&'static JudgePreset> {
        match self {
            ScoringPlan::Classifier | ScoringPlan::LabelSoftmax { .. } => None,
            ScoringPlan::PooledYesNo { .. } => Some(&QWEN3_RERANKER),
            ScoringPlan::Judge(judge) => Some(judge),
        }
    }

    /// The index of the label scored by a cross-encoder with several labels.
    pub fn relevant_label(self) -> Option<usize> {
        match self {
            ScoringPlan::LabelSoftmax { label } => Some(label),
            _ => None,
        }
    }

    /// Turns what was read from the model into a score in [0, 1].
    pub fn score(self, read: ModelOutput) -> Result<f64, NonFiniteScore> {
        let score = match (self, read) {
            (ScoringPlan::Classifier, ModelOutput::Pooled(values)) => sigmoid(values[0] as f64),
            (ScoringPlan::LabelSoftmax { label }, ModelOutput::Pooled(values)) => {
                let z: Vec<f64> = values.iter().map(|&v| v as f64).collect();
                softmax(&z).get(label).copied().unwrap_or(f64::NAN)
            }
            (ScoringPlan::PooledYesNo { yes }, ModelOutput::Pooled(values)) => values[yes] as f64,
            (_, ModelOutput::JudgeLogits { positive, negative }) => {
                sigmoid(positive as f64 - negative.map_or(0.0, |n| n as f64))
            }
            // A judge reads logits, never a pooled output.
            (ScoringPlan::Judge(_), ModelOutput::Pooled(_)) => f64::NAN,
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
    /// The last token's logits of the judge's positive and (if it has one) negative token.
    JudgeLogits {
        positive: f32,
        negative: Option<f32>,
    },
}

/// A score that is NaN or infinite; never handed to the caller.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NonFiniteScore(pub f64);

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
            tokenizer_model: None,
            has_token_types: true,
        }
    }

    #[test]
    fn cross_encoder_is_classifier() {
        let mut m = inspection("bert");
        m.has_cls_output = true;
        let plan = ScoringPlan::detect(&m, &ScoringRequest::default()).unwrap();
        assert_eq!(plan.method(), ScoringMethod::Classifier);
        assert_eq!(plan.source(), ScoreSource::PooledHead);
        let s = plan.score(ModelOutput::Pooled(&[2.0])).unwrap();
        assert!((s - 0.880_797_077_977_882_3).abs() < 1e-15);
    }

    #[test]
    fn qwen3_pooled_head_is_yes_no_without_second_sigmoid() {
        let mut m = inspection("qwen3");
        m.has_cls_output = true;
        m.pooling_type = Some(4);
        m.classifier_labels = vec!["yes".into(), "no".into()];
        let plan = ScoringPlan::detect(&m, &ScoringRequest::default()).unwrap();
        assert_eq!(
            (plan.method(), plan.source()),
            (ScoringMethod::YesNo, ScoreSource::PooledHead)
        );
        assert_eq!(
            plan.score(ModelOutput::Pooled(&[0.25, 0.75])).unwrap(),
            0.25
        );
        // Forcing yes-no still reads the head: the LM head of untied files is unusable.
        assert_eq!(
            ScoringPlan::detect(&m, &ScoringRequest::method(Some(ScoringMethod::YesNo)))
                .unwrap()
                .source(),
            ScoreSource::PooledHead
        );
    }

    #[test]
    fn label_order_is_respected() {
        let mut m = inspection("qwen3");
        m.has_cls_output = true;
        m.classifier_labels = vec!["no".into(), "yes".into()];
        let plan = ScoringPlan::detect(&m, &ScoringRequest::default()).unwrap();
        assert!((plan.score(ModelOutput::Pooled(&[0.1, 0.9])).unwrap() - 0.9).abs() < 1e-6);
    }

    #[test]
    fn qwen3_causal_needs_a_reranker_hint() {
        let mut m = inspection("qwen3");
        let err = ScoringPlan::detect(&m, &ScoringRequest::default()).unwrap_err();
        assert!(err.message.contains("not a reranker"), "{err}");
        assert!(err.message.contains("architecture qwen3"), "{err}");
        m.name = Some("Qwen3-Reranker-0.6B".into());
        let plan = ScoringPlan::detect(&m, &ScoringRequest::default()).unwrap();
        assert_eq!(
            (plan.method(), plan.source()),
            (ScoringMethod::YesNo, ScoreSource::LmHead)
        );
        let s = plan
            .score(ModelOutput::JudgeLogits {
                positive: 1.5,
                negative: Some(-0.5),
            })
            .unwrap();
        assert!((s - sigmoid(2.0)).abs() < 1e-15);
        // a forced yes-no on a plain chat model works through the LM head
        m.name = Some("chat".into());
        assert_eq!(
            ScoringPlan::detect(&m, &ScoringRequest::method(Some(ScoringMethod::YesNo)))
                .unwrap()
                .source(),
            ScoreSource::LmHead
        );
    }

    #[test]
    fn embedding_model_is_refused_and_cannot_be_forced_to_classify() {
        let mut m = inspection("bert");
        m.pooling_type = Some(1);
        assert!(ScoringPlan::detect(&m, &ScoringRequest::default())
            .unwrap_err()
            .message
            .contains("embedding model"));
        assert!(
            ScoringPlan::detect(&m, &ScoringRequest::method(Some(ScoringMethod::Classifier)))
                .is_err()
        );
        assert!(
            ScoringPlan::detect(&m, &ScoringRequest::method(Some(ScoringMethod::YesNo))).is_err()
        );
    }

    #[test]
    fn one_wide_head_on_softmax_arch_is_refused() {
        let mut m = inspection("qwen3");
        m.has_cls_output = true;
        assert!(ScoringPlan::detect(&m, &ScoringRequest::default()).is_err());
        assert!(
            ScoringPlan::detect(&m, &ScoringRequest::method(Some(ScoringMethod::Classifier)))
                .is_err()
        );
    }

    #[test]
    fn non_finite_is_an_error_and_sigmoid_is_stable() {
        let plan = ScoringPlan::Classifier;
        assert!(plan.score(ModelOutput::Pooled(&[f32::NAN])).is_err());
        assert_eq!(sigmoid(-1000.0), 0.0);
        assert_eq!(sigmoid(1000.0), 1.0);
        let ln = ScoringPlan::Judge(&QWEN3_RERANKER);
        assert!(ln
            .score(ModelOutput::JudgeLogits {
                positive: f32::INFINITY,
                negative: Some(f32::INFINITY)
            })
            .is_err());
    }
}
