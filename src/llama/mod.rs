//! The llama.cpp layer, the only one that touches llama.cpp: the backend, loading a model,
//! scoring contexts and their batches, where the layers run, the exit gate, and the FFI
//! (every `unsafe` block of the crate's core is in [`ffi`]).
//!
//! A [`LoadedModel`] is shared through `Arc`; a [`ScoringContext`] owns one `Arc` of its model
//! next to the llama.cpp context that borrows it, so the model is freed only after the last
//! context is gone.

mod backend;
pub mod batch;
mod context;
pub mod exit_gate;
pub mod ffi;
mod model;
mod open;
pub mod placement;

pub use backend::{backend, ready_backend};
pub use context::{BatchObserver, CallStats, ContextSettings, ScoringContext};
pub use exit_gate::GATE;
pub use ffi::DecodeInterrupt;
pub use model::{LoadedModel, ModelLoadOptions};
pub use open::{open_model, ModelInfo, OpenModel};
