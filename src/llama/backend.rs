//! The process-wide llama.cpp backend, with ggml's CPU backend registered first.

use std::sync::OnceLock;

use llama_cpp_2::llama_backend::LlamaBackend;

use crate::error::{ErrorCode, RerankError, Result};

/// The process-wide llama.cpp backend, initialised on first use.
pub fn backend() -> &'static LlamaBackend {
    &initialised_backend().0
}

/// The backend and whether a CPU backend could be registered for it (a portable build loads
/// its CPU module first).
fn initialised_backend() -> &'static (LlamaBackend, std::result::Result<(), String>) {
    static BACKEND: OnceLock<(LlamaBackend, std::result::Result<(), String>)> = OnceLock::new();
    BACKEND.get_or_init(|| {
        let verbose =
            std::env::var_os("LLAMA_RERANK_VERBOSE").is_some_and(|v| !v.is_empty() && v != "0");
        super::ffi::install_log_callback(verbose);
        let cpu = super::placement::register_cpu_backend();
        // A second init (another copy of llama.cpp in the process) is harmless: the backend
        // value carries no state.
        (LlamaBackend::init().unwrap_or(LlamaBackend {}), cpu)
    })
}

/// The backend, or `ERR_CPU_BACKEND_MISSING` when no CPU backend could be registered.
pub fn ready_backend() -> Result<&'static LlamaBackend> {
    let (backend, cpu) = initialised_backend();
    cpu.as_ref().map(|()| backend).map_err(|why| {
        RerankError::new(
            ErrorCode::CpuBackendMissing,
            format!("llama.cpp cannot run on this CPU: {why}"),
        )
    })
}
