#![deny(clippy::all)]
//! llama-rerank: (query, document) relevance scores from GGUF reranker models.
//!
//! The napi-free core ([`gguf`], [`model_inspection`], [`scoring`], [`prompt`],
//! [`batch_scheduler`], [`engine`]) is exercised by `cargo test` without Node; the
//! `#[napi]` classes live in [`node`].

pub mod batch_scheduler;
pub mod compute_backend;
pub mod context_worker;
pub mod engine;
pub mod error;
pub mod exit_gate;
mod ffi;
pub use ffi::DecodeInterrupt;
pub mod gguf;
pub mod hub;
pub mod judge;
pub mod label_head;
pub mod model_inspection;
#[cfg(feature = "node")]
mod node;
pub mod prompt;
pub mod scoring;
