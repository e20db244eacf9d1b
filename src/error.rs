//! Errors with a stable `code` and the chain of causes that led to them.

use std::fmt;

/// The stable codes a caller can match on (`error.code` in JavaScript).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// The model path does not exist.
    ModelNotFound,
    /// The file exists but is not a GGUF file.
    NotGguf,
    /// The GGUF header is damaged.
    ModelCorrupt,
    /// llama.cpp refused the file, or it could not be read.
    ModelLoad,
    /// The file is a model, but not one that can rerank.
    NotAReranker,
    /// The file is a reranker that llama.cpp computes differently from its reference
    /// implementation (e.g. DistilBERT's head): its scores would be wrong, so it is refused.
    UnsupportedReranker,
    /// A pair is longer than the context and `onOverflow` is `"throw"`.
    InputTooLong,
    /// The model produced NaN or an infinity.
    NonFiniteScore,
    /// The context or model was disposed.
    Disposed,
    /// The call was aborted through its `AbortSignal`.
    Aborted,
    /// An option or argument is invalid.
    InvalidArgument,
    /// llama.cpp could not create a context (usually: not enough memory).
    ContextCreate,
    /// llama.cpp failed while evaluating a batch.
    Decode,
    /// A callback passed by the caller (`onProgress`) threw.
    CallbackFailed,
    /// A bug: a panic caught at the boundary.
    Internal,
    /// The model hub refused the request (401/403): a private or gated repository, or a bad
    /// token.
    HubUnauthorized,
    /// `HF_HUB_OFFLINE` is set and the file is not in the cache.
    HubOffline,
    /// The hub could not be reached, answered unexpectedly, or the download was cut.
    HubDownload,
    /// A downloaded file does not match the size or sha256 the hub announced.
    HubIntegrity,
    /// A download made no progress for `LLAMA_RERANK_HUB_TIMEOUT` seconds: a stalled
    /// connection, or another process's download of the same file that stalled.
    HubTimeout,
    /// A portable build found no CPU module (`libggml-cpu-*`) it could load: the platform
    /// package's files are incomplete, or `LLAMA_RERANK_CPU_VARIANT` names one this CPU
    /// cannot run.
    CpuBackendMissing,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::ModelNotFound => "ERR_MODEL_NOT_FOUND",
            ErrorCode::NotGguf => "ERR_NOT_GGUF",
            ErrorCode::ModelCorrupt => "ERR_MODEL_CORRUPT",
            ErrorCode::ModelLoad => "ERR_MODEL_LOAD",
            ErrorCode::NotAReranker => "ERR_NOT_A_RERANKER",
            ErrorCode::UnsupportedReranker => "ERR_UNSUPPORTED_RERANKER",
            ErrorCode::InputTooLong => "ERR_INPUT_TOO_LONG",
            ErrorCode::NonFiniteScore => "ERR_NON_FINITE_SCORE",
            ErrorCode::Disposed => "ERR_DISPOSED",
            ErrorCode::Aborted => "ABORT_ERR",
            ErrorCode::InvalidArgument => "ERR_INVALID_ARG_VALUE",
            ErrorCode::ContextCreate => "ERR_CONTEXT_CREATE",
            ErrorCode::Decode => "ERR_DECODE",
            ErrorCode::CallbackFailed => "ERR_CALLBACK_FAILED",
            ErrorCode::Internal => "ERR_INTERNAL",
            ErrorCode::HubUnauthorized => "ERR_HUB_UNAUTHORIZED",
            ErrorCode::HubOffline => "ERR_HUB_OFFLINE",
            ErrorCode::HubDownload => "ERR_HUB_DOWNLOAD",
            ErrorCode::HubIntegrity => "ERR_HUB_INTEGRITY",
            ErrorCode::HubTimeout => "ERR_HUB_TIMEOUT",
            ErrorCode::CpuBackendMissing => "ERR_CPU_BACKEND_MISSING",
        }
    }

    /// The JavaScript `error.name`.
    pub fn js_name(self) -> &'static str {
        match self {
            ErrorCode::Aborted => "AbortError",
            ErrorCode::InvalidArgument => "TypeError",
            _ => "Error",
        }
    }
}

/// An error of this library: a code, a message, and the causes beneath it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RerankError {
    pub code: ErrorCode,
    pub message: String,
    /// Lower-level causes, outermost first (e.g. llama.cpp's or the OS's words).
    pub causes: Vec<String>,
}

impl RerankError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            causes: Vec::new(),
        }
    }

    /// Adds the chain of `source` as causes.
    pub fn caused_by(mut self, source: &(dyn std::error::Error + 'static)) -> Self {
        let mut next: Option<&(dyn std::error::Error + 'static)> = Some(source);
        while let Some(err) = next {
            self.causes.push(err.to_string());
            next = err.source();
        }
        self
    }

    pub fn with_cause(mut self, cause: impl Into<String>) -> Self {
        self.causes.push(cause.into());
        self
    }

    pub fn disposed(what: &str) -> Self {
        Self::new(ErrorCode::Disposed, format!("the {what} has been disposed"))
    }

    pub fn aborted() -> Self {
        Self::new(ErrorCode::Aborted, "the operation was aborted")
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidArgument, message)
    }
}

impl fmt::Display for RerankError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.message)?;
        for cause in &self.causes {
            write!(f, ": {cause}")?;
        }
        Ok(())
    }
}

impl std::error::Error for RerankError {}

pub type Result<T, E = RerankError> = std::result::Result<T, E>;
