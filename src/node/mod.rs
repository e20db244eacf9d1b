//! The napi layer, the only code that uses napi: thin classes over the core (`loadModel`,
//! `RerankerModel`, `RankingContext`, `resolveModel`), `AbortSignal` arguments, and the
//! teardown of each JavaScript environment's contexts. Every promise settles through
//! [`promise::settle`], which turns a [`crate::error::RerankError`] into a JavaScript error
//! with a stable `code`.

mod context;
mod hub;
mod lifecycle;
mod model;
mod promise;
mod signal;
mod variant;
