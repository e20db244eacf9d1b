//! `resolveModel` and the hub settings read from JavaScript's `process.env`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use napi::bindgen_prelude::*;
use napi_derive::napi;

use super::promise::{blocking, rejected, settle};
use super::signal::SignalHandle;
use crate::error::RerankError;
use crate::hub::HubSettings;

/// Hub settings from JavaScript's `process.env` (read on the JavaScript thread: Bun does not
/// mirror `process.env` changes into the C environment), falling back to the C environment.
pub(super) fn hub_settings(env: &Env) -> HubSettings {
    let js_env: Option<Object> = env
        .get_global()
        .and_then(|g| g.get_named_property::<Object>("process"))
        .and_then(|p| p.get_named_property::<Object>("env"))
        .ok();
    let mut vars = std::collections::HashMap::new();
    for name in crate::hub::ENV_NAMES {
        let value = match &js_env {
            Some(object) => object.get::<String>(name).ok().flatten(),
            None => std::env::var(name).ok(),
        };
        if let Some(v) = value {
            vars.insert(*name, v);
        }
    }
    HubSettings::from_vars(|name| vars.get(name).cloned())
}

/// Options of `resolveModel`.
#[napi(object, object_to_js = false)]
pub struct ResolveModelOptions {
    /// Use the cache only, as `HF_HUB_OFFLINE=1` does (default: that variable).
    pub offline: Option<bool>,
    /// Draw a download progress bar on stderr (default: when stderr is a terminal).
    pub progress: Option<bool>,
    /// Stops a download in flight: the call rejects with an `AbortError` (`ABORT_ERR`) and the
    /// partial file stays in the cache, to be resumed by the next call.
    #[napi(ts_type = "AbortSignal")]
    pub signal: Option<SignalHandle>,
}

/// The local file a model argument names. A `hf:<owner>/<repo>[@<revision>]/<file.gguf>` or
/// `hf:<owner>/<repo>[@<revision>]:<quant>` URI is looked up in the Hugging Face cache
/// (`HF_HUB_CACHE`, `HF_HOME`) and downloaded from `HF_ENDPOINT` when missing, resuming an
/// interrupted download; a split GGUF resolves to its first shard, with every shard
/// downloaded beside it. A plain path is returned as is, without touching the network.
/// While another process downloads the same file, the call waits for it. Rejects with
/// `ERR_MODEL_NOT_FOUND`, `ERR_HUB_UNAUTHORIZED`, `ERR_HUB_OFFLINE`, `ERR_HUB_DOWNLOAD`,
/// `ERR_HUB_TIMEOUT` (no progress for `LLAMA_RERANK_HUB_TIMEOUT` seconds, default 30),
/// `ERR_HUB_INTEGRITY`, `ABORT_ERR` or `ERR_INVALID_ARG_VALUE`. `loadModel` and
/// `createRankingContext` do this themselves.
#[napi(ts_return_type = "Promise<string>")]
pub fn resolve_model<'env>(
    env: &'env Env,
    model: String,
    options: Option<ResolveModelOptions>,
) -> Result<PromiseRaw<'env, String>> {
    let mut settings = hub_settings(env);
    let mut abort = Arc::<AtomicBool>::default();
    if let Some(options) = options {
        settings.offline = options.offline.unwrap_or(settings.offline);
        settings.progress = options.progress.unwrap_or(settings.progress);
        if let Some(signal) = &options.signal {
            abort = signal.flag();
        }
    }
    if abort.load(Ordering::Acquire) {
        return rejected(env, RerankError::aborted());
    }
    let work = blocking(move || {
        if !crate::hub::is_hub_uri(&model) {
            return Ok(model);
        }
        let uri = crate::hub::parse(&model)?;
        crate::hub::resolve(&uri, &settings, &abort).map(|p| p.to_string_lossy().into_owned())
    });
    settle(env, work, |_, path| Ok(path))
}
