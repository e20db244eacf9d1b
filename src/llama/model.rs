//! A model in memory: loaded by llama.cpp after its header was checked, with its vocabulary's
//! tables for prompt building.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::token::LlamaToken;

use super::backend::ready_backend;
use super::exit_gate::GATE;
use super::placement::ComputePlacement;
use crate::error::{ErrorCode, RerankError, Result};
use crate::model::{inspect_file, ModelInspection};
use crate::prompt::{PairTokens, TokenId, Vocabulary};
use crate::scoring::LabelHead;

/// Options for loading a model.
#[derive(Debug, Clone, Default)]
pub struct ModelLoadOptions {
    pub gpu_layers: Option<u32>,
    pub use_mmap: Option<bool>,
}

/// A model in memory with what was learnt about it at load.
pub struct LoadedModel {
    pub model: LlamaModel,
    pub path: PathBuf,
    pub inspection: ModelInspection,
    pub file_size: u64,
    /// Set when the file's pooled yes/no head is a slice of its LM head: it is then read off
    /// the last token's logits instead of through llama.cpp's pooling.
    pub label_head: Option<LabelHead>,
    /// Where the layers run (CPU, or a GPU backend and how many layers it holds).
    pub placement: ComputePlacement,
    controls: Vec<(String, TokenId)>,
    pair: PairTokens,
}

impl std::fmt::Debug for LoadedModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedModel")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl LoadedModel {
    /// Loads the model at `path`. `abort` is polled during the load.
    /// Holds an exit-gate pass throughout, so a process exit waits for (and stops) the load.
    pub fn load(path: &Path, options: &ModelLoadOptions, abort: Arc<AtomicBool>) -> Result<Self> {
        let _pass = GATE.enter()?;
        let (header, inspection) = inspect_file(path)?;
        let backend = ready_backend()?;
        let mut params = LlamaModelParams::default();
        if let Some(n) = options.gpu_layers {
            params = params.with_n_gpu_layers(n);
        }
        if let Some(m) = options.use_mmap {
            params = params.with_use_mmap(m);
        }
        let abort_in_load = abort.clone();
        // Stops at the next progress callback on abort, or when the process starts exiting.
        params = params.with_progress_callback(move |_| {
            !abort_in_load.load(Ordering::Relaxed) && !GATE.exiting()
        });
        super::ffi::take_error_lines();
        let loaded = LlamaModel::load_from_file(backend, path, &params);
        let lines = super::ffi::take_error_lines();
        if abort.load(Ordering::Relaxed) || GATE.exiting() {
            return Err(RerankError::aborted());
        }
        let model = loaded.map_err(|e| {
            let mut err = RerankError::new(
                ErrorCode::ModelLoad,
                format!("llama.cpp could not load {}", path.display()),
            );
            for line in lines {
                err = err.with_cause(line);
            }
            err.caused_by(&e)
        })?;
        let (controls, pair) = vocabulary_tables(&model);
        let placement = ComputePlacement::for_model(model.n_layer(), options.gpu_layers);
        let mut loaded = Self {
            model,
            path: path.to_owned(),
            inspection,
            file_size: header.file_size,
            label_head: None,
            placement,
            controls,
            pair,
        };
        let label_head = LabelHead::detect(path, &header, &loaded.inspection, |label| {
            loaded.single_token(label)
        });
        loaded.label_head = label_head;
        Ok(loaded)
    }

    /// The context length the model was trained for.
    pub fn trained_context_length(&self) -> u32 {
        self.model.n_ctx_train()
    }

    /// The text's tokens as node-llama-cpp's `model.tokenize(text, specialTokens)` gives them:
    /// no BOS or EOS added; with `special`, the text of control tokens (`<|im_end|>`) becomes
    /// those tokens, otherwise it stays text.
    pub fn tokenize_text(&self, text: &str, special: bool) -> Vec<TokenId> {
        if text.is_empty() {
            return Vec::new();
        }
        self.model
            .vocab()
            .tokenize(text.as_bytes(), false, special)
            .into_iter()
            .map(|t| t.0)
            .collect()
    }

    /// The text of `tokens` (llama.cpp's detokenizer); control tokens are rendered only with
    /// `special`. An id outside the vocabulary is `ERR_INVALID_ARG_VALUE` (llama.cpp would
    /// abort the process).
    pub fn detokenize(&self, tokens: &[TokenId], special: bool) -> Result<String> {
        let vocab = self.model.vocab();
        let n_tokens = vocab.n_tokens();
        if let Some(bad) = tokens.iter().find(|&&t| t < 0 || t >= n_tokens) {
            return Err(RerankError::invalid(format!(
                "token {bad} is not in the vocabulary (0 to {})",
                n_tokens - 1
            )));
        }
        if tokens.is_empty() {
            return Ok(String::new());
        }
        let ids: Vec<LlamaToken> = tokens.iter().map(|&t| LlamaToken(t)).collect();
        let bytes = vocab.detokenize(&ids, false, special);
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// The id of `word` if it is a single token.
    pub fn single_token(&self, word: &str) -> Option<TokenId> {
        match self.tokenize_plain(word).as_slice() {
            [t] => Some(*t),
            _ => None,
        }
    }
}

fn vocabulary_tables(model: &LlamaModel) -> (Vec<(String, TokenId)>, PairTokens) {
    let vocab = model.vocab();
    let mut controls = Vec::new();
    for token in vocab.tokens() {
        if vocab.is_control(token) {
            let piece = vocab.token_to_piece(token, true, None);
            if let Ok(text) = String::from_utf8(piece) {
                if !text.is_empty() {
                    controls.push((text, token.0));
                }
            }
        }
    }
    let present = |t: LlamaToken| (t.0 >= 0).then_some(t.0);
    let pair = PairTokens {
        bos: if vocab.should_add_bos() {
            present(vocab.bos())
        } else {
            None
        },
        eos: if vocab.should_add_eos() {
            present(vocab.eos())
        } else {
            None
        },
        sep: if vocab.should_add_sep() {
            present(vocab.sep())
        } else {
            None
        },
    };
    (controls, pair)
}

impl Vocabulary for LoadedModel {
    fn tokenize_plain(&self, text: &str) -> Vec<TokenId> {
        self.tokenize_text(text, false)
    }
    fn control_tokens(&self) -> &[(String, TokenId)] {
        &self.controls
    }
    fn pair_tokens(&self) -> PairTokens {
        self.pair
    }
}
