#![deny(clippy::all)]
//! llama-rerank: (query, document) relevance scores from GGUF reranker models.
//!
//! The crate is built in layers, each a folder, each using only the ones before it:
//!
//! | layer | what it does |
//! |---|---|
//! | [`error`] | errors with a stable `code`, used by every layer |
//! | [`model`] | GGUF reading (split files included) and what the header says about the model |
//! | [`prompt`] | the token sequence of a pair: templates, control-token scan, piece layouts |
//! | [`scoring`] | the scoring plan chosen from the metadata, judge presets, label heads, families |
//! | [`llama`] | everything that touches llama.cpp: backend, models, contexts, batches, FFI |
//! | [`worker`] | a context's thread: its FIFO queue, progress, abort and disposal |
//! | [`hub`] | `hf:` URIs: the Hugging Face cache and downloads |
//! | `node` | the `#[napi]` classes (feature `node`), the only code that uses napi |
//!
//! Everything but `node` is exercised by `cargo test --no-default-features`, without Node.

pub mod error;
pub mod hub;
pub mod llama;
pub mod model;
// Not in the unit-test build: it has no tests of its own, and napi-derive registers the
// exports only outside `cfg(test)`, so there every napi function would be unused.
#[cfg(all(feature = "node", not(test)))]
mod node;
pub mod prompt;
pub mod scoring;
pub mod worker;
